"""``sae-claims cost``: projection output, JSON, Markdown, and bad input (issue 20)."""

from __future__ import annotations

import json

import pytest

from harness.cli import main


def test_cost_json_has_every_stage_with_its_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--profile", "paper", "--device-spec", "h100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device_source"] == "datasheet" and out["total_seconds"] > 0
    stages = {s["stage"]: s for s in out["stages"]}
    for name in ("grid.scores", "grid.size_matched", "grid.pairing", "semantic.test2", "shared.forward"):
        assert name in stages
    assert stages["grid.pairing"]["gemm_flops"]["tf32"] > 0
    assert sum(stages["grid.size_matched"]["decompositions"].values()) > 0
    assert out["total_seconds"] == pytest.approx(sum(s["seconds"] for s in out["stages"]))
    assert set(out["memory_bytes"]) == {"host", "device", "disk"}


def test_cost_text_names_assumptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--profile", "gemma", "--device-spec", "a100"]) == 0
    out = capsys.readouterr().out
    assert "total:" in out and "assumption:" in out and "NOT MEASURED" in out


def test_cost_rejects_an_unknown_device_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--profile", "paper", "--device-spec", "v100"]) == 2
    assert "neither a built-in" in capsys.readouterr().err


def test_calibrate_on_cuda_without_cuda_fails_before_timing(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["cost", "--calibrate", "--device", "cuda"]) == 2
    assert "no CUDA" in capsys.readouterr().err
