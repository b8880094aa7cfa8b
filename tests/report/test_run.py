"""harness.report.run: a partial or failed run never replaces or corrupts the complete report;
bad run options fail before any compute (issue 14, findings 1 and 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.report import run as run_mod
from harness.report.run import (
    RunProgress,
    RunSelection,
    check_device,
    check_layers_option,
    check_writable_dir,
    parse_layers_option,
    replace_dir,
    report_dir_for,
    write_run_report,
)
from harness.verdicts.recorder import RunStore

REPO_ROOT = Path(__file__).resolve().parents[2]


def _store() -> RunStore:
    store = RunStore()
    grid = {
        "kind": "grid",
        "model_a": "A",
        "model_b": "B",
        "layers_a": [0, 1],
        "layers_b": [0, 1],
        "cells": [
            {
                "layer_a": a,
                "layer_b": b,
                "svcca": 0.5,
                "svcca_p": 0.01,
                "rsa": 0.1,
                "rsa_p": 0.5,
                "svcca_m21": 0.4,
                "n_pairs": 10,
            }
            for a in (0, 1)
            for b in (0, 1)
        ],
    }
    store.experiments["smoke:grid paper"] = grid
    store.results.append(
        {"id": "U8", "procedure": "paper", "profile": "smoke", "verdict": "reproduced", "measured": {"n": 1}}
    )
    return store


def _complete_report(out: Path) -> None:
    write_run_report(
        out, profile="smoke", store=_store(), procedures=["paper", "corrected"], wall_s=1.0, selection=RunSelection()
    )


@pytest.mark.parametrize(
    "selection, reason",
    [
        (RunSelection(interrupted=True), "interrupted"),
        (RunSelection(deselected=("claims/test_whole_space.py::test_U1[smoke-paper]",), keyword="U8"), "-k 'U8'"),
        (RunSelection(layers_a=(1,), layers_b=(1,)), "A layers restricted to [1]"),
        (RunSelection(procedures=("paper",)), "procedure(s) corrected not run"),
        (RunSelection(unfinished=("t1",)), "did not reach a verdict"),
        (RunSelection(paths=("claims/test_whole_space.py",)), "collection limited to"),
    ],
)
def test_partial_runs_write_elsewhere_and_leave_the_complete_report(
    tmp_path: Path, selection: RunSelection, reason: str
) -> None:
    out = tmp_path / "smoke"
    _complete_report(out)
    before = {p.name: p.read_bytes() for p in (out / "figures").iterdir()}
    md_before = (out / "REPORT.md").read_text()
    assert before and not md_before.startswith("# PARTIAL")
    store = _store()
    store.experiments["smoke:grid paper"]["cells"] = store.experiments["smoke:grid paper"]["cells"][:1]
    written = write_run_report(
        out, profile="smoke", store=store, procedures=list(selection.procedures), wall_s=1.0, selection=selection
    )
    assert written == tmp_path / "smoke-partial"
    # the complete report and every figure it had are untouched
    assert (out / "REPORT.md").read_text() == md_before
    assert {p.name: p.read_bytes() for p in (out / "figures").iterdir()} == before
    first = (written / "REPORT.md").read_text().splitlines()[0]
    assert first.startswith("# PARTIAL")
    assert reason in (written / "REPORT.md").read_text()
    prov = json.loads((written / "results.json").read_text())["provenance"]
    assert prov["selection"]["partial"] is True and any(reason in r for r in prov["selection"]["partial_reasons"])


def test_provenance_records_the_selection(tmp_path: Path) -> None:
    sel = RunSelection(
        keyword="U8", markexpr="smoke", layers_a=(1,), args=("claims", "-k", "U8"), procedures=("paper",)
    )
    out = write_run_report(
        tmp_path / "r", profile="smoke", store=_store(), procedures=["paper"], wall_s=0.0, selection=sel
    )
    got = json.loads((out / "results.json").read_text())["provenance"]["selection"]
    assert got["keyword"] == "U8" and got["markexpr"] == "smoke" and got["layers_a"] == [1]
    assert got["layers_b"] is None and got["procedures"] == ["paper"] and got["args"] == ["claims", "-k", "U8"]


def test_complete_run_replaces_the_report_whole(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    _complete_report(out)
    assert not (out / "stale.txt").exists() and (out / "REPORT.md").is_file()
    assert report_dir_for(out, RunSelection()) == out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_a_failing_write_leaves_the_old_report(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    _complete_report(out)
    md = (out / "REPORT.md").read_text()

    def boom(tmp: Path) -> None:
        (tmp / "REPORT.md").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_dir(out, boom)
    assert (out / "REPORT.md").read_text() == md
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smoke"]


def test_run_progress_finds_deselected_and_unfinished_tests() -> None:
    prog = RunProgress()
    for t in ("a", "b", "c", "d"):
        prog.add_collected("smoke", t)
    prog.add_deselected("smoke", "x")
    prog.add_finished("smoke", "a")
    prog.add_finished("smoke", "b")
    prog.add_finished("smoke", "c")
    prog.add_errored("smoke", "c")
    sel = prog.selection("smoke", procedures=("paper", "corrected"))
    assert sel.deselected == ("x",) and sel.unfinished == ("c", "d") and sel.partial
    assert not prog.selection("other").partial


def test_unwritable_dirs_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "a-file"
    f.write_text("x")
    with pytest.raises(ConfigError, match=f"--report-dir {f}/sub cannot be created: {f} is not a folder"):
        check_writable_dir(f / "sub", what="--report-dir")
    assert check_writable_dir(tmp_path / "new" / "deeper", what="--cache-dir") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # the check creates nothing

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_mod.tempfile, "mkstemp", denied)
    with pytest.raises(ConfigError, match=f"--cache-dir {tmp_path} is not writable"):
        check_writable_dir(tmp_path, what="--cache-dir")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_dir_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    with pytest.raises(ConfigError, match="not writable"):
        check_writable_dir(ro / "report", what="--report-dir")


def test_layer_options() -> None:
    assert parse_layers_option(None, option="--layers-a") is None
    assert parse_layers_option("1, 3", option="--layers-a") == (1, 3)
    with pytest.raises(ConfigError, match=r"--layers-a 'x': 'x' is not a layer number"):
        parse_layers_option("x", option="--layers-a")
    with pytest.raises(ConfigError, match="negative"):
        parse_layers_option("-1", option="--layers-a")
    with pytest.raises(ConfigError, match=r"--layers-b '3,3': layer\(s\) \[3\] given more than once"):
        parse_layers_option("3,3", option="--layers-b")
    check_layers_option((0, 5), available=range(6), option="--layers-a", profile="smoke")
    with pytest.raises(ConfigError, match=r"layer\(s\) \[7\] not in profile 'smoke'"):
        check_layers_option((7,), available=range(6), option="--layers-a", profile="smoke")


def test_device_option() -> None:
    import torch

    check_device("cpu")
    with pytest.raises(ConfigError, match="not a torch device"):
        check_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device is available"):
            check_device("cuda")


@pytest.mark.slow
def test_claims_session_rejects_bad_options_before_collection_runs_anything(tmp_path: Path) -> None:
    """The pytest glue turns each bad option into a usage error (exit 4) at session start."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"}
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [
        (["--layers-a", "7"], "not in profile 'smoke'"),
        (["--layers-b", "3,3"], "given more than once"),
        (["--report-dir", str(blocker / "r")], "--report-dir"),
        (["--cache-dir", str(blocker / "c")], "--cache-dir"),
        (["--reseeds", "-1"], "--reseeds -1"),
    ]
    import torch

    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "no CUDA device"))
    for extra, message in cases:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "claims",
                "-m",
                "smoke",
                "-q",
                "--collect-only",
                "-p",
                "no:cacheprovider",
                *extra,
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 4, (extra, proc.stdout[-2000:], proc.stderr[-2000:])
        assert message in proc.stderr + proc.stdout, (extra, proc.stderr[-2000:])


