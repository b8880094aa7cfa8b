"""Max-activation-correlation pairing of SAE features (Lan et al. 2024, Sec. 3 and App. D).

For two SAEs run on the *same* token positions, each feature is a column of its code matrix
(tokens x features). The Pearson correlation between feature i of A and feature j of B over
the N positions is

    corr[i, j] = (S[i, j] / N - mu_i * mu_j) / (s_i * s_j),   S = A^T B,

with population means/stds. (The paper's code z-scored with the unbiased std + 1e-8 and
divided by N: its values are smaller by a factor (N - 1)/N, about 3e-5 at N = 30,000; pairs
are identical.) Each B feature keeps its best A partner ("many-to-1": many B features may map
to one A feature) and, symmetrically, each A feature its best B partner.

Two exact backends:
- ``dense``: chunked torch matmul of z-scored columns (CPU or GPU), never materialising the
  full F_A x F_B matrix; the paper's algorithm.
- ``sparse``: for sparse codes on the CPU. S = A^T B is cheap when each token has few
  non-zeros; entries of S that are zero have correlation -r_i r_j with r = mu / s, so the best
  partner among them is found exactly from the sorted r of the other side.
Both agree up to exact ties (which partner wins between equal correlations).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal, TypeGuard

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from harness.errors import ConfigError, DegenerateInputError, ResourceError, ShapeError

from harness.vocab import ColumnWalk, DeadPolicy, OneToOneRule, check_choice

Backend = Literal["auto", "dense", "sparse"]
Int64 = NDArray[np.int64]
Float64 = NDArray[np.float64]

#: Largest sub-problem (n_a * n_b) for which a dense correlation sub-matrix / Hungarian
#: assignment is built on the CPU.
MAX_DENSE_SUBMATRIX = 8192 * 8192

#: auto backend picks ``sparse`` for scipy.sparse input below this density.
SPARSE_DENSITY_LIMIT = 0.05

#: Correlations within this of a maximum count as tied in the semantic subset pairing
#: (:func:`pair_from_correlation`), and the tie goes to the first candidate (the first A row
#: in column order; the lowest B index in the 1-1 ``best`` rule). Mathematically tied
#: correlations are common there: every feature active at exactly one position, not co-active
#: with its partner, has the same correlation with it whatever its activation value; computed in
#: float64 from float32 codes they differ by rounding (~1e-16), which another CPU's kernels
#: round the other way. 1e-10 is far above that rounding and far below any difference a
#: float32 code can express as a real one (~1e-7).
SUBSET_TIE_TOL = 1e-10


def argmax_first(values: Float64, *, tol: float = 0.0) -> Int64:
    """Per column of ``values`` (m, n), the first row whose value is within ``tol`` of the
    column's maximum (``tol = 0``: ``values.argmax(axis=0)``). Shape (n,)."""
    if tol == 0.0:
        return np.asarray(values.argmax(axis=0), dtype=np.int64)
    return np.asarray(np.argmax(values >= values.max(axis=0, keepdims=True) - tol, axis=0), dtype=np.int64)


def _to_codes(x: object, *, name: str) -> NDArray[np.floating] | sp.csc_matrix:
    """Accept numpy, torch (dense or sparse COO/CSR) or scipy.sparse (tokens, features)."""
    if sp.issparse(x):
        m = sp.csc_matrix(x, dtype=np.float64)
    elif hasattr(x, "detach"):
        t = x.detach().cpu()
        if "sparse" in str(t.layout):  # any torch sparse layout
            t = t.to_sparse_coo().coalesce()
            idx = t.indices().numpy()
            m = sp.csc_matrix((t.values().double().numpy(), (idx[0], idx[1])), shape=tuple(t.shape))
        else:
            m = t.double().numpy()
    else:
        m = np.asarray(x, dtype=np.float64)
    if m.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (tokens, features); got shape {m.shape}.")
    data = m.data if sp.issparse(m) else m
    if not np.all(np.isfinite(data)):
        raise DegenerateInputError(f"{name} contains NaN or infinite activations; check the SAE and model dtype.")
    return m


