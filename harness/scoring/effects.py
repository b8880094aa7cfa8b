"""Effect sizes over chance, judging p-values and per-cell seeds.

A raw SVCCA near its chance level says nothing: under ``corrected`` the shuffled-pairing null
of SVCCA sits at ~0.44 on the fixture world and moves with the pair count (~0.28-0.44 at the
paper's pair counts). Every score is therefore reported with its chance-corrected effect:

    excess = (observed - null_mean) / (1 - null_mean)

(0 at chance, 1 at a perfect score; the same for RSA, whose chance is ~0), the null's
standard deviation and ``z = (observed - null_mean) / null_sd``.

p-values are judged with the +1 rule, ``(1 + k) / (1 + N)`` for ``k`` of ``N`` null draws at or
above the observed score (Phipson & Smyth 2010); a p-value can never be below ``1 / (1 + N)``,
so a claim needing ``p < alpha`` from fewer than ``1/alpha - 1`` draws cannot be decided
(:func:`min_permutations`). The paper's own rule (``k / N``, which can be 0) is reported as the
string ``"k/N"``, never as ``p = 0``.

Every null is seeded from the identity of its cell (:func:`cell_seed`), so two cells never
share the same permutations and their p-values are not correlated by construction.

**Ties** (:data:`TIE_ATOL`, :func:`count_at_or_above`): a draw that is mathematically equal to the
observed score -- the observed pair set itself drawn again (size-5 subsets of 6 pairs), the
identity permutation, a permutation that leaves the score unchanged -- is computed along another
code path (a batched SVD instead of one SVD, another summation order), and then differs from the
observed score by a few ulps, up or down depending on the machine's kernels. Compared with a bare
``>=``, such a tie counted on one machine and not on another (measured: a size-matched p moved
from 90/99 to 75/99 between an AVX2 and an AVX-512 machine; a seed-pair RSA p from 46/99 to
40/99). Every count of draws at or above (or below) an observed score therefore goes through
:func:`count_at_or_above` / :func:`count_below`, which treat scores within :data:`TIE_ATOL` of
each other as tied, and a tie counts as "at or above" (against the claim, as the +1 rule does).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "TIE_ATOL",
    "LayerLabelTest",
    "bh_discoveries",
    "cell_seed",
    "count_at_or_above",
    "count_below",
    "effect_fields",
    "excess_over_chance",
    "layer_label_test",
    "min_permutations",
    "p_plus_one",
    "powered",
    "rank_sum_p",
]


TIE_ATOL = 1e-9
"""Scores closer than this are tied when a draw is compared with an observed score.

