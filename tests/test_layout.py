"""Tests mirror the package: each module ``harness/<stage>/<name>.py`` has its tests in
``tests/<stage>/test_<name>.py``, or is listed below with the tests that cover it instead."""

from __future__ import annotations

from pathlib import Path

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
    "harness/verdicts/paper_tables.py": "tests/verdicts/test_rules.py (U8 against Tables 5-8)",
    "harness/verdicts/outcome.py": "tests/verdicts/test_recorder.py (conclude, re-exported by the recorder)",
    "harness/calibration/run.py": "tests/calibration/test_calibration_run.py (basename unique: see below)",
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
