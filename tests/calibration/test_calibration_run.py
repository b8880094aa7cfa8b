"""Calibration runner: rates, minimum detectable effect, flags, and early errors."""

from __future__ import annotations

import pytest

from harness.calibration.run import PLANS, ClaimPlan, Trial, calibrate, summarise, too_many_false_passes
from harness.config import CORRECTED
from harness.errors import ConfigError


def test_false_pass_test_allows_one_in_five_not_two() -> None:
    assert not too_many_false_passes(0, 5, alpha=0.05)
    assert not too_many_false_passes(1, 5, alpha=0.05)  # p = 0.23
    assert too_many_false_passes(2, 5, alpha=0.05)  # p = 0.02
    assert not too_many_false_passes(0, 0, alpha=0.05)


def _trials(rates: dict[float, int], n: int, world: str = "planted", strength: float | None = None) -> list[Trial]:
    out = []
    for s, k in rates.items():
        for seed in range(n):
            ok = seed < k
            out.append(
                Trial(
                    "U1",
                    world,
                    s if strength is None else strength,
                    seed,
                    "reproduced" if ok else "not reproduced",
                    ok,
                    "other way",
                )
            )
    return out


def test_summarise_rates_power_mde_and_flags() -> None:
    plan = ClaimPlan("U1", "grid", "x", (0.0, 0.3, 0.7), 0.7, "note", false_worlds={"flat": {}})
    trials = _trials({0.0: 0, 0.3: 4, 0.7: 5}, 5) + _trials({0.7: 3}, 5, world="flat")
    r = summarise(plan, plan.strengths, trials, procedure=CORRECTED, alpha=0.05, rule="r")
    assert r.pass_rate == {0.0: 0.0, 0.3: 0.8, 0.7: 1.0}
    assert r.false_positive_rate == 0.0 and r.power == 1.0 and r.min_detectable == 0.3
    assert r.false_world_rates == {"flat": 0.6}
    assert r.flags == ("false-positive rate 3/5 in the flat (too many for alpha = 0.05)",) and not r.calibrated
    weak = summarise(
        plan, plan.strengths, _trials({0.0: 1, 0.3: 1, 0.7: 3}, 5), procedure=CORRECTED, alpha=0.05, rule="r"
    )
    assert weak.min_detectable is None and weak.flags == ("power 0.60 < 0.8 at the paper-like strength 0.7",)


def test_calibrate_refuses_unknown_claims_missing_rules_and_bad_strengths() -> None:
    with pytest.raises(ConfigError, match="not plantable"):
        calibrate({}, claims=["U8"])
    with pytest.raises(ConfigError, match="no evaluator"):
        calibrate({}, claims=["U1"])
    with pytest.raises(ConfigError, match="must include 0"):
        calibrate({"U1": lambda r, p: None}, claims=["U1"], strengths={"U1": (0.3, 0.7)})
    with pytest.raises(ConfigError, match="paper_strength"):
        ClaimPlan("U1", "grid", "x", (0.0, 0.5), 0.7, "note")


def test_every_plan_is_consistent() -> None:
    for cid, plan in PLANS.items():
        assert plan.claim_id == cid and plan.strengths[0] == 0.0
