"""Exact max-correlation pairing on the device (issue 12), one torch code path for cpu and cuda.

Same answer as :func:`harness.pairing.matching.max_correlation` with ``dtype="float64"`` (z-score per
column with the population mean/std of :func:`harness.pairing.matching.column_stats`, correlation
``Z_A^T Z_B`` of unit columns, best A partner per B feature and best B partner per A feature,
ties -> lowest index, dead features per ``dead="paper"|"exclude"``), but:

- codes come **block by block over positions** from a :class:`CodeSource` (a dense tensor, or a
  caller's encoder ``block(start, stop) -> (stop - start, F)``), so nothing of size
  positions x features has to exist at once; every pass requests the same position blocks, so
  a deterministic encoder (:mod:`harness.activations.encode`) yields bit-identical codes each time;
- an optional low-precision **screen** (``screen="tf32"`` or ``"bf16"``) finds, per column, the
  few candidates that can be the fp64 maximum; only those are recomputed in fp64. Partners are
  then identical to the fp64 ones (proof below); values are fp64.

Passes over the positions (blocks of ``block_positions`` rows, default :data:`MAX_BLOCK_POSITIONS` = 4096):
1. column statistics in fp64 (sum and sum of squares per feature);
2. screen (or the exact fp64 Gram when ``screen=None``): ``G[:, group] += Z_A^T Z_B[:, group]``
   per block, block products in fp32 on inputs rounded to the screen's mantissa (on cuda with
   TF32 tensor cores allowed), block results accumulated in fp64; B features in groups of
   ``b_group`` (one pass over positions per group; memory F_A x b_group x 8 bytes);
3. (screen only) fp64 recheck of the candidate pairs, chunk by chunk over the same blocks.

Error bound of the screen (shapes: z_a, z_b (N,) fp64 z-scored columns of A and B, rounded
copies z~ with t explicit mantissa bits; m = block_positions; n_b = number of blocks).
Rounding to t bits gives ``z = z~ (1 + e)``, ``|e| <= u' = u / (1 - u)`` with unit roundoff
``u = 2^-(t+1)`` (round to nearest) or ``2^-t`` (truncation): TF32 t = 10 -> u = 2^-11 / 2^-10,
bf16 t = 7 -> u = 2^-8 / 2^-7. (paper-scale-costs.md lists 2^-9 for bf16; 7 explicit bits give
2^-8 for round-to-nearest, which is what is used here.) With c = sum_p z_a[p] z_b[p] the real
value and c~ the screened value:

    |sum z_a z_b - sum z~_a z~_b| <= (2u' + u'^2) sum |z~_a||z~_b| <= (2u' + u'^2) |z~_a| |z~_b|

(Cauchy-Schwarz; the columns are unit vectors, so this is the "2u" term). Products of two t-bit
significands are exact in fp32 (2(t+1) <= 24 bits); each block is summed in fp32 in an unknown
order, possibly chopped (tensor cores): error <= gamma_m(2^-23) |z~_a| |z~_b| over all blocks;
the n_b block sums are added in fp64: <= gamma_{n_b}(2^-53)(1 + gamma_m(2^-23)) |z~_a||z~_b|;
values flushed below the fp32 normal range cost at most N 2^-124 in absolute terms. The fp64
reference itself (this module's recheck, or matching's GEMM with its own mean/std bits) is
within g64 = gamma_{2N + n_b}(2^-53)(1 + u')^2 |z~_a||z~_b| of c. With
gamma_k(v) = k v / (1 - k v), the bound per entry is

    E_ij = eps * |z~_a,i| * |z~_b,j| + N 2^-124,
    eps  = 2u' + u'^2 + gamma_m(2^-23) + gamma_{n_b}(2^-53)(1 + gamma_m(2^-23)) + g64 / (|z~_a||z~_b|).

Candidates of column j: every i with c~_ij >= max_l c~_lj - 2 E_j, E_j = E with the largest A
norm. If i* is the fp64 argmax, c~_i*j >= c_i*j - E >= c_l~j - E - g >= c~_l~j - 2E for the
screened maximum l~, so i* is always a candidate; the recheck then takes the fp64 maximum over
the candidates (ties -> lowest index). The same holds per row for the reverse direction. For
TF32 (round to nearest) and m = 1024: eps ~ 9.8e-4 + 1.2e-4, i.e. a window of ~2.2e-3; m = 4096 (the
default, :data:`MAX_BLOCK_POSITIONS`): eps ~ 9.8e-4 + 4.9e-4, a window of ~2.9e-3 (at N = 30k).
Near-ties *inside* fp64 rounding (top-2 within ~N 2^-53, ~3e-12 at N = 30k) can differ between
any two fp64 computations, including matching's; exact ties (duplicated columns) do not.

On cuda the screen matmul runs with TF32 allowed on inputs already rounded to TF32 (or bf16,
which is a subset of TF32), so the hardware's own input conversion is lossless and the product
is exact; bf16 therefore runs at TF32 speed (a bf16 GEMM would round its output to bf16, which
the bound does not cover). On cpu the same rounded inputs go through an fp32 GEMM: the same
numbers the device sees, up to the accumulation order the bound covers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from harness.errors import ConfigError, DegenerateInputError, ShapeError
from harness.pairing.matching import MaxCorrelation
from harness.vocab import DeadPolicy

Screen = Literal["tf32", "bf16"]
Rounding = Literal["nearest", "truncate"]

#: Explicit mantissa bits of each screen format.
SCREEN_BITS: dict[str, int] = {"tf32": 10, "bf16": 7}

_U32_ACC = 2.0**-23  # fp32 accumulation, chopped (covers round-to-nearest too)
_U64 = 2.0**-53

#: Largest (and default) position block of the screen: the accumulation term gamma_m(2^-23) of the
#: bound is 4.9e-4 at m = 4096, half the TF32 rounding term 2u' = 9.8e-4, so the candidate window
#: grows only 1.33x over m = 1024 (paper-scale-costs.md, "Exactness facts": blocks of 1,024-4,096
#: keep the bound small; 0 mismatches measured there). Larger blocks cut the fp32 -> fp64 conversions
#: of the block products (F_A x F_B per block: ~4.3 GB of traffic at 32k x 32k) by m / 1024.
MAX_BLOCK_POSITIONS = 4096


def unit_roundoff(*, bits: int, rounding: Rounding) -> float:
    """Unit roundoff u of a format with ``bits`` explicit mantissa bits: 2^-(bits+1) for round to
    nearest, 2^-bits for truncation (toward zero)."""
    if rounding == "nearest":
        return 2.0 ** -(bits + 1)
    if rounding == "truncate":
        return 2.0**-bits
    raise ConfigError(f"rounding={rounding!r}: use 'nearest' or 'truncate'.")


def round_mantissa(x: torch.Tensor, *, bits: int, rounding: Rounding = "nearest") -> torch.Tensor:
    """Round a float32 or float64 tensor to ``bits`` explicit mantissa bits, same dtype.

    ``nearest``: round to nearest, ties to even (what ``tensor.to(torch.bfloat16)`` does for
    ``bits=7``); ``truncate``: toward zero. Works on the bit pattern (sign-magnitude), so it is
    exact and identical on cpu and cuda; the exponent range is kept (values may round up to the
    next binade or to inf at the top of the range). NaN and inf pass unchanged. Emulates TF32
    (``bits=10``) and bf16 (``bits=7``) inputs on the cpu.
    """
    if x.dtype == torch.float32:
        itype, mant = torch.int32, 23
    elif x.dtype == torch.float64:
        itype, mant = torch.int64, 52
    else:
        raise ConfigError(f"round_mantissa needs float32 or float64, got {x.dtype}; cast first.")
    if not 0 <= int(bits) <= mant:
        raise ConfigError(f"bits={bits}: use 0..{mant} for {x.dtype}.")
    drop = mant - int(bits)
    if drop == 0:
        return x.clone()
    i = x.contiguous().view(itype)
    if rounding == "nearest":
        lsb = (i >> drop) & 1
        i = i + ((1 << (drop - 1)) - 1) + lsb
    elif rounding != "truncate":
        raise ConfigError(f"rounding={rounding!r}: use 'nearest' or 'truncate'.")
    i = i & ~((1 << drop) - 1)
    out = i.view(x.dtype)
    return torch.where(torch.isfinite(x), out, x)


@dataclass(frozen=True)
class CodeSource:
    """Codes of one SAE on the run's positions, delivered in position blocks.

    ``block(start, stop)`` returns a (stop - start, n_features) float tensor (any device); it
    is called with the same ranges in every pass, in ascending order.
    """

    block: Callable[[int, int], torch.Tensor]
    n_positions: int
    n_features: int

    @classmethod
    def from_dense(cls, codes: object) -> CodeSource:
        """(positions, features) numpy array, torch tensor or scipy.sparse matrix (densified one
        position block at a time)."""
        import scipy.sparse as sp

        if sp.issparse(codes):
            csr = sp.csr_matrix(codes)
            return cls(
                block=lambda s, e: torch.from_numpy(csr[s:e].toarray()),
                n_positions=int(csr.shape[0]),
                n_features=int(csr.shape[1]),
            )
        t = codes if isinstance(codes, torch.Tensor) else torch.as_tensor(np.asarray(codes))
        if t.ndim != 2:
            raise ShapeError(f"codes must be 2-D (positions, features); got shape {tuple(t.shape)}.")
        if t.is_sparse or t.layout != torch.strided:
            t = t.to_dense()
        return cls(block=lambda s, e: t[s:e], n_positions=int(t.shape[0]), n_features=int(t.shape[1]))


@dataclass(frozen=True)
class ExactPairing:
    """Result of :func:`exact_max_correlation`."""

    max_correlation: MaxCorrelation
    """Partners and fp64 correlations, the same record as :func:`matching.max_correlation`."""
    screen: str
    """``fp64`` (no screen), ``tf32`` or ``bf16`` (+ rounding)."""
    eps: float
    """Relative screen bound (0 without a screen): |screened - fp64| <= eps |z~_a||z~_b| + N 2^-124."""
    n_candidate_pairs: int
    """Distinct (A, B) pairs rechecked in fp64 (0 without a screen)."""
    max_candidates_per_b: int
    """Most candidates of one B feature (cost indicator; ~1-3 for TF32 on real features)."""


def screen_eps(*, screen: Screen, rounding: Rounding, block_positions: int, n_positions: int) -> float:
    """Relative error bound ``eps`` of the screen (module docstring), with unit norms folded in."""
    u = unit_roundoff(bits=SCREEN_BITS[screen], rounding=rounding)
    up = u / (1.0 - u)
    m = int(block_positions)
    n_blocks = -(-int(n_positions) // m)

    def gamma(k: int, v: float) -> float:
        if k * v >= 1.0:
            raise ConfigError(f"Accumulation bound undefined for {k} terms at unit roundoff {v}; use smaller blocks.")
        return k * v / (1.0 - k * v)

    g_blk = gamma(m, _U32_ACC)
    g_sum = gamma(n_blocks, _U64) * (1.0 + g_blk)
    g64 = gamma(2 * int(n_positions) + n_blocks, _U64) * (1.0 + up) ** 2
    return 2.0 * up + up * up + g_blk + g_sum + g64


def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for s in range(0, n, size):
        yield s, min(s + size, n)


def _as_source(x: object, name: str) -> CodeSource:
    if isinstance(x, CodeSource):
        return x
    if callable(x):
        raise ConfigError(f"{name} is a callable: wrap it as CodeSource(block=..., n_positions=..., n_features=...).")
    return CodeSource.from_dense(x)


@contextlib.contextmanager
def _tf32(enabled: bool) -> Iterator[None]:
    """Set cuda matmul TF32 for the duration (restored afterwards); no effect on cpu."""
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def _stats(src: CodeSource, *, block_positions: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """fp64 population mean and std per feature, dead (zero-variance) -> std 0, with the
    semantics of :func:`harness.pairing.matching.column_stats`."""
    n = src.n_positions
    s = torch.zeros(src.n_features, dtype=torch.float64, device=device)
    sq = torch.zeros_like(s)
    for b0, b1 in _blocks(n, block_positions):
        x = _fetch(src, b0, b1, device)
        s += x.sum(0)
        sq += (x * x).sum(0)
    mean = s / n
    var = torch.clamp(sq / n - mean**2, min=0.0)
    std = torch.sqrt(var)
    std[var <= 1e-12 * torch.clamp(mean**2, min=1e-300)] = 0.0
    return mean, std


def _fetch(src: CodeSource, b0: int, b1: int, device: torch.device) -> torch.Tensor:
    x = src.block(b0, b1)
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.shape != (b1 - b0, src.n_features):
        raise ShapeError(
            f"A code block for positions [{b0}, {b1}) has shape {tuple(x.shape)}; expected "
            f"({b1 - b0}, {src.n_features}). Check the encoder's output layout (positions, features)."
        )
    x = x.to(device=device, dtype=torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise DegenerateInputError(
            f"Codes for positions [{b0}, {b1}) contain NaN or inf; check the SAE and model dtype."
        )
    return x


def _zscore(x: torch.Tensor, mean: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
    """(m, F) fp64 block -> (x - mean) * inv; dead columns (inv 0) -> 0."""
    return (x - mean) * inv


def exact_max_correlation(
    codes_a: object,
    codes_b: object,
    *,
    screen: Screen | None = None,
    rounding: Rounding = "nearest",
    dead: DeadPolicy = "exclude",
    device: str | torch.device = "cpu",
    block_positions: int = MAX_BLOCK_POSITIONS,
    b_group: int | None = None,
    recheck_elements: int = 1 << 24,
) -> ExactPairing:
    """Best-correlated partners, identical to fp64, computed on ``device``.

    Args:
        codes_a: (N, F_A) codes of model A: a :class:`CodeSource` (e.g. an on-the-fly encoder,
            :meth:`harness.activations.encode.ChunkedEncoder.source`), numpy array, torch tensor or
            scipy.sparse matrix (e.g. ``FeatureSpace.codes``).
        codes_b: (N, F_B) codes of model B on the same N positions.
        screen: None = exact fp64 Gram; ``tf32`` / ``bf16`` = low-precision screen with the
            proven bound of the module docstring, then an fp64 recheck of every candidate.
        rounding: how the screen's inputs are rounded (``nearest`` or ``truncate``; truncation
            doubles u, i.e. widens the candidate window).
        dead: as :func:`harness.pairing.matching.max_correlation`.
        device: torch device; the same code runs on cpu and cuda.
        block_positions: positions per block (the accumulation-bound's m; at most
            :data:`MAX_BLOCK_POSITIONS`, the default).
        b_group: B features per sweep over the positions (None = all F_B; the fp64 Gram holds
            F_A x b_group entries).
        recheck_elements: gather budget of the recheck (positions x candidate pairs per step).

    Returns an :class:`ExactPairing` whose ``max_correlation`` has the fields and semantics of
    :class:`harness.pairing.matching.MaxCorrelation` (backend ``exact-fp64`` or ``exact-<screen>``).
    """
    if dead not in ("paper", "exclude"):
        raise ConfigError(f"dead={dead!r}: use 'paper' or 'exclude'.")
    if screen is not None and screen not in SCREEN_BITS:
        raise ConfigError(f"screen={screen!r}: use None (exact fp64), 'tf32' or 'bf16'.")
    if rounding not in ("nearest", "truncate"):
        raise ConfigError(f"rounding={rounding!r}: use 'nearest' or 'truncate'.")
    if not 1 <= int(block_positions) <= MAX_BLOCK_POSITIONS:
        raise ConfigError(
            f"block_positions={block_positions}: use 1..{MAX_BLOCK_POSITIONS} (it bounds the fp32 accumulation error)."
        )
    dev = torch.device(device)
    src_a, src_b = _as_source(codes_a, "codes_a"), _as_source(codes_b, "codes_b")
    n = src_a.n_positions
    if src_b.n_positions != n:
        raise ShapeError(
            f"codes_a has {n} positions and codes_b has {src_b.n_positions}: both models must be run on "
            "the same tokens (same samples, sequence length and mask)."
        )
    if n < 2:
        raise DegenerateInputError("Need at least 2 token positions to correlate features.")
    fa, fb = src_a.n_features, src_b.n_features
    group = fb if b_group is None else int(b_group)
    if group < 1:
        raise ConfigError(f"b_group={b_group}: need at least 1 feature per sweep.")
    bp = int(block_positions)

    mean_a, std_a = _stats(src_a, block_positions=bp, device=dev)
    mean_b, std_b = _stats(src_b, block_positions=bp, device=dev)
    sqrt_n = math.sqrt(n)
    inv_a = torch.where(std_a > 0, 1.0 / torch.where(std_a > 0, std_a, 1.0), 0.0) / sqrt_n
    inv_b = torch.where(std_b > 0, 1.0 / torch.where(std_b > 0, std_b, 1.0), 0.0) / sqrt_n
    dead_a, dead_b = std_a == 0, std_b == 0

    # Rows / columns that may never be partners: exclude -> dead ones; paper -> dead ones after
    # the first (they all tie at exactly 0, and the lowest index wins the tie).
    def blocked(d: torch.Tensor) -> torch.Tensor:
        if dead == "exclude":
            return d
        out = d.clone()
        first = torch.nonzero(d).flatten()
        if first.numel():
            out[first[0]] = False
        return out

    block_a, block_b = blocked(dead_a), blocked(dead_b)
    neg_inf = torch.tensor(-math.inf, dtype=torch.float64, device=dev)

    eps = 0.0
    bits = 0
    if screen is not None:
        eps = screen_eps(screen=screen, rounding=rounding, block_positions=bp, n_positions=n)
        bits = SCREEN_BITS[screen]
    absterm = n * 2.0**-124

    # Outputs of the screen / exact sweep
    col_val = torch.full((fb,), -math.inf, dtype=torch.float64, device=dev)
    col_idx = torch.zeros(fb, dtype=torch.int64, device=dev)
    row_val = torch.full((fa,), -math.inf, dtype=torch.float64, device=dev)
    row_idx = torch.zeros(fa, dtype=torch.int64, device=dev)
    cand_i: list[torch.Tensor] = []
    cand_j: list[torch.Tensor] = []
    row_cand: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (i, j, screened value)
    na = torch.zeros(fa, dtype=torch.float64, device=dev)  # squared norms of the rounded z
    nb = torch.zeros(fb, dtype=torch.float64, device=dev)

    for g0 in range(0, fb, group):
        g1 = min(g0 + group, fb)
        gram = torch.zeros(fa, g1 - g0, dtype=torch.float64, device=dev)
        for b0, b1 in _blocks(n, bp):
            za = _zscore(_fetch(src_a, b0, b1, dev), mean_a, inv_a)
            zb_all = _zscore(_fetch(src_b, b0, b1, dev), mean_b, inv_b)
            if screen is None:
                gram += za.T @ zb_all[:, g0:g1]
                continue
            ra = round_mantissa(za, bits=bits, rounding=rounding).to(torch.float32)
            rb_all = round_mantissa(zb_all, bits=bits, rounding=rounding).to(torch.float32)
            if g0 == 0:  # norms of the rounded columns (all B features on the first sweep)
                na += (ra.double() ** 2).sum(0)
                nb += (rb_all.double() ** 2).sum(0)
            with _tf32(True):
                gram += (ra.T @ rb_all[:, g0:g1]).double()
        gram[block_a] = neg_inf
        gram[:, block_b[g0:g1]] = neg_inf
        if screen is None:
            v, i = gram.max(dim=0)  # first maximal index on ties
            col_val[g0:g1], col_idx[g0:g1] = v, i
            rv, rj = gram.max(dim=1)
            better = rv > row_val  # strictly: earlier groups (lower B index) win ties
            row_val = torch.where(better, rv, row_val)
            row_idx = torch.where(better, rj + g0, row_idx)
            continue
        norm_a, norm_b = torch.sqrt(na), torch.sqrt(nb)
        # columns of this group: window 2 E_j with the largest A norm
        win_col = 2.0 * (eps * norm_a.max() * norm_b[g0:g1] + absterm)
        cmax = gram.max(dim=0).values
        # a blocked column or a dead target (finished below) gets no candidates
        thr = torch.where(torch.isfinite(cmax) & ~dead_b[g0:g1], cmax - win_col, math.inf)
        ii, jj = torch.nonzero(gram >= thr[None, :], as_tuple=True)
        cand_i.append(ii)
        cand_j.append(jj + g0)
        # rows: candidates relative to this group's row max (a superset of those relative to
        # the global row max, filtered after the last group)
        win_row = 2.0 * (eps * norm_a * norm_b.max() + absterm)
        rmax = gram.max(dim=1).values
        thr = torch.where(torch.isfinite(rmax) & ~dead_a, rmax - win_row, math.inf)
        ri, rj = torch.nonzero(gram >= thr[:, None], as_tuple=True)
        row_cand.append((ri, rj + g0, gram[ri, rj]))
        row_val = torch.maximum(row_val, rmax)

    n_pairs = 0
    max_per_b = 0
    if screen is None:
        a_for_b, corr_for_b, b_for_a, corr_for_a = col_idx, col_val, row_idx, row_val
    else:
        norm_a, norm_b = torch.sqrt(na), torch.sqrt(nb)
        win_row = 2.0 * (eps * norm_a * norm_b.max() + absterm)
        ri = torch.cat([r[0] for r in row_cand])
        rj = torch.cat([r[1] for r in row_cand])
        rv = torch.cat([r[2] for r in row_cand])
        keep = torch.isfinite(rv) & (rv >= row_val[ri] - win_row[ri])
        ci, cj = torch.cat(cand_i), torch.cat(cand_j)
        keys = torch.unique(torch.cat([ci * fb + cj, ri[keep] * fb + rj[keep]]))
        # drop candidates that are blocked (-inf in the screen: whole dead columns / rows)
        pi, pj = keys // fb, keys % fb
        ok = ~block_a[pi] & ~block_b[pj]
        pi, pj = pi[ok], pj[ok]
        exact = _recheck(
            src_a,
            src_b,
            pi,
            pj,
            mean_a,
            inv_a,
            mean_b,
            inv_b,
            n=n,
            block_positions=bp,
            budget=int(recheck_elements),
            device=dev,
        )
        a_for_b, corr_for_b = _best_of(pj, pi, exact, n_targets=fb)
        b_for_a, corr_for_a = _best_of(pi, pj, exact, n_targets=fa)
        n_pairs = int(pi.numel())
        if n_pairs:
            max_per_b = int(torch.bincount(pj, minlength=fb).max())

    a_for_b_np = a_for_b.cpu().numpy().astype(np.int64)
    corr_for_b_np = corr_for_b.cpu().numpy().astype(np.float64)
    b_for_a_np = b_for_a.cpu().numpy().astype(np.int64)
    corr_for_a_np = corr_for_a.cpu().numpy().astype(np.float64)
    dead_a_np, dead_b_np = dead_a.cpu().numpy(), dead_b.cpu().numpy()
    # Finishing rules of matching._dense_best
    for idx, val, dead_target in ((a_for_b_np, corr_for_b_np, dead_b_np), (b_for_a_np, corr_for_a_np, dead_a_np)):
        if dead == "exclude":
            idx[dead_target] = -1
            val[dead_target] = np.nan
            bad = ~np.isfinite(val)
            idx[bad] = -1
            val[bad] = np.nan
        else:  # paper: a dead target sees 0 everywhere -> index 0, corr 0
            idx[dead_target] = 0
            val[dead_target] = 0.0
    mc = MaxCorrelation(
        a_for_b=a_for_b_np,
        corr_for_b=corr_for_b_np,
        b_for_a=b_for_a_np,
        corr_for_a=corr_for_a_np,
        dead_a=dead_a_np,
        dead_b=dead_b_np,
        n_tokens=int(n),
        backend="exact-fp64" if screen is None else f"exact-{screen}-{rounding}",
        dead_policy=dead,
    )
    return ExactPairing(
        max_correlation=mc,
        screen="fp64" if screen is None else f"{screen}-{rounding}",
        eps=eps,
        n_candidate_pairs=n_pairs,
        max_candidates_per_b=max_per_b,
    )


def _recheck(
    src_a: CodeSource,
    src_b: CodeSource,
    pi: torch.Tensor,
    pj: torch.Tensor,
    mean_a: torch.Tensor,
    inv_a: torch.Tensor,
    mean_b: torch.Tensor,
    inv_b: torch.Tensor,
    *,
    n: int,
    block_positions: int,
    budget: int,
    device: torch.device,
) -> torch.Tensor:
    """(P,) fp64 correlations of the candidate pairs (pi[k], pj[k]): one more pass over the same
    position blocks, products gathered per block and summed in fp64 (a fixed order per pair,
    so duplicated columns tie exactly)."""
    out = torch.zeros(pi.numel(), dtype=torch.float64, device=device)
    if pi.numel() == 0:
        return out
    step = max(1, budget // block_positions)
    for b0, b1 in _blocks(n, block_positions):
        za = _zscore(_fetch(src_a, b0, b1, device), mean_a, inv_a)
        zb = _zscore(_fetch(src_b, b0, b1, device), mean_b, inv_b)
        for k0 in range(0, pi.numel(), step):
            k1 = min(k0 + step, pi.numel())
            out[k0:k1] += (za[:, pi[k0:k1]] * zb[:, pj[k0:k1]]).sum(0)
    return out


def _best_of(
    target: torch.Tensor, source: torch.Tensor, value: torch.Tensor, *, n_targets: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per target, the source of maximal value (ties -> lowest source index); -inf / index 0
    for targets without candidates."""
    dev = value.device
    best = torch.full((n_targets,), -math.inf, dtype=torch.float64, device=dev)
    best = best.scatter_reduce(0, target, value, reduce="amax", include_self=True)
    idx = torch.full((n_targets,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=dev)
    hit = value == best[target]
    idx = idx.scatter_reduce(0, target[hit], source[hit], reduce="amin", include_self=True)
    idx = torch.where(idx == torch.iinfo(torch.int64).max, torch.zeros_like(idx), idx)
    return idx, best
