"""The rule registry (harness/verdicts/registry.py) and the import graph of harness/verdicts: rules
are pure functions below the recorder; no import cycle runs through recorder, rules, seed_rules,
stability (issue 21, House)."""

from __future__ import annotations

import pytest

from tests.test_layout import cycles, import_graph
from harness.verdicts.registry import ROLES, RULES, ClaimJudgement, Judgement, decided, register_rule, undecided

FAMILIES = ("harness.verdicts.whole_space", "harness.verdicts.semantic", "harness.verdicts.seed_rules")
ABOVE_THE_RULES = {"harness.verdicts.rules", "harness.verdicts.recorder", "harness.verdicts.stability"}


def test_no_import_cycle_through_the_verdicts() -> None:
    graph = import_graph()
    found = [c for c in cycles(graph) if any(m.startswith("harness.verdicts") for m in c)]
    assert found == []
    # one way: outcome <- registry <- common <- families <- rules <- recorder / stability
    assert graph["harness.verdicts.registry"] <= {"harness.verdicts.outcome", "harness.verdicts.records"}
    assert not graph["harness.verdicts.common"] & (set(FAMILIES) | ABOVE_THE_RULES)
    for family in FAMILIES:
        assert not graph[family] & (set(FAMILIES) - {family} | ABOVE_THE_RULES), family
    assert set(FAMILIES) <= graph["harness.verdicts.rules"]
    assert "harness.verdicts.recorder" not in graph["harness.verdicts.rules"]


def test_every_claim_rule_is_registered_once_with_its_roles() -> None:
    import harness.verdicts.rules  # noqa: F401  # registers every rule family

    assert {"U1", "P1", "P3", "S4", "W1", "X1"} <= set(RULES) and set(RULES) == set(ROLES)
    with pytest.raises(ValueError, match="Duplicate"):
        register_rule("P1")(lambda *a, **k: None)
    j = ClaimJudgement(decided(True, {}), undecided("too few", {}))
    assert j.verdict == "inconclusive" and j.control_outcome == "inconclusive"
    with pytest.raises(ValueError, match="either decided"):
        Judgement(None, {})
