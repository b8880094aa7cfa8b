"""A run is compared with the committed report, never written over it (issue 23): harness.report.regression."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness.report.regression import (
    DIFFERENCES_FILE,
    MAX_LINES,
    compare_reports,
    compare_with_committed,
    local_report_dir,
    report_target,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED = REPO_ROOT / "reports" / "smoke"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return json.loads((COMMITTED / "results.json").read_text())


def test_the_writer_never_targets_the_committed_report_without_force_regen(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for profile in ("smoke", "paper"):
        target = report_target(reports, profile, report_dir=None, force_regen=False)
        assert target == local_report_dir(reports, profile) == reports / f"{profile}-local"
        assert target != reports / profile
        assert report_target(reports, profile, report_dir=None, force_regen=True) == reports / profile
    # --report-dir wins; several profiles get one folder each inside it
    assert report_target(reports, "smoke", report_dir=str(tmp_path / "r"), force_regen=True) == tmp_path / "r"
    assert report_target(reports, "smoke", report_dir=tmp_path / "r", force_regen=False, n_profiles=2) == (
        tmp_path / "r" / "smoke"
    )


def test_the_local_report_folder_is_ignored_by_git() -> None:
    import subprocess

    for path in ("reports/smoke-local/REPORT.md", "reports/smoke-local-partial/REPORT.md"):
        proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT)
        assert proc.returncode == 0, f"{path} is not git-ignored: a run would dirty the tree"
    proc = subprocess.run(["git", "check-ignore", "-q", "reports/smoke/REPORT.md"], cwd=REPO_ROOT)
    assert proc.returncode == 1, "the committed report must stay tracked"


def test_the_committed_report_agrees_with_itself(committed: dict[str, Any]) -> None:
    ours = copy.deepcopy(committed)
    ours["provenance"]["git_commit"] = "0" * 40  # provenance is not a result
    ours["provenance"]["session_wall_s"] = 1.0
    cmp = compare_reports(ours, committed, committed_dir="reports/smoke")
    assert cmp.agrees and cmp.n_claim_rows == len(committed["claims"]) == 35
    assert cmp.n_numbers > 10_000
    (line,) = cmp.summary_lines()
    assert line.startswith(f"agrees with the committed report reports/smoke (35 claim rows, {cmp.n_numbers} numbers")


def _first_float(row: dict[str, Any]) -> tuple[dict[str, Any], str]:
    for v in row["measured"].values():
        if isinstance(v, dict):
            for kk, vv in v.items():
                if isinstance(vv, float) and math.isfinite(vv) and kk not in ("p",) and abs(vv) > 0.01:
                    return v, kk
    raise AssertionError("no float in the row")


def test_verdicts_counts_and_p_values_exactly_floats_within_tolerance(committed: dict[str, Any]) -> None:
    ours = copy.deepcopy(committed)
    row = ours["claims"][0]
    holder, key = _first_float(row)
    holder[key] *= 1 + 1e-7  # float rounding of another machine: agrees
    assert compare_reports(ours, committed, committed_dir="c").agrees
    holder[key] *= 1 + 1e-3  # beyond the stated tolerance: listed
    row["verdict"] = "reproduced" if row["verdict"] != "reproduced" else "not reproduced"
    cells = ours["experiments"]["grid paper"]["cells"]
    cells[18]["size_matched_m21_p"] = 75 / 99  # a moved count of null draws
    cells[18]["n_pairs"] += 1
    cmp = compare_reports(ours, committed, committed_dir="c")
    paths = [m.path for m in cmp.differences]
    assert paths[0] == f"claim {row['id']} {row['procedure']}.verdict"  # verdicts listed first
    assert "grid paper.cells[18].size_matched_m21_p" in paths and "grid paper.cells[18].n_pairs" in paths
    assert any(p.startswith(f"claim {row['id']} {row['procedure']}.measured.") and p.endswith(key) for p in paths)
    assert len(paths) == 4
    lines = cmp.summary_lines()
    assert lines[0].startswith("DIFFERS from the committed report c: 4 difference(s)") and len(lines) == 5


def test_rows_missing_on_either_side_and_a_long_listing_is_cut(committed: dict[str, Any]) -> None:
    ours = copy.deepcopy(committed)
    gone = ours["claims"].pop(3)
    for c in ours["experiments"]["grid corrected"]["cells"]:
        c["n_pairs"] += 1
    cmp = compare_reports(ours, committed, committed_dir="c")
    assert cmp.differences[0].path == f"claim {gone['id']} {gone['procedure']}"
    assert "only in the committed report" in cmp.differences[0].why
    n = len(cmp.differences)
    assert n > MAX_LINES + 1
    lines = cmp.summary_lines(full_list=Path("reports/smoke-local") / DIFFERENCES_FILE)
    assert len(lines) == 1 + MAX_LINES + 1
    assert lines[-1] == f"  ... and {n - MAX_LINES} more (all in reports/smoke-local/{DIFFERENCES_FILE})"


def test_compare_with_committed_writes_the_full_list_next_to_the_run(tmp_path: Path, committed: dict[str, Any]) -> None:
    written, theirs = tmp_path / "smoke-local", tmp_path / "smoke"
    written.mkdir()
    theirs.mkdir()
    (theirs / "results.json").write_text(json.dumps(committed))
    ours = copy.deepcopy(committed)
    ours["claims"][0]["verdict"] = "changed"
    (written / "results.json").write_text(json.dumps(ours))
    cmp = compare_with_committed(written, theirs, label="reports/smoke")
    assert cmp is not None and not cmp.agrees and cmp.committed == "reports/smoke"
    assert "verdict differs" in (written / DIFFERENCES_FILE).read_text()
    assert compare_with_committed(written, tmp_path / "absent") is None
    # after --force-regen the committed folder is the one written: compared with what it held before
    cmp2 = compare_with_committed(theirs, theirs, committed_results=ours)
    assert cmp2 is not None and not cmp2.agrees and not (theirs / DIFFERENCES_FILE).exists()


def test_texts_quoting_floats_differ_only_beyond_the_tolerance(committed: dict[str, Any]) -> None:
    ours, theirs = copy.deepcopy(committed), copy.deepcopy(committed)
    theirs["claims"][0]["detail"] = "control ({'mean_svcca': 0.44336880246906796, 'n_family': 15}): no"
    ours["claims"][0]["detail"] = "control ({'mean_svcca': 0.443368802469068, 'n_family': 15}): no"
    assert compare_reports(ours, theirs, committed_dir="c").agrees  # last digits of a quoted float
    ours["claims"][0]["detail"] = "control ({'mean_svcca': 0.443368802469068, 'n_family': 16}): no"
    assert not compare_reports(ours, theirs, committed_dir="c").agrees  # a quoted count
    ours["claims"][0]["detail"] = "control ({'mean_svcca': 0.45, 'n_family': 15}): no"
    assert not compare_reports(ours, theirs, committed_dir="c").agrees  # a quoted float beyond tolerance
    ours["claims"][0]["detail"] = "control ({'mean_svcca': 0.443368802469068, 'n_family': 15}): yes"
    assert not compare_reports(ours, theirs, committed_dir="c").agrees  # the words
