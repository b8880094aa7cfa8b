"""Null records and p-values (Lan et al. 2024, Sec. 3 "Statistical tests", Sec. 4.3): the result
types every null returns, the p-value rules, Test 2's subset draws and the size-matched record.

The nulls themselves are computed once, in torch on any device (:mod:`harness.scoring.device_nulls`);
their numpy reference implementations (the same permutations and draws, recomputed from scratch)
are the test oracle in ``tests/scoring/reference_nulls.py``.

p-value rules: ``paper`` = mean(null >= observed) (the authors' code, can be 0);
``plus_one`` = (1 + #{null >= observed}) / (1 + N) (Phipson & Smyth 2010).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from harness.errors import ConfigError, DegenerateInputError
from harness.vocab import PValueRule, check_choice

Float64 = NDArray[np.float64]


def p_value(observed: float, null: Float64, *, rule: PValueRule) -> float:
    """One-sided p-value of ``observed`` against ``null`` (N draws) under ``rule``; draws within
    :data:`harness.scoring.effects.TIE_ATOL` of ``observed`` are ties and count as at or above."""
    null = np.asarray(null, dtype=np.float64)
    if null.size == 0:
        raise ConfigError("The null distribution is empty; use n_permutations >= 1.")
    from harness.scoring.effects import count_at_or_above

    exceed = count_at_or_above(null, observed)  # a draw within TIE_ATOL is a tie: same count on every machine
    if rule == "paper":
        return exceed / null.size
    if rule == "plus_one":
        return (1 + exceed) / (1 + null.size)
    check_choice("p_rule", rule, PValueRule)
    raise AssertionError(f"p_value has no branch for rule {rule!r}")  # every vocabulary value has a branch


@dataclass(frozen=True)
class PermutationResult:
    """Observed score, its null distribution and p-value."""

    observed: float
    null: Float64
    """(n_permutations,) scores under shuffled pairings."""
    p_value: float
    p_rule: str
    n_permutations: int
    seed: int
    metric: str
    details: dict[str, object]
    """Metric details of the observed score (e.g. k_a, k_b for SVCCA)."""

    @property
    def null_mean(self) -> float:
        return float(self.null.mean())

    @property
    def null_std(self) -> float:
        return float(self.null.std(ddof=1)) if self.null.size > 1 else float("nan")


@dataclass(frozen=True)
class SubsetTestResult:
    """Test 2: observed subspace score versus random subsets of the same sizes."""

    observed: float
    null: Float64
    """(n_draws,) scores of random same-size subsets (NaN draws, if any, are dropped)."""
    p_value: float
    p_rule: str
    n_draws: int
    n_failed: int
    """Draws whose subsets yielded too few pairs to score (reported, not hidden)."""
    seed: int


def random_subset_draws(
    *,
    size_a: int,
    size_b: int,
    pool_a: int | NDArray[np.int64],
    pool_b: int | NDArray[np.int64],
    n_draws: int,
    seed: int,
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """The (idx_a, idx_b) sorted subsets of :func:`random_subset_test` for ``seed``, in order
    (for callers that score all draws at once, e.g. batched on a device)."""
    pa = np.arange(pool_a) if isinstance(pool_a, (int, np.integer)) else np.asarray(pool_a)
    pb = np.arange(pool_b) if isinstance(pool_b, (int, np.integer)) else np.asarray(pool_b)
    if size_a > pa.size or size_b > pb.size:
        raise DegenerateInputError(f"Subset sizes ({size_a}, {size_b}) exceed the pools ({pa.size}, {pb.size}).")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_draws):
        ia = np.sort(rng.choice(pa, size=size_a, replace=False))
        ib = np.sort(rng.choice(pb, size=size_b, replace=False))
        draws.append((ia, ib))
    return draws


def subset_test_result(
    observed: float, scores: NDArray[np.float64], *, seed: int, p_rule: PValueRule = "plus_one"
) -> SubsetTestResult:
    """Test 2's result from the (n_draws,) draw scores (NaN = a failed draw)."""
    ok = np.isfinite(scores)
    null = scores[ok]
    if null.size == 0:
        raise DegenerateInputError("Every random subset draw failed to produce a score.")
    return SubsetTestResult(
        observed=float(observed),
        null=null,
        p_value=p_value(observed, null, rule=p_rule),
        p_rule=p_rule,
        n_draws=int(scores.size),
        n_failed=int((~ok).sum()),
        seed=seed,
    )


