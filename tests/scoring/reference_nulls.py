"""Numpy reference nulls (the test oracle of harness.scoring.device_nulls): the shuffled-pairing
nulls of SVCCA and RSA, Test 2's random subsets scored one by one, the size-matched subsets, each
recomputed from scratch per draw with numpy (Lan et al. 2024, Sec. 3 and 4.3).

Fast paths, exact (same numbers as recomputing from scratch, up to float rounding):
- SVCCA: centring and the SVD commute with a row permutation, so the permuted side's basis is
  its basis with permuted rows; a draw costs one (k_a x n) @ (n x k_b) product and a tiny SVD.
- RSA: permuting rows of ``b`` permutes its similarity matrix symmetrically, and the ranks of
  the permuted condensed vector are the permuted ranks; a draw is one dot product of centred
  rank vectors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from harness.errors import ConfigError, DegenerateInputError
from harness.threads import single_threaded
from harness.vocab import PValueRule, RsaInner
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
from harness.scoring.nulls import (
    PermutationResult,
    SizeMatchedResult,
    SubsetTestResult,
    p_value,
    random_subset_draws,
    size_matched_result,
    subset_test_result,
)

Float64 = NDArray[np.float64]


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
        observed, null, details = svcca_null(
            a, b, n_permutations=int(n_permutations), seed=seed, **metric_options
        )  # options checked just above
    elif metric == "rsa":
        unknown = set(metric_options) - {"inner", "workers"}
        if unknown:
            raise ConfigError(f"Unknown RSA options {sorted(unknown)}; use inner, workers.")
        observed, null, details = rsa_null(
            a, b, n_permutations=int(n_permutations), seed=seed, **metric_options
        )  # options checked just above
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


def use_numpy_references(monkeypatch: Any) -> None:
    """Route the experiments' nulls through these numpy references (``monkeypatch``: pytest's): the
    shuffled-pairing nulls and observed scores of :mod:`harness.experiments.pair_scores`, the
    size-matched draws of :mod:`harness.experiments.size_matched` and Test 2 of
    :mod:`harness.experiments.semantic_subspaces`, each recomputed per draw from scratch -- so a
    test can compare a whole record of the library's torch path with the reference, number by number."""
    import math as _math

    import harness.experiments.pair_scores as pair_scores
    import harness.experiments.semantic_subspaces as semantic_subspaces
    import harness.experiments.size_matched as size_matched_module
    from harness.experiments.space_pairing import pair_subsets
    from harness.scoring.metrics import svcca

    def permutation_route(a, b, *, device=None, basis_on_device=None, **kw):  # noqa: ANN001, ANN003, ANN202, ARG001
        return permutation_test(a, b, **kw)

    def observed_route(a, b, *, keep, max_k, device=None, basis_on_device=None):  # noqa: ANN001, ANN202, ARG001
        return svcca(a, b, keep=keep, max_k=max_k)

    def size_matched_route(observed, a_sup, b_sup, *, n, n_draws, seed, keep, max_k, p_rule, device=None,
                           observed_idx=None):  # noqa: ANN001, ANN202, ARG001  # fmt: skip
        def score_rows(idx: NDArray[np.int64]) -> float:
            try:
                return svcca(a_sup[idx], b_sup[idx], keep=keep, max_k=max_k).score
            except DegenerateInputError:
                return _math.nan

        return size_matched_test(observed, score_rows, n=n, n_superset=len(a_sup), n_draws=n_draws, seed=seed,
                                 p_rule=p_rule, observed_idx=observed_idx)  # fmt: skip

    def test2_route(space_a, space_b, procedure, observed, *, rule, sizes, pools, n_draws, seed, device=None):  # noqa: ANN001, ANN202, ARG001
        def score_subsets(ia: NDArray[np.int64], ib: NDArray[np.int64]) -> float:
            p = pair_subsets(space_a, space_b, ia, ib, rule=rule)
            if len(p) < max(procedure.min_subspace_size, 3):
                return _math.nan
            try:
                return svcca(space_a.decoder[p.a_idx], space_b.decoder[p.b_idx], keep=procedure.svcca_keep,
                             max_k=pair_scores.svcca_max_k(procedure, len(p))).score  # fmt: skip
            except DegenerateInputError:
                return _math.nan

        return random_subset_test(observed, score_subsets, size_a=sizes[0], size_b=sizes[1], pool_a=pools[0],
                                  pool_b=pools[1], n_draws=n_draws, seed=seed, p_rule=procedure.p_rule)  # fmt: skip

    setattr_ = monkeypatch.setattr
    setattr_(pair_scores, "permutation_test_device", permutation_route)
    setattr_(pair_scores, "svcca_observed_device", observed_route)
    setattr_(size_matched_module, "size_matched_test_device", size_matched_route)
    setattr_(semantic_subspaces, "_test2_batched", test2_route)
