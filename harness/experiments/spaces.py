"""Experiments: pair two SAE feature spaces and score them (Lan et al. 2024, Sec. 3-4).

Inputs are :class:`FeatureSpace` objects (one SAE at one layer of one model, run on the
shared tokens): sparse codes, decoder rows, and what the token filters need. Outputs are
plain records (dicts of numbers) that claims and reports read.

Whole-space pipeline (Sec. 3, App. D-F), in the order of the authors' code:
many-to-1 max-correlation pairs -> non-concept filter -> shared-top-token filter -> 1-1 rule
-> correlation > threshold -> SVCCA and RSA of the paired decoder rows with shuffled-pairing
nulls.

Semantic pipeline (Sec. 4.3): concept features on each side (Table 4 keywords, whole-word
rule) -> pairing restricted to the concept features -> 1-1 rule -> SVCCA/RSA with Test 1
(shuffled pairing) and Test 2 (random same-size subsets paired the same way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from harness.pairing.concepts import (
    concept_features,
    filter_nonconcept,
    filter_shared_token,
    nonconcept_mask,
    top_positions,
    top_strings,
)
from harness.config import Procedure
from harness.errors import ConfigError, DegenerateInputError, ResourceError, ShapeError
from harness.pairing.matching import (
    MaxCorrelation,
    Pairs,
    correlation_submatrix,
    many_to_one_pairs,
    max_correlation,
    one_to_one,
    pair_within,
    threshold_pairs,
    top_pairs,
)
from harness.scoring.nulls import permutation_test, random_subset_test, size_matched_test


@dataclass
class FeatureSpace:
    """One SAE's features on the run's token positions.

    Attributes:
        name: label, e.g. "pythia-70m/L3".
        codes: (positions, F) sparse codes on the shared positions.
        decoder: (F, d_model) decoder rows, float64.
        tokens: (n_samples, seq_len) token ids of the run.
        sample_index, position_index: (positions,) location of each flattened position.
        vocab: decoded string per token id.
        junk_tokens: non-concept strings for this space (procedure list + tokenizer specials).
        top_k: positions per feature for the token filters.
        require_active: see :func:`harness.pairing.concepts.top_positions`.
    """

    name: str
    codes: sp.csr_matrix
    decoder: NDArray[np.float64]
    tokens: NDArray[np.int64]
    sample_index: NDArray[np.int64]
    position_index: NDArray[np.int64]
    vocab: Sequence[str]
    junk_tokens: tuple[str, ...]
    top_k: int = 5
    require_active: bool = True
    _top: NDArray[np.int64] | None = field(default=None, repr=False)
    _strings: list[tuple[str, ...]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.codes = sp.csr_matrix(self.codes)
        self.decoder = np.asarray(self.decoder, dtype=np.float64)
        if self.codes.shape[1] != self.decoder.shape[0]:
            raise ShapeError(
                f"{self.name}: codes have {self.codes.shape[1]} features but the decoder has "
                f"{self.decoder.shape[0]} rows; codes and decoder must come from the same SAE."
            )
        if self.sample_index.shape[0] != self.codes.shape[0]:
            raise ShapeError(f"{self.name}: {self.codes.shape[0]} code rows vs {self.sample_index.shape[0]} positions.")

    @property
    def n_features(self) -> int:
        return int(self.codes.shape[1])

    @property
    def top(self) -> NDArray[np.int64]:
        """(F, top_k) top activating flattened positions (cached)."""
        if self._top is None:
            self._top = top_positions(self.codes, k=self.top_k, require_active=self.require_active)
        return self._top

    @property
    def strings(self) -> list[tuple[str, ...]]:
        """Decoded top-token strings per feature (cached)."""
        if self._strings is None:
            flat = self.tokens[self.sample_index, self.position_index]
            self._strings = top_strings(self.top, flat, self.vocab)
        return self._strings

    def with_shuffled_positions(self, seed: int) -> "FeatureSpace":
        """Negative control: the same features, misaligned with the other model's positions.

        Rows of ``codes`` are permuted together with the position bookkeeping, so each
        feature keeps its own top tokens but row i no longer is the token the other model saw.
        """
        perm = np.random.default_rng(seed).permutation(self.codes.shape[0])
        return FeatureSpace(name=f"{self.name} (positions shuffled)", codes=self.codes[perm], decoder=self.decoder,
                            tokens=self.tokens, sample_index=self.sample_index[perm],
                            position_index=self.position_index[perm], vocab=self.vocab,
                            junk_tokens=self.junk_tokens, top_k=self.top_k, require_active=self.require_active)

    def junk_mask(self) -> NDArray[np.bool_]:
        return nonconcept_mask(self.strings, self.junk_tokens)

    def concept(self, keywords: Sequence[str]) -> NDArray[np.int64]:
        """Concept features (Sec. 4.3) among the features active at least once on the run's
        tokens. A never-active feature has no top positions of its own (under the paper's
        topk-over-all-positions they are arbitrary ones), so it is left out under both
        procedures: otherwise every dead latent joins whatever concept document 0 starts with."""
        feats = concept_features(self.top, tokens=self.tokens, sample_index=self.sample_index,
                                 position_index=self.position_index, vocab=self.vocab, keywords=keywords)
        live = sp.csr_matrix(self.codes).getnnz(axis=0) > 0
        return feats[live[feats]]


def _positive(value: int, name: str) -> int:
    """``value`` if it is a positive int, else ConfigError (0 used to mean "the default")."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name}={value!r}: use a positive number of draws, or None for the procedure's default.")
    return int(value)


