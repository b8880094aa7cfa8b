"""REPORT.html in a real browser (headless Chromium): every image loads, the verdict tables and
prose fit a 1,280 px laptop window without sideways scrolling, and the first screen shows a verdict
for every claim under every procedure it ran under.

The report is written from the committed ``reports/smoke/results.json`` into a temporary folder
(nothing is recomputed, the committed report is not touched). Skipped, saying why, only where no
Chromium is installed (``.ci/run`` installs the Debian package ``chromium`` where it can)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.report.browser import LAPTOP, find_chromium, measure
from harness.report.markdown import write_report_from_results

ROOT = Path(__file__).resolve().parents[2]
SMOKE_RESULTS = ROOT / "reports" / "smoke" / "results.json"

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="no Chromium on this machine (apt-get install chromium, as .ci/run does, or set $CHROMIUM)",
)


@pytest.fixture(scope="module")
def smoke_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    """(measurements of the smoke report at 1,280 x 800, the results record it was written from)."""
    out = tmp_path_factory.mktemp("report")
    md = write_report_from_results(SMOKE_RESULTS, out)
    return measure(md.with_suffix(".html"), size=LAPTOP), json.loads(SMOKE_RESULTS.read_text())


def test_every_image_loads(smoke_page) -> None:
    m, _ = smoke_page
    assert m["images"] >= 20  # the smoke report's grid, semantic and seed figures, inline as data: URIs
    assert m["broken"] == []


def test_verdict_tables_and_prose_fit_a_laptop_window(smoke_page) -> None:
    m, _ = smoke_page
    width = m["viewport"][0]
    assert width == LAPTOP[0]
    assert m["pageScrollWidth"] <= width  # no horizontal page scroll
    assert m["verdictTables"], "no verdict table found"
    for t in m["verdictTables"]:
        assert t["right"] <= width and t["scrollWidth"] <= t["clientWidth"], t
    assert m["prose"] and max(m["prose"]) <= width


def test_first_screen_shows_a_verdict_for_every_claim(smoke_page) -> None:
    m, results = smoke_page
    height = m["viewport"][1]
    procs = [p.strip("`") for p in m["matrixProcedures"]]
    expected: dict[str, dict[str, str]] = {}
    for r in results["claims"]:
        expected.setdefault(r["id"], {})[r["procedure"]] = r["verdict"]
    assert set(m["firstScreen"]) == set(expected)
    words = {"reproduced", "NOT reproduced", "inconclusive", "not run", "rule holds; control not distinguished"}
    for cid, row in m["firstScreen"].items():
        assert row["bottom"] <= height, f"{cid}'s verdicts are below the first screen ({row['bottom']} > {height} px)"
        for proc, cell in zip(procs, row["cells"], strict=True):
            if proc in expected[cid]:
                verdict = cell.split(" · ", 1)[0]
                assert verdict in words, (cid, proc, cell)
                assert (verdict == "reproduced") == (expected[cid][proc] == "reproduced"), (cid, proc, cell)
                assert " · " in cell  # the verdict's reason follows it
            else:
                assert cell == "—", (cid, proc, cell)
