"""The GPU kit (issue 20, part 4): benchmarks/gpu/prepare's wheel folder and benchmarks/gpu/run.

No network: the wheel-folder checks read the folder ``benchmarks/gpu/prepare`` built (skipped,
saying so, where it was not built); the stand-in wheel is built and installed from a local file;
``run`` is exercised on the CPU (tiny scale, with a time budget that cuts it: what a cut-off run
returns is what is checked).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from benchmarks.gpu import prepare, run
from benchmarks.gpu.wheel_list import (
    CARRY_LIMIT_BYTES,
    DEVICE_WHEELS,
    ROOT,
    STAND_INS,
    WHEEL_DIR,
    carry_bytes,
    constraint_pins,
    normalise,
    resolved_pins,
    wheel_project,
    wheel_tags_fit,
)

#: File names the device runner returns from $OUT (letters, digits, '.', '_', '-'), at most 8.
RETURNABLE = re.compile(r"^[A-Za-z0-9._-]+$")


def test_wheel_tags_fit_the_device_image_only() -> None:
    assert wheel_tags_fit("pydantic_core-2.50.5-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")
    assert wheel_tags_fit("datasets-5.2.0-py3-none-any.whl")
    assert wheel_tags_fit("multiprocess-0.70.19-py312-none-any.whl")
    assert wheel_tags_fit("x-1.0-cp39-abi3-manylinux_2_28_x86_64.whl")
    assert not wheel_tags_fit("pydantic_core-2.50.5-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert not wheel_tags_fit("x-1.0-cp312-cp312-manylinux_2_17_aarch64.whl")
    assert not wheel_tags_fit("x-1.0-cp312-cp312-win_amd64.whl")
    assert wheel_project("Simple_Parsing-0.1.9-py3-none-any.whl") == "simple-parsing"


def test_pins_are_the_project_resolved_versions() -> None:
    """Each pin equals constraints.txt where it pins the package, else the version this
    project's environment resolved (the suite runs in it); a drifted pin fails here."""
    pins, _ = resolved_pins()
    constraints = ROOT / "constraints.txt"
    pinned = constraint_pins(constraints) if constraints.is_file() else {}
    checked = 0
    for name, pin in pins.items():
        if name in pinned:
            assert pin == pinned[name], name
            checked += 1
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        assert pin == installed, f"{name}: benchmarks/gpu/wheel_list.py pins {pin}, the project resolved {installed}"
        checked += 1
    assert checked >= len(DEVICE_WHEELS) // 2, "too few pins could be compared (environment without the project?)"


def test_constraint_pins_reads_name_version_lines(tmp_path: Path) -> None:
    f = tmp_path / "constraints.txt"
    f.write_text("# pins\nSAE_Lens==6.54.12  # note\ntorch>=2.2\ndill==0.4.1 ; python_version >= '3.10'\n\n")
    assert constraint_pins(f) == {"sae-lens": "6.54.12", "dill": "0.4.1"}


