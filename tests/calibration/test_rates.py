"""Rates with exact intervals, and the calibration targets judged on the bounds."""

from __future__ import annotations

import math

import pytest
from scipy.stats import beta

from harness.calibration.rates import (
    clopper_pearson,
    false_positive_flag,
    false_positive_standing,
    power_flag,
    power_standing,
    seeds_needed_for_zero_false_passes,
)


@pytest.mark.parametrize(("k", "n"), [(0, 5), (4, 5), (1, 50), (46, 50), (50, 50)])
def test_clopper_pearson_matches_the_beta_quantiles(k: int, n: int) -> None:
    r = clopper_pearson(k, n)
    low = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
    high = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
    assert math.isclose(r.low, low, abs_tol=1e-9) and math.isclose(r.high, high, abs_tol=1e-9)
    assert r.k == k and r.n == n and r.low <= r.value <= r.high


def test_the_issues_numbers() -> None:
    # issue 22: 0/5 false passes bound the rate only by 0.52, 4/5 power only by 0.28
    assert round(clopper_pearson(0, 5).high, 2) == 0.52 and round(clopper_pearson(4, 5).low, 2) == 0.28
    assert clopper_pearson(0, 5).text() == "0/5 = 0.00 [0.00, 0.52]"


def test_targets_are_judged_on_the_bounds() -> None:
    assert false_positive_standing(clopper_pearson(0, 5)) == "too few seeds"
    assert false_positive_standing(clopper_pearson(0, 50)) == "met"
    assert false_positive_standing(clopper_pearson(1, 50)) == "too few seeds"  # upper bound 0.107
    assert false_positive_standing(clopper_pearson(20, 50)) == "missed"
    assert power_standing(clopper_pearson(5, 5)) == "too few seeds"
    assert power_standing(clopper_pearson(46, 50)) == "met" and power_standing(clopper_pearson(45, 50)) != "met"
    assert power_standing(clopper_pearson(0, 5)) == "missed"
    assert seeds_needed_for_zero_false_passes() == 36


def test_flags_say_why() -> None:
    assert power_flag(clopper_pearson(50, 50), 0.7) is None
    assert false_positive_flag(clopper_pearson(0, 50), "null twin") is None
    assert false_positive_flag(clopper_pearson(0, 5), "null twin") == (
        "0/5 false passes in the null twin, 95% upper bound 0.52: too few seeds to meet the target 0.1"
    )
    assert "below the target 0.8" in (power_flag(clopper_pearson(0, 5), 0.7) or "")
    assert "too few seeds" in (power_flag(clopper_pearson(4, 5), 0.7) or "")


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="0 <= k <= n"):
        clopper_pearson(6, 5)
    assert clopper_pearson(0, 0).high == 1.0
