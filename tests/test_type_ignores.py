"""Every ``# type: ignore`` in the checked code names its error code and says why.

mypy checks harness/, claims/ and fixtures/ (pyproject.toml) and reports any ignore that
became unnecessary (``warn_unused_ignores``); tests/ is not type-checked, so it holds none."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("harness", "claims", "fixtures")
WITH_REASON = re.compile(r"# type: ignore\[[a-z-]+(, [a-z-]+)*\]  # \S")
MARK = "# type" + ": ignore"  # spelt in two pieces so this file does not match itself


def _lines(folder: str) -> list[tuple[str, int, str]]:
    return [
        (str(path.relative_to(ROOT)), i, line)
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "world" not in path.relative_to(ROOT).parts[:2]
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if MARK in line
    ]


def test_every_type_ignore_has_a_code_and_a_reason() -> None:
    bare = [f"{p}:{i}" for folder in CHECKED for p, i, line in _lines(folder) if not WITH_REASON.search(line)]
    assert bare == [], "write `# type: ignore[code]  # why` (or fix the type)"


def test_unchecked_tests_hold_no_type_ignores() -> None:
    # mypy does not read tests/: an ignore there would be an unchecked claim
    assert [f"{p}:{i}" for p, i, _ in _lines("tests") if not p.endswith("test_type_ignores.py")] == []
