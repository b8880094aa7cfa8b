"""Every ``# type: ignore`` in harness/ names its error code and says why (mypy, which
checks harness/, reports any that became unnecessary: warn_unused_ignores)."""

from __future__ import annotations

import re
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "harness"
WITH_REASON = re.compile(r"# type: ignore\[[a-z-]+(, [a-z-]+)*\]  # \S")


def test_every_type_ignore_has_a_code_and_a_reason() -> None:
    bare = [
        f"{path.relative_to(HARNESS.parent)}:{i}"
        for path in sorted(HARNESS.rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if "# type: ignore" in line and not WITH_REASON.search(line)
    ]
    assert bare == [], "write `# type: ignore[code]  # why` (or fix the type)"
