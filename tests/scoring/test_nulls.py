"""Permutation nulls: fast paths equal recomputation; p-values calibrated; Test 2."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.scoring.metrics import rsa, svcca
from harness.scoring.nulls import p_value
from tests.scoring.reference_nulls import permutation_test, random_subset_test


def planted(n: int, d: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d)) @ np.diag(np.linspace(2, 0.2, d))
    b = a @ rng.standard_normal((d, d + 4)) + noise * rng.standard_normal((n, d + 4))
    return a, b


@pytest.mark.parametrize("keep", [1, 0.9, 5])
def test_svcca_fast_null_equals_recompute(keep: float | int) -> None:
    a, b = planted(120, 10, 1.0, seed=0)
    res = permutation_test(a, b, metric="svcca", n_permutations=25, seed=7, keep=keep)
    rng = np.random.default_rng(7)
    slow = [svcca(a, b[rng.permutation(120)], keep=keep).score for _ in range(25)]
    np.testing.assert_allclose(res.null, slow, atol=1e-10)
    assert res.observed == pytest.approx(svcca(a, b, keep=keep).score)
    assert res.details["k_a"] == svcca(a, b, keep=keep).k_a


@pytest.mark.parametrize("inner", ["correlation", "euclidean"])
def test_rsa_fast_null_equals_recompute(inner: str) -> None:
    a, b = planted(40, 6, 2.0, seed=1)
    res = permutation_test(a, b, metric="rsa", n_permutations=20, seed=3, inner=inner)
    rng = np.random.default_rng(3)
    slow = [rsa(a, b[rng.permutation(40)], inner=inner) for _ in range(20)]
    np.testing.assert_allclose(res.null, slow, atol=1e-10)
    assert res.observed == pytest.approx(rsa(a, b, inner=inner))


def test_p_value_rules() -> None:
    null = np.array([0.1, 0.2, 0.3, 0.4])
    assert p_value(0.35, null, rule="paper") == 0.25
    assert p_value(0.35, null, rule="plus_one") == pytest.approx(2 / 5)
    assert p_value(0.5, null, rule="paper") == 0.0
    assert p_value(0.5, null, rule="plus_one") == pytest.approx(1 / 5)
    assert p_value(0.3, null, rule="paper") == 0.5  # ties count as exceedances
    with pytest.raises(ConfigError):
        p_value(0.3, null, rule="two-sided")


@pytest.mark.parametrize("metric,options", [("svcca", {"keep": 3}), ("rsa", {"inner": "correlation"})])
def test_p_values_are_calibrated_under_the_null(metric: str, options: dict) -> None:
    """Independent data: P(p < 0.05) must be close to 5% (plus-one rule is exact-valid)."""
    rng = np.random.default_rng(100)
    ps = []
    for trial in range(300):
        a, b = rng.standard_normal((30, 8)), rng.standard_normal((30, 8))
        ps.append(permutation_test(a, b, metric=metric, n_permutations=99, seed=trial, **options).p_value)
    frac = np.mean(np.asarray(ps) < 0.05)
    assert 0.015 <= frac <= 0.09, frac  # binomial(300, 0.05): 99.9% interval ~ [0.017, 0.093]


def test_planted_structure_gives_small_p_and_shuffled_control_does_not() -> None:
    a, b = planted(200, 8, 0.5, seed=2)
    res = permutation_test(a, b, metric="svcca", n_permutations=200, seed=0, keep=0.99)
    assert res.p_value == pytest.approx(1 / 201)
    assert res.observed > res.null.max()
    shuffled = b[np.random.default_rng(5).permutation(200)]
    ctrl = permutation_test(a, shuffled, metric="svcca", n_permutations=200, seed=0, keep=0.99)
    assert ctrl.p_value > 0.05


def test_permutation_test_is_seeded_and_validates() -> None:
    a, b = planted(50, 5, 1.0, seed=3)
    r1 = permutation_test(a, b, metric="rsa", n_permutations=10, seed=1)
    r2 = permutation_test(a, b, metric="rsa", n_permutations=10, seed=1)
    r3 = permutation_test(a, b, metric="rsa", n_permutations=10, seed=2)
    np.testing.assert_array_equal(r1.null, r2.null)
    assert not np.array_equal(r1.null, r3.null)
    with pytest.raises(ConfigError, match="Unknown SVCCA options"):
        permutation_test(a, b, metric="svcca", n_permutations=5, seed=0, inner="euclidean")
    with pytest.raises(ConfigError):
        permutation_test(a, b, metric="cka", n_permutations=5, seed=0)
    with pytest.raises(ConfigError):
        permutation_test(a, b, metric="rsa", n_permutations=0, seed=0)


@pytest.mark.parametrize("metric", ["svcca", "rsa"])
def test_threaded_null_draws_equal_the_serial_ones(metric: str, monkeypatch) -> None:
    """Null draws run in a thread pool; the permutations are drawn first, so the null is the
    same array whatever the number of workers (and whatever the environment says)."""
    a, b = planted(80, 6, 1.0, seed=4)
    serial = permutation_test(a, b, metric=metric, n_permutations=23, seed=5, workers=1)
    threaded = permutation_test(a, b, metric=metric, n_permutations=23, seed=5, workers=3)
    np.testing.assert_array_equal(threaded.null, serial.null)
    assert threaded.p_value == serial.p_value
    monkeypatch.setenv("HARNESS_NULL_WORKERS", "2")
    np.testing.assert_array_equal(
        permutation_test(a, b, metric=metric, n_permutations=23, seed=5).null,
        serial.null,
    )
    monkeypatch.setenv("HARNESS_NULL_WORKERS", "two")
    with pytest.raises(ConfigError, match="HARNESS_NULL_WORKERS"):
        permutation_test(a, b, metric=metric, n_permutations=3, seed=5)
    with pytest.raises(ConfigError, match="workers=0"):
        permutation_test(a, b, metric=metric, n_permutations=3, seed=5, workers=0)


def test_random_subset_test_counts_draws_and_failures() -> None:
    calls = []

    def score(ia: np.ndarray, ib: np.ndarray) -> float:
        calls.append((ia.size, ib.size))
        return float("nan") if ia[0] == 0 else float(ia.mean() / 100)

    res = random_subset_test(0.9, score, size_a=5, size_b=7, pool_a=100, pool_b=50, n_draws=40, seed=0)
    assert all(c == (5, 7) for c in calls) and len(calls) == 40
    assert res.n_failed + res.null.size == 40
    assert res.p_value == pytest.approx((1 + np.sum(res.null >= 0.9)) / (1 + res.null.size))


def test_rsa_refuses_more_rows_than_the_memory_guard(monkeypatch) -> None:
    import harness.scoring.metrics as m
    from harness.errors import ResourceError

    monkeypatch.setattr(m, "RSA_MAX_ROWS", 20)
    a, b = planted(21, 4, 1.0, seed=9)
    with pytest.raises(ResourceError, match="RSA_MAX_ROWS"):
        permutation_test(a, b, metric="rsa", n_permutations=3, seed=0)
    with pytest.raises(ResourceError):
        rsa(a, b)


def test_svcca_of_random_pairs_rises_as_pairs_fall() -> None:
    """The bias the size-matched test exists for: same dimensions, fewer random pairs, higher SVCCA."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    big = svcca(a, b, keep=0.99).score
    small = svcca(a[:60], b[:60], keep=0.99).score
    assert small > big + 0.1