@dataclass(frozen=True)
class SizeMatchedResult:
    """A score of ``n`` pairs versus random size-``n`` subsets of a larger pair set.

    SVCCA of paired rows rises as the number of pairs falls (fewer rows, same number of
    directions), so "method X keeps fewer pairs and scores higher" (App. E, App. F) is only
    evidence for X when X beats removing the same number of pairs at random.
    """

    observed: float
    draws: Float64
    """(n_draws,) scores of random size-n subsets of the superset (NaN draws dropped)."""
    p_value: float
    """p of ``observed`` against ``draws`` (a draw of the observed set itself counts as at or above it)."""
    holdout_p: float
    """Negative control: p of the first draw against the others (uniform when nothing works)."""
    n: int
    n_superset: int
    ties: NDArray[np.bool_] | None = None
    """(len(draws),) draws that are the observed set itself (None: not known); each counts as a tie."""

    def n_at_or_above(self, value: float) -> int:
        """Draws >= ``value``, or a draw of the observed set when ``value`` is the observed score."""
        from harness.scoring.effects import TIE_ATOL

        above = self.draws >= value - TIE_ATOL  # within TIE_ATOL: a tie (effects.count_at_or_above)
        if self.ties is not None and value == self.observed:
            above |= self.ties
        return int(above.sum())


def observed_rows(observed_idx: NDArray[np.int64] | None, n: int) -> NDArray[np.int64] | None:
    """The observed set's rows in the superset, sorted, when it is a size-``n`` subset of it."""
    if observed_idx is None:
        return None
    rows = np.sort(np.asarray(observed_idx, dtype=np.int64))
    return rows if rows.size == n and (rows >= 0).all() else None


def tied_p_value(observed: float, draws: Float64, ties: NDArray[np.bool_] | None, *, rule: PValueRule) -> float:
    """:func:`p_value` where the draws flagged in ``ties`` count as at or above ``observed`` whatever
    their rounding (Design: "ties decide p-values")."""
    if ties is None or not ties.any():
        return p_value(observed, draws, rule=rule)
    from harness.scoring.effects import TIE_ATOL

    return p_value(0.0, np.where((draws >= observed - TIE_ATOL) | ties, 1.0, -1.0), rule=rule)


def size_matched_result(
    observed: float,
    scores: Float64,
    idx: NDArray[np.int64],
    *,
    n: int,
    n_superset: int,
    p_rule: PValueRule,
    observed_idx: NDArray[np.int64] | None = None,
) -> SizeMatchedResult:
    """The :class:`SizeMatchedResult` of (n_draws,) draw ``scores`` (NaN: failed) of the subsets
    ``idx`` (n_draws, n); see :func:`size_matched_test` for ``observed_idx``."""
    ok = np.isfinite(scores)
    draws = scores[ok]
    if draws.size < 2:
        raise DegenerateInputError("Fewer than two size-matched draws produced a score.")
    rows = observed_rows(observed_idx, n)
    ties = None if rows is None else np.all(np.asarray(idx)[ok] == rows[None, :], axis=1)
    return SizeMatchedResult(
        observed=float(observed),
        draws=draws,
        p_value=tied_p_value(observed, draws, ties, rule=p_rule),
        holdout_p=p_value(float(draws[0]), draws[1:], rule=p_rule),
        n=n,
        n_superset=n_superset,
        ties=ties,
    )