def _is_sparse(x: object) -> TypeGuard[sp.spmatrix]:
    """``sp.issparse`` that narrows the type for the checker."""
    return bool(sp.issparse(x))


def column_stats(x: NDArray[np.floating] | sp.spmatrix) -> tuple[Float64, Float64]:
    """Population mean and std of each column of x (tokens, features), float64."""
    n = x.shape[0]
    if _is_sparse(x):
        mean = np.asarray(x.sum(axis=0), dtype=np.float64).ravel() / n
        sq = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel() / n
    else:
        mean = x.mean(axis=0, dtype=np.float64)
        sq = np.einsum("ij,ij->j", x, x, dtype=np.float64) / n
    var = np.maximum(sq - mean**2, 0.0)
    std = np.sqrt(var)
    # Cancellation guard: a column that is constant (dead) has var ~ 0 relative to mean^2.
    std[var <= 1e-12 * np.maximum(mean**2, 1e-300)] = 0.0
    return mean, std


@dataclass(frozen=True)
class MaxCorrelation:
    """Best partners by activation correlation (Lan et al. Sec. 3, Fig. 1).

    Partner index -1 and correlation NaN mark a dead feature under the ``exclude`` policy.
    """

    a_for_b: Int64
    """(F_B,) for each B feature, its most correlated A feature."""
    corr_for_b: Float64
    """(F_B,) that correlation."""
    b_for_a: Int64
    """(F_A,) for each A feature, its most correlated B feature."""
    corr_for_a: Float64
    """(F_A,) that correlation."""
    dead_a: NDArray[np.bool_]
    """(F_A,) zero-variance A features."""
    dead_b: NDArray[np.bool_]
    """(F_B,) zero-variance B features."""
    n_tokens: int
    backend: str
    dead_policy: str

    @property
    def mean_max_corr_b(self) -> float:
        """Mean over B features of their max correlation (the paper's ``mean_actv_corr``)."""
        return float(np.nanmean(self.corr_for_b))


def max_correlation(
    acts_a: object,
    acts_b: object,
    *,
    backend: Backend = "auto",
    dead: DeadPolicy = "exclude",
    chunk_size: int = 2048,
    device: str = "cpu",
    dtype: str | None = None,
) -> MaxCorrelation:
    """Best-correlated partners between the features of two code matrices.

    Args:
        acts_a: (tokens, F_A) SAE codes of model A: numpy, torch (dense/sparse) or scipy.sparse.
        acts_b: (tokens, F_B) SAE codes of model B on the *same* token positions.
        backend: ``dense``, ``sparse`` or ``auto`` (sparse for scipy input below 5% density).
        dead: ``exclude`` (dead features never partners; dead B -> -1/NaN) or ``paper``
            (dead features correlate 0 with everything; argmax ties -> lowest index).
        chunk_size: B columns per dense chunk. device/dtype: torch device and matmul dtype
            of the dense path (statistics and the sparse path are float64). Default dtype:
            float64 on the CPU, float32 on an accelerator. float32 moves correlations by
            ~3e-6 (smoke world), more than the gap between a feature's best and second-best
            partner for some features (1 of 768 within 1e-6 in the smoke world's A1 x B1; 39
            of 200 constructed near-ties flipped), so which partner wins depended on the
            machine's kernels; float64 on the CPU costs about the same there.
    """
    check_choice("dead", dead, DeadPolicy)
    if dtype is None:
        import torch

        dtype = "float64" if torch.device(device).type == "cpu" else "float32"
    a = _to_codes(acts_a, name="acts_a")
    b = _to_codes(acts_b, name="acts_b")
    if a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"acts_a has {a.shape[0]} token positions and acts_b has {b.shape[0]}: both models "
            "must be run on the same tokens (same samples, same sequence length, same mask)."
        )
    if a.shape[0] < 2:
        raise DegenerateInputError("Need at least 2 token positions to correlate features.")
    for side, m in (("acts_a", a), ("acts_b", b)):
        if m.shape[1] == 0:
            raise DegenerateInputError(
                f"{side} has 0 features (shape {tuple(m.shape)}): there is nothing to pair. "
                "Check the SAE (d_sae) and any feature selection applied before pairing."
            )
    if backend == "auto":
        both_sparse = _is_sparse(a) and _is_sparse(b)
        dense_enough = (
            _is_sparse(a)
            and _is_sparse(b)
            and max(a.nnz / max(a.shape[0] * a.shape[1], 1), b.nnz / max(b.shape[0] * b.shape[1], 1))
            >= SPARSE_DENSITY_LIMIT
        )
        backend = "sparse" if both_sparse and not dense_enough and device == "cpu" else "dense"
    mean_a, std_a = column_stats(a)
    mean_b, std_b = column_stats(b)
    if backend == "dense":
        best = _dense_best(
            a, b, mean_a, std_a, mean_b, std_b, dead=dead, chunk_size=chunk_size, device=device, dtype=dtype
        )
    elif backend == "sparse":
        best = _sparse_best(sp.csc_matrix(a), sp.csc_matrix(b), mean_a, std_a, mean_b, std_b, dead=dead)
    else:
        raise ConfigError(f"backend={backend!r}: use 'auto', 'dense' or 'sparse'.")
    a_for_b, corr_for_b, b_for_a, corr_for_a = best
    # float32 matmuls overshoot |r| <= 1 by rounding (1.0000018 seen); partners are already
    # chosen, the reported correlations are clipped (NaN of dead features stays NaN)
    corr_for_b = np.clip(corr_for_b, -1.0, 1.0)
    corr_for_a = np.clip(corr_for_a, -1.0, 1.0)
    return MaxCorrelation(
        a_for_b=a_for_b,
        corr_for_b=corr_for_b,
        b_for_a=b_for_a,
        corr_for_a=corr_for_a,
        dead_a=std_a == 0,
        dead_b=std_b == 0,
        n_tokens=int(a.shape[0]),
        backend=backend,
        dead_policy=dead,
    )


