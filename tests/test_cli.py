"""harness.cli: ``sae-claims rehearse`` reaches fixtures.rehearse through the entry-point group
(harness never imports fixtures)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import cli
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_rehearse_is_registered_in_pyproject() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["entry-points"][cli.COMMAND_GROUP]["rehearse"] == "fixtures.rehearse:main"
    assert meta["scripts"]["sae-claims-rehearse"] == "fixtures.rehearse:main"


def test_rehearse_dispatches_raw_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 0

    ep = SimpleNamespace(name="rehearse", load=lambda: fake_main)
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [ep] if group == cli.COMMAND_GROUP else [])
    assert cli.main(["rehearse", "--scale", "tiny", "--device", "cpu", "--out", "x"]) == 0
    assert seen == [["--scale", "tiny", "--device", "cpu", "--out", "x"]]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [])
    with pytest.raises(ConfigError, match="pip install -e"):
        cli.main(["rehearse", "--scale", "tiny"])


def test_no_harness_module_imports_fixtures_at_module_level() -> None:
    """The layering rule behind the entry-point dispatch: no top-level ``import fixtures``."""
    for path in (ROOT / "harness").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "fixtures" or n.startswith("fixtures.") for n in names), path
