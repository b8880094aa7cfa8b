"""The code key of cached cells: the static import closure (lazy imports included), package data,
numeric libraries' versions; an edit outside the closure keeps the key, one inside changes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import code_closure
from harness.calibration.cells import RECORDS_MODULE
from harness.executor.cell import CODE_ENTRIES


def _fresh(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setattr(code_closure, "HARNESS", root)
    code_closure.import_graph.cache_clear()
    code_closure.code_version.cache_clear()


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A toy ``harness`` package: run -> (lazy) work -> data.toml next to it; report unrelated."""
    root = tmp_path / "harness"
    (root / "stage").mkdir(parents=True)
    (root / "report").mkdir()
    (root / "__init__.py").write_text("")
    (root / "stage" / "__init__.py").write_text("")
    (root / "report" / "__init__.py").write_text("")
    (root / "stage" / "run.py").write_text("def f():\n    from harness.stage import work\n    return work.g()\n")
    (root / "stage" / "work.py").write_text("def g():\n    return 1\n")
    (root / "stage" / "rules.toml").write_text("threshold = 0.8\n")
    (root / "report" / "page.py").write_text("import harness.stage.run\n")
    (tmp_path / "evaluator.py").write_text("from harness.stage.run import f\n")
    _fresh(monkeypatch, root)
    yield root
    _fresh(monkeypatch, code_closure.HARNESS)


def test_the_closure_follows_lazy_imports_and_packages(toy: Path) -> None:
    assert code_closure.closure(["harness.stage.run"]) == {
        "harness",
        "harness.stage",
        "harness.stage.run",
        "harness.stage.work",
    }
    files = {p.name for p in code_closure.closure_files(["harness.stage.run"])}
    assert "rules.toml" in files and "page.py" not in files


def test_an_edit_outside_the_closure_keeps_the_key_one_inside_changes_it(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev = str(toy.parent / "evaluator.py")
    before = code_closure.code_version(("harness.stage.run",), (ev,))
    (toy / "report" / "page.py").write_text("import harness.stage.run\nX = 2\n")
    _fresh(monkeypatch, toy)
    assert code_closure.code_version(("harness.stage.run",), (ev,)) == before
    for edit in (toy / "stage" / "work.py", toy / "stage" / "rules.toml", toy.parent / "evaluator.py"):
        original = edit.read_text()
        edit.write_text(original + "\n# changed\n")
        _fresh(monkeypatch, toy)
        assert code_closure.code_version(("harness.stage.run",), (ev,)) != before, edit.name
        edit.write_text(original)
        _fresh(monkeypatch, toy)
        assert code_closure.code_version(("harness.stage.run",), (ev,)) == before


def test_the_evaluators_imports_join_the_closure(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ev = toy.parent / "evaluator.py"
    before = code_closure.code_version(("harness.report.page",), ())
    with_ev = code_closure.code_version(("harness.report.page",), (str(ev),))
    assert with_ev != before
    (toy / "stage" / "work.py").write_text("def g():\n    return 2\n")  # reached only through the evaluator
    _fresh(monkeypatch, toy)
    assert code_closure.code_version(("harness.report.page",), (str(ev),)) != with_ev


def test_relative_and_dunder_imports_are_reported_as_unseen(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (toy / "stage" / "rel.py").write_text("from . import work\n")
    (toy / "stage" / "dunder.py").write_text("def f(n):\n    return __import__(n)\n")
    _fresh(monkeypatch, toy)
    assert code_closure.dynamic_importers() == ["harness.stage.dunder", "harness.stage.rel"]


def test_unknown_entries_are_refused(toy: Path) -> None:
    with pytest.raises(KeyError, match="not modules of the harness package"):
        code_closure.closure(["harness.nowhere"])


def test_no_key_reaches_a_module_that_imports_by_computed_name() -> None:
    """``importlib.import_module(name)`` is invisible to the closure: no keyed computation may reach it."""
    dynamic = set(code_closure.dynamic_importers())
    assert dynamic, "the check found no dynamic importer at all: it may be looking in the wrong place"
    assert dynamic & code_closure.closure([RECORDS_MODULE]) == set()
    assert dynamic & code_closure.closure(list(CODE_ENTRIES)) == set()


def test_the_real_keys_leave_out_the_report_pages_and_the_command_line() -> None:
    for entries in ([RECORDS_MODULE], list(CODE_ENTRIES)):
        mods = code_closure.closure(entries)
        assert "harness.scoring.device_nulls" in mods and "harness.verdicts.rules" in mods
        assert "harness.cli" not in mods


def test_the_key_includes_the_numeric_libraries_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    before = code_closure.code_version((RECORDS_MODULE,))
    code_closure.code_version.cache_clear()
    code_closure.library_versions.cache_clear()
    monkeypatch.setattr(code_closure, "KEYED_LIBRARIES", ("numpy", "scipy"))
    try:
        assert code_closure.code_version((RECORDS_MODULE,)) != before
    finally:
        code_closure.code_version.cache_clear()
        code_closure.library_versions.cache_clear()


def test_an_unchanged_tree_gives_the_same_key_twice() -> None:
    a = code_closure.code_version((RECORDS_MODULE,))
    code_closure.code_version.cache_clear()
    code_closure.import_graph.cache_clear()
    assert code_closure.code_version((RECORDS_MODULE,)) == a
