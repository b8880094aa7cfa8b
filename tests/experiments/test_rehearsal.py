"""harness.experiments.rehearsal: its summary.json and benchmark.json are strict JSON (issue 14,
finding 8). The rehearsal itself runs in claims/test_rehearsal.py, which reads both files with
the same check."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.experiments.rehearsal import write_json


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-strict JSON constant {name}")


def test_rehearsal_json_is_strict(tmp_path: Path) -> None:
    summary = {
        "timings": {"grid": 1.5, "never": math.nan},
        "scores": (np.float32("nan"), np.float64(0.25), np.int64(3), math.inf, -math.inf),
        "nested": [{"svcca": math.nan, "labels": {"b", "a"}}],
        "array": np.array([1.0, np.nan]),
        "flag": np.bool_(True),
        "path": tmp_path,
    }
    path = tmp_path / "summary.json"
    write_json(path, summary)
    back = json.loads(path.read_text(), parse_constant=_no_constant)
    assert back["timings"] == {"grid": 1.5, "never": None}
    assert back["scores"] == [None, 0.25, 3, None, None]
    assert back["nested"] == [{"svcca": None, "labels": ["a", "b"]}]
    assert back["array"] == [1.0, None] and back["flag"] is True and back["path"] == str(tmp_path)


def test_the_check_rejects_a_bare_nan(tmp_path: Path) -> None:
    """The parse hook the rehearsal tests use fails on what ``json.dumps`` writes by default."""
    path = tmp_path / "loose.json"
    path.write_text(json.dumps({"svcca": math.nan}))
    with pytest.raises(ValueError, match="NaN"):
        json.loads(path.read_text(), parse_constant=_no_constant)
