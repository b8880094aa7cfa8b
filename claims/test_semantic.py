"""Semantic-subspace claims S1-S5 (Lan et al. 2024, Sec. 4.3, Tables 1, 2, 9, Figs. 15-22).

The table pair (Pythia-70m L3 x 160m L5 for Table 1, profile ``paper``; Gemma-1 L12 x
Gemma-2 L14 for Table 2, profile ``gemma``; the profile's ``semantic_table`` pair in the
smoke world) is scored for every Table 4 category with Test 1 (shuffled pairing)
and Test 2 (random same-size subsets). The negative control shuffles B's token positions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from harness.profiles import get_profile

ALPHA = 0.05


def scored(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in table["cells"] if "skipped" not in c and np.isfinite(c.get("svcca", math.nan))]


#: The paper's values for Pythia-70m L3 x 160m L5: Table 1 (SVCCA) and Table 9 (RSA).
PYTHIA_TABLES_1_AND_9 = get_profile("paper").paper_semantic_table

#: The categories each Pythia table reports (Table 1: SVCCA; Table 9: RSA adds MonthNames);
#: the others of Table 4 are scored and reported, not judged.
TABLE_CATEGORIES = {
    "svcca_p": tuple(k for k, v in PYTHIA_TABLES_1_AND_9.items() if "svcca" in v),
    "rsa_p": tuple(PYTHIA_TABLES_1_AND_9),
}


def all_significant(table: dict[str, Any], key: str) -> tuple[bool, dict[str, Any]]:
    every = scored(table)
    cells = [c for c in every if c["category"] in TABLE_CATEGORIES[key]]
    per = {c["category"]: {"n": c["n_pairs"], "score": c[key.replace("_p", "")], "p": c[key],
                           **({} if c in cells else {"judged": False})} for c in every}
    ok = bool(cells) and all(c[key] < ALPHA for c in cells)
    return ok, {"n_scored": len(cells), "n_significant": sum(c[key] < ALPHA for c in cells), "categories": per}


def n_significant(table: dict[str, Any], key: str) -> int:
    return sum(c[key] < ALPHA for c in scored(table))


@pytest.mark.parametrize("claim_id,key", [("S1", "svcca_p"), ("S4", "rsa_p")])
def test_S1_S4_table_pair_all_categories_significant(claim_id, key, semantic, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    if recorder.profile == "gemma":
        reason = f"{claim_id} is about Pythia's Tables 1/9; the Gemma table is S2"
        recorder.not_run(claim_id, procedure.name, reason)
        pytest.skip(reason)
    table, control = semantic(procedure, control=False), semantic(procedure, control=True)
    ok, measured = all_significant(table, key)
    ctrl_ok, ctrl = all_significant(control, key)
    recorder.conclude(claim_id, procedure.name, rule_holds=ok, measured=measured, control_holds=ctrl_ok,
                      control={"n_significant": ctrl["n_significant"], "n_scored": ctrl["n_scored"]})


def s2(table: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    cells = {c["category"]: c for c in scored(table)}
    others = [c for k, c in cells.items() if k not in ("Countries", "MonthNames", "Biology")]
    ok = "Countries" in cells and cells["Countries"]["svcca_p"] >= ALPHA and bool(others) and all(
        c["svcca_p"] < ALPHA for c in others)
    return ok, {k: {"n": c["n_pairs"], "svcca": c["svcca"], "p": c["svcca_p"]} for k, c in cells.items()}


def test_S2_gemma_table2(semantic, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    if recorder.profile != "gemma":
        reason = "S2 is about Gemma-1-2B x Gemma-2-2B (Table 2): it runs under the gpu-tier profile 'gemma' only"
        recorder.not_run("S2", procedure.name, reason)
        pytest.skip(reason)
    ok, measured = s2(semantic(procedure, control=False))
    ctrl_ok, ctrl = s2(semantic(procedure, control=True))
    recorder.conclude("S2", procedure.name, rule_holds=ok, measured=measured, control=ctrl, control_holds=ctrl_ok)


def s3(tables: list[dict[str, Any]]) -> tuple[bool, dict[str, Any]]:
    cells = [c for t in tables for c in scored(t) if np.isfinite(c.get("test2_p", math.nan))]
    f = float(np.mean([c["test2_p"] < ALPHA for c in cells])) if cells else math.nan
    return bool(np.isfinite(f) and f >= 0.9), {"fraction_test2_pass": f, "n_cells": len(cells)}


def test_S3_test2_all_pass(semantic_grid, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    ok, measured = s3(semantic_grid(procedure, control=False))
    ctrl_ok, ctrl = s3(semantic_grid(procedure, control=True))
    recorder.conclude("S3", procedure.name, rule_holds=ok, measured=measured, control=ctrl, control_holds=ctrl_ok)


def s5(tables: list[dict[str, Any]]) -> tuple[bool, dict[str, Any]]:
    """Best layer pair by the mean excess of semantic SVCCA over its shuffled-pairing null
    (the raw score rises as subspaces shrink); it must sit at a middle A layer and be > 0.05."""
    excess = {(t["layer_a"], t["layer_b"]): float(np.mean([c["svcca"] - c["svcca_null_mean"] for c in scored(t)]))
              for t in tables if scored(t)}
    layers_a = sorted({la for la, _ in excess})
    best = max(excess, key=excess.get) if excess else None  # type: ignore[arg-type]
    ok = bool(best is not None and len(layers_a) >= 3 and best[0] not in (layers_a[0], layers_a[-1])
              and excess[best] > 0.05)
    return ok, {"best_pair": best, "best_excess": excess.get(best, math.nan) if best else math.nan,
                "mean_excess_over_null": {f"A{a}/B{b}": v for (a, b), v in excess.items()}}


def test_S5_middle_layers_semantic(semantic_grid, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    grid = semantic_grid(procedure, control=False)
    assert len({t["layer_a"] for t in grid}) >= 3, "S5 needs at least three A layers with scored subspaces"
    ok, measured = s5(grid)
    ctrl_ok, ctrl = s5(semantic_grid(procedure, control=True))
    ctrl = {k: v for k, v in ctrl.items() if k != "mean_excess_over_null"}
    recorder.conclude("S5", procedure.name, rule_holds=ok, measured=measured, control=ctrl, control_holds=ctrl_ok)
