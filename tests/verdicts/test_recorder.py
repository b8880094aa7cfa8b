"""The verdict rule (harness/verdicts/recorder.py:conclude): a claim is reproduced only when
its rule holds and its negative control came out the other way on data it could score; and
the recorder's report rows and expectation checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.verdicts.recorder import ClaimRecorder, Expectations, RunStore, conclude


@pytest.mark.parametrize(
    "control_holds,control_scored,outcome,verdict",
    [
        (False, True, "other way", "reproduced"),
        (True, True, "same way", "not reproduced"),
        (False, False, "not run", "inconclusive"),
        (None, True, None, "reproduced"),
    ],
)
def test_control_outcome_decides_the_verdict(control_holds, control_scored, outcome, verdict) -> None:
    c = conclude(
        rule_holds=True,
        control_holds=control_holds,
        control_scored=control_scored,
        control={"n_cells_scored": int(control_scored)},
    )
    assert (c.control_outcome, c.verdict) == (outcome, verdict)
    if outcome == "not run":
        assert "nothing to score" in c.detail and "control not run" in c.detail
    if outcome == "same way":
        assert "does not discriminate" in c.detail


@pytest.mark.parametrize("control_holds", [None, False, True])
def test_a_failing_rule_is_never_reproduced(control_holds) -> None:
    assert conclude(rule_holds=False, control_holds=control_holds).verdict == "not reproduced"


def test_a_control_not_run_makes_a_holding_rule_inconclusive_never_reproduced() -> None:
    c = conclude(rule_holds=True, control_holds=None, control_not_run="no control_grid record")
    assert (c.verdict, c.control_outcome) == ("inconclusive", "not run")
    assert c.inconclusive is not None and "control was not run (no control_grid record)" in c.inconclusive
    # the control's own outcome is not read when it was not run (an empty control used to count as "other way")
    c = conclude(rule_holds=True, control_holds=False, control_not_run="the control_table record is empty")
    assert (c.verdict, c.control_outcome) == ("inconclusive", "not run")
    # a rule refuted on the claim's own data stays refuted; an undecided one stays inconclusive
    assert conclude(rule_holds=False, control_holds=None, control_not_run="x").verdict == "not reproduced"
    c = conclude(rule_holds=None, control_holds=None, inconclusive="too few pairs", control_not_run="x")
    assert (c.verdict, c.inconclusive) == ("inconclusive", "too few pairs")


def _recorder(tmp_path: Path, profile: str, expected: dict | None = None) -> tuple[ClaimRecorder, RunStore]:
    if expected is not None:
        (tmp_path / f"{profile}.json").write_text(json.dumps(expected))
    store = RunStore()
    return ClaimRecorder(profile, store=store, expectations=Expectations(tmp_path)), store


def test_outside_smoke_the_claim_itself_must_reproduce(tmp_path: Path) -> None:
    rec, store = _recorder(tmp_path, "paper")
    assert rec.conclude("U1", "corrected", rule_holds=True, measured={}, control={}, control_holds=False) is None
    failure = rec.conclude("U1", "paper", rule_holds=False, measured={}, control={}, control_holds=False)
    assert failure is not None and "not reproduced" in failure
    assert [r["verdict"] for r in store.results] == ["reproduced", "not reproduced"]


def test_smoke_outcome_must_equal_the_reviewed_expectation(tmp_path: Path) -> None:
    want = {"U1": {"paper": {"verdict": "not reproduced", "control": "other way", "reason": "r"}}}
    rec, store = _recorder(tmp_path, "smoke", want)
    assert rec.conclude("U1", "paper", rule_holds=False, measured={}, control={}, control_holds=False) is None
    changed = rec.conclude("U1", "paper", rule_holds=True, measured={}, control={}, control_holds=False)
    assert changed is not None and "changed outcome" in changed
    missing = rec.conclude("U2", "paper", rule_holds=True, measured={}, control={}, control_holds=False)
    assert missing is not None and "No reviewed expectation" in missing
    assert store.results[0]["expected"] == want["U1"]["paper"]
    assert rec.expectations.write_obtained_if_changed("smoke", store.obtained)
    assert (tmp_path / "smoke.json.obtained").exists()


def test_inconclusive_is_its_own_verdict_with_a_reason() -> None:
    c = conclude(rule_holds=None, control_holds=False, inconclusive="only 4 pairs")
    assert c.verdict == "inconclusive" and c.inconclusive == "only 4 pairs" and c.detail.startswith("inconclusive:")
    # a rule that holds while its control cannot decide is not reproduced: it is inconclusive
    c = conclude(rule_holds=True, control_holds=None, control_inconclusive="10 permutations < 20 for alpha 0.05")
    assert (c.verdict, c.control_outcome) == ("inconclusive", "inconclusive")
    # a rule that fails stays not reproduced whatever the control
    c = conclude(rule_holds=False, control_holds=None, control_inconclusive="x")
    assert (c.verdict, c.control_outcome) == ("not reproduced", "inconclusive")


def test_vocabulary_is_closed() -> None:
    from harness.verdicts.recorder import VERDICTS, Conclusion, check_control_outcome, check_verdict

    assert VERDICTS == ("reproduced", "not reproduced", "inconclusive", "not run")
    with pytest.raises(ValueError, match="vocabulary"):
        check_verdict("passed")
    with pytest.raises(ValueError):
        check_control_outcome("sideways")
    with pytest.raises(ValueError):
        Conclusion("inconclusive", None, "", None)  # an inconclusive verdict needs its reason


def test_expectations_refuse_a_verdict_outside_the_vocabulary(tmp_path: Path) -> None:
    (tmp_path / "smoke.json").write_text(json.dumps({"U1": {"paper": {"verdict": "passed", "control": None}}}))
    with pytest.raises(ValueError, match="U1/paper"):
        Expectations(tmp_path).load("smoke")


def test_inconclusive_is_not_a_failure_outside_smoke_and_pinned_in_smoke(tmp_path: Path) -> None:
    rec, store = _recorder(tmp_path, "paper")
    assert (
        rec.conclude(
            "U1",
            "paper",
            rule_holds=None,
            measured={},
            control={},
            control_holds=False,
            inconclusive="too few permutations",
        )
        is None
    )
    assert rec.last is not None and rec.last.verdict == "inconclusive"
    assert store.results[-1]["inconclusive"] == "too few permutations"
    want = {"U1": {"paper": {"verdict": "not reproduced", "control": "other way", "reason": "r"}}}
    rec, _ = _recorder(tmp_path, "smoke", want)
    failure = rec.conclude(
        "U1", "paper", rule_holds=None, measured={}, control={}, control_holds=False, inconclusive="too few pairs"
    )
    assert failure is not None and "changed outcome" in failure


def test_recorder_judge_records_a_claim_whose_input_lacks_a_needed_field_as_not_run(tmp_path: Path) -> None:
    from harness.config import CORRECTED

    rec, store = _recorder(tmp_path, "paper")
    g = {"kind": "grid", "layers_a": [1], "layers_b": [1], "cells": [{"layer_a": 1, "layer_b": 1, "svcca": 0.5}]}
    rec.experiment("paper:grid corrected", g)
    failure = rec.judge("U5", CORRECTED, {"grid": "grid corrected"})
    row = store.results[-1]
    assert (row["id"], row["verdict"]) == ("U5", "not run") and "needs size_matched_m21_p" in row["detail"]
    assert store.obtained["U5"]["corrected"] == {"verdict": "not run", "control": None}
    assert failure is not None and failure.startswith("U5 not run under corrected: needs size_matched_m21_p")
