"""Test 2's random subsets (Lan et al. 2024 Sec. 4.3), paired and scored in batches on the device.

A Test-2 draw takes random feature subsets ``ia`` (size s_a) of A and ``ib`` (size s_b) of B,
pairs them by activation correlation inside the subsets with the procedure's 1-1 rule (as the
concept subspace was paired), and scores the pairs' decoder rows with SVCCA. The draws are those of
:func:`harness.scoring.nulls.random_subset_draws` (seeded numpy, generated on the host, moved once).

Per batch of B draws (``max_elements`` code entries):
1. codes of the batch's distinct features (:meth:`FeatureSpace.zscored_rows`: encoded where the
   encoder is, each once -- once per space for all live features when they fit), z-scored with the arithmetic of :func:`harness.pairing.matching.correlation_submatrix`
   (population statistics, the dead-column guard, clipped to [-1, 1]);
2. one GEMM (distinct A features, N) x (N, distinct B features) and a gather of each draw's block
   (small pools), or one batched GEMM (B, s_a, N) x (B, N, s_b) -> the B correlation sub-matrices;
3. the pairing of :func:`harness.pairing.matching.pair_from_correlation` (``order="sorted"``) for
   every draw at once (:func:`pair_batched`): many-to-1 by the first A row within
   :data:`harness.pairing.matching.SUBSET_TIE_TOL` of each column's maximum, then ``first_seen``
   (lowest B index per A feature) or ``best`` (the ties of a feature's best, then the lowest B
   index) by scatter reductions; ``hungarian`` draws are assigned on the host (scipy), one per draw;
4. one host transfer of the (B, s_b) partner rows and kept flags; then the SVCCA of all draws
   in one ragged call whatever their pair counts (:func:`svcca_of_pair_sets`).
No per-draw host transfer or Python loop for ``first_seen`` / ``best``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import NDArray

from harness.errors import ConfigError
from harness.pairing.matching import SUBSET_TIE_TOL, pair_from_correlation
from harness.threads import single_threaded

if TYPE_CHECKING:
    from harness.config import Procedure
    from harness.experiments.feature_space import FeatureSpace

#: Code entries (positions x columns, fp64) gathered per batch of draws on the cpu: 512 MB.
MAX_CODE_ELEMENTS = 1 << 26

#: :func:`subset_correlations` multiplies all of a batch's distinct A features with all its distinct
#: B features in one GEMM (then gathers each draw's block) while that product has at most this many
#: times the entries of the draws' blocks together; else one batched GEMM of the gathered z-scores.
FULL_GEMM_RATIO = 4


def subset_correlations(
    space_a: FeatureSpace, space_b: FeatureSpace, ia: NDArray[np.int64], ib: NDArray[np.int64]
) -> torch.Tensor:
    """(B, s_a, s_b) fp64 Pearson correlations of the features ``ia[t]`` (B, s_a) of A with
    ``ib[t]`` (B, s_b) of B, on the encoder's device: one column encode per side for the whole
    batch, then one GEMM over the distinct features (small pools, :data:`FULL_GEMM_RATIO`) or one
    batched GEMM of each draw's gathered z-scores."""
    b, sa = ia.shape
    sb = ib.shape[1]
    # each distinct feature of the batch is encoded and z-scored once (a feature drawn by several
    # draws repeats in ia; SaeCodes.columns expects distinct ids), then gathered per draw
    ua, inv_a = np.unique(ia, return_inverse=True)
    ub, inv_b = np.unique(ib, return_inverse=True)
    za_u = space_a.zscored_rows(ua)  # (distinct A features, N)
    zb_u = space_b.zscored_rows(ub).to(za_u.device)
    n = za_u.shape[1]
    dev = za_u.device
    ta = torch.as_tensor(inv_a.reshape(b, sa), device=dev)
    tb = torch.as_tensor(inv_b.reshape(b, sb), device=dev)
    if ua.size * ub.size <= FULL_GEMM_RATIO * b * sa * sb:
        # few distinct features (a small pool): one GEMM over them, each draw's block gathered
        full = torch.clamp((za_u @ zb_u.T) / n, -1.0, 1.0)  # (distinct A, distinct B)
        return full[ta[:, :, None], tb[:, None, :]]
    za = za_u[ta]  # (B, s_a, N) row gathers
    zb = zb_u[tb].transpose(1, 2)  # (B, N, s_b)
    return torch.clamp((za @ zb) / n, -1.0, 1.0)


