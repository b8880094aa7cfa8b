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
    assert "| paper       |            1 |                0 |              0 |         1 |" in text
    assert "| W2 " in text and "not in this run's tiers" in text  # every claim of the inventory appears
    assert "**not reproduced** (negative control: same way): fraction=0.400 — *tiny world*" in text
    assert "NOT reproduced (control: same way)" in text and "| **not run**: no GPU" in text
    assert (tmp_path / "figures" / "grid paper-svcca.png").stat().st_size > 1000
    data = json.loads((tmp_path / "results.json").read_text(), parse_constant=_refuse)  # strict JSON
    assert data["schema_version"] == 1
    assert data["experiments"]["grid paper"]["cells"][0]["rsa"] is None  # NaN is written as null, never -1


def _refuse(name: str) -> float:
    raise AssertionError(f"results.json holds the non-JSON constant {name}")


def test_pb_claims_name_figure_and_criterion() -> None:
    from harness.verdicts.records import PaperFigure
    from harness.errors import ConfigError
    from harness.seeds.overlap import CRITERIA

    for cid in ("P1", "P2", "P3", "X1"):
        rec = CLAIMS[cid]
        assert rec.criterion in CRITERIA and rec.paper_figures
        assert rec.figures_for(rec.criterion)  # judged with the criterion of a quoted figure
        assert f"`{rec.criterion}`" in rec.paper_values + rec.rule
    assert CLAIMS["P2"].criterion == "decoder_only"  # the architecture figure: decoder cosine only
    assert CLAIMS["P2"].figures_for("decoder_only") == ["architecture figure"]
    assert {CLAIMS[c].criterion for c in ("P1", "P3", "X1")} == {"both"}
    with pytest.raises(ConfigError, match="criterion"):
        PaperFigure("fig", "0.5", "encoder_only")
    with pytest.raises(ValueError, match="no quoted figure"):
        ClaimRecord("Z9", "x", "x", "x", "x", "x", "x", ("smoke",), "x",
                    paper_figures=(PaperFigure("fig", "0.5", "both"),), criterion="decoder_only")


def test_report_shows_headline_and_figure_criterion_fractions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fractions = {"judged_with": "decoder_only", "both": {"relu_l1": 0.5, "topk": 0.25},
                 "decoder_only": {"relu_l1": 0.75, "topk": 0.4}}
    results = [{"id": "P2", "procedure": "PB method", "verdict": "reproduced", "control_outcome": "other way",
                "measured": {"shared_fraction_by_criterion": fractions, "l0_matched": True}},
               {"id": "P3", "procedure": "PB method", "verdict": "reproduced",
                "measured": {"shared_fraction_by_criterion": {"judged_with": "both",
                                                              "both": {"topk": [0.5, 0.25]}}}}]
    text = write_report(tmp_path, profile="smoke", claim_results=results, experiments={},
                        provenance={}).read_text()
    assert ("shared fraction: `both` (headline) relu_l1=0.500, topk=0.250; `decoder_only` (architecture figure; "
            "judged) relu_l1=0.750, topk=0.400. l0_matched=True") in text
    assert "shared fraction: `both` (width figure; headline; judged) topk=[0.500, 0.250]. " in text


def test_report_shows_excess_next_to_raw_and_p_as_k_of_n(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cell = {"layer_a": 1, "layer_b": 1, "svcca": 0.68, "svcca_null_mean": 0.435, "svcca_excess": 0.4336,
            "svcca_z": 9.0, "svcca_p": 0.0, "svcca_p_plus_one": 0.0099, "svcca_p_paper": "0/100", "rsa": 0.1,
            "rsa_excess": 0.1, "rsa_p_plus_one": 0.0099, "rsa_p_paper": "0/100", "n_pairs": 200}
    grid = {"kind": "grid", "model_a": "A", "model_b": "B", "layers_a": [1], "layers_b": [1], "cells": [cell]}
    text = write_report(tmp_path, profile="smoke", claim_results=[], experiments={"grid paper": grid},
                        provenance={}).read_text()
    assert "SVCCA excess" in text and "0.434" in text and "0.010 (0/100)" in text
