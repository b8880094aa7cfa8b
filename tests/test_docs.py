"""The documents that point into the test suite point at tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_REF = re.compile(r"`((?:[a-z_]+/)*test_[a-z0-9_]+\.py)::(test_[A-Za-z0-9_]+)")


@pytest.mark.parametrize("doc", ["docs/paper-procedure-audit.md"])
def test_every_named_test_exists(doc: str) -> None:
    text = (ROOT / doc).read_text()
    refs = sorted(set(TEST_REF.findall(text)))
    assert refs, f"{doc} names no tests (the pattern above no longer matches its references?)"
    missing = []
    for rel, name in refs:
        path = next((p for p in (ROOT / "tests" / rel, ROOT / rel) if p.is_file()), None)
        if path is None or not re.search(rf"^def {name}\(", path.read_text(), re.M):
            missing.append(f"{rel}::{name}")
    assert missing == [], f"{doc} names tests that do not exist: {missing}"