def _finish(idx: Int64, val: Float64, dead_target: NDArray[np.bool_], dead: str) -> tuple[Int64, Float64]:
    """Apply the dead policy to the *target* side (features whose partners these are)."""
    if dead == "exclude":
        idx = idx.copy()
        val = val.copy()
        idx[dead_target] = -1
        val[dead_target] = np.nan
    return idx, val


def _dense_best(a, b, mean_a, std_a, mean_b, std_b, *, dead, chunk_size, device, dtype):
    import torch

    tdtype = {"float32": torch.float32, "float64": torch.float64}.get(dtype)
    if tdtype is None:
        raise ConfigError(f"dtype={dtype!r}: use 'float32' or 'float64'.")
    n = a.shape[0]
    on_device = torch.device(device).type != "cpu"

    def zscore(x, mean, std, cols):
        return _zscore_block(
            x[:, cols], mean[cols], std[cols], n_tokens=n, device=device, dtype=tdtype, densify_on_device=on_device
        )

    fa, fb = a.shape[1], b.shape[1]
    za = zscore(a, mean_a, std_a, slice(None))
    dead_a = torch.as_tensor(std_a == 0, device=device)
    best_for_a = torch.full((fa,), -torch.inf, dtype=tdtype, device=device)
    arg_for_a = torch.zeros(fa, dtype=torch.int64, device=device)
    a_for_b = np.empty(fb, dtype=np.int64)
    corr_for_b = np.empty(fb, dtype=np.float64)
    for start in range(0, fb, chunk_size):
        cols = slice(start, min(start + chunk_size, fb))
        zb = zscore(b, mean_b, std_b, cols)
        c = za.T @ zb  # (F_A, chunk)
        if dead == "exclude":
            c[dead_a] = -torch.inf
            c[:, torch.as_tensor(std_b[cols] == 0, device=device)] = -torch.inf
        vals, idx = c.max(dim=0)
        a_for_b[cols] = idx.cpu().numpy()
        corr_for_b[cols] = vals.double().cpu().numpy()
        row_vals, row_idx = c.max(dim=1)
        better = row_vals > best_for_a
        best_for_a = torch.where(better, row_vals, best_for_a)
        arg_for_a = torch.where(better, row_idx + start, arg_for_a)
    b_for_a = arg_for_a.cpu().numpy()
    corr_for_a = best_for_a.double().cpu().numpy()
    a_for_b, corr_for_b = _finish(a_for_b, corr_for_b, std_b == 0, dead)
    b_for_a, corr_for_a = _finish(b_for_a, corr_for_a, std_a == 0, dead)
    if dead == "exclude":  # a target whose every candidate is dead: no partner
        for idx, val in ((a_for_b, corr_for_b), (b_for_a, corr_for_a)):
            bad = ~np.isfinite(val)
            idx[bad] = -1
            val[bad] = np.nan
    return a_for_b, corr_for_b, b_for_a, corr_for_a


