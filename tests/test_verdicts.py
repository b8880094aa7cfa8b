"""The verdict rule of the claims (claims/conftest.py:ClaimRecorder.conclude): a claim is
reproduced only when its rule holds and its negative control came out the other way on data
it could score."""

from __future__ import annotations

import pytest

import claims.conftest as cc


@pytest.fixture()
def recorder(monkeypatch):  # type: ignore[no-untyped-def]
    results: list[dict] = []
    monkeypatch.setattr(cc, "_RESULTS", results)  # keep the session's report untouched
    monkeypatch.setattr(cc, "_OBTAINED", {})
    return cc.ClaimRecorder("paper"), results  # a non-smoke profile: not reproduced -> assertion


@pytest.mark.parametrize("control_holds,control_scored,outcome,verdict", [
    (False, True, "other way", "reproduced"),
    (True, True, "same way", "not reproduced"),
    (False, False, "empty", "not reproduced"),
    (None, True, None, "reproduced"),
])
def test_control_outcome_decides_the_verdict(recorder, control_holds, control_scored, outcome, verdict) -> None:  # type: ignore[no-untyped-def]
    rec, results = recorder
    kwargs = dict(rule_holds=True, measured={"x": 1.0}, control={"n_cells_scored": int(control_scored)},
                  control_holds=control_holds, control_scored=control_scored)
    if verdict == "reproduced":
        rec.conclude("U1", "corrected", **kwargs)
    else:
        with pytest.raises(AssertionError, match="not reproduced"):
            rec.conclude("U1", "corrected", **kwargs)
    assert (results[-1]["control_outcome"], results[-1]["verdict"]) == (outcome, verdict)
    if outcome == "empty":
        assert "nothing to score" in results[-1]["detail"]


def test_a_failing_rule_is_never_reproduced(recorder) -> None:  # type: ignore[no-untyped-def]
    rec, results = recorder
    with pytest.raises(AssertionError):
        rec.conclude("U1", "paper", rule_holds=False, measured={}, control={}, control_holds=False)
    assert results[-1]["verdict"] == "not reproduced"
