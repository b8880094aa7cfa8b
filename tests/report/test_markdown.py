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
    assert (tmp_path / "figures" / "grid-paper-svcca.png").stat().st_size > 1000
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema_version"] == 1
    assert math.isnan(data["experiments"]["grid paper"]["cells"][0]["rsa"])  # NaN stays NaN


def _grid(control: bool = False) -> dict:  # type: ignore[type-arg]
    cells = []
    for a in (0, 1, 2):
        for b in (0, 1):
            c = {"layer_a": a, "layer_b": b, "svcca": 0.465 + 0.01 * (a + b), "svcca_null_mean": 0.44,
                 "svcca_p": 0.01, "rsa": 0.1, "rsa_null_mean": 0.0, "rsa_p": 0.01, "svcca_m21": 0.48,
                 "svcca_m21_null_mean": 0.43, "n_pairs": 10}
            if control:  # filtered set empty, as on misaligned tokens; the verdict used the top set
                c.update(svcca=math.nan, svcca_p=math.nan, rsa=math.nan, rsa_p=math.nan, svcca_null_mean=math.nan,
                         svcca_top=0.44, svcca_p_top=0.6, svcca_null_mean_top=0.44, rsa_top=0.0, rsa_p_top=0.5)
            cells.append(c)
    return {"kind": "grid", "model_a": "A", "model_b": "B", "layers_a": [0, 1, 2], "layers_b": [0, 1],
            "control": control, "cells": cells}


def test_report_renders_in_commonmark_with_every_image(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, finding 4: image links had spaces and parentheses, so a CommonMark renderer
    showed 0 of 20 images. Every image must resolve to a file, and REPORT.html must embed them."""
    from markdown_it import MarkdownIt

    semantic = {"kind": "semantic", "layer_a": 1, "layer_b": 2, "cells": [
        {"category": "Time", "n_pairs": 12, "svcca": 0.6, "svcca_null_mean": 0.4, "svcca_p": 0.01, "rsa": 0.2},
        {"category": "Nature", "n_pairs": 0, "svcca": None, "svcca_null_mean": None, "svcca_p": None, "rsa": None}]}
    results = [{"id": "P3", "procedure": "PB method", "verdict": "reproduced",
                "measured": {"widths": [128, 256], "fraction_shared": [0.3, 0.2],
                             "control": {"permuted_self_fraction_shared": [1.0, 1.0]}}},
               {"id": "W1", "procedure": "corrected", "verdict": "reproduced",
                "measured": {"one_to_one_filtered": {"n": 10, "svcca": 0.6, "null_mean": 0.4, "p": 0.01}}}]
    md = write_report(tmp_path, profile="smoke", claim_results=results, provenance={},
                      experiments={"grid paper": _grid(), "grid paper (control: B positions shuffled)": _grid(True),
                                   "semantic A1 x B2 paper": semantic})
    tokens = MarkdownIt("commonmark").enable("table").parse(md.read_text())
    images = [c.attrs["src"] for t in tokens for c in (t.children or []) if c.type == "image"]
    assert len(images) == 6 + 5 + 1 + 2  # grid panels; control without many-to-1; semantic; seeds
    for src in images:
        assert (tmp_path / src).is_file(), src
        assert " " not in src and "(" not in src
    assert len(list((tmp_path / "figures").glob("*.png"))) == len(images)
    page = (tmp_path / "REPORT.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(images) and 'src="figures/' not in page


def test_heatmaps_use_fixed_scales_and_controls_show_what_the_verdict_used(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, finding 4: scales were auto-fitted (0.465-0.50 filled the SVCCA scale; p = 0.01
    everywhere got a 0.009-0.011 scale) and the control maps were blank (filtered set: all NaN)."""
    from harness.report import figures

    seen = {}

    def keep(fig, path):  # type: ignore[no-untyped-def]
        ax = fig.axes[0]
        seen[path.name] = (ax.images[0].norm, ax.images[0].get_array(), ax.get_title(), fig.get_size_inches() * figures.DPI)
        figures._plt().close(fig)

    monkeypatch.setattr(figures, "_save", keep)
    figures.grid_figures(_grid(), "grid paper", tmp_path)
    figures.grid_figures(_grid(True), "grid paper (control: B positions shuffled)", tmp_path)
    norm, _, title, px = seen["grid-paper-svcca.png"]
    assert (norm.vmin, norm.vmax) == (0.0, 1.0) and px[0] >= 700 and px[1] >= 490
    norm, arr, _, _ = seen["grid-paper-svcca-p.png"]
    assert type(norm).__name__ == "LogNorm" and (norm.vmin, norm.vmax) == (figures.P_FLOOR, 1.0)
    norm, _, _, _ = seen["grid-paper-svcca-excess.png"]
    assert (norm.vmin, norm.vmax) == (-0.5, 0.5)
    _, arr, title, _ = seen["grid-paper-control-b-positions-shuffled-svcca-p.png"]
    assert not arr.mask.any() and float(arr.min()) == 0.6 and "what the verdict used" in title