def _column_best_structural(s: sp.csc_matrix) -> tuple[Int64, Float64]:
    """Per column of a CSC matrix, the max stored value and its row (lowest row on ties).

    Segmented max over the columns' data (``np.maximum.reduceat``), then the first entry
    equal to its column's max; with sorted indices that is the lowest row. O(nnz), no sort.
    """
    n_cols = s.shape[1]
    best_idx = np.full(n_cols, -1, dtype=np.int64)
    best_val = np.full(n_cols, -np.inf, dtype=np.float64)
    if s.nnz == 0:
        return best_idx, best_val
    if not s.has_sorted_indices:
        s = s.sorted_indices()
    counts = np.diff(s.indptr)
    nonempty = counts > 0
    col_max = np.maximum.reduceat(s.data, s.indptr[:-1][nonempty])
    entry_col = np.repeat(np.arange(n_cols), counts)
    hit = np.flatnonzero(s.data == np.repeat(col_max, counts[nonempty]))
    hit_col = entry_col[hit]
    first = np.ones(hit.size, dtype=bool)
    first[1:] = hit_col[1:] != hit_col[:-1]
    winners = hit[first]
    best_idx[hit_col[first]] = s.indices[winners]
    best_val[hit_col[first]] = s.data[winners]
    return best_idx, best_val


def _zero_product_best(
    support: sp.csc_matrix, r_src: Float64, r_tgt: Float64, candidate: NDArray[np.bool_]
) -> tuple[Int64, Float64]:
    """Best source row among the entries *not* stored in ``support`` for each target column.

    The correlation of an unstored (zero co-activation) entry is -r_src[i] * r_tgt[j]. For
    r_tgt[j] > 0 the best i has the smallest r_src, for r_tgt[j] < 0 the largest, for 0 all
    tie at 0 (lowest index wins). Only rows with ``candidate`` True are eligible.
    """
    n_src, n_tgt = support.shape
    best_idx = np.full(n_tgt, -1, dtype=np.int64)
    best_val = np.full(n_tgt, -np.inf, dtype=np.float64)
    cand = np.flatnonzero(candidate)
    if cand.size == 0:
        return best_idx, best_val
    if not support.has_sorted_indices:
        support = support.sorted_indices()
    # (column, row) keys of the stored entries; column-major with sorted rows = already sorted
    keys = np.repeat(np.arange(n_tgt, dtype=np.int64), np.diff(support.indptr)) * n_src + support.indices
    orders = {
        1: cand[np.lexsort((cand, r_src[cand]))],  # ascending r, then index
        -1: cand[np.lexsort((cand, -r_src[cand]))],  # descending r, then index
        0: cand,  # index order
    }
    sign = np.sign(r_tgt).astype(int)
    for sgn, order in orders.items():
        cols = np.flatnonzero(sign == sgn)
        pos = np.zeros(cols.size, dtype=np.int64)
        pending = np.arange(cols.size)
        while pending.size:
            live = pos[pending] < order.size
            pending = pending[live]
            if not pending.size:
                break
            rows = order[pos[pending]]
            key = cols[pending] * n_src + rows
            hit = np.searchsorted(keys, key)
            stored = (hit < keys.size) & (keys[np.minimum(hit, keys.size - 1)] == key)
            done = pending[~stored]
            best_idx[cols[done]] = order[pos[done]]
            pos[pending[stored]] += 1
            pending = pending[stored]
        found = best_idx[cols] >= 0
        c = cols[found]
        best_val[c] = -r_src[best_idx[c]] * r_tgt[c]
    return best_idx, best_val


