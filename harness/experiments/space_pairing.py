"""Whole-space pairing of two feature spaces (Lan et al. 2024 Sec. 3, App. D-F): activation
correlations (exact, screened, or sparse), the many-to-1 / 1-1 pairs under a procedure's token filters
and threshold (:func:`pair_spaces`), the negative control's top-correlated pairs, and pairings
restricted to feature subsets (semantic subspaces, Test 2).
"""

from __future__ import annotations


import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray

from harness.pairing.concepts import (
    filter_nonconcept,
    filter_shared_token_incidence,
)
from harness.config import Procedure
from harness.activations.encode import SaeCodes
from harness.errors import ResourceError
from harness.pairing.exact import exact_max_correlation
from harness.pairing.matching import (
    MaxCorrelation,
    Pairs,
    MAX_DENSE_SUBMATRIX,
    SPARSE_DENSITY_LIMIT,
    correlation_submatrix,
    many_to_one_pairs,
    max_correlation,
    one_to_one,
    pair_from_correlation,
    subset_order,
    threshold_pairs,
    top_pairs,
)
from harness.experiments.feature_space import FeatureSpace
from harness.threads import single_threaded
from harness.vocab import OneToOneRule


@single_threaded
def subset_correlation(
    space_a: FeatureSpace, space_b: FeatureSpace, idx_a: NDArray[np.int64], idx_b: NDArray[np.int64]
) -> NDArray[np.float64]:
    """(len(idx_a), len(idx_b)) fp64 Pearson correlation of the selected features, from their
    columns only (:meth:`FeatureSpace.columns`), computed where the columns are (the GPU in the
    gpu tier: only the small matrix comes back). The arithmetic of
    :func:`harness.pairing.matching.correlation_submatrix` (population statistics, the same
    dead-column guard, dead columns correlate 0) in torch fp64. One BLAS / torch thread
    (:func:`harness.threads.single_threaded`): with two, OpenBLAS's GEMM moved concept pairs'
    correlations by 1 ulp (the smoke semantic table's mean_pair_corr, tests/experiments/test_recompute.py)."""
    if idx_a.size * idx_b.size > MAX_DENSE_SUBMATRIX:
        raise ResourceError(
            f"A {idx_a.size} x {idx_b.size} correlation sub-matrix exceeds the dense limit "
            f"({MAX_DENSE_SUBMATRIX} entries)."
        )
    ca = space_a.columns(idx_a)
    cb = space_b.columns(idx_b).to(ca.device)
    if ca.device.type == "cpu":
        # numpy's summation order, as before: mathematically tied correlations (e.g. every feature
        # active at exactly one position, not co-active with the partner, has the same one) are
        # split by rounding, so another order would pick other partners among those ties
        every_a, every_b = np.arange(ca.shape[1]), np.arange(cb.shape[1])
        return correlation_submatrix(ca.numpy(), cb.numpy(), every_a, every_b)
    n = ca.shape[0]

    def zscore(x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(0)
        var = ((x * x).sum(0) / n - mean * mean).clamp_min(0.0)
        std = var.sqrt()
        std[var <= 1e-12 * (mean * mean).clamp_min(1e-300)] = 0.0
        return (x - mean) * torch.where(std > 0, 1.0 / torch.where(std > 0, std, 1.0), 0.0)

    return ((zscore(ca).T @ zscore(cb)) / n).cpu().numpy()


def paired_correlation(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    idx_a: NDArray[np.int64],
    idx_b: NDArray[np.int64],
    *,
    chunk: int = 1024,
) -> NDArray[np.float64]:
    """(n,) fp64 Pearson correlation of feature ``idx_a[i]`` of A with ``idx_b[i]`` of B (population
    statistics; a dead column correlates 0, as :func:`harness.pairing.matching.correlation_submatrix`),
    from their columns only, ``chunk`` pairs at a time, where the columns are."""
    out = np.zeros(idx_a.size, dtype=np.float64)
    for s in range(0, idx_a.size, chunk):
        ca = space_a.columns(idx_a[s : s + chunk]).double()
        cb = space_b.columns(idx_b[s : s + chunk]).to(ca.device).double()
        za, zb = ca - ca.mean(0), cb - cb.mean(0)
        den = za.pow(2).mean(0).sqrt() * zb.pow(2).mean(0).sqrt()
        r = torch.where(den > 0, (za * zb).mean(0) / torch.where(den > 0, den, 1.0), 0.0)
        out[s : s + chunk] = r.clamp(-1.0, 1.0).cpu().numpy()
    return out


def pair_subsets(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    idx_a: NDArray[np.int64],
    idx_b: NDArray[np.int64],
    *,
    rule: str,
    order: str = "sorted",
) -> Pairs:
    """:func:`harness.pairing.matching.pair_within` on two spaces, encoding only the subset columns."""
    ia, ib = subset_order(idx_a, idx_b, order=order)  # type: ignore[arg-type]  # order: a ColumnWalk value
    corr = subset_correlation(space_a, space_b, ia, ib) if ia.size and ib.size else np.zeros((ia.size, ib.size))
    return pair_from_correlation(corr, ia, ib, rule=rule, order=order)  # type: ignore[arg-type]  # the procedure's vocabularies


#: Dense pairings above this many multiply-adds (positions x F_A x F_B) use the TF32 screen
#: on the cpu too: same partners (the screen's bound + fp64 recheck, harness.pairing.exact),
#: about half the time of the fp64 Gram. Below it the plain fp64 Gram is as fast.
SCREEN_ABOVE_MACS: int = 1 << 33

#: Host memory for the fp64 Gram block of the exact pairing on the cpu (F_A x b_group x 8 bytes).
CPU_GRAM_BYTES: int = 1 << 28


def _sparse_codes(space: FeatureSpace) -> sp.csr_matrix | None:
    """The space's codes as CSR when the exact sparse pairing applies (TopK codes, or a sparse
    matrix below :data:`harness.pairing.matching.SPARSE_DENSITY_LIMIT`), else None."""
    if isinstance(space.codes, SaeCodes):
        return space.codes.to_csr() if space.codes.is_topk else None
    density = space.codes.nnz / max(1, space.codes.shape[0] * space.codes.shape[1])
    return space.codes if density < SPARSE_DENSITY_LIMIT else None


def space_max_correlation(
    space_a: FeatureSpace, space_b: FeatureSpace, procedure: Procedure, *, device: str = "cpu"
) -> MaxCorrelation:
    """Exact (fp64-equal) max-correlation partners of two whole spaces.

    On the cpu, sparse codes (TopK, or a sparse matrix below the density limit): the exact fp64
    sparse path of :func:`harness.pairing.matching.max_correlation` on the CSR codes (k non-zeros
    per position: a few million products instead of positions x F_A x F_B). Dense codes, and
    every pairing on cuda (the sparse path is host scipy; the screened GEMM is faster there):
    :func:`harness.pairing.exact.exact_max_correlation` on ``device`` from the on-the-fly encoder, with the TF32 screen + fp64 recheck on cuda (and on the cpu above
    :data:`SCREEN_ABOVE_MACS`), the whole fp64 Gram at once on cuda when a quarter of the free
    device memory holds it, else in B groups of :data:`CPU_GRAM_BYTES` / that budget."""
    cuda = str(device).startswith("cuda")
    # The sparse path runs in scipy on the host: ~4 s per Pythia layer pair on one core, 144 pairs
    # ~10 min; on a GPU the dense TF32-screened path does the same pair in well under a second.
    ca, cb = (None, None) if cuda else (_sparse_codes(space_a), _sparse_codes(space_b))
    if ca is not None and cb is not None:
        return max_correlation(ca, cb, backend="sparse", dead=procedure.dead_features)
    fa, fb, n = space_a.n_features, space_b.n_features, space_a.n_positions
    screen = "tf32" if cuda or n * fa * fb > SCREEN_ABOVE_MACS else None
    budget = torch.cuda.mem_get_info(torch.device(device))[0] // 4 if cuda else CPU_GRAM_BYTES
    b_group = max(1, min(fb, int(budget) // (8 * fa)))
    return exact_max_correlation(
        space_a.source(),
        space_b.source(),
        screen=screen,  # type: ignore[arg-type]  # screen: None or a Screen value
        dead=procedure.dead_features,
        device=device,
        b_group=b_group,
    ).max_correlation


def pair_spaces(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    mc: MaxCorrelation | None = None,
    one_to_one_rule: OneToOneRule | None = None,
    token_filters: bool = True,
    junk_masks: tuple[NDArray[np.bool_], NDArray[np.bool_]] | None = None,
) -> tuple[Pairs, MaxCorrelation]:
    """Whole-space pairs under ``procedure`` (Sec. 3), optionally overriding the 1-1 rule
    (``"none"`` = many-to-1, App. E) or switching the token filters off (App. F).
    ``junk_masks``: (F_A,), (F_B,) non-concept masks used instead of the spaces' own (U6's
    placebo filters random tokens instead of the non-concept list)."""
    if mc is None:
        mc = space_max_correlation(space_a, space_b, procedure)
    pairs = many_to_one_pairs(mc)
    if token_filters and procedure.filter_nonconcept:
        ja, jb = junk_masks if junk_masks is not None else (space_a.junk_mask(), space_b.junk_mask())
        pairs = filter_nonconcept(pairs, ja, jb)
    if token_filters and procedure.filter_shared_token:
        pairs = filter_shared_token_incidence(pairs, space_a.string_incidence, space_b.string_incidence)
    rule = one_to_one_rule or procedure.one_to_one
    if rule == "hungarian":
        ua, ub = np.unique(pairs.a_idx), np.unique(pairs.b_idx)
        pairs = one_to_one(pairs, rule="hungarian", corr_matrix=subset_correlation(space_a, space_b, ua, ub))
    else:
        pairs = one_to_one(pairs, rule=rule)
    pairs = threshold_pairs(pairs, min_corr=procedure.corr_threshold)
    return pairs, mc


def top_correlated_pairs(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    mc: MaxCorrelation,
    n: int,
    one_to_one_rule: OneToOneRule | None = None,
) -> Pairs:
    """The ``n`` most correlated pairs of the procedure's pairing with token filters and the
    correlation threshold off (negative controls: on misaligned tokens nothing passes them,
    and this set still exercises the statistic at the real pair count)."""
    pairs, _ = pair_spaces(
        space_a,
        space_b,
        procedure.replace(corr_threshold=-1.0),
        mc=mc,
        one_to_one_rule=one_to_one_rule,
        token_filters=False,
    )
    return top_pairs(pairs, n=int(n))