@pytest.mark.slow
def test_partial_claims_run_writes_elsewhere_and_shows_progress(tmp_path: Path) -> None:
    """End to end through the pytest glue (issue 14, finding 1): a `-k U8` run restricted to
    one layer pair writes `<report dir>-partial`, marked in its first line, never the complete
    report folder; progress lines show while the tests run (pytest captures tqdm)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"}
    report = tmp_path / "smoke"
    report.mkdir()
    (report / "REPORT.md").write_text("complete report\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "claims",
            "-m",
            "smoke",
            "-q",
            "-k",
            "U8",
            "--layers-a",
            "1",
            "--layers-b",
            "1",
            "--report-dir",
            str(report),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--cell-cache",
            "none",  # computed here (a stored cell prints no progress)
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    # 1: a verdict on the 1 x 1 grid may differ from the full grid's expectation; no errors either way
    assert proc.returncode in (0, 1) and " error" not in proc.stdout.splitlines()[-1], (
        proc.stdout[-3000:] + proc.stderr[-3000:]
    )
    assert (report / "REPORT.md").read_text() == "complete report\n" and sorted(os.listdir(report)) == ["REPORT.md"]
    partial = tmp_path / "smoke-partial"
    lines = (partial / "REPORT.md").read_text().splitlines()
    assert (
        lines[0].startswith("# PARTIAL")
        and "deselected by -k 'U8'" in lines[2]
        and "A layers restricted to [1]" in lines[2]
    )
    sel = json.loads((partial / "results.json").read_text())["provenance"]["selection"]
    assert sel["keyword"] == "U8" and sel["layers_a"] == [1] and sel["partial"]
    assert "[claims" in proc.stdout and "grid paper A1 x B1 (1 of 1 cells)" in proc.stdout
    # a partial run is not compared with the committed report (issue 23), and says so
    assert "partial run: not compared with the committed report reports/smoke" in proc.stdout


def test_claims_outside_the_profiles_tier_are_listed_as_not_run(tmp_path: Path) -> None:
    """Issue 14, finding 8: W2 (large tier only) was missing from the smoke report."""
    out = write_run_report(
        tmp_path / "smoke", profile="smoke", store=_store(), procedures=["paper", "corrected"], wall_s=0.0
    )
    claims = json.loads((out / "results.json").read_text())["claims"]
    w2 = [c for c in claims if c["id"] == "W2"]
    assert [c["procedure"] for c in w2] == ["paper", "corrected"]
    assert all(c["verdict"] == "not run" and "large tier" in c["detail"] for c in w2)
    assert "[W2](#claim-w2)" in (out / "REPORT.md").read_text()
    assert not [c for c in claims if c["id"] == "U1"]  # a smoke claim this run did not record is not invented


def test_an_unwritable_report_dir_names_the_real_cause() -> None:
    """Issue 24: '--report-dir /proc/nope' said '/proc is not writable (No such file or directory: /proc)'."""
    from harness.report.run import mount_fstype

    if mount_fstype(Path("/proc")) != "proc":
        pytest.skip("no proc file system mounted at /proc on this machine")
    with pytest.raises(ConfigError, match=r"/proc is on a proc file system \(virtual: files cannot be created there\)"):
        check_writable_dir(Path("/proc/nope"), what="--report-dir")
