"""On-the-fly SAE encoding in fixed chunks, with top-k positions per feature in the same pass
(issue 12). Independent of sae-lens: the encoder is given as tensors.

Encoding (what :meth:`harness.load.saes.LoadedSae.encode` computes for TopK SAEs):

    hidden_pre = (x - b_dec) @ W_enc + b_enc        (b_dec subtracted if apply_b_dec_to_input)
    relu_pre_topk:  relu(hidden_pre)                (the paper's dense pre-TopK latents)
    topk:           top-k of hidden_pre per position, ReLU on those, zeros elsewhere (sae-lens
                    ``TopK``: ``torch.topk(sorted=False)`` then ``relu`` then ``scatter``)

in the SAE weights' dtype, chunk by chunk over positions (``chunk_size`` rows). Determinism:
TF32 is switched off for the encoder matmul and the chunk grid is fixed (chunk c covers
positions [c * chunk_size, (c + 1) * chunk_size)), so every pass over the same residuals gives
bit-identical codes on a given device and library build (for cuBLAS also set
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` and ``torch.use_deterministic_algorithms(True)`` in the
process; the suite's GPU runner does).

Top positions (``TopPositions``), the same as :func:`harness.pairing.concepts.top_positions`:
positions where the feature is > 0, by value descending, ties -> lower position first, at most
k, -1 pads; with ``require_active=False`` the row is filled up with the lowest-index positions
where the feature is not active. Done in the encode pass with a running ``torch.topk`` merge
over chunks on a packed int64 key: ``(float32 bits of the value) << 32 | (2^32 - 1 - position)``
for active entries (positive float32 bits order like the values, so the key orders by value and
then by lower position, and no two keys are equal: ``topk``'s unspecified tie order never
matters); inactive entries get key -1. The filler positions are a second running top-k on key
``2^32 - 1 - position`` over the inactive entries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from harness.errors import ConfigError, ShapeError
from harness.vocab import SaeCode

Activation = Literal["relu_pre_topk", "topk"]
_LOW32 = (1 << 32) - 1


@dataclass(frozen=True)
class SaeWeights:
    """The encoder of one SAE as tensors.

    Attributes:
        w_enc: (d_in, d_sae). b_enc: (d_sae,). b_dec: (d_in,).
        activation: ``relu_pre_topk`` (dense ReLU latents, the paper's code) or ``topk``.
        k: active latents per position for ``topk``.
        apply_b_dec_to_input: subtract b_dec from the input first (EleutherAI / sae-lens TopK).
    """

    w_enc: torch.Tensor
    b_enc: torch.Tensor
    b_dec: torch.Tensor
    activation: Activation = "relu_pre_topk"
    k: int | None = None
    apply_b_dec_to_input: bool = True

    def __post_init__(self) -> None:
        if self.w_enc.ndim != 2:
            raise ShapeError(f"w_enc must be (d_in, d_sae); got shape {tuple(self.w_enc.shape)}.")
        d_in, d_sae = self.w_enc.shape
        if self.b_enc.shape != (d_sae,) or self.b_dec.shape != (d_in,):
            raise ShapeError(
                f"b_enc must be ({d_sae},) and b_dec ({d_in},) for w_enc {tuple(self.w_enc.shape)}; got "
                f"{tuple(self.b_enc.shape)} and {tuple(self.b_dec.shape)}. Is W_enc transposed?"
            )
        if self.activation not in ("relu_pre_topk", "topk"):
            raise ConfigError(f"activation={self.activation!r}: use 'relu_pre_topk' or 'topk'.")
        if self.activation == "topk" and (self.k is None or not 1 <= int(self.k) <= d_sae):
            raise ConfigError(f"activation='topk' needs k in 1..{d_sae}; got k={self.k}.")

    @property
    def d_in(self) -> int:
        return int(self.w_enc.shape[0])

    @property
    def d_sae(self) -> int:
        return int(self.w_enc.shape[1])

    @property
    def device(self) -> torch.device:
        return self.w_enc.device

    @classmethod
    def from_loaded(cls, loaded: Any, *, code: SaeCode) -> SaeWeights:
        """From a :class:`harness.load.saes.LoadedSae` of a TopK SAE (``code`` as the procedure's
        ``sae_code``)."""
        sae = loaded.sae
        if not loaded.is_topk:
            raise ConfigError(
                "SaeWeights.from_loaded supports TopK SAEs only; encode other architectures with LoadedSae.encode."
            )
        if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
            raise ConfigError("rescale_acts_by_decoder_norm SAEs are not supported here; use LoadedSae.encode.")
        return cls(
            w_enc=sae.W_enc.detach(),
            b_enc=sae.b_enc.detach(),
            b_dec=sae.b_dec.detach(),
            activation="topk" if code == "sparse" else "relu_pre_topk",
            k=int(loaded.meta.k),
            apply_b_dec_to_input=bool(sae.cfg.apply_b_dec_to_input),
        )


@dataclass(frozen=True)
class ModuleEncoder:
    """Any SAE's encoder as a function (architectures :class:`SaeWeights` does not cover, e.g.
    ReLU or JumpReLU SAEs through :meth:`harness.load.saes.LoadedSae.encode`): ``fn`` maps
    (m, d_in) residuals to (m, d_sae) codes row by row; run on the fixed chunk grid with TF32 off."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    d_in: int
    d_sae: int
    device: torch.device
    activation: str = "module"