def _max_k(procedure: Procedure, n: int) -> int | None:
    if procedure.svcca_max_k_fraction is None:
        return None
    return max(1, int(math.floor(procedure.svcca_max_k_fraction * n)))


def score_pairs(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    pairs: Pairs,
    procedure: Procedure,
    *,
    n_permutations: int,
    seed_offset: int = 0,
) -> dict[str, Any]:
    """SVCCA and RSA of the paired decoder rows with shuffled-pairing nulls (Test 1).

    Returns a record with observed scores, null means, p-values, k used and n. A pair set
    too small to score gives NaN scores and a ``skipped`` reason (never a silent number).
    """
    n = len(pairs)
    rec: dict[str, Any] = {"n_pairs": n, "pairs_history": list(pairs.history)}
    if n < max(procedure.min_subspace_size, 3):
        rec.update(svcca=math.nan, rsa=math.nan, svcca_p=math.nan, rsa_p=math.nan,
                   svcca_null_mean=math.nan, rsa_null_mean=math.nan, skipped=f"only {n} pairs")
        return rec
    a = space_a.decoder[pairs.a_idx]
    b = space_b.decoder[pairs.b_idx]
    try:
        sv = permutation_test(a, b, metric="svcca", n_permutations=n_permutations, seed=procedure.seed + seed_offset,
                              p_rule=procedure.p_rule, keep=procedure.svcca_keep, max_k=_max_k(procedure, n))
        rec.update(svcca=sv.observed, svcca_null_mean=sv.null_mean, svcca_null_std=sv.null_std,
                   svcca_p=sv.p_value, svcca_k_a=sv.details["k_a"], svcca_k_b=sv.details["k_b"])
    except DegenerateInputError as exc:
        rec.update(svcca=math.nan, svcca_null_mean=math.nan, svcca_p=math.nan, svcca_error=str(exc))
    try:
        rs = permutation_test(a, b, metric="rsa", n_permutations=n_permutations, seed=procedure.seed + seed_offset + 1,
                              p_rule=procedure.p_rule, inner=procedure.rsa_inner)
        rec.update(rsa=rs.observed, rsa_null_mean=rs.null_mean, rsa_null_std=rs.null_std, rsa_p=rs.p_value)
    except ResourceError as exc:  # too many pairs for an n x n RDM: reported, not crashed
        rec.update(rsa=math.nan, rsa_null_mean=math.nan, rsa_p=math.nan, rsa_error=str(exc))
    rec.update(n_permutations=n_permutations, p_rule=procedure.p_rule)
    rec["mean_pair_corr"] = float(np.mean(pairs.corr))
    return rec


def pair_spaces(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    mc: MaxCorrelation | None = None,
    one_to_one_rule: str | None = None,
    token_filters: bool = True,
) -> tuple[Pairs, MaxCorrelation]:
    """Whole-space pairs under ``procedure`` (Sec. 3), optionally overriding the 1-1 rule
    (``"none"`` = many-to-1, App. E) or switching the token filters off (App. F)."""
    if mc is None:
        mc = max_correlation(space_a.codes, space_b.codes, dead=procedure.dead_features)
    pairs = many_to_one_pairs(mc)
    if token_filters and procedure.filter_nonconcept:
        pairs = filter_nonconcept(pairs, space_a.junk_mask(), space_b.junk_mask())
    if token_filters and procedure.filter_shared_token:
        pairs = filter_shared_token(pairs, space_a.strings, space_b.strings)
    rule = one_to_one_rule or procedure.one_to_one
    if rule == "hungarian":
        ua, ub = np.unique(pairs.a_idx), np.unique(pairs.b_idx)
        pairs = one_to_one(pairs, rule="hungarian",
                           corr_matrix=correlation_submatrix(space_a.codes, space_b.codes, ua, ub))
    else:
        pairs = one_to_one(pairs, rule=rule)  # type: ignore[arg-type]
    pairs = threshold_pairs(pairs, min_corr=procedure.corr_threshold)
    return pairs, mc


