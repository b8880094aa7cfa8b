"""One SAE's features on the run's token positions (:class:`FeatureSpace`): codes, decoder rows,
top positions and strings (the token filters' inputs), concept indexes, and z-scored code rows
(Test 2). Lan et al. 2024 Sec. 3 and 4.3; every experiment module reads it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray

from harness.activations.encode import SaeCodes
from harness.errors import ShapeError
from harness.pairing.concepts import ConceptIndex, StringIncidence, top_positions, top_strings
from harness.pairing.exact import CodeSource


def zscored_rows(x: torch.Tensor) -> torch.Tensor:
    """(N, m) fp64 columns -> (m, N) z-scored rows (one transposing copy, then reductions along
    contiguous rows), as :func:`harness.pairing.matching.column_stats`: population mean and std,
    std 0 for a (numerically) constant column, whose z is then 0."""
    xt = x.T.contiguous()
    n = xt.shape[1]
    mean = xt.mean(dim=1, keepdim=True)
    var = torch.clamp((xt * xt).sum(dim=1, keepdim=True) / n - mean * mean, min=0.0)
    std = torch.sqrt(var)
    std = torch.where(var <= 1e-12 * torch.clamp(mean * mean, min=1e-300), 0.0, std)
    xt -= mean
    xt *= torch.where(std > 0, 1.0 / torch.where(std > 0, std, 1.0), 0.0)
    return xt


#: Largest live features x positions whose z-scored codes a FeatureSpace keeps for Test 2
#: (:meth:`FeatureSpace.zscored_rows`): 2^25 fp64 entries, 256 MB.
ZROWS_CACHE_ELEMENTS = 1 << 25


@dataclass
class FeatureSpace:
    """One SAE's features on the run's token positions.

    Attributes:
        name: label, e.g. "pythia-70m/L3".
        codes: (positions, F) codes on the shared positions: a sparse matrix (synthetic worlds,
            seed experiments), or a :class:`harness.activations.encode.SaeCodes` that encodes
            them on demand from the cached residuals (model worlds: nothing of size positions x
            F is ever stored).
        decoder: (F, d_model) decoder rows, float64.
        tokens: (n_samples, seq_len) token ids of the run.
        sample_index, position_index: (positions,) location of each flattened position.
        vocab: decoded string per token id.
        junk_tokens: non-concept strings for this space (procedure list + tokenizer specials).
        top_k: positions per feature for the token filters.
        require_active: see :func:`harness.pairing.concepts.top_positions`.
    """

    name: str
    codes: sp.csr_matrix | SaeCodes
    decoder: NDArray[np.float64]
    tokens: NDArray[np.int64]
    sample_index: NDArray[np.int64]
    position_index: NDArray[np.int64]
    vocab: Sequence[str]
    junk_tokens: tuple[str, ...]
    top_k: int = 5
    require_active: bool = True
    _top: NDArray[np.int64] | None = field(default=None, repr=False)
    _live: NDArray[np.bool_] | None = field(default=None, repr=False)
    _strings: list[tuple[str, ...]] | None = field(default=None, repr=False)
    _zrows: Any = field(default=None, repr=False, compare=False)
    """(live features, positions) z-scored codes, cached by :meth:`zscored_rows` (None: not yet / too big)."""
    _concepts: dict[str, ConceptIndex] = field(default_factory=dict, repr=False, compare=False)
    """Whole-word rule -> the concept index of this space's top positions (:meth:`concept`)."""
    _incidence: StringIncidence | None = field(default=None, repr=False, compare=False)
    _junk: NDArray[np.bool_] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.codes, SaeCodes):
            self.codes = sp.csr_matrix(self.codes)
        self.decoder = np.asarray(self.decoder, dtype=np.float64)
        if self.codes.shape[1] != self.decoder.shape[0]:
            raise ShapeError(
                f"{self.name}: codes have {self.codes.shape[1]} features but the decoder has "
                f"{self.decoder.shape[0]} rows; codes and decoder must come from the same SAE."
            )
        if self.sample_index.shape[0] != self.codes.shape[0]:
            raise ShapeError(f"{self.name}: {self.codes.shape[0]} code rows vs {self.sample_index.shape[0]} positions.")
        if isinstance(self.codes, SaeCodes) and (self.codes.top_k, self.codes.require_active) != (
            self.top_k,
            self.require_active,
        ):
            raise ShapeError(
                f"{self.name}: SaeCodes were built with top_k={self.codes.top_k}, require_active="
                f"{self.codes.require_active}; the space asks for {self.top_k}, {self.require_active}."
            )

    @property
    def n_features(self) -> int:
        return int(self.codes.shape[1])

    @property
    def n_positions(self) -> int:
        return int(self.codes.shape[0])

    def source(self) -> CodeSource:
        """The codes as a position-block source for :func:`harness.pairing.exact.exact_max_correlation`."""
        return self.codes.source() if isinstance(self.codes, SaeCodes) else CodeSource.from_dense(self.codes)

    @property
    def top(self) -> NDArray[np.int64]:
        """(F, top_k) top activating flattened positions (cached)."""
        if self._top is None:
            if isinstance(self.codes, SaeCodes):
                self._top = self.codes.summary().top_positions
            else:
                self._top = top_positions(self.codes, k=self.top_k, require_active=self.require_active)
        return self._top

    @property
    def live(self) -> NDArray[np.bool_]:
        """(F,) features active (non-zero) at least once on the run's positions."""
        if self._live is None:
            if isinstance(self.codes, SaeCodes):
                self._live = self.codes.summary().nnz.cpu().numpy() > 0
            else:
                self._live = self.codes.getnnz(axis=0) > 0
        return self._live

    def columns(self, idx: NDArray[np.int64]) -> torch.Tensor:
        """(positions, len(idx)) float64 codes of the features ``idx`` (only those are encoded),
        on the encoder's device (cpu for a sparse matrix)."""
        if isinstance(self.codes, SaeCodes):
            return self.codes.columns(idx)
        return torch.from_numpy(self.codes[:, np.asarray(idx, dtype=np.int64)].toarray().astype(np.float64))

    def zscored_rows(self, idx: NDArray[np.int64]) -> torch.Tensor:
        """(len(idx), positions) fp64 z-scored codes of the features ``idx`` (rows; the arithmetic of
        :func:`harness.pairing.matching.column_stats`), where the codes are. Test 2 draws from the
        live features many times (every category of a table): when live features x positions is
        at most :data:`ZROWS_CACHE_ELEMENTS`, all live features are encoded and z-scored once and
        kept; otherwise only ``idx`` is, on every call."""
        idx = np.asarray(idx, dtype=np.int64)
        live = np.flatnonzero(self.live)
        if self._zrows is None and live.size * self.n_positions <= ZROWS_CACHE_ELEMENTS:
            row_of = np.full(self.n_features, -1, dtype=np.int64)
            row_of[live] = np.arange(live.size)
            self._zrows = (zscored_rows(self.columns(live)), row_of)
        if self._zrows is not None:
            rows, row_of = self._zrows
            where = row_of[idx]
            if (where >= 0).all():
                return rows[torch.as_tensor(where, device=rows.device)]
        return zscored_rows(self.columns(idx))

    @property
    def strings(self) -> list[tuple[str, ...]]:
        """Decoded top-token strings per feature (cached)."""
        if self._strings is None:
            flat = self.tokens[self.sample_index, self.position_index]
            self._strings = top_strings(self.top, flat, self.vocab)
        return self._strings

    def with_shuffled_positions(self, seed: int) -> FeatureSpace:
        """Negative control: the same features, misaligned with the other model's positions.

        Rows of ``codes`` (for :class:`SaeCodes`: of the residuals) are permuted together with
        the position bookkeeping, so each feature keeps its own top tokens but row i no longer
        is the token the other model saw.
        """
        perm = np.random.default_rng(seed).permutation(self.codes.shape[0])
        codes = self.codes.permuted(perm) if isinstance(self.codes, SaeCodes) else self.codes[perm]
        return FeatureSpace(
            name=f"{self.name} (positions shuffled)",
            codes=codes,
            decoder=self.decoder,
            tokens=self.tokens,
            sample_index=self.sample_index[perm],
            position_index=self.position_index[perm],
            vocab=self.vocab,
            junk_tokens=self.junk_tokens,
            top_k=self.top_k,
            require_active=self.require_active,
        )

    @property
    def string_incidence(self) -> StringIncidence:
        """(F, V) which top-token strings each feature lists (cached; the token filters' sparse form)."""
        if self._incidence is None:
            self._incidence = StringIncidence(self.strings)
        return self._incidence

    def token_mask(self, tokens: Sequence[str]) -> NDArray[np.bool_]:
        """(F,) features whose top strings contain any of ``tokens`` (:func:`nonconcept_mask`)."""
        return self.string_incidence.mask(tokens)

    def junk_mask(self) -> NDArray[np.bool_]:
        """(F,) non-concept features: top strings containing a :attr:`junk_tokens` string (cached)."""
        if self._junk is None:
            self._junk = self.token_mask(self.junk_tokens)
        return self._junk

    def concept(
        self, keywords: Sequence[str], *, rule: str = "punctuation", order: str = "ascending"
    ) -> NDArray[np.int64]:
        """Concept features (Sec. 4.3) among the features active at least once on the run's
        tokens. A never-active feature has no top positions of its own (under the paper's
        topk-over-all-positions they are arbitrary ones), so it is left out under both
        procedures: otherwise every dead latent joins whatever concept document 0 starts with.

        ``rule`` / ``order``: see :func:`harness.pairing.concepts.concept_features` (answered by
        :meth:`concept_index`, built once per rule). Under
        ``python_set`` the set is built from all matching ids (never-active ones included, as
        the authors' set held them) and those are dropped afterwards, so the remaining ids keep
        the relative order they had in the authors' list."""
        feats = self.concept_index(rule).features(keywords, order=order)
        return feats[self.live[feats]]

    def concept_index(self, rule: str = "punctuation") -> ConceptIndex:
        """The :class:`harness.pairing.concepts.ConceptIndex` of this space's top positions under
        ``rule``, built once and kept (every category of every table asks the same one)."""
        if rule not in self._concepts:
            self._concepts[rule] = ConceptIndex(
                self.top,
                tokens=self.tokens,
                sample_index=self.sample_index,
                position_index=self.position_index,
                vocab=self.vocab,
                rule=rule,
            )
        return self._concepts[rule]