def pair_batched(corr: torch.Tensor, *, rule: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs of :func:`harness.pairing.matching.pair_from_correlation` (``order="sorted"``,
    ``first_seen`` or ``best``) of B correlation sub-matrices at once.

    Args:
        corr: (B, s_a, s_b) fp64; rows and columns in ascending feature id.
    Returns ``(row, keep)``, both (B, s_b): the A row paired with each B column (many-to-1: the
    first row within SUBSET_TIE_TOL of the column's maximum) and whether the 1-1 rule keeps it. A
    draw's pairs are its kept columns in ascending order (the order of ``one_to_one``).
    """
    if rule not in ("first_seen", "best"):
        raise ConfigError(f"pair_batched: rule={rule!r}; use 'first_seen' or 'best' (hungarian runs on the host).")
    b, sa, sb = corr.shape
    dev = corr.device
    rows = torch.arange(sa, device=dev)[None, :, None]
    top = corr.amax(dim=1, keepdim=True)  # (B, 1, s_b)
    row = torch.where(corr >= top - SUBSET_TIE_TOL, rows, sa).amin(dim=1)  # (B, s_b): first near-maximal row
    col = torch.arange(sb, device=dev).expand(b, sb)
    if rule == "first_seen":
        first = torch.full((b, sa), sb, dtype=torch.int64, device=dev).scatter_reduce(1, row, col, reduce="amin")
        return row, col == first.gather(1, row)
    c = corr.gather(1, row[:, None, :]).squeeze(1)  # (B, s_b) the pair's correlation
    best = torch.full((b, sa), -math.inf, dtype=corr.dtype, device=dev).scatter_reduce(1, row, c, reduce="amax")
    near = c >= best.gather(1, row) - SUBSET_TIE_TOL
    lowest = torch.full((b, sa), sb, dtype=torch.int64, device=dev).scatter_reduce(
        1, row, torch.where(near, col, sb), reduce="amin"
    )
    return row, near & (col == lowest.gather(1, row))


@single_threaded
def score_test2_draws(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    draws: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
    *,
    rule: str,
    device: str,
    max_elements: int | None = None,
) -> NDArray[np.float64]:
    """(len(draws),) SVCCA of each Test-2 draw's pairs (NaN: fewer than max(min_subspace_size, 3)
    pairs, or a degenerate SVCCA). ``draws``: the sorted (idx_a, idx_b) subsets of
    :func:`harness.scoring.nulls.random_subset_draws`. Pairs equal those of
    :func:`harness.experiments.spaces.pair_subsets` (same rule, ties within SUBSET_TIE_TOL).
    ``max_elements``: code entries (positions x columns) per batch of draws; None = a sixteenth of the
    free device memory on cuda (~20 draws of 500 + 500 latents at 30k positions on an H100; the
    distinct features' z-scored codes and the gathered ones take ~3x that), else
    :data:`MAX_CODE_ELEMENTS`."""
    n_draws = len(draws)
    scores = np.full(n_draws, np.nan)
    if not n_draws:
        return scores
    ia = np.stack([d[0] for d in draws]).astype(np.int64)  # (T, s_a), each row sorted
    ib = np.stack([d[1] for d in draws]).astype(np.int64)
    sa, sb = ia.shape[1], ib.shape[1]
    if sa == 0 or sb == 0:
        return scores
    n_pos = space_a.n_positions
    if max_elements is None:  # cuda: a sixteenth of the free memory in fp64 entries; cpu: 512 MB
        cuda = str(device).startswith("cuda")
        max_elements = torch.cuda.mem_get_info(torch.device(device))[0] // 128 if cuda else MAX_CODE_ELEMENTS
    batch = max(1, int(max_elements) // max(1, n_pos * (sa + sb)))
    pair_a = np.zeros((n_draws, sb), dtype=np.int64)  # A feature paired with each B column
    kept = np.zeros((n_draws, sb), dtype=bool)
    for s0 in range(0, n_draws, batch):
        s1 = min(s0 + batch, n_draws)
        corr = subset_correlations(space_a, space_b, ia[s0:s1], ib[s0:s1])
        if rule == "hungarian":  # an assignment per draw: scipy on the host
            host = corr.cpu().numpy()
            for t in range(s1 - s0):
                p = pair_from_correlation(host[t], ia[s0 + t], ib[s0 + t], rule="hungarian")
                cols = np.searchsorted(ib[s0 + t], p.b_idx)
                pair_a[s0 + t, cols] = p.a_idx
                kept[s0 + t, cols] = True
            continue
        row, keep = pair_batched(corr, rule=rule)
        pair_a[s0:s1] = np.take_along_axis(ia[s0:s1], row.cpu().numpy(), axis=1)
        kept[s0:s1] = keep.cpu().numpy()
    counts = kept.sum(axis=1)
    ok = np.flatnonzero(counts >= max(procedure.min_subspace_size, 3))
    if ok.size:
        # every draw in one ragged call: draw t's pairs are its kept columns in B order
        a_rows = pair_a[ok][kept[ok]]  # row-major: draw by draw
        b_rows = np.broadcast_to(ib[ok], kept[ok].shape)[kept[ok]]
        scores[ok] = svcca_of_pair_sets(space_a.decoder, space_b.decoder, a_rows, b_rows, counts[ok], procedure, device)
    return scores


def svcca_of_pair_sets(
    decoder_a: NDArray[np.float64],
    decoder_b: NDArray[np.float64],
    a_rows: NDArray[np.int64],
    b_rows: NDArray[np.int64],
    counts: NDArray[np.int64],
    procedure: Procedure,
    device: str,
) -> NDArray[np.float64]:
    """(len(counts),) SVCCA of pair sets of different sizes in one ragged batched call
    (:func:`harness.scoring.device_nulls.svcca_subsets` with ``lengths``): set t is the next
    ``counts[t]`` entries of ``a_rows`` / ``b_rows`` (decoder rows of A / B), with the procedure's
    keep and its k cap for ``counts[t]`` pairs. NaN where :func:`harness.scoring.metrics.svcca` raises.
    Sets with the same A rows (the same ``a_rows`` entries in the same order: random or placebo
    partners of one set of A features) share side A's basis, computed once (``same_a``)."""
    from harness.scoring.device_nulls import svcca_subsets

    counts = np.asarray(counts, dtype=np.int64)
    if not counts.size:
        return np.empty(0)
    width = int(counts.max())
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    labels: dict[bytes, int] = {}
    same_a = np.fromiter(
        (labels.setdefault(a_rows[o : o + c].tobytes(), len(labels)) for o, c in zip(offsets, counts, strict=True)),
        dtype=np.int64,
        count=counts.size,
    )
    idx = offsets[:, None] + np.arange(width)[None, :]
    idx = np.where(np.arange(width)[None, :] < counts[:, None], idx, 0)
    frac = procedure.svcca_max_k_fraction
    caps = None if frac is None else np.maximum(1, np.floor(frac * counts).astype(np.int64))
    return svcca_subsets(
        decoder_a[a_rows],
        decoder_b[b_rows],
        idx,
        keep=procedure.svcca_keep,
        max_k=caps,
        device=device,
        lengths=counts,
        same_a=same_a,
    )