def _zscore_block(block, mean, std, *, n_tokens, device, dtype, densify_on_device):
    """(n, f) codes -> (n, f) torch tensor of (x - mean) / (std * sqrt(n)) on ``device``; dead
    columns (std 0) become 0. On the CPU the block is densified in numpy; on an accelerator the
    sparse block is shipped as is and densified / standardised there (densifying on the CPU made
    the first H100 run CPU-bound: 72 s per 32k x 32k layer pair)."""
    import torch

    inv = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0) / np.sqrt(n_tokens)
    if not densify_on_device:
        dense = block.toarray() if sp.issparse(block) else np.asarray(block)
        return torch.as_tensor((dense - mean) * inv, dtype=dtype, device=device)
    dense = _to_device_dense(block, device=device, dtype=dtype)
    return (dense - torch.as_tensor(mean, dtype=dtype, device=device)) * torch.as_tensor(
        inv, dtype=dtype, device=device
    )


def _to_device_dense(x, *, device, dtype):
    """(n, f) numpy or scipy.sparse block -> dense torch tensor on ``device``; a sparse block
    travels as CSR of its transpose (= its CSC arrays) and is densified on the device."""
    import torch

    if not sp.issparse(x):
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)
    csc = sp.csc_matrix(x)
    itype = np.int32 if csc.nnz < 2**31 - 1 else np.int64
    values = csc.data.astype(np.float64 if dtype == torch.float64 else np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        t = torch.sparse_csr_tensor(
            torch.from_numpy(csc.indptr.astype(itype)),
            torch.from_numpy(csc.indices.astype(itype)),
            torch.from_numpy(values),
            size=(csc.shape[1], csc.shape[0]),
            check_invariants=False,
        ).to(device)
    return t.to_dense().T


def _sparse_best(a, b, mean_a, std_a, mean_b, std_b, *, dead):
    n = a.shape[0]
    alive_a, alive_b = std_a > 0, std_b > 0
    safe_a = np.where(alive_a, std_a, 1.0)
    safe_b = np.where(alive_b, std_b, 1.0)
    r_a = np.where(alive_a, mean_a / safe_a, 0.0)
    r_b = np.where(alive_b, mean_b / safe_b, 0.0)
    s = (a.T.tocsr() @ b).tocoo()  # (F_A, F_B) co-activation sums
    keep = alive_a[s.row] & alive_b[s.col]
    rows, cols = s.row[keep], s.col[keep]
    vals = (s.data[keep] / n - mean_a[rows] * mean_b[cols]) / (safe_a[rows] * safe_b[cols])
    fa, fb = a.shape[1], b.shape[1]
    corr = sp.csc_matrix((vals, (rows, cols)), shape=(fa, fb))
    corr.sort_indices()
    # Under the paper policy a dead feature is a candidate with correlation exactly 0
    # (r = 0 gives -r_i r_j = 0), and dead targets see 0 everywhere (-> lowest index).
    cand_a = np.ones(fa, bool) if dead == "paper" else alive_a
    cand_b = np.ones(fb, bool) if dead == "paper" else alive_b

    def best(corr_csc, r_src, r_tgt, cand_src):
        i_s, v_s = _column_best_structural(corr_csc)
        i_z, v_z = _zero_product_best(corr_csc, r_src, r_tgt, cand_src)
        take_z = (v_z > v_s) | ((v_z == v_s) & (i_z >= 0) & ((i_s < 0) | (i_z < i_s)))
        idx = np.where(take_z, i_z, i_s)
        val = np.where(take_z, v_z, v_s)
        return idx, val

    a_for_b, corr_for_b = best(corr, r_a, r_b, cand_a)
    b_for_a, corr_for_a = best(corr.T.tocsc(), r_b, r_a, cand_b)
    a_for_b, corr_for_b = _finish(a_for_b, corr_for_b, ~alive_b, dead)
    b_for_a, corr_for_a = _finish(b_for_a, corr_for_a, ~alive_a, dead)
    for idx, val in ((a_for_b, corr_for_b), (b_for_a, corr_for_a)):
        bad = idx < 0
        val[bad] = np.nan
    return a_for_b, corr_for_b, b_for_a, corr_for_a


def correlation_submatrix(acts_a: object, acts_b: object, idx_a: Int64, idx_b: Int64) -> Float64:
    """Dense Pearson correlation (len(idx_a), len(idx_b)) between selected columns (float64).

    Dead (zero-variance) columns get correlation 0. Guarded by MAX_DENSE_SUBMATRIX.
    """
    idx_a = np.asarray(idx_a, dtype=np.int64)
    idx_b = np.asarray(idx_b, dtype=np.int64)
    if idx_a.size * idx_b.size > MAX_DENSE_SUBMATRIX:
        raise ResourceError(
            f"A {idx_a.size} x {idx_b.size} correlation sub-matrix exceeds the dense limit "
            f"({MAX_DENSE_SUBMATRIX} entries); use max_correlation on the full spaces instead."
        )
    a = _to_codes(acts_a, name="acts_a")
    b = _to_codes(acts_b, name="acts_b")
    if a.shape[0] != b.shape[0]:
        raise ShapeError(f"Token counts differ: {a.shape[0]} vs {b.shape[0]}.")
    sub_a = a[:, idx_a]
    sub_b = b[:, idx_b]
    sub_a = sub_a.toarray() if _is_sparse(sub_a) else np.asarray(sub_a)
    sub_b = sub_b.toarray() if _is_sparse(sub_b) else np.asarray(sub_b)
    mean_a, std_a = column_stats(sub_a)
    mean_b, std_b = column_stats(sub_b)
    n = sub_a.shape[0]
    za = (sub_a - mean_a) * np.where(std_a > 0, 1.0 / np.where(std_a > 0, std_a, 1.0), 0.0)
    zb = (sub_b - mean_b) * np.where(std_b > 0, 1.0 / np.where(std_b > 0, std_b, 1.0), 0.0)
    return np.clip((za.T @ zb) / n, -1.0, 1.0)  # rounding can overshoot |r| <= 1


# ----------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class Pairs:
    """Paired feature indices, in a fixed order (row i pairs a_idx[i] with b_idx[i])."""

    a_idx: Int64
    b_idx: Int64
    corr: Float64
    history: tuple[str, ...] = field(default=())
    """Steps that produced these pairs, with counts (for reports and Tables 5-8)."""

    def __post_init__(self) -> None:
        if not (self.a_idx.shape == self.b_idx.shape == self.corr.shape):
            raise ShapeError("Pairs arrays must have equal lengths.")

    def __len__(self) -> int:
        return int(self.a_idx.size)

    def select(self, mask: NDArray[np.bool_], step: str) -> Pairs:
        return Pairs(
            self.a_idx[mask],
            self.b_idx[mask],
            self.corr[mask],
            self.history + (f"{step}: {len(self)} -> {int(np.sum(mask))}",),
        )


def many_to_one_pairs(mc: MaxCorrelation) -> Pairs:
    """Each B feature with its best A feature (the paper's pairing; dead B features dropped)."""
    b_idx = np.flatnonzero(mc.a_for_b >= 0)
    return Pairs(mc.a_for_b[b_idx], b_idx, mc.corr_for_b[b_idx], (f"many-to-1: {b_idx.size}",))


def one_to_many_pairs(mc: MaxCorrelation) -> Pairs:
    """Each A feature with its best B feature (reverse direction, used in App. A)."""
    a_idx = np.flatnonzero(mc.b_for_a >= 0)
    order = np.lexsort((a_idx, mc.b_for_a[a_idx]))
    a_idx = a_idx[order]
    return Pairs(a_idx, mc.b_for_a[a_idx], mc.corr_for_a[a_idx], (f"1-to-many: {a_idx.size}",))


def threshold_pairs(pairs: Pairs, *, min_corr: float) -> Pairs:
    """Keep pairs with correlation strictly above ``min_corr`` (paper: 0.1)."""
    return pairs.select(pairs.corr > min_corr, f"corr > {min_corr}")


def top_pairs(pairs: Pairs, *, n: int) -> Pairs:
    """The ``n`` pairs of highest correlation (ties: earlier pair first), in their original
    order; all pairs when there are fewer than ``n``."""
    if n < 0:
        raise ConfigError(f"n={n}: need a non-negative number of pairs.")
    order = np.argsort(-pairs.corr, kind="stable")[:n]
    mask = np.zeros(len(pairs), dtype=bool)
    mask[order] = True
    return pairs.select(mask, f"top {n} by correlation")


def one_to_one(
    pairs: Pairs,
    *,
    rule: OneToOneRule,
    corr_matrix: Float64 | None = None,
    walk: Literal["b_index", "given"] = "b_index",
    tie_tol: float = 0.0,
) -> Pairs:
    """Reduce many-to-1 pairs to 1-1 pairs (Sec. 3 "Filter Many-to-1 Mappings").

    - ``first_seen``: the paper's code: per A feature keep only the first pair encountered
      walking the pairs in ``walk`` order: ``b_index`` (ascending B index, the whole-space
      code: the lowest B index wins, whatever its correlation) or ``given`` (the order of
      ``pairs``, e.g. a semantic subset's column order).
    - ``best``: per A feature keep the highest-correlation pair (lowest B index on ties;
      correlations within ``tie_tol`` of the feature's best count as tied).
    - ``hungarian``: maximum-total-correlation one-to-one assignment between the distinct A
      and B features appearing in ``pairs``; needs ``corr_matrix`` of shape
      (len(unique a), len(unique b)) over sorted unique indices (see correlation_submatrix).
    - ``none``: unchanged.
    Output pairs are ordered by B index (``walk="given"``: in the given order).
    """
    if rule == "none":
        return pairs
    if walk not in ("b_index", "given"):
        raise ConfigError(f"walk={walk!r}: use 'b_index' or 'given'.")
    order = np.argsort(pairs.b_idx, kind="stable") if walk == "b_index" else np.arange(len(pairs))
    a, b, c = pairs.a_idx[order], pairs.b_idx[order], pairs.corr[order]
    if rule == "first_seen":
        _, first = np.unique(a, return_index=True)
        keep = np.zeros(a.size, bool)
        keep[first] = True
    elif rule == "best":
        if tie_tol > 0 and c.size:
            ua, inv = np.unique(a, return_inverse=True)
            best_c = np.full(ua.size, -np.inf)
            np.maximum.at(best_c, inv, c)
            near = c >= best_c[inv] - tie_tol  # ties within tie_tol all rank first; then lowest b
            by_a_best = np.lexsort((b, ~near, a))
        else:
            by_a_best = np.lexsort((b, -c, a))  # group by a, best corr first, then lowest b
        is_first = np.ones(by_a_best.size, bool)
        is_first[1:] = a[by_a_best][1:] != a[by_a_best][:-1]
        keep = np.zeros(a.size, bool)
        keep[by_a_best[is_first]] = True
    elif rule == "hungarian":
        from scipy.optimize import linear_sum_assignment

        ua, ub = np.unique(a), np.unique(b)
        if corr_matrix is None or corr_matrix.shape != (ua.size, ub.size):
            raise ShapeError(
                f"rule='hungarian' needs corr_matrix of shape ({ua.size}, {ub.size}) over the "
                "sorted unique A and B features of the pairs (use correlation_submatrix)."
            )
        rows, cols = linear_sum_assignment(corr_matrix, maximize=True)
        out = Pairs(ua[rows], ub[cols], corr_matrix[rows, cols])
        o = np.argsort(out.b_idx, kind="stable")
        return Pairs(
            out.a_idx[o], out.b_idx[o], out.corr[o], pairs.history + (f"1-1 hungarian: {len(pairs)} -> {rows.size}",)
        )
    else:
        check_choice("rule", rule, OneToOneRule)
        raise AssertionError(f"one_to_one has no branch for rule {rule!r}")  # every vocabulary value has a branch
    return Pairs(a[keep], b[keep], c[keep], pairs.history + (f"1-1 {rule}: {a.size} -> {int(keep.sum())}",))


def pair_within(
    acts_a: object,
    acts_b: object,
    idx_a: Int64,
    idx_b: Int64,
    *,
    rule: OneToOneRule,
    order: ColumnWalk = "sorted",
) -> Pairs:
    """Pair two feature subsets by correlation restricted to the subsets (Sec. 4.3).

    Each B feature of ``idx_b`` takes its best A feature among ``idx_a``; then ``rule`` makes
    the pairs 1-1 (``hungarian`` solves the assignment on the full sub-matrix). No
    correlation threshold and no token filters, as in the paper's semantic experiments.
    Returned indices are global feature indices.

    ``order``: ``sorted`` uses the subsets in ascending id order; ``given`` keeps the order
    of ``idx_a`` / ``idx_b`` as the column order (the paper's code: ``list`` of a Python set,
    see :func:`harness.pairing.concepts.python_set_order`): an exact correlation tie goes to the
    first A column, and ``first_seen`` walks B's columns in that order.
    """
    idx_a, idx_b = subset_order(idx_a, idx_b, order=order)
    if idx_a.size == 0 or idx_b.size == 0:
        return pair_from_correlation(np.zeros((idx_a.size, idx_b.size)), idx_a, idx_b, rule=rule, order=order)
    return pair_from_correlation(
        correlation_submatrix(acts_a, acts_b, idx_a, idx_b), idx_a, idx_b, rule=rule, order=order
    )


def subset_order(idx_a: Int64, idx_b: Int64, *, order: ColumnWalk) -> tuple[Int64, Int64]:
    """The column order of :func:`pair_within` (validated): sorted ids, or as given (no repeats)."""
    if order not in ("sorted", "given"):
        raise ConfigError(f"order={order!r}: use 'sorted' or 'given'.")
    idx_a = np.asarray(idx_a, dtype=np.int64)
    idx_b = np.asarray(idx_b, dtype=np.int64)
    if order == "sorted":
        return np.sort(idx_a), np.sort(idx_b)
    if np.unique(idx_a).size != idx_a.size or np.unique(idx_b).size != idx_b.size:
        raise ConfigError("order='given' needs subsets without repeated feature ids.")
    return idx_a, idx_b


def pair_from_correlation(
    corr: Float64,
    idx_a: Int64,
    idx_b: Int64,
    *,
    rule: OneToOneRule,
    order: ColumnWalk = "sorted",
) -> Pairs:
    """:func:`pair_within` on a given (len(idx_a), len(idx_b)) correlation sub-matrix whose rows
    and columns follow ``idx_a`` / ``idx_b`` (already in :func:`subset_order`). Correlations
    within :data:`SUBSET_TIE_TOL` of a maximum are ties (first A row; lowest B in ``best``)."""
    idx_a = np.asarray(idx_a, dtype=np.int64)
    idx_b = np.asarray(idx_b, dtype=np.int64)
    if idx_a.size == 0 or idx_b.size == 0:
        return Pairs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), ("empty subset",))
    if corr.shape != (idx_a.size, idx_b.size):
        raise ShapeError(f"corr has shape {corr.shape}; expected ({idx_a.size}, {idx_b.size}) for the subsets.")
    if rule == "hungarian":
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(corr, maximize=True)
        o = np.argsort(idx_b[cols], kind="stable")
        return Pairs(idx_a[rows][o], idx_b[cols][o], corr[rows, cols][o], (f"hungarian within: {rows.size}",))
    best = argmax_first(corr, tol=SUBSET_TIE_TOL)
    pairs = Pairs(idx_a[best], idx_b, corr[best, np.arange(idx_b.size)], (f"many-to-1 within: {idx_b.size}",))
    return one_to_one(pairs, rule=rule, walk="b_index" if order == "sorted" else "given", tie_tol=SUBSET_TIE_TOL)
