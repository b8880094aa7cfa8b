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


def test_write_json_replaces_the_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Write-then-rename: a failure while writing leaves the previous file whole, no temp file."""
    path = tmp_path / "results.json"
    write_json(path, {"steps": [1]})
    import harness.experiments.rehearsal as rehearsal

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(rehearsal.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_json(path, {"steps": [1, 2]})
    assert json.loads(path.read_text()) == {"steps": [1]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_cuda_without_cuda_fails_before_staging(tmp_path: Path) -> None:
    """``--device cuda`` where torch sees no CUDA device: a ConfigError naming the fix, in seconds,
    before the hub is staged (3.7 GB at paper size) -- from the command line and the library."""
    import subprocess
    import sys
    import time

    import torch

    from harness.errors import ConfigError
    from harness.experiments.rehearsal import run_rehearsal

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the absent-CUDA path cannot be exercised")
    t0 = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fixtures.rehearse",
            "--scale",
            "paper",
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and time.time() - t0 < 60
    assert "no CUDA device" in done.stderr and "--device cpu" in done.stderr
    assert "AssertionError" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o" / "hub").exists()
    with pytest.raises(ConfigError, match="--device cpu"):
        run_rehearsal(tmp_path / "lib", device="cuda")
    assert not (tmp_path / "lib").exists()
