"""Judging claims by their registered rules (harness/verdicts/rules.py): the registry of every
family, rules as pure functions, ``judge`` / ``judge_available`` and the ``judge`` command on a
saved run. The rules of each family are tested in test_whole_space.py, test_semantic.py and
test_seed_rules.py."""

from __future__ import annotations


import pytest

from harness.config import CORRECTED
from harness.verdicts.records import CLAIMS
from harness.verdicts.rules import ROLES, RULES, judge, register_rule
from tests.verdicts.rule_records import (
    control_grid,
    grid,
    judged,
    lan,
    NOISE_TOP,
    verdict,
)


def test_every_lan_claim_has_a_rule_and_duplicates_are_refused() -> None:
    assert {"U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "S1", "S2", "S3", "S4", "S5", "W1", "W2", "X1"} <= set(
        RULES
    )
    assert set(RULES) <= set(CLAIMS)
    with pytest.raises(ValueError, match="Duplicate"):
        register_rule("U1")(lambda *a, **k: None)
    with pytest.raises(ValueError, match="unknown claim"):
        register_rule("Z9")(lambda *a, **k: None)
    with pytest.raises(KeyError, match="missing"):
        judge("U1", {"grid": {}}, CORRECTED, profile="smoke")


def test_rules_are_pure_functions_of_their_records() -> None:
    g = grid(lambda a, b: {})
    c = control_grid(NOISE_TOP)
    before = repr(g), repr(c)
    assert verdict("U1", {"grid": g, "control_grid": c}) == verdict("U1", {"grid": g, "control_grid": c})
    assert (repr(g), repr(c)) == before


def test_roles_name_the_records_each_rule_reads() -> None:
    assert ROLES["U1"] == ("grid", "control_grid") and ROLES["X1"] == ("lan", "control_lan", "overlap")


def test_judge_command_rejudges_a_saved_run_without_recomputation(tmp_path, capsys) -> None:
    import json

    from harness.cli import judge_results, main

    g, c = grid(lambda a, b: {}), control_grid(NOISE_TOP)
    rows = [
        {
            "id": "U1",
            "procedure": "corrected",
            "profile": "smoke",
            "verdict": "reproduced",
            "control_outcome": "other way",
            "inputs": {"grid": "grid corrected", "control_grid": "grid ctrl"},
        },
        {
            "id": "U3",
            "procedure": "corrected",
            "profile": "smoke",
            "verdict": "reproduced",
            "control_outcome": "other way",
            "inputs": {"grid": "grid corrected"},
        },
        {"id": "P1", "procedure": "PB method", "profile": "smoke", "verdict": "reproduced"},
    ]
    path = tmp_path / "results.json"
    path.write_text(
        json.dumps(
            {"profile": "smoke", "provenance": {}, "claims": rows, "experiments": {"grid corrected": g, "grid ctrl": c}}
        )
    )
    out = {(r["id"], r["procedure"]): r for r in judge_results(path)}
    assert out[("U1", "corrected")]["rejudged"] == "reproduced"
    assert out[("U3", "corrected")]["rejudged"] == "not reproduced"  # every layer-0 cell is significant here
    assert out[("P1", "PB method")]["rejudged"] is None
    assert main(["judge", str(path)]) == 2  # these hand-made records lack most of the schema's fields
    assert "missing field 'svcca_k'" in capsys.readouterr().err
    assert main(["judge", str(path), "--no-validate"]) == 0
    assert main(["judge", str(path), "--no-validate", "--check"]) == 1  # U3's stored outcome differs
    assert "U3/corrected" in capsys.readouterr().out


def test_judge_available_names_an_absent_record_the_claim_itself_needs() -> None:
    j = judged("U1", {"control_grid": control_grid(NOISE_TOP)})
    assert j.verdict == "not run" and "needs the 'grid' record" in j.conclusion().detail
    j = judged("X1", {"lan": lan(0.9, 0.44, 0.01)})
    assert j.verdict == "not run" and "needs the 'overlap' record" in j.conclusion().detail


@pytest.mark.parametrize("claim_id", sorted(CLAIMS))
@pytest.mark.parametrize("hollow", [{}, {"cells": []}, {"tables": []}, {"pairs": []}], ids=repr)
def test_every_claim_given_records_that_hold_nothing_is_not_run_naming_them(claim_id: str, hollow: dict) -> None:
    """Inputs missing, for all 19 claims: a claim record without its structure (no 'cells', 'tables',
    'levels', pair sets) or with nothing in it is "not run", naming what is missing -- never a
    traceback, never "not reproduced" (an empty grid used to read as "the rule does not hold")."""
    from harness.verdicts.registry import CONTROL_PREFIX
    from harness.verdicts.rules import judge_available

    own = [r for r in ROLES[claim_id] if not r.startswith(CONTROL_PREFIX)]
    j = judge_available(claim_id, {r: dict(hollow) for r in own}, CORRECTED, profile="smoke")
    assert j.verdict == "not run", (claim_id, hollow, j.conclusion())
    assert "needs" in j.conclusion().detail
    if hollow:
        assert "is empty" in j.conclusion().detail
    with_control = {r: dict(hollow) for r in ROLES[claim_id]}
    assert judge_available(claim_id, with_control, CORRECTED, profile="smoke").verdict == "not run"
