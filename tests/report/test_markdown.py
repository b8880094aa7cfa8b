"""Claim records and the report writer."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from harness.verdicts.records import CLAIMS, ClaimRecord, register
from harness.report.markdown import write_report


def test_inventory_complete_and_duplicates_refused() -> None:
    ids = {
        "U1",
        "U2",
        "U3",
        "U4",
        "U5",
        "U6",
        "U7",
        "U8",
        "S1",
        "S2",
        "S3",
        "S4",
        "S5",
        "W1",
        "W2",
        "P1",
        "P2",
        "P3",
        "X1",
    }
    assert ids <= set(CLAIMS)
    for rec in CLAIMS.values():
        assert rec.statement and rec.source and rec.rule and rec.reason and rec.negative_control and rec.tiers
    with pytest.raises(ValueError, match="Duplicate"):
        register(ClaimRecord("U1", "x", "x", "x", "x", "x", "x", ("smoke",), "x"))


def test_report_writes_markdown_json_and_heatmaps(tmp_path) -> None:
    grid = {
        "kind": "grid",
        "model_a": "A",
        "model_b": "B",
        "layers_a": [0, 1],
        "layers_b": [0, 1, 2],
        "cells": [
            {
                "layer_a": a,
                "layer_b": b,
                "svcca": 0.1 * (a + b),
                "svcca_p": 0.01,
                "rsa": math.nan,
                "rsa_p": 0.5,
                "svcca_m21": 0.0,
                "n_pairs": 10,
            }
            for a in (0, 1)
            for b in (0, 1, 2)
        ],
    }
    results = [
        {"id": "U1", "procedure": "paper", "verdict": "reproduced", "measured": {"fraction": 0.9}},
        {
            "id": "U1",
            "procedure": "corrected",
            "verdict": "not reproduced",
            "measured": {"fraction": 0.4},
            "control_outcome": "same way",
            "expected": {"verdict": "not reproduced", "reason": "tiny world"},
        },
        {"id": "S2", "procedure": "paper", "verdict": "not run", "measured": {}, "detail": "no GPU"},
    ]
    md = write_report(
        tmp_path,
        profile="smoke",
        claim_results=results,
        experiments={"grid paper": grid},
        provenance={"git_commit": "abc"},
    )
    text = md.read_text()
    first_screen = "\n".join(text.splitlines()[:60])
    assert "Counts: `paper` 1 reproduced, 1 not run; `corrected` 1 not reproduced." in first_screen
    # the verdict matrix: each claim's verdict per procedure with its core reason, linked to its section
    assert (
        "| [U1](#claim-u1) | **reproduced** · fraction 0.900 | **NOT reproduced** · fraction 0.400; ctrl same way |"
        in first_screen
    )
    assert "| [S2](#claim-s2) | **not run** · no GPU | — |" in first_screen
    assert "Not in this run's tiers: " in first_screen and "[W2](#claim-w2) (large)" in first_screen
    assert '### <a id="claim-u1"></a>U1: ' in text and '### <a id="claim-w2"></a>W2: ' in text  # every claim
    assert (
        "| corrected | **NOT reproduced** | fraction 0.400; control same way (not distinguished) | tiny world |" in text
    )
    assert "**Not run**: not in this run's tiers (tiers of W2: large)." in text
    assert (tmp_path / "figures" / "grid-paper-svcca.png").stat().st_size > 1000
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
        ClaimRecord(
            "Z9",
            "x",
            "x",
            "x",
            "x",
            "x",
            "x",
            ("smoke",),
            "x",
            paper_figures=(PaperFigure("fig", "0.5", "both"),),
            criterion="decoder_only",
        )


def test_report_shows_headline_and_figure_criterion_fractions(tmp_path) -> None:
    fractions = {
        "judged_with": "decoder_only",
        "both": {"relu_l1": 0.5, "topk": 0.25},
        "decoder_only": {"relu_l1": 0.75, "topk": 0.4},
    }
    results = [
        {
            "id": "P2",
            "procedure": "PB method",
            "verdict": "reproduced",
            "control_outcome": "other way",
            "measured": {"shared_fraction_by_criterion": fractions, "l0_matched": True},
        },
        {
            "id": "P3",
            "procedure": "PB method",
            "verdict": "reproduced",
            "measured": {"shared_fraction_by_criterion": {"judged_with": "both", "both": {"topk": [0.5, 0.25]}}},
        },
    ]
    text = write_report(tmp_path, profile="smoke", claim_results=results, experiments={}, provenance={}).read_text()
    assert (
        "*PB method*: shared fraction: `both` (headline) relu_l1=0.500, topk=0.250; `decoder_only` (architecture "
        "figure; judged) relu_l1=0.750, topk=0.400."
    ) in text
    assert "| l0 matched | yes |" in text  # the other measurements: a table, not key=value
    assert "shared fraction: `both` (width figure; headline; judged) topk=[0.500, 0.250]." in text


def test_report_shows_excess_next_to_raw_and_p_as_k_of_n(tmp_path) -> None:
    cell = {
        "layer_a": 1,
        "layer_b": 1,
        "svcca": 0.68,
        "svcca_null_mean": 0.435,
        "svcca_excess": 0.4336,
        "svcca_z": 9.0,
        "svcca_p": 0.0,
        "svcca_p_plus_one": 0.0099,
        "svcca_p_paper": "0/100",
        "rsa": 0.1,
        "rsa_excess": 0.1,
        "rsa_p_plus_one": 0.0099,
        "rsa_p_paper": "0/100",
        "n_pairs": 200,
    }
    grid = {"kind": "grid", "model_a": "A", "model_b": "B", "layers_a": [1], "layers_b": [1], "cells": [cell]}
    text = write_report(
        tmp_path, profile="smoke", claim_results=[], experiments={"grid paper": grid}, provenance={}
    ).read_text()
    assert "SVCCA excess" in text and "0.434" in text and "0.010 (0/100)" in text


def _grid(control: bool = False) -> dict:
    cells = []
    for a in (0, 1, 2):
        for b in (0, 1):
            c = {
                "layer_a": a,
                "layer_b": b,
                "svcca": 0.465 + 0.01 * (a + b),
                "svcca_null_mean": 0.44,
                "svcca_p": 0.01,
                "rsa": 0.1,
                "rsa_null_mean": 0.0,
                "rsa_p": 0.01,
                "svcca_m21": 0.48,
                "svcca_m21_null_mean": 0.43,
                "n_pairs": 10,
            }
            if control:  # filtered set empty, as on misaligned tokens; the verdict used the top set
                c.update(
                    svcca=math.nan,
                    svcca_p=math.nan,
                    rsa=math.nan,
                    rsa_p=math.nan,
                    svcca_null_mean=math.nan,
                    svcca_top=0.44,
                    svcca_p_top=0.6,
                    svcca_null_mean_top=0.44,
                    rsa_top=0.0,
                    rsa_p_top=0.5,
                )
            cells.append(c)
    return {
        "kind": "grid",
        "model_a": "A",
        "model_b": "B",
        "layers_a": [0, 1, 2],
        "layers_b": [0, 1],
        "control": control,
        "cells": cells,
    }


def test_report_renders_in_commonmark_with_every_image(tmp_path) -> None:
    """Issue 14, finding 4: image links had spaces and parentheses, so a CommonMark renderer
    showed 0 of 20 images. Every image must resolve to a file, and REPORT.html must embed them."""
    from markdown_it import MarkdownIt

    semantic = {
        "kind": "semantic",
        "layer_a": 1,
        "layer_b": 2,
        "cells": [
            {"category": "Time", "n_pairs": 12, "svcca": 0.6, "svcca_null_mean": 0.4, "svcca_p": 0.01, "rsa": 0.2},
            {"category": "Nature", "n_pairs": 0, "svcca": None, "svcca_null_mean": None, "svcca_p": None, "rsa": None},
        ],
    }
    results = [
        {
            "id": "P3",
            "procedure": "PB method",
            "verdict": "reproduced",
            "measured": {
                "criterion": "both",
                "levels": [128, 256],
                "by_level": [
                    {"mean": 0.3, "ci": [0.25, 0.35], "fractions": [0.28, 0.3, 0.32]},
                    {"mean": 0.2, "ci": [0.15, 0.25], "fractions": [0.18, 0.2, 0.22]},
                ],
                "control": {
                    "shuffled_width_labels": {
                        "by_level": [
                            {"mean": 0.25, "ci": [0.2, 0.3], "fractions": [0.24, 0.25, 0.26]},
                            {"mean": 0.24, "ci": [0.19, 0.29], "fractions": [0.23, 0.24, 0.25]},
                        ]
                    }
                },
            },
        },
        {
            "id": "W1",
            "procedure": "corrected",
            "verdict": "reproduced",
            "measured": {"one_to_one_filtered": {"n": 10, "svcca": 0.6, "null_mean": 0.4, "p": 0.01}},
        },
    ]
    md = write_report(
        tmp_path,
        profile="smoke",
        claim_results=results,
        provenance={},
        experiments={
            "grid paper": _grid(),
            "grid paper (control: B positions shuffled)": _grid(True),
            "semantic A1 x B2 paper": semantic,
        },
    )
    tokens = MarkdownIt("commonmark").enable("table").parse(md.read_text())
    images = [c.attrs["src"] for t in tokens for c in (t.children or []) if c.type == "image"]
    assert len(set(images)) == 6 + 5 + 1 + 2  # grid panels; control without many-to-1; semantic; seeds
    for src in images:
        assert (tmp_path / src).is_file(), src
        assert " " not in src and "(" not in src
    # claim sections show the figure of their statistic again (U1: the SVCCA p map; P3, W1: seed figures)
    assert len(list((tmp_path / "figures").glob("*.png"))) == len(set(images))
    page = (tmp_path / "REPORT.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(images) and 'src="figures/' not in page


def test_heatmaps_use_fixed_scales_and_controls_show_what_the_verdict_used(tmp_path, monkeypatch) -> None:
    """Issue 14, finding 4: scales were auto-fitted (0.465-0.50 filled the SVCCA scale; p = 0.01
    everywhere got a 0.009-0.011 scale) and the control maps were blank (filtered set: all NaN)."""
    from harness.report import figures

    seen = {}

    def keep(fig, path):
        ax = fig.axes[0]
        seen[path.name] = (
            ax.images[0].norm,
            ax.images[0].get_array(),
            ax.get_title(),
            fig.get_size_inches() * figures.DPI,
        )
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


def test_report_shows_rule_calibration_next_to_verdicts(tmp_path) -> None:
    """Issue 22: each verdict row shows the calibration of its own procedure (a claim-wide note
    under ``"*"``; none: "not calibrated under <procedure>")."""
    results = [
        {"id": "U1", "procedure": "corrected", "verdict": "reproduced", "measured": {}},
        {"id": "U7", "procedure": "corrected", "verdict": "reproduced", "measured": {}},
        {"id": "U7", "procedure": "paper", "verdict": "not reproduced", "measured": {}},
        {"id": "U8", "procedure": "paper", "verdict": "reproduced", "measured": {}},
    ]
    md = write_report(
        tmp_path,
        profile="smoke",
        claim_results=results,
        experiments={},
        provenance={},
        calibration={
            ("U7", "corrected"): "FLAGGED: false-positive rate 5/5",
            ("U7", "paper"): "ok: power 50/50 under paper",
            ("U8", "*"): "not plantable",
        },
    )
    text = md.read_text()
    u1 = text.split('<a id="claim-u1">')[1].split("### ")[0]
    u7 = text.split('<a id="claim-u7">')[1].split("### ")[0]
    u8 = text.split('<a id="claim-u8">')[1].split("### ")[0]
    assert "| rule calibration |" in u7
    corrected = next(line for line in u7.splitlines() if line.startswith("| corrected |"))
    paper = next(line for line in u7.splitlines() if line.startswith("| paper |"))
    assert corrected.endswith("| FLAGGED: false-positive rate 5/5 |") and "under paper" not in corrected
    assert paper.endswith("| ok: power 50/50 under paper |") and "FLAGGED" not in paper
    assert "| not calibrated under corrected |" in u1 and "| not plantable |" in u8


def test_a_rule_that_holds_with_its_control_not_distinguished_is_worded_so(tmp_path) -> None:
    """Issue 21, item 5: "NOT reproduced (control: same way)" hid that the rule held in 15/15 cells."""
    detail = "rule holds in 15/15 cells; real pairing beats filter-only random partners in 3/15 cells (BH)"
    common = {"measured": {}, "control_outcome": "same way", "verdict": "not reproduced"}
    results = [
        {"id": "U1", "procedure": "corrected", "rule_holds": True, "detail": detail, **common},
        {"id": "U2", "procedure": "corrected", "rule_holds": False, "detail": "", **common},
    ]
    md = write_report(tmp_path, profile="smoke", claim_results=results, experiments={}, provenance={})
    text = md.read_text()
    glance = text.split("## Contents")[0]
    u1 = next(line for line in glance.splitlines() if line.startswith("| [U1]"))
    u2 = next(line for line in glance.splitlines() if line.startswith("| [U2]"))
    assert "**rule holds; control not distinguished**" in u1 and "NOT reproduced" not in u1
    assert "**NOT reproduced**" in u2 and "ctrl same way" in u2  # the rule itself failed: said as before
    claims = text.split('<a id="claims">')[1]
    assert f"*corrected*: {detail}" in claims.split('<a id="claim-u2">')[0]  # the rule's detail, in words


def test_calibration_notes_from_file(tmp_path) -> None:
    from harness.calibration.report import calibration_notes

    assert calibration_notes(tmp_path / "missing.json") == {}
    (tmp_path / "c.json").write_text(
        json.dumps(
            {
                "claims": [
                    {
                        "claim_id": "U1",
                        "calibrated": True,
                        "power": 1.0,
                        "false_positive_rate": 0.0,
                        "false_world_rates": {},
                        "procedure": "corrected",
                        "n_seeds": 5,
                        "flags": [],
                    },
                    {
                        "claim_id": "P1",
                        "calibrated": True,
                        "power": 0.8,
                        "false_positive_rate": 0.2,
                        "false_world_rates": {},
                        "procedure": "corrected",
                        "n_seeds": 5,
                        "flags": [],
                    },
                    {
                        "claim_id": "U7",
                        "calibrated": False,
                        "power": 1.0,
                        "false_positive_rate": None,
                        "false_world_rates": {"tracking": 1.0},
                        "procedure": "corrected",
                        "n_seeds": 5,
                        "flags": ["fpr 5/5"],
                    },
                ],
                "not_planted": {"U8": "a count"},
            }
        )
    )
    notes = calibration_notes(tmp_path / "c.json")
    # keyed by (claim, procedure); counts with 95% Clopper-Pearson bounds, not point rates: 0/5 false
    # passes bound the rate below 0.52
    assert notes[("U1", "corrected")].startswith(
        "ok: power 5/5 (lower bound 0.48), 0/5 false passes (upper bound 0.52) (corrected"
    )
    assert ("U1", "paper") not in notes
    assert notes[("U7", "corrected")] == "FLAGGED: fpr 5/5" and notes[("U8", "*")].startswith("not plantable")
    # P rules are judged under Paulo & Belrose's method (their rows' procedure), whatever the file names
    assert ("P1", "corrected") not in notes
    assert notes[("P1", "PB method")] == (
        "ok: power 4/5 (lower bound 0.28), 1/5 false passes (upper bound 0.72) (PB method; 95% Clopper-Pearson)"
    )


def test_report_warns_when_the_libraries_differ_from_the_lock(tmp_path) -> None:
    """Issue 23: a run outside the locked environment (constraints.txt) says so at the top."""
    prov = {"git_commit": "abc", "lock_differences": ["transformers 5.25.0 (lock: 5.24.0)"]}
    text = write_report(tmp_path / "a", profile="smoke", claim_results=[], experiments={}, provenance=prov).read_text()
    assert (
        "**Warning: not the locked environment** (1 package(s) differ from `constraints.txt`: transformers 5.25.0 (lock: 5.24.0))"
        in text
    )
    prov["lock_differences"] = []
    text = write_report(tmp_path / "b", profile="smoke", claim_results=[], experiments={}, provenance=prov).read_text()
    assert "not the locked environment" not in text


SMOKE_RESULTS = Path(__file__).resolve().parents[2] / "reports" / "smoke" / "results.json"


def test_smoke_report_answers_first_with_no_json_and_no_nan(tmp_path) -> None:
    """Issue 24: the committed smoke results, written again into a temporary folder: no raw JSON
    block, no ``nan``, and the first screen (60 lines) holds every claim's verdict under every
    procedure it ran under, each with its reason."""
    from harness.report.markdown import verdict_words, write_report_from_results

    text = write_report_from_results(SMOKE_RESULTS, tmp_path).read_text()
    assert "```" not in text and '{"' not in text and "{'" not in text
    assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE)
    first = text.splitlines()[:60]
    header = next(line for line in first if line.startswith("| id | `"))
    procs = [c.strip().strip("`") for c in header.strip("|").split("|")[1:]]
    claims = json.loads(SMOKE_RESULTS.read_text())["claims"]
    assert len(claims) >= 30
    for r in claims:
        row = next(line for line in first if line.startswith(f"| [{r['id']}](#claim-{r['id'].lower()}) |"))
        cell = row.strip("|").split(" | ")[1 + procs.index(r["procedure"])].strip()
        assert cell.startswith(f"**{verdict_words(r)}** · ") and len(cell) > len(verdict_words(r)) + 8, (r["id"], cell)
    assert f'<a id="claim-{claims[0]["id"].lower()}"></a>' in text  # the link's target exists


def test_figures_never_print_p_as_zero(tmp_path, monkeypatch) -> None:
    """Issue 24: the p heatmap printed ``0e+00*`` and the bar charts ``p 0.000*``."""
    from harness.report import figures

    texts: dict[str, list[str]] = {}

    def keep(fig, path):
        texts[path.name] = [t.get_text() for ax in fig.axes for t in ax.texts]
        figures._plt().close(fig)

    monkeypatch.setattr(figures, "_save", keep)
    grid = _grid()
    grid["n_permutations"] = 99
    for i, c in enumerate(grid["cells"]):
        c.update(svcca_p=0.0, rsa_p=0.0)
        if i % 2:  # half the cells with the +1 rule and the paper's count, half with the bare p only
            c.update(svcca_p_plus_one=0.01, svcca_p_paper="0/99")
    figures.grid_figures(grid, "grid paper", tmp_path)
    p_map = texts["grid-paper-svcca-p.png"]
    assert sorted(set(p_map)) == ["0/99*", "<1/99*"]
    semantic = {
        "cells": [
            {"category": "Time", "n_pairs": 9, "svcca": 0.6, "svcca_null_mean": 0.1, "svcca_p": 0.0, "rsa": 0.3},
            {
                "category": "Nature",
                "n_pairs": 9,
                "svcca": 0.6,
                "svcca_null_mean": 0.1,
                "svcca_p": 0.0,
                "svcca_p_plus_one": 0.005,
                "svcca_p_paper": "0/199",
                "rsa": 0.3,
            },
        ]
    }
    figures.semantic_figure(semantic, "semantic", tmp_path)
    w1 = {"id": "W1", "procedure": "paper", "measured": {"m21": {"svcca": 0.5, "null_mean": 0.1, "p": 0.0, "n": 5}}}
    figures.seed_figures([w1], tmp_path)
    labels = [t for name in ("semantic.png", "seeds-w1-svcca-by-pairing.png") for t in texts[name]]
    assert labels == ["p <1/N*\nn=9", "p 0/199*\nn=9", "p <1/N*\nn=5"]
    for t in [*p_map, *labels]:
        assert not re.search(r"(^|\s)(p )?0(\.0+)?(e\+?0+)?\*?($|\s)", t), t
