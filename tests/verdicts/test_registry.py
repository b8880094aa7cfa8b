"""The rule registry (harness/verdicts/registry.py) and the import graph of harness/verdicts: rules
are pure functions below the recorder; no import cycle runs through recorder, rules, seed_rules,
stability (issue 21, House)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.verdicts.registry import ROLES, RULES, ClaimJudgement, Judgement, decided, register_rule, undecided

HARNESS = Path(__file__).resolve().parents[2] / "harness"


def import_graph(root: Path = HARNESS) -> dict[str, set[str]]:
    """Module -> the harness modules it imports, at module level or inside functions."""
    mods = {}
    for f in root.rglob("*.py"):
        name = ".".join(f.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        mods[name] = f
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    graph[m].add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                graph[m] |= {a.name for a in node.names if a.name in mods}
    return {m: {t for t in ts if t in mods and t != m} for m, ts in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (import cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_through_the_verdicts() -> None:
    found = [c for c in cycles(import_graph()) if any(m.startswith("harness.verdicts") for m in c)]
    assert found == []
    graph = import_graph()
    # the rules sit below the recorder and the seed sweep; the registry imports no rule family
    assert "harness.verdicts.recorder" not in graph["harness.verdicts.rules"]
    assert "harness.verdicts.rules" not in graph["harness.verdicts.seed_rules"]
    assert graph["harness.verdicts.registry"] <= {"harness.verdicts.outcome", "harness.verdicts.records"}


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_every_claim_rule_is_registered_once_with_its_roles() -> None:
    import harness.verdicts.rules  # noqa: F401  # registers every rule family

    assert {"U1", "P1", "P3", "S4", "W1", "X1"} <= set(RULES) and set(RULES) == set(ROLES)
    with pytest.raises(ValueError, match="Duplicate"):
        register_rule("P1")(lambda *a, **k: None)
    j = ClaimJudgement(decided(True, {}), undecided("too few", {}))
    assert j.verdict == "inconclusive" and j.control_outcome == "inconclusive"
    with pytest.raises(ValueError, match="either decided"):
        Judgement(None, {})
