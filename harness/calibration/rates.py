"""Rates with their uncertainty: Clopper-Pearson intervals and the calibration targets judged on them.

A calibration rate is a count of passes out of a number of seeds. With few seeds the count says
little (0 of 5 false passes is consistent with a true rate up to 0.52), so every rate is reported
with its exact (Clopper-Pearson) 95% interval and the targets are judged on the bounds:

- false-positive rate: the interval's **upper** bound must be <= :data:`FALSE_POSITIVE_TARGET`
  (0 of 36 seeds is the least that can show it; 1 false pass needs 56 seeds);
- power: the interval's **lower** bound must be >= :data:`POWER_TARGET` (50 of 50 gives 0.93,
  46 of 50 gives 0.81, 45 of 50 only 0.78).

A target is *met* when the bound is on the right side, *missed* when the whole interval is on the
wrong side, and otherwise there were *too few seeds* to tell; only "met" counts as calibrated.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from scipy.stats import binomtest

#: Target power at the paper-like strength: the lower 95% bound must reach it.
POWER_TARGET = 0.8
#: Target false-positive rate (null twin, claim-false worlds): the upper 95% bound must stay at or below it.
FALSE_POSITIVE_TARGET = 0.1
#: Confidence level of the reported intervals.
CONFIDENCE = 0.95

Standing = Literal["met", "missed", "too few seeds"]


class Rate(NamedTuple):
    """A pass count with its exact interval.

    Fields:
        k: passes.
        n: trials (seeds).
        low, high: two-sided Clopper-Pearson :data:`CONFIDENCE` interval of the pass rate
            (NaN-free: n = 0 gives the uninformative [0, 1]).
    """

    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        """The point estimate k / n (NaN when n = 0)."""
        return self.k / self.n if self.n else float("nan")

    def text(self) -> str:
        """E.g. ``"0/50 = 0.00 [0.00, 0.07]"``."""
        return f"{self.k}/{self.n} = {self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


def clopper_pearson(k: int, n: int, *, confidence: float = CONFIDENCE) -> Rate:
    """``k`` passes out of ``n`` with the exact two-sided interval (``scipy.stats.binomtest``)."""
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"clopper_pearson: need 0 <= k <= n, got k={k}, n={n}.")
    if n == 0:
        return Rate(0, 0, 0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return Rate(k, n, float(ci.low), float(ci.high))


def power_standing(rate: Rate, target: float = POWER_TARGET) -> Standing:
    """Whether power meets ``target`` on the lower bound, misses it on the upper, or cannot tell."""
    if rate.low >= target:
        return "met"
    if rate.high < target:
        return "missed"
    return "too few seeds"


def false_positive_standing(rate: Rate, target: float = FALSE_POSITIVE_TARGET) -> Standing:
    """Whether a false-positive rate meets ``target`` on the upper bound, misses it on the lower,
    or cannot tell."""
    if rate.high <= target:
        return "met"
    if rate.low > target:
        return "missed"
    return "too few seeds"


def power_flag(rate: Rate, strength: float, target: float = POWER_TARGET) -> str | None:
    """The flag of a power that does not meet ``target`` on its lower bound (None when it does)."""
    standing = power_standing(rate, target)
    if standing == "met":
        return None
    head = f"power {rate.k}/{rate.n} at the paper-like strength {strength}, 95% lower bound {rate.low:.2f}"
    if standing == "missed":
        return f"{head}: below the target {target} (upper bound {rate.high:.2f})"
    return f"{head}: too few seeds to meet the target {target}"


def false_positive_flag(rate: Rate, where: str, target: float = FALSE_POSITIVE_TARGET) -> str | None:
    """The flag of a false-positive rate whose upper bound exceeds ``target`` (None when it does not)."""
    standing = false_positive_standing(rate, target)
    if standing == "met":
        return None
    head = f"{rate.k}/{rate.n} false passes in the {where}, 95% upper bound {rate.high:.2f}"
    if standing == "missed":
        return f"{head}: above the target {target} (lower bound {rate.low:.2f})"
    return f"{head}: too few seeds to meet the target {target}"


def seeds_needed_for_zero_false_passes(target: float = FALSE_POSITIVE_TARGET) -> int:
    """The least number of seeds whose 0 false passes has an upper bound <= ``target``."""
    n = 1
    while clopper_pearson(0, n).high > target:
        n += 1
    return n
