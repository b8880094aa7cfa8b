"""Claim records and the report writer."""

from __future__ import annotations

import json
import math

import pytest

from harness.verdicts.records import CLAIMS, ClaimRecord, register
from harness.report.markdown import write_report


def test_inventory_complete_and_duplicates_refused() -> None:
    ids = {"U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "S1", "S2", "S3", "S4", "S5", "W1", "W2",
           "P1", "P2", "P3", "X1"}
    assert ids <= set(CLAIMS)
    for rec in CLAIMS.values():
        assert rec.statement and rec.source and rec.rule and rec.reason and rec.negative_control and rec.tiers
    with pytest.raises(ValueError, match="Duplicate"):
        register(ClaimRecord("U1", "x", "x", "x", "x", "x", "x", ("smoke",), "x"))


def test_report_writes_markdown_json_and_heatmaps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    grid = {"kind": "grid", "model_a": "A", "model_b": "B", "layers_a": [0, 1], "layers_b": [0, 1, 2],
            "cells": [{"layer_a": a, "layer_b": b, "svcca": 0.1 * (a + b), "svcca_p": 0.01, "rsa": math.nan,
                       "rsa_p": 0.5, "svcca_m21": 0.0, "n_pairs": 10} for a in (0, 1) for b in (0, 1, 2)]}
    results = [{"id": "U1", "procedure": "paper", "verdict": "reproduced", "measured": {"fraction": 0.9}},
               {"id": "U1", "procedure": "corrected", "verdict": "not reproduced", "measured": {"fraction": 0.4},
                "control_outcome": "same way", "expected": {"verdict": "not reproduced", "reason": "tiny world"}},
               {"id": "S2", "procedure": "paper", "verdict": "not run", "measured": {}, "detail": "no GPU"}]
    md = write_report(tmp_path, profile="smoke", claim_results=results, experiments={"grid paper": grid},
                      provenance={"git_commit": "abc"})
    text = md.read_text()
    assert "| paper       |            1 |                0 |         1 |" in text
    assert "**not reproduced** (negative control: same way): fraction=0.400 — *tiny world*" in text
    assert "NOT reproduced (control: same way)" in text and "| **not run**: no GPU" in text
    assert (tmp_path / "figures" / "grid paper-svcca.png").stat().st_size > 1000
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema_version"] == 1
    assert math.isnan(data["experiments"]["grid paper"]["cells"][0]["rsa"])  # NaN stays NaN


def test_report_shows_rule_calibration_next_to_verdicts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = [{"id": "U1", "procedure": "corrected", "verdict": "reproduced", "measured": {}},
               {"id": "U7", "procedure": "corrected", "verdict": "reproduced", "measured": {}}]
    md = write_report(tmp_path, profile="smoke", claim_results=results, experiments={}, provenance={},
                      calibration={"U7": "FLAGGED: false-positive rate 5/5"})
    glance = md.read_text().split("## Verdicts at a glance")[1].split("## Claims")[0]
    assert "rule calibration" in glance
    assert "FLAGGED: false-positive rate 5/5" in glance and "not calibrated" in glance


def test_calibration_notes_from_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.calibration.run import calibration_notes

    assert calibration_notes(tmp_path / "missing.json") == {}
    (tmp_path / "c.json").write_text(json.dumps({"claims": [
        {"claim_id": "U1", "calibrated": True, "power": 1.0, "false_positive_rate": 0.0, "false_world_rates": {},
         "procedure": "corrected", "n_seeds": 5, "flags": []},
        {"claim_id": "U7", "calibrated": False, "power": 1.0, "false_positive_rate": None,
         "false_world_rates": {"tracking": 1.0}, "procedure": "corrected", "n_seeds": 5, "flags": ["fpr 5/5"]}],
        "not_planted": {"U8": "a count"}}))
    notes = calibration_notes(tmp_path / "c.json")
    assert notes["U1"].startswith("ok: power 1.00, false passes <= 0.00")
    assert notes["U7"] == "FLAGGED: fpr 5/5" and notes["U8"].startswith("not plantable")