@contextlib.contextmanager
def deterministic_matmul() -> Iterator[None]:
    """TF32 off for cuda matmuls and convolutions for the duration (restored afterwards)."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@torch.inference_mode()
def encode_block(x: torch.Tensor, weights: SaeWeights | ModuleEncoder) -> torch.Tensor:
    """(m, d_in) residuals -> (m, d_sae) codes in the weights' dtype (see module docstring)."""
    if x.ndim != 2 or x.shape[1] != weights.d_in:
        raise ShapeError(
            f"Residuals must be (positions, d_in={weights.d_in}); got {tuple(x.shape)}. Is it the SAE "
            "of a different model or layer?"
        )
    if isinstance(weights, ModuleEncoder):
        with deterministic_matmul():
            return weights.fn(x.to(weights.device)).float()
    w = weights.w_enc
    x = x.to(device=w.device, dtype=w.dtype)
    if weights.apply_b_dec_to_input:
        x = x - weights.b_dec
    with deterministic_matmul():
        pre = x @ w + weights.b_enc
    if weights.activation == "relu_pre_topk":
        return torch.relu(pre)
    vals, idx = torch.topk(pre, k=int(weights.k), dim=-1, sorted=False)  # type: ignore[arg-type]  # k is an int here: activation 'topk' requires it
    out = torch.zeros_like(pre)
    out.scatter_(-1, idx, vals.relu())
    return out