def test_stand_in_wheel_installs_offline_and_fails_clearly_on_use(tmp_path: Path) -> None:
    (stand_in,) = [s for s in STAND_INS if s.name == "wandb"]
    wheel = prepare.build_stand_in(stand_in, tmp_path)
    assert wheel_tags_fit(wheel.name)
    again = tmp_path / "again"
    again.mkdir()
    assert prepare.build_stand_in(stand_in, again).read_bytes() == wheel.read_bytes(), "stand-ins are deterministic"
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )
    code = (
        "import wandb\n"
        "assert wandb.STAND_IN\n"
        "try:\n    wandb.init()\nexcept AttributeError as e:\n    print(e)\n"
        "from importlib.metadata import version\nprint(version('wandb'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "stand-in for wandb" in done.stdout and "benchmarks/gpu/wheel_list.py" in done.stdout
    assert stand_in.version in done.stdout


def test_wheel_folder_matches_the_list_and_fits_one_device_call() -> None:
    """The folder benchmarks/gpu/prepare built: one wheel per listed project, each for
    CPython 3.12 manylinux x86_64, its manifest true, and tree + wheels under 64 MiB."""
    if not (WHEEL_DIR / prepare.MANIFEST_NAME).is_file():
        pytest.skip("benchmarks/gpu/wheels is not built here (run benchmarks/gpu/prepare where PyPI is reachable)")
    manifest = json.loads((WHEEL_DIR / prepare.MANIFEST_NAME).read_text())
    wheels = sorted(p.name for p in WHEEL_DIR.glob("*.whl"))
    assert sorted(r["file"] for r in manifest["wheels"]) == wheels
    assert sorted({wheel_project(w) for w in wheels}) == sorted(set(DEVICE_WHEELS) | {s.name for s in STAND_INS})
    assert all(wheel_tags_fit(w) for w in wheels)
    pins, _ = resolved_pins()
    for row in manifest["wheels"]:
        if row["stand_in"] is None:
            assert row["version"] == pins[normalise(row["project"])], row["file"]
        assert (WHEEL_DIR / row["file"]).stat().st_size == row["bytes"]
    sizes = carry_bytes([WHEEL_DIR])
    assert sizes["total"] < CARRY_LIMIT_BYTES, f"one device call would carry {sizes}"


def test_carry_bytes_counts_tree_and_carried_paths(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("big/\n")
    (tmp_path / "a.txt").write_bytes(b"x" * 100)
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "w.whl").write_bytes(b"y" * 1000)
    sizes = carry_bytes([tmp_path / "big"], tmp_path)
    assert sizes["tree"] == 100 + len("big/\n") and sizes["big"] == 1000
    assert sizes["total"] == sizes["tree"] + 1000


def test_stream_cuts_a_child_at_its_deadline_and_keeps_its_lines(tmp_path: Path) -> None:
    log = run.Log(tmp_path / "run.log", time.time())
    code = "import time\nprint('measured', flush=True)\ntime.sleep(60)\n"
    t0 = time.time()
    outcome = run.stream([sys.executable, "-c", code], log, env=dict(os.environ), stop_at=time.time() + 3)
    assert outcome == "cut" and time.time() - t0 < 3 + run.STOP_GRACE_S + 5
    text = (tmp_path / "run.log").read_text()
    assert "measured" in text and "time budget reached" in text
    assert run.stream(
        [sys.executable, "-c", "raise SystemExit(4)"], log, env=dict(os.environ), stop_at=time.time() + 30
    ) == ("failed (rc 4)")


def _run_kit(out: Path, work: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [str(ROOT / "benchmarks" / "gpu" / "run"), "--out", str(out), "--work", str(work), "--threads", "1", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_fails_in_seconds_when_cuda_is_asked_for_and_absent(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the absent-CUDA path cannot be exercised")
    t0 = time.time()
    done = _run_kit(tmp_path / "out", tmp_path / "work", "--device", "cuda", "--scale", "paper", timeout=120)
    assert done.returncode == 2
    assert time.time() - t0 < 60
    log = (tmp_path / "out" / "run.log").read_text()
    assert "sees no CUDA device" in log and "--device cpu" in log and "benchmarks/gpu/README.md" in log
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "no cuda" and summary["env"]["cuda_available"] is False
    assert not (tmp_path / "work" / "hub").exists(), "nothing may be staged before the device check"


@pytest.mark.rehearsal
@pytest.mark.slow
def test_tiny_cpu_run_streams_every_measured_step_into_out(tmp_path: Path) -> None:
    """What CI runs of the kit: ``benchmarks/gpu/run --device cpu --scale tiny`` with a budget
    that ends inside the first grid cell on this machine class (the whole tiny profile takes
    ~12 min on one core; claims/test_rehearsal.py runs that). The run is cut at its budget and
    still returns everything it measured, in the files the device runner returns."""
    budget = 100.0
    t0 = time.time()
    done = _run_kit(
        tmp_path / "out", tmp_path / "work", "--device", "cpu", "--scale", "tiny", "--budget", str(budget), timeout=600
    )
    wall = time.time() - t0
    out = tmp_path / "out"
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert wall < budget + 30, f"the run overran its budget: {wall:.0f} s"
    names = sorted(p.name for p in out.iterdir())
    assert len(names) <= 8 and all(RETURNABLE.match(n) for n in names), names
    assert {"run.log", "env.json", "results.json", "benchmark.json", "summary.json"} <= set(names)
    summary = json.loads((out / "summary.json").read_text())
    results = json.loads((out / "results.json").read_text())
    bench = json.loads((out / "benchmark.json").read_text())
    measured = [s["name"] for s in results["steps"]]
    assert measured[:1] == ["stage_hub"], measured
    assert [s["name"] for s in summary["steps"]] == measured
    assert [s["name"] for s in bench["stages"]] == measured
    assert all(s["seconds"] > 0 for s in results["steps"])
    assert summary["status"] in ("cut", "complete", "budget: steps skipped for time")
    if summary["status"] == "cut":  # the step the budget stopped is named, and not counted as measured
        assert summary["cut_during"] not in measured and summary["cut_during"] is not None
    log = (out / "run.log").read_text()
    for name in measured:
        assert f"[step] {name}: " in log, name
    assert "calibration:" in log and "install:" in log
