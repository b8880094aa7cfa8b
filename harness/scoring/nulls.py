"""Permutation nulls and p-values (Lan et al. 2024, Sec. 3 "Statistical tests", Sec. 4.3).

- Shuffled-pairing null (whole spaces and Test 1 for subspaces): keep ``a`` fixed, permute
  the rows of ``b``, recompute the score.
- Test 2: the score of a semantic subspace versus random feature subsets of the same sizes,
  paired by correlation inside each subset (:func:`random_subset_test`).

Fast paths, exact (same numbers as recomputing from scratch, up to float rounding):
- SVCCA: centring and the SVD commute with a row permutation, so the permuted side's basis is
  its basis with permuted rows; a draw costs one (k_a x n) @ (n x k_b) product and a tiny SVD.
- RSA: permuting rows of ``b`` permutes its similarity matrix symmetrically, and the ranks of
  the permuted condensed vector are the permuted ranks; a draw is one dot product of centred
  rank vectors.

p-value rules: ``paper`` = mean(null >= observed) (the authors' code, can be 0);
``plus_one`` = (1 + #{null >= observed}) / (1 + N) (Phipson & Smyth 2010).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from harness.errors import ConfigError, DegenerateInputError
from harness.threads import single_threaded
from harness.vocab import PValueRule, RsaInner, check_choice
from harness.scoring.metrics import (
    DEFAULT_MAX_K,
    MaxK,
    _check_keep,
    canonical_correlations,
    centred_ranks,
    check_paired,
    check_rsa_size,
    similarity_upper,
    svcca_from_bases,
    svd_basis,
)

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


def _permutations(n: int, n_permutations: int, seed: int) -> list[NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(n_permutations)]


def null_workers() -> int:
    """Threads for null draws: ``HARNESS_NULL_WORKERS`` if set, else the usable cores (max 8).
    Numpy's gathers and BLAS release the GIL, so draws run in parallel; keep BLAS itself at one
    thread (``OPENBLAS_NUM_THREADS=1``) to avoid oversubscription."""
    env = os.environ.get("HARNESS_NULL_WORKERS")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ConfigError(f"HARNESS_NULL_WORKERS={env!r}: use a positive integer.")
        return int(env)
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _draws(
    draw: Callable[[NDArray[np.int64]], float], perms: Iterable[NDArray[np.int64]], *, workers: int | None
) -> Float64:
    """(N,) null scores ``draw(perm)`` in permutation order; the permutations are drawn before
    any thread starts, so the null does not depend on ``workers``."""
    perms = list(perms)
    w = null_workers() if workers is None else int(workers)
    if w < 1:
        raise ConfigError(f"workers={workers}: need at least 1.")
    if w == 1 or len(perms) < 2:
        return np.fromiter((draw(p) for p in perms), dtype=np.float64, count=len(perms))
    with ThreadPoolExecutor(max_workers=min(w, len(perms))) as pool:
        return np.fromiter(pool.map(draw, perms), dtype=np.float64, count=len(perms))


def svcca_null(
    a: object,
    b: object,
    *,
    n_permutations: int,
    seed: int,
    keep: float | int = 0.99,
    max_k: MaxK = DEFAULT_MAX_K,
    workers: int | None = None,
) -> tuple[float, Float64, dict[str, object]]:
    """Observed SVCCA and its shuffled-pairing null via the fixed-basis fast path; ``workers``
    threads draw the null (default :func:`null_workers`; the numbers do not depend on it)."""
    _check_keep(keep)
    a64, b64 = check_paired(a, b)
    n = a64.shape[0]
    basis_a = svd_basis(a64, keep=keep, max_k=max_k)
    basis_b = svd_basis(b64, keep=keep, max_k=max_k)
    observed = svcca_from_bases(basis_a, basis_b, n)
    ua_t = np.ascontiguousarray(basis_a.u.T)
    null = _draws(
        lambda perm: float(canonical_correlations(ua_t.T, basis_b.u[perm]).mean()),
        _permutations(n, n_permutations, seed),
        workers=workers,
    )
    details = {
        "k_a": observed.k_a,
        "k_b": observed.k_b,
        "n": n,
        "variance_kept_a": observed.variance_kept_a,
        "variance_kept_b": observed.variance_kept_b,
    }
    return observed.score, null, details


def rsa_null(
    a: object, b: object, *, n_permutations: int, seed: int, inner: RsaInner = "correlation", workers: int | None = None
) -> tuple[float, Float64, dict[str, object]]:
    """Observed RSA and its shuffled-pairing null via the fixed-rank fast path; ``workers`` as
    in :func:`svcca_null`."""
    a64, b64 = check_paired(a, b)
    n = a64.shape[0]
    check_rsa_size(n)
    ra = centred_ranks(similarity_upper(a64, inner=inner))
    rb = centred_ranks(similarity_upper(b64, inner=inner))
    observed = float(ra @ rb)
    # Square symmetric matrix of b's centred ranks; permuting b's rows permutes it.
    rank_matrix = np.zeros((n, n), dtype=np.float64)
    iu = np.triu_indices(n, k=1)
    rank_matrix[iu] = rb
    rank_matrix += rank_matrix.T
    # The permuted condensed vector of b is RB[p_i, p_j] over i < j; its ranks are the
    # permuted ranks, so the null draw is a dot product with a's centred ranks.
    rows, cols = iu
    null = _draws(
        lambda perm: float(rank_matrix[perm[rows], perm[cols]] @ ra),
        _permutations(n, n_permutations, seed),
        workers=workers,
    )
    return observed, null, {"n": n, "inner": inner}


@single_threaded
def permutation_test(
    a: object,
    b: object,
    *,
    metric: Literal["svcca", "rsa"],
    n_permutations: int,
    seed: int,
    p_rule: PValueRule = "plus_one",
    **metric_options: object,
) -> PermutationResult:
    """Score ``a`` vs ``b`` (paired rows) and test it against shuffled pairings.

    Args:
        a: (n, d_a) paired rows; b: (n, d_b).
        metric: ``svcca`` (options ``keep``, ``max_k``) or ``rsa`` (option ``inner``); both take
            ``workers`` (threads for the null draws; the result does not depend on it).
        n_permutations: null size N. seed: seeds ``numpy.random.default_rng``.
        p_rule: ``paper`` or ``plus_one`` (see module docstring).
    """
    if int(n_permutations) < 1:
        raise ConfigError(f"n_permutations={n_permutations}: need at least 1.")
    if metric == "svcca":
        unknown = set(metric_options) - {"keep", "max_k", "workers"}
        if unknown:
            raise ConfigError(f"Unknown SVCCA options {sorted(unknown)}; use keep, max_k, workers.")
        observed, null, details = svcca_null(a, b, n_permutations=int(n_permutations), seed=seed, **metric_options)  # type: ignore[arg-type]  # options checked just above
    elif metric == "rsa":
        unknown = set(metric_options) - {"inner", "workers"}
        if unknown:
            raise ConfigError(f"Unknown RSA options {sorted(unknown)}; use inner, workers.")
        observed, null, details = rsa_null(a, b, n_permutations=int(n_permutations), seed=seed, **metric_options)  # type: ignore[arg-type]  # options checked just above
    else:
        raise ConfigError(f"metric={metric!r}: use 'svcca' or 'rsa'.")
    return PermutationResult(
        observed=observed,
        null=null,
        p_value=p_value(observed, null, rule=p_rule),
        p_rule=p_rule,
        n_permutations=int(n_permutations),
        seed=seed,
        metric=metric,
        details=details,
    )


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


@single_threaded
def random_subset_test(
    observed: float,
    score_subsets: Callable[[NDArray[np.int64], NDArray[np.int64]], float],
    *,
    size_a: int,
    size_b: int,
    pool_a: int | NDArray[np.int64],
    pool_b: int | NDArray[np.int64],
    n_draws: int,
    seed: int,
    p_rule: PValueRule = "plus_one",
) -> SubsetTestResult:
    """Test 2 of Lan et al. Sec. 4.3: compare a subspace score with random subsets.

    ``score_subsets(idx_a, idx_b)`` must pair the given feature subsets by correlation (same
    1-1 rule as the observed subspace) and return the score, or NaN when too few pairs remain.
    ``pool_a``/``pool_b`` are the candidate features (an int means ``range(pool)``).
    """
    draws = random_subset_draws(size_a=size_a, size_b=size_b, pool_a=pool_a, pool_b=pool_b, n_draws=n_draws, seed=seed)
    scores = np.array([score_subsets(ia, ib) for ia, ib in draws], dtype=np.float64)
    return subset_test_result(observed, scores, seed=seed, p_rule=p_rule)


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
        above = self.draws >= value
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
    return p_value(0.0, np.where((draws >= observed) | ties, 1.0, -1.0), rule=rule)


@single_threaded
def size_matched_test(
    observed: float,
    score_rows: Callable[[NDArray[np.int64]], float],
    *,
    n: int,
    n_superset: int,
    n_draws: int,
    seed: int,
    p_rule: PValueRule = "plus_one",
    observed_idx: NDArray[np.int64] | None = None,
) -> SizeMatchedResult:
    """Compare ``observed`` (a score of ``n`` pairs) with ``score_rows(idx)`` on ``n_draws``
    random size-``n`` subsets ``idx`` of the ``n_superset`` rows of a larger pair set.
    ``observed_idx``: the observed set's rows in the superset (when it is a subset of it): a draw of
    exactly those rows is a tie, counted as at or above ``observed`` (its score may differ by rounding)."""
    if not 0 < n < n_superset:
        raise DegenerateInputError(
            f"Need 0 < n < n_superset for a size-matched draw; got n={n}, n_superset={n_superset}."
        )
    if n_draws < 2:
        raise ConfigError("size_matched_test needs n_draws >= 2 (one is held out as the control).")
    rng = np.random.default_rng(seed)
    idx = [np.sort(rng.choice(n_superset, size=n, replace=False)) for _ in range(n_draws)]
    scores = np.array([score_rows(i) for i in idx])
    return size_matched_result(
        observed, scores, np.stack(idx), n=n, n_superset=n_superset, p_rule=p_rule, observed_idx=observed_idx
    )


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