Every score compared this way (SVCCA, RSA's Spearman, correlations, their excesses) lies in
[-1, 1], so an absolute tolerance is a relative one. The same pair set scored along two code
paths, or on two CPUs whose BLAS / LAPACK kernels round differently, differs by at most ~1e-13
here (float64 throughout; the decoder rows and pair indices the scores are computed from are
the same on every machine); 1e-9 leaves four orders of magnitude above that. It is far below
any real difference: a null of standard deviation >= 0.004 (every null of the smoke and paper
tiers) puts a draw within 1e-9 of a given value with probability < 1e-6, so the tolerance
merges rounding, never two different scores in practice."""


def count_at_or_above(draws: NDArray[np.float64] | list[float], observed: float, *, atol: float = TIE_ATOL) -> int:
    """Number of ``draws`` at or above ``observed``, a draw within ``atol`` of it counting as a tie
    (at or above): ``#{d >= observed - atol}``. NaN draws never count; a NaN observed gives 0.
    The same count on every machine (see :data:`TIE_ATOL`)."""
    d = np.asarray(draws, dtype=np.float64)
    if not math.isfinite(float(observed)):
        return 0
    return int(np.sum(d >= float(observed) - atol))


def count_below(draws: NDArray[np.float64] | list[float], observed: float, *, atol: float = TIE_ATOL) -> int:
    """Number of ``draws`` strictly below ``observed`` beyond a tie: ``#{d < observed - atol}``
    (the complement of :func:`count_at_or_above` among finite draws)."""
    d = np.asarray(draws, dtype=np.float64)
    if not math.isfinite(float(observed)):
        return 0
    return int(np.sum(d < float(observed) - atol))


def excess_over_chance(observed: float, null_mean: float) -> float:
    """``(observed - null_mean) / (1 - null_mean)``; NaN when either is not finite or the null
    mean is at the metric's ceiling (1), where no excess can be measured."""
    s, m = float(observed), float(null_mean)
    if not (math.isfinite(s) and math.isfinite(m)) or m >= 1.0:
        return math.nan
    return (s - m) / (1.0 - m)


def p_plus_one(exceed: int, n: int) -> float:
    """``(1 + exceed) / (1 + n)``: the judging p-value (never 0)."""
    if n < 1:
        return math.nan
    return (1 + int(exceed)) / (1 + int(n))


def min_permutations(alpha: float) -> int:
    """Fewest null draws with which ``p < alpha`` is reachable under the +1 rule:
    ``1 / (1 + N) < alpha``  <=>  ``N > 1/alpha - 1`` (e.g. 20 for alpha 0.05)."""
    return int(math.floor(1.0 / alpha - 1.0)) + 1


def powered(n_permutations: int | float, alpha: float) -> bool:
    """Whether ``n_permutations`` null draws can give ``p < alpha`` at all."""
    return bool(np.isfinite(n_permutations) and int(n_permutations) >= min_permutations(alpha))


def effect_fields(
    prefix: str, observed: float, null: NDArray[np.float64], *, paper_n: int | None = None
) -> dict[str, Any]:
    """Effect-size and p-value fields of one score against its (N,) null draws:
    ``<prefix>_excess``, ``<prefix>_null_std``, ``<prefix>_z``, ``<prefix>_exceed`` (k),
    ``<prefix>_p_plus_one`` (judging) and ``<prefix>_p_paper`` (the paper's rule as ``"k/N"``).
    ``paper_n``: the authors' smaller null size; ``"k/N"`` then counts the first ``paper_n`` draws
    (what their N-permutation run would print), while everything judged uses all N."""
    null = np.asarray(null, dtype=np.float64)
    n = int(null.size)
    mean = float(null.mean()) if n else math.nan
    sd = float(null.std(ddof=1)) if n > 1 else math.nan
    k = count_at_or_above(null, observed) if n else 0
    z = (observed - mean) / sd if math.isfinite(sd) and sd > 0 else math.nan
    head = null[: min(int(paper_n), n)] if paper_n is not None else null
    return {
        f"{prefix}_excess": excess_over_chance(observed, mean),
        f"{prefix}_null_std": sd,
        f"{prefix}_z": z,
        f"{prefix}_exceed": k,
        f"{prefix}_p_plus_one": p_plus_one(k, n),
        f"{prefix}_p_paper": f"{count_at_or_above(head, observed)}/{int(head.size)}",
    }


def bh_discoveries(p_values: list[float] | NDArray[np.float64], alpha: float) -> int:
    """Number of Benjamini-Hochberg discoveries at false-discovery rate ``alpha`` among ``p_values``
    (NaN counts as a test that found nothing, p = 1): the largest k with ``p_(k) <= k * alpha / m``.
    Among the cells it counts, the expected share of false ones is at most ``alpha`` (for
    independent or positively dependent tests)."""
    p = np.sort(np.nan_to_num(np.asarray(p_values, dtype=np.float64), nan=1.0))
    m = p.size
    if not m:
        return 0
    ok = np.flatnonzero(p <= alpha * np.arange(1, m + 1) / m)
    return int(ok[-1] + 1) if ok.size else 0


def rank_sum_p(below: list[int] | NDArray[np.int64], n_siblings: int) -> float:
    """Exact one-sided p that placebo sets sit above their siblings, pooled over independent runs.

    Run r scores one placebo set and ``n_siblings`` sibling sets drawn the same way it would be
    if the placebo did nothing (e.g. random same-size subsets of the unfiltered pairs);
    ``below[r]`` counts the siblings scoring strictly below the placebo. Under exchangeability each
    count is uniform on ``0..n_siblings`` and the runs are independent, so the null of
    ``S = sum(below)`` is the convolution of those uniforms; returns ``P(S_null >= S)``
    (ties count against the placebo, i.e. towards "not above"). NaN without runs."""
    counts = [int(b) for b in below]
    if not counts or n_siblings < 1:
        return math.nan
    if any(not 0 <= b <= n_siblings for b in counts):
        raise ValueError(f"below counts must lie in 0..{n_siblings}; got {counts}.")
    # exact integer counts of the ways to reach each sum, then one correctly rounded division: the
    # same float on every machine (a float convolution's last bits followed numpy's BLAS kernels)
    ways = [1]
    for _ in counts:
        nxt = [0] * (len(ways) + n_siblings)
        for s, w in enumerate(ways):
            for b in range(n_siblings + 1):
                nxt[s + b] += w
        ways = nxt
    return min(1.0, sum(ways[sum(counts) :]) / (n_siblings + 1) ** len(counts))


def cell_seed(base: int, *identity: object) -> int:
    """A seed for one cell's random draws: ``base`` mixed with a stable hash (BLAKE2b, not
    Python's salted ``hash``) of the cell's identity, e.g. ``("grid", "pythia-70m/L3",
    "pythia-160m/L5", "svcca")``. Same identity, same seed, on every machine and run."""
    text = "\x1f".join(str(x) for x in identity).encode()
    h = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")
    return int((int(base) * 0x9E3779B97F4A7C15 + h) % (2**63))


@dataclass(frozen=True)
class LayerLabelTest:
    """A layer-structure statistic against relabelled layers (see :func:`layer_label_test`)."""

    statistic: float
    """Mean of the block's values minus the mean of the others (NaN values left out)."""
    p_value: float
    """Exact: share of block placements scoring >= the statistic (the observed one included);
    sampled: the +1 rule over ``n_permutations`` random relabellings."""
    n_permutations: int
    """Distinct block placements enumerated (exact) or relabellings drawn (sampled)."""
    exact: bool
    min_p: float
    """The smallest p-value this grid can give: 1 / (number of distinct block placements)."""


def layer_label_test(
    values: NDArray[np.float64],
    rows_in: NDArray[np.bool_],
    cols_in: NDArray[np.bool_],
    *,
    seed: int,
    n_permutations: int = 999,
    max_exact: int = 20_000,
) -> LayerLabelTest:
    """Is the block ``rows_in x cols_in`` of ``values`` (n_rows, n_cols: e.g. excess over chance
    per layer pair, rows A layers, columns B layers) higher than the rest, beyond what any
    placement of a block of the same shape would give? Layer labels are exchangeable under "no
    layer structure", so the null relabels rows and columns independently. When the grid has at
    most ``max_exact`` distinct placements (``C(n_rows, k) * C(n_cols, m)``) they are all
    enumerated (exact test); otherwise ``n_permutations`` (>= 999) random relabellings are drawn.
    """
    v = np.asarray(values, dtype=np.float64)
    r, c = np.asarray(rows_in, dtype=bool), np.asarray(cols_in, dtype=bool)
    if v.shape != (r.size, c.size):
        raise ValueError(f"values {v.shape} vs masks ({r.size}, {c.size}): one mask entry per row and column.")
    if n_permutations < 999:
        raise ValueError(f"n_permutations={n_permutations}: a layer-label test uses at least 999 relabellings.")

    def stat(rows: NDArray[np.bool_], cols: NDArray[np.bool_]) -> float:
        mask = np.outer(rows, cols)
        inside, outside = v[mask], v[~mask]
        inside, outside = inside[np.isfinite(inside)], outside[np.isfinite(outside)]
        return float(inside.mean() - outside.mean()) if inside.size and outside.size else math.nan

    observed = stat(r, c)
    k, m = int(r.sum()), int(c.sum())
    placements = math.comb(r.size, k) * math.comb(c.size, m)
    min_p = 1.0 / placements
    if not math.isfinite(observed):
        return LayerLabelTest(observed, math.nan, 0, True, min_p)
    if placements <= max_exact:
        from itertools import combinations

        null = []
        for rows_idx in combinations(range(r.size), k):
            rows = np.zeros(r.size, dtype=bool)
            rows[list(rows_idx)] = True
            for cols_idx in combinations(range(c.size), m):
                cols = np.zeros(c.size, dtype=bool)
                cols[list(cols_idx)] = True
                null.append(stat(rows, cols))
        arr = np.asarray(null)
        # the observed placement is one of them; ties count against the claim
        p = float(count_at_or_above(arr, observed) / arr.size)
        return LayerLabelTest(observed, p, int(arr.size), True, min_p)
    rng = np.random.default_rng(seed)
    draws = np.array([stat(rng.permutation(r), rng.permutation(c)) for _ in range(n_permutations)])
    exceed = count_at_or_above(draws, observed)
    return LayerLabelTest(
        observed, p_plus_one(exceed, n_permutations), n_permutations, False, max(min_p, 1.0 / (1 + n_permutations))
    )
