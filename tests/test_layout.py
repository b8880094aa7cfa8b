"""Tests mirror the package: each module ``harness/<stage>/<name>.py`` has its tests in
``tests/<stage>/test_<name>.py``, or is listed below with the tests that cover it instead."""

from __future__ import annotations

from pathlib import Path

from harness import code_closure


ROOT = Path(__file__).resolve().parents[1]

#: Modules tested through another module's tests (where, and why not on their own).
TESTED_ELSEWHERE: dict[str, str] = {
    "harness/config.py": "tests/test_vocab.py and every stage's tests (procedures are their inputs)",
    "harness/errors.py": "every stage's tests (each checks the error type and message it raises)",
    "harness/provenance.py": "tests/test_threads.py (thread settings recorded in provenance)",
    "harness/experiments/benchmark.py": "claims/test_rehearsal.py (benchmark.json of a tiny rehearsal)",
    "harness/experiments/synthetic.py": "tests/experiments/test_spaces.py, tests/scoring/test_device_nulls.py",
    "harness/profiles/profile.py": "tests/profiles/test_loader.py (profiles are built by the loader)",
    "harness/report/figures.py": "tests/report/test_markdown.py (figures rendered into REPORT.md)",
    "harness/report/html.py": "tests/report/test_markdown.py (the self-contained REPORT.html)",
    "harness/verdicts/paper_tables.py": "tests/verdicts/test_whole_space.py (U8 against Tables 5-8)",
    "harness/verdicts/outcome.py": "tests/verdicts/test_recorder.py (conclude, re-exported by the recorder)",
    "harness/calibration/run.py": "tests/calibration/test_calibration_run.py (basename unique: see below)",
    "harness/calibration/report.py": "tests/calibration/test_calibration_run.py (the written report, the notes, the docs block)",
    "harness/calibration/__main__.py": "tests/calibration/test_calibration_run.py (the command line's refusals, the docs block)",
}


def _mirror(module: Path) -> Path:
    rel = module.relative_to(ROOT / "harness")
    return ROOT / "tests" / rel.parent / f"test_{rel.stem}.py"


def test_every_module_has_its_tests() -> None:
    modules = sorted(p for p in (ROOT / "harness").rglob("*.py") if p.name != "__init__.py")
    missing = [
        str(m.relative_to(ROOT))
        for m in modules
        if not _mirror(m).is_file() and str(m.relative_to(ROOT)) not in TESTED_ELSEWHERE
    ]
    assert missing == [], f"add tests/<stage>/test_<module>.py (or say in TESTED_ELSEWHERE where they are): {missing}"


def test_tested_elsewhere_lists_only_modules_without_a_mirror() -> None:
    stale = [m for m in TESTED_ELSEWHERE if not (ROOT / m).is_file() or _mirror(ROOT / m).is_file()]
    assert stale == []


def test_test_file_basenames_are_unique() -> None:
    # tests/ is not a package: pytest imports its files by basename, so two test_run.py clash
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


# ----------------------------------------------------------------------------- import cycles


def import_graph() -> dict[str, set[str]]:
    """Module -> the harness modules it imports, at module level or inside functions (a function-level
    import is still a dependency: it only hides the cycle from import time)."""
    return {m: set(deps) for m, deps in code_closure.import_graph().items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (import cycles; Tarjan)."""
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


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_harness() -> None:
    """Issue 21: no import cycle among harness modules (a lazy import inside a function counts: it
    is still a dependency, it only hides the cycle from import time)."""
    found = [sorted(c) for c in cycles(import_graph())]
    assert found == [], f"import cycles in harness/ (break them): {found}"