def test_size_matched_test_finds_a_planted_subset_and_its_holdout_is_calibrated() -> None:
    from harness.errors import DegenerateInputError
    from tests.scoring.reference_nulls import size_matched_test

    rng = np.random.default_rng(1)
    n_super, n, d = 300, 80, 12
    a = rng.normal(size=(n_super, d))
    b = rng.normal(size=(n_super, d))
    good = np.arange(n)
    b[good] = a[good] @ rng.normal(size=(d, d)) + 0.3 * rng.normal(size=(n, d))  # planted: linearly related rows

    def score(idx: np.ndarray) -> float:
        return svcca(a[idx], b[idx], keep=0.99).score

    res = size_matched_test(score(good), score, n=n, n_superset=n_super, n_draws=99, seed=0, p_rule="plus_one")
    assert res.p_value == pytest.approx(1 / 100)
    assert res.draws.size == 99 and res.n == n
    # a random subset is no better than its siblings: over many seeds its p is ~uniform
    holdouts = [size_matched_test(0.0, score, n=n, n_superset=n_super, n_draws=20, seed=s).holdout_p for s in range(40)]
    assert 0.3 < float(np.mean(holdouts)) < 0.7
    assert float(np.mean(np.array(holdouts) < 0.05)) < 0.2
    with pytest.raises(DegenerateInputError, match="n < n_superset"):
        size_matched_test(1.0, score, n=n_super, n_superset=n_super, n_draws=10, seed=0)
    with pytest.raises(ConfigError, match="n_draws >= 2"):
        size_matched_test(1.0, score, n=10, n_superset=n_super, n_draws=1, seed=0)
