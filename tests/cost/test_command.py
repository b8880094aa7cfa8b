"""``sae-claims cost``: projection output, JSON, Markdown, and bad input (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

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


def _results(tmp_path: Path, n: int) -> Path:
    cell = {
        "layer_a": 3,
        "layer_b": 5,
        "n_pairs": n,
        "n_pairs_m21": 3 * n,
        "n_pairs_unfiltered": 2 * n,
        "n_pairs_rp": n,
        "n_tokens": 29900,
    }
    table = {"category": "Time", "n_concept_a": 228, "n_concept_b": 228, "n_pairs": 200, "test2_n": 100}
    experiments = {
        "grid corrected": {"kind": "grid", "procedure": "corrected", "control": False, "cells": [cell]},
        "semantic A3 x B5 corrected": {
            "kind": "semantic",
            "procedure": "corrected",
            "control": False,
            "layer_a": 3,
            "layer_b": 5,
            "cells": [table],
        },
    }
    path = tmp_path / f"results{n}.json"
    path.write_text(json.dumps({"experiments": experiments}))
    return path


def test_cost_from_a_runs_results_uses_its_pair_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seconds = []
    for n in (1000, 4000):
        assert (
            main(
                [
                    "cost",
                    "--profile",
                    "paper",
                    "--device-spec",
                    "h100",
                    "--results",
                    str(_results(tmp_path, n)),
                    "--json",
                ]
            )
            == 0
        )
        out = json.loads(capsys.readouterr().out)
        assert "run's records" in out["workload_source"]
        stages = {s["stage"]: s for s in out["stages"]}
        assert "grid_control.scores" not in stages or stages["grid_control.scores"]["seconds"] == 0
        seconds.append(stages["grid.size_matched"]["seconds"])
    assert seconds[1] > seconds[0] > 0  # more pairs, more work


def test_cost_rejects_results_without_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text('{"experiments": {}}')
    assert main(["cost", "--profile", "paper", "--results", str(empty)]) == 2
    assert "no grid or semantic records" in capsys.readouterr().err


def test_fewer_svcca_directions_project_less_work(capsys: pytest.CaptureFixture[str]) -> None:
    totals = []
    for v in ("1", "0.25"):
        assert main(["cost", "--profile", "paper", "--procedures", "corrected", "--variance-dims", v, "--json"]) == 0
        totals.append(json.loads(capsys.readouterr().out)["total_seconds"])
    assert totals[1] < totals[0]
    assert main(["cost", "--profile", "paper", "--variance-dims", "1.5"]) == 2
    assert "fraction in (0, 1]" in capsys.readouterr().err


def test_cost_text_says_what_the_reseed_check_adds(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cost.device_specs import builtin_table
    from harness.cost.project import project
    from harness.cost.render import _minutes
    from harness.cost.workload import workload_from_profile
    from harness.profiles import get_profile

    p = project(workload_from_profile(get_profile("paper")), builtin_table("h100"))
    assert main(["cost", "--profile", "paper", "--device-spec", "h100", "--reseeds", "3"]) == 0
    out = capsys.readouterr().out
    assert f"reseed check (--reseeds 3): + {_minutes(3 * p.reseed_seconds)}" in out
    assert main(["cost", "--profile", "paper", "--device-spec", "h100", "--reseeds", "0"]) == 0
    assert "reseed check off" in capsys.readouterr().out
    assert main(["cost", "--profile", "paper", "--reseeds", "-1"]) != 0
    assert "--reseeds -1" in capsys.readouterr().err