def top_correlated_pairs(space_a: FeatureSpace, space_b: FeatureSpace, procedure: Procedure, *,
                         mc: MaxCorrelation, n: int, one_to_one_rule: str | None = None) -> Pairs:
    """The ``n`` most correlated pairs of the procedure's pairing with token filters and the
    correlation threshold off (negative controls: on misaligned tokens nothing passes them,
    and this set still exercises the statistic at the real pair count)."""
    pairs, _ = pair_spaces(space_a, space_b, procedure.replace(corr_threshold=-1.0), mc=mc,
                           one_to_one_rule=one_to_one_rule, token_filters=False)
    return top_pairs(pairs, n=int(n))


def compare_spaces(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    variants: Sequence[str] = ("one_to_one", "many_to_one", "unfiltered"),
    n_permutations: int | None = None,
    n_size_matched: int = 99,
    n_top_correlated: int | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Whole-space comparison of two SAEs (Figs. 2-3, 5-14): one record per variant.

    Variants: ``one_to_one`` (the main text), ``many_to_one`` (App. E), ``unfiltered``
    (1-1 without the token filters, App. F). ``n_size_matched`` random same-size subsets of
    the many-to-1 and the unfiltered pairs score the 1-1 set against its own pair count.
    ``n_top_correlated`` adds the variant ``top_correlated`` (for negative controls): the 1-1
    rule without token filters and without the correlation threshold, keeping the
    ``n_top_correlated`` most correlated pairs -- on misaligned tokens nothing passes the
    filters, and this is the set that still exercises the statistic at the real pair count.
    """
    n_perm = procedure.n_permutations if n_permutations is None else _positive(n_permutations, "n_permutations")
    # device: the dense pairing path runs on the GPU in the gpu tier (64 TFLOP per Pythia pair)
    mc = max_correlation(space_a.codes, space_b.codes, dead=procedure.dead_features, device=device)
    out: dict[str, Any] = {
        "a": space_a.name, "b": space_b.name, "procedure": procedure.name,
        "mean_max_corr": mc.mean_max_corr_b, "n_features_a": space_a.n_features,
        "n_features_b": space_b.n_features, "dead_a": int(mc.dead_a.sum()), "dead_b": int(mc.dead_b.sum()),
        "n_tokens": mc.n_tokens, "backend": mc.backend,
    }
    settings = {
        "one_to_one": {"one_to_one_rule": None, "token_filters": True},
        "many_to_one": {"one_to_one_rule": "none", "token_filters": True},
        "unfiltered": {"one_to_one_rule": None, "token_filters": False},
    }
    kept: dict[str, Pairs] = {}
    for i, variant in enumerate(variants):
        pairs, _ = pair_spaces(space_a, space_b, procedure, mc=mc, **settings[variant])  # type: ignore[arg-type]
        kept[variant] = pairs
        out[variant] = score_pairs(space_a, space_b, pairs, procedure, n_permutations=n_perm, seed_offset=10 * i)
    if n_top_correlated is not None:
        pairs = top_correlated_pairs(space_a, space_b, procedure, mc=mc, n=n_top_correlated)
        out["top_correlated"] = score_pairs(space_a, space_b, pairs, procedure, n_permutations=n_perm,
                                            seed_offset=10 * len(variants))
    # App. E and F compare pair sets of different sizes; SVCCA rises as n falls, so the 1-1
    # (filtered) score is also compared with same-size random subsets of the larger set.
    if "one_to_one" in kept:
        for j, superset in enumerate(("many_to_one", "unfiltered")):
            if superset in kept:
                out[f"one_to_one_vs_{superset}_size_matched"] = size_matched(
                    space_a, space_b, kept["one_to_one"], out["one_to_one"].get("svcca", math.nan), kept[superset],
                    procedure, n_draws=n_size_matched, seed=procedure.seed + 500 + j)
    return out


def size_matched(space_a: FeatureSpace, space_b: FeatureSpace, pairs: Pairs, observed: float, superset: Pairs,
                 procedure: Procedure, *, n_draws: int, seed: int) -> dict[str, Any]:
    """SVCCA of ``pairs`` versus random subsets of ``superset`` with as many pairs (control
    for the pair-count bias of SVCCA; see :class:`harness.scoring.nulls.SizeMatchedResult`)."""
    rec: dict[str, Any] = {"n": len(pairs), "n_superset": len(superset)}
    if not np.isfinite(observed):
        return {**rec, "skipped": "observed score is NaN"}

    def score_rows(idx: NDArray[np.int64]) -> float:
        from harness.scoring.metrics import svcca

        try:
            return svcca(space_a.decoder[superset.a_idx[idx]], space_b.decoder[superset.b_idx[idx]],
                         keep=procedure.svcca_keep, max_k=_max_k(procedure, idx.size)).score
        except DegenerateInputError:
            return math.nan

    try:
        res = size_matched_test(observed, score_rows, n=len(pairs), n_superset=len(superset), n_draws=n_draws,
                                seed=seed, p_rule=procedure.p_rule)
    except DegenerateInputError as exc:
        return {**rec, "skipped": str(exc)}
    return {**rec, "observed": res.observed, "draws_mean": float(res.draws.mean()),
            "draws_std": float(res.draws.std(ddof=1)), "p": res.p_value, "holdout_p": res.holdout_p,
            "n_draws": int(res.draws.size)}


def compare_concept(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    category: str,
    keywords: Sequence[str],
    procedure: Procedure,
    *,
    n_permutations: int | None = None,
    n_random_subsets: int | None = None,
) -> dict[str, Any]:
    """Semantic-subspace comparison for one concept category (Tables 1, 2, 9).

    Test 1: shuffled pairing within the subspace. Test 2: random feature subsets of the same
    sizes (from all live features), paired by correlation within the subsets with the same
    1-1 rule, scored the same way.
    """
    if n_permutations is not None:
        _positive(n_permutations, "n_permutations")  # before any work
    feats_a, feats_b = space_a.concept(keywords), space_b.concept(keywords)
    rec: dict[str, Any] = {"category": category, "a": space_a.name, "b": space_b.name,
                           "procedure": procedure.name, "n_concept_a": int(feats_a.size),
                           "n_concept_b": int(feats_b.size)}
    if min(feats_a.size, feats_b.size) < procedure.min_subspace_size:
        rec.update(skipped=f"too few concept features ({feats_a.size}, {feats_b.size})", n_pairs=0)
        return rec
    rule = procedure.one_to_one
    pairs = pair_within(space_a.codes, space_b.codes, feats_a, feats_b, rule=rule)  # type: ignore[arg-type]
    n_perm = procedure.n_permutations_semantic if n_permutations is None else n_permutations
    rec.update(score_pairs(space_a, space_b, pairs, procedure, n_permutations=n_perm))
    if "skipped" in rec or not np.isfinite(rec.get("svcca", math.nan)):
        return rec
    live_a = np.flatnonzero(space_a.codes.getnnz(axis=0) > 0)
    live_b = np.flatnonzero(space_b.codes.getnnz(axis=0) > 0)
    n = len(pairs)
    max_k = _max_k(procedure, n)

    def score_subsets(ia: NDArray[np.int64], ib: NDArray[np.int64]) -> float:
        p = pair_within(space_a.codes, space_b.codes, ia, ib, rule=rule)  # type: ignore[arg-type]
        if len(p) < max(procedure.min_subspace_size, 3):
            return math.nan
        from harness.scoring.metrics import svcca

        try:
            return svcca(space_a.decoder[p.a_idx], space_b.decoder[p.b_idx], keep=procedure.svcca_keep,
                         max_k=_max_k(procedure, len(p))).score
        except DegenerateInputError:
            return math.nan

    t2 = random_subset_test(rec["svcca"], score_subsets, size_a=int(feats_a.size), size_b=int(feats_b.size),
                            pool_a=live_a, pool_b=live_b, n_draws=n_random_subsets or procedure.n_random_subsets,
                            seed=procedure.seed + 1000, p_rule=procedure.p_rule)
    rec.update(test2_null_mean=float(t2.null.mean()), test2_p=t2.p_value, test2_failed=t2.n_failed,
               svcca_max_k=max_k)
    return rec