def iter_code_chunks(
    residual: torch.Tensor, weights: SaeWeights | ModuleEncoder, *, chunk_size: int = 1024
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield (start, stop, codes (stop - start, d_sae)) over the fixed chunk grid."""
    if int(chunk_size) < 1:
        raise ConfigError(f"chunk_size={chunk_size}: need at least 1 position per chunk.")
    n = int(residual.shape[0])
    for s in range(0, n, int(chunk_size)):
        e = min(s + int(chunk_size), n)
        yield s, e, encode_block(residual[s:e], weights)


class ChunkedEncoder:
    """A code source for :func:`harness.pairing.exact.exact_max_correlation`:
    ``encoder(start, stop)`` encodes residual[start:stop] on the fixed chunk grid (requests
    that cross chunk boundaries are assembled from whole chunks, so the bits never depend on
    how a caller slices), and ``source()`` wraps it as a ``CodeSource``."""

    def __init__(self, residual: torch.Tensor, weights: SaeWeights | ModuleEncoder, *, chunk_size: int = 1024) -> None:
        if residual.ndim != 2 or residual.shape[1] != weights.d_in:
            raise ShapeError(f"residual must be (positions, d_in={weights.d_in}); got {tuple(residual.shape)}.")
        if int(chunk_size) < 1:
            raise ConfigError(f"chunk_size={chunk_size}: need at least 1 position per chunk.")
        self.residual = residual
        self.weights = weights
        self.chunk_size = int(chunk_size)

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        c = self.chunk_size
        parts = []
        for c0 in range((start // c) * c, stop, c):
            codes = encode_block(self.residual[c0 : c0 + c], self.weights)
            parts.append(codes[max(start - c0, 0) : stop - c0])
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def source(self) -> Any:
        from harness.pairing.exact import CodeSource

        return CodeSource(block=self, n_positions=int(self.residual.shape[0]), n_features=self.weights.d_sae)


class TopPositions:
    """Running top-k positions per feature over code chunks given in ascending position order.

    ``update(codes, start)`` with codes (m, F) float32 (float16/bfloat16 are widened exactly;
    float64 codes are rounded to float32, so values equal at float32 resolution tie and the lower
    position wins) for positions start..start+m-1; ``result()`` -> (F, k) int64 numpy array equal
    to :func:`harness.pairing.concepts.top_positions` on the stacked (float32) codes.
    """

    def __init__(
        self, n_features: int, *, k: int = 5, require_active: bool = True, device: str | torch.device = "cpu"
    ) -> None:
        if int(k) < 1:
            raise ConfigError(f"k={k}: need at least 1 top position.")
        self.k = int(k)
        self.require_active = bool(require_active)
        dev = torch.device(device)
        self.keys = torch.full((self.k, n_features), -1, dtype=torch.int64, device=dev)
        self.fill = torch.full((self.k, n_features), -1, dtype=torch.int64, device=dev)
        self.next_start = 0
        self.n_features = int(n_features)

    def update(self, codes: torch.Tensor, start: int) -> None:
        if codes.ndim != 2 or codes.shape[1] != self.n_features:
            raise ShapeError(f"codes must be (positions, {self.n_features}); got {tuple(codes.shape)}.")
        if start != self.next_start:
            raise ConfigError(
                f"Chunks must come in ascending order without gaps: expected start={self.next_start}, got {start}."
            )
        m = int(codes.shape[0])
        if start + m > _LOW32:
            raise ConfigError("More than 2^32 - 1 positions are not supported.")
        vals = codes.to(device=self.keys.device, dtype=torch.float32)
        pos = torch.arange(start, start + m, device=self.keys.device, dtype=torch.int64)[:, None]
        active = vals > 0
        bits = vals.contiguous().view(torch.int32).to(torch.int64)
        keys = (bits << 32).add_(_LOW32 - pos).masked_fill_(~active, -1)
        self.keys = torch.topk(torch.cat([self.keys, keys]), self.k, dim=0).values
        if not self.require_active:
            fkeys = (_LOW32 - pos).expand_as(bits).masked_fill(active, -1)
            self.fill = torch.topk(torch.cat([self.fill, fkeys]), self.k, dim=0).values
        self.next_start = start + m

    def result(self) -> np.ndarray:
        """(F, k) positions, highest value first, -1 pads (see class docstring)."""
        k = self.k
        keys = self.keys.T  # (F, k), descending
        pos = torch.where(keys >= 0, _LOW32 - (keys & _LOW32), torch.full_like(keys, -1))
        if not self.require_active:
            n_act = (keys >= 0).sum(dim=1, keepdim=True)  # (F, 1)
            fill = self.fill.T
            fpos = torch.where(fill >= 0, _LOW32 - fill, torch.full_like(fill, -1))  # ascending positions
            j = torch.arange(k, device=keys.device)[None, :] - n_act  # index into the fillers
            take = torch.gather(fpos, 1, j.clamp(min=0))
            pos = torch.where(j >= 0, take, pos)
        return pos.cpu().numpy().astype(np.int64)


@dataclass(frozen=True)
class EncodePass:
    """What one encode pass over the residuals yields besides the codes."""

    top_positions: np.ndarray
    """(F, k) top activating positions per feature (as :func:`harness.pairing.concepts.top_positions`)."""
    sum: torch.Tensor
    """(F,) fp64 sum of the codes over positions."""
    sum_sq: torch.Tensor
    """(F,) fp64 sum of squared codes."""
    nnz: torch.Tensor
    """(F,) int64 number of positions where the feature is non-zero."""
    n_positions: int


def encode_pass(
    residual: torch.Tensor,
    weights: SaeWeights | ModuleEncoder,
    *,
    top_k: int = 5,
    require_active: bool = True,
    chunk_size: int = 1024,
) -> EncodePass:
    """One pass over (N, d_in) residuals: top-k positions per feature and column sums, without
    keeping the codes (positions x d_sae never exists beyond one chunk)."""
    return SaeCodes(residual, weights, chunk_size=chunk_size, top_k=top_k, require_active=require_active).summary()


class SaeCodes:
    """Codes of one SAE over one space's residuals, never stored whole (issue 12).

    ``residual`` (N, d_in) float32 on the device the encoding runs on (the rows are the
    space's positions, already masked / permuted). Codes are encoded on demand on the fixed
    chunk grid of :class:`ChunkedEncoder` (bit-identical on every pass):

    - :meth:`source`: a :class:`harness.pairing.exact.CodeSource` for the exact pairing;
    - :meth:`summary`: one encode pass -> top-k positions per feature and non-zero counts
      (cached); for ``topk`` codes the pass also keeps each position's k (index, value) entries
      on the device ((N, k) int64 + float32: 7.7 MB at 30,000 x 32);
    - :meth:`columns`: (N, m) float64 codes of ``m`` selected features on the device (semantic
      subsets, the Hungarian sub-matrix): ``topk`` codes are gathered exactly from the kept entries;
      ``relu_pre_topk`` codes are re-encoded for the selected latents only
      (``relu((x - b_dec) @ W_enc[:, idx] + b_enc[idx])``, m / d_sae of the full cost). That
      product may differ from the full one in the last bit (another GEMM shape); every
      consumer of :meth:`columns` (semantic pairing, its Test 2, the Hungarian matrix) uses it
      alone, so they stay consistent with each other.
    """

    def __init__(
        self,
        residual: torch.Tensor,
        weights: SaeWeights | ModuleEncoder,
        *,
        chunk_size: int = 1024,
        top_k: int = 5,
        require_active: bool = True,
    ) -> None:
        self.encoder = ChunkedEncoder(residual, weights, chunk_size=chunk_size)
        self.top_k = int(top_k)
        self.require_active = bool(require_active)
        self._summary: EncodePass | None = None
        self._topk_entries: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def residual(self) -> torch.Tensor:
        return self.encoder.residual

    @property
    def weights(self) -> SaeWeights | ModuleEncoder:
        return self.encoder.weights

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.residual.shape[0]), self.weights.d_sae)

    def source(self, *, materialize_bytes: int | None = None) -> Any:
        """A :class:`harness.pairing.exact.CodeSource` of the codes. When the whole (N, d_sae)
        float32 matrix fits in ``materialize_bytes`` (default: an eighth of the free device
        memory on cuda, 256 MB on the cpu) it is encoded once here (same chunk grid, same bits)
        and served from memory, so the pairing's passes do not re-encode; else every block is
        encoded on request. Nothing is kept after the caller drops the source."""
        from harness.pairing.exact import CodeSource

        dev = self.weights.device
        if materialize_bytes is None:
            materialize_bytes = torch.cuda.mem_get_info(dev)[0] // 8 if dev.type == "cuda" else 1 << 28
        if self.shape[0] * self.shape[1] * 4 <= materialize_bytes:
            return CodeSource.from_dense(
                torch.cat(
                    [
                        c
                        for _s, _e, c in iter_code_chunks(
                            self.residual, self.weights, chunk_size=self.encoder.chunk_size
                        )
                    ]
                )
            )
        return self.encoder.source()

    def permuted(self, perm: np.ndarray) -> SaeCodes:
        """The same SAE on the positions reordered by ``perm`` (row i = old row perm[i])."""
        idx = torch.as_tensor(np.asarray(perm, dtype=np.int64), device=self.residual.device)
        return SaeCodes(
            self.residual[idx],
            self.weights,
            chunk_size=self.encoder.chunk_size,
            top_k=self.top_k,
            require_active=self.require_active,
        )

    def summary(self) -> EncodePass:
        """Top positions, column sums and non-zero counts of one encode pass (cached)."""
        if self._summary is None:
            w = self.weights
            dev = w.device
            tracker = TopPositions(w.d_sae, k=self.top_k, require_active=self.require_active, device=dev)
            s = torch.zeros(w.d_sae, dtype=torch.float64, device=dev)
            sq = torch.zeros_like(s)
            nnz = torch.zeros(w.d_sae, dtype=torch.int64, device=dev)
            ent_i: list[torch.Tensor] = []
            ent_v: list[torch.Tensor] = []
            for start, _stop, codes in iter_code_chunks(self.residual, w, chunk_size=self.encoder.chunk_size):
                tracker.update(codes, start)
                c64 = codes.double()
                s += c64.sum(0)
                sq += (c64 * c64).sum(0)
                nnz += (codes != 0).sum(0)
                if w.activation == "topk":
                    vals, idx = torch.topk(codes, int(w.k), dim=1)  # type: ignore[union-attr, arg-type]  # topk: SaeWeights with k
                    ent_i.append(idx)
                    ent_v.append(vals)
            self._summary = EncodePass(
                top_positions=tracker.result(), sum=s, sum_sq=sq, nnz=nnz, n_positions=self.shape[0]
            )
            if w.activation == "topk":
                self._topk_entries = (torch.cat(ent_i), torch.cat(ent_v))
        return self._summary

    @property
    def is_topk(self) -> bool:
        """TopK codes (at most k non-zeros per position)."""
        return getattr(self.weights, "activation", None) == "topk"

    def to_csr(self) -> Any:
        """(N, d_sae) ``scipy.sparse.csr_matrix`` of TopK codes (the SAE's dtype), from the entries kept by
        :meth:`summary` (N x k non-zeros at most: 1 M at 30,000 x 32); for the exact sparse pairing."""
        import scipy.sparse as sp

        if not self.is_topk:
            raise ConfigError("to_csr is for TopK codes; dense pre-TopK codes are paired from the encoder.")
        self.summary()
        ent_i, ent_v = self._topk_entries  # type: ignore[misc]  # set by summary() for TopK codes, checked just above
        n, k = ent_i.shape
        rows = np.repeat(np.arange(n, dtype=np.int64), k)
        vals = ent_v.reshape(-1).cpu().numpy()
        keep = vals != 0
        return sp.csr_matrix(
            (vals[keep], (rows[keep], ent_i.reshape(-1).cpu().numpy()[keep])), shape=self.shape, dtype=vals.dtype
        )

    def columns(self, idx: np.ndarray) -> torch.Tensor:
        """(N, len(idx)) float64 codes of features ``idx`` on the encoder's device (see class
        docstring)."""
        idx_np = np.asarray(idx, dtype=np.int64).reshape(-1)
        if idx_np.size and (idx_np.min() < 0 or idx_np.max() >= self.shape[1]):
            raise ShapeError(f"Feature ids must be in 0..{self.shape[1] - 1}; got {idx_np.min()}..{idx_np.max()}.")
        w = self.weights
        dev = w.device
        m = idx_np.size
        t_idx = torch.as_tensor(idx_np, device=dev)
        if isinstance(w, ModuleEncoder):  # no cheaper exact way: whole chunks, selected columns kept
            parts = [
                c[:, t_idx].double()
                for _s, _e, c in iter_code_chunks(self.residual, w, chunk_size=self.encoder.chunk_size)
            ]
            return torch.cat(parts) if parts else torch.zeros((0, m), dtype=torch.float64, device=dev)
        if w.activation == "topk":
            self.summary()
            ent_i, ent_v = self._topk_entries  # type: ignore[misc]  # set by summary() for TopK codes, checked just above
            where = torch.full((w.d_sae,), m, dtype=torch.int64, device=dev)
            where[torch.as_tensor(idx_np, device=dev)] = torch.arange(m, device=dev)
            out = torch.zeros((self.shape[0], m + 1), dtype=ent_v.dtype, device=dev)
            out.scatter_(1, where[ent_i], ent_v)  # entries of unselected features land in column m
            return out[:, :m].double()
        sub = SaeWeights(
            w_enc=w.w_enc[:, t_idx],
            b_enc=w.b_enc[t_idx],
            b_dec=w.b_dec,
            activation="relu_pre_topk",
            apply_b_dec_to_input=w.apply_b_dec_to_input,
        )
        parts = [c.double() for _s, _e, c in iter_code_chunks(self.residual, sub, chunk_size=self.encoder.chunk_size)]
        return torch.cat(parts) if parts else torch.zeros((0, m), dtype=torch.float64, device=dev)
