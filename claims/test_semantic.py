"""Semantic-subspace claims S1-S5 (Lan et al. 2024, Sec. 4.3, Tables 1, 2, 9, Figs. 15-22).

The table pair (Pythia-70m L3 x 160m L5 in the paper; the profile's ``semantic_table``
pair in the smoke world) is scored for every Table 4 category with Test 1 (shuffled pairing)
and Test 2 (random same-size subsets). The negative control shuffles B's token positions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from claims.conftest import check_verdict

ALPHA = 0.05


def scored(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in table["cells"] if "skipped" not in c and np.isfinite(c.get("svcca", math.nan))]


def all_significant(table: dict[str, Any], key: str) -> tuple[bool, dict[str, Any]]:
    cells = scored(table)
    per = {c["category"]: {"n": c["n_pairs"], "score": c[key.replace("_p", "")], "p": c[key]} for c in cells}
    ok = bool(cells) and all(c[key] < ALPHA for c in cells)
    return ok, {"n_scored": len(cells), "n_significant": sum(c[key] < ALPHA for c in cells), "categories": per}


def n_significant(table: dict[str, Any], key: str) -> int:
    return sum(c[key] < ALPHA for c in scored(table))


@pytest.mark.parametrize("claim_id,key", [("S1", "svcca_p"), ("S4", "rsa_p")])
def test_S1_S4_table_pair_all_categories_significant(claim_id, key, semantic, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    table, control = semantic(procedure, control=False), semantic(procedure, control=True)
    ok, measured = all_significant(table, key)
    ctrl = {"n_significant": n_significant(control, key), "n_scored": len(scored(control))}
    recorder.verdict(claim_id, procedure.name, reproduced=ok, measured=measured, control=ctrl)
    assert ctrl["n_significant"] <= 1, f"{claim_id} control: {ctrl}"
    check_verdict(recorder.profile, claim_id, procedure.name, ok, str(measured))


def test_S2_gemma_table2(semantic, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    if recorder.profile != "paper":
        pytest.skip("S2 is about Gemma-1-2B x Gemma-2-2B; it runs in the gpu tier only")
    table = semantic(procedure, control=False, pair="gemma")
    cells = {c["category"]: c for c in scored(table)}
    others = [c for k, c in cells.items() if k not in ("Countries", "MonthNames", "Biology")]
    ok = "Countries" in cells and cells["Countries"]["svcca_p"] >= ALPHA and all(c["svcca_p"] < ALPHA for c in others)
    recorder.verdict("S2", procedure.name, reproduced=ok,
                     measured={k: {"n": c["n_pairs"], "svcca": c["svcca"], "p": c["svcca_p"]} for k, c in cells.items()})
    check_verdict(recorder.profile, "S2", procedure.name, ok, str(cells.keys()))


def test_S3_test2_all_pass(semantic_grid, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    grid, control = semantic_grid(procedure, control=False), semantic_grid(procedure, control=True)

    def fraction(tables: list[dict[str, Any]]) -> tuple[float, int]:
        cells = [c for t in tables for c in scored(t) if np.isfinite(c.get("test2_p", math.nan))]
        return (float(np.mean([c["test2_p"] < ALPHA for c in cells])) if cells else math.nan), len(cells)

    f, n = fraction(grid)
    fc, nc = fraction(control)
    ok = bool(np.isfinite(f) and f >= 0.9)
    recorder.verdict("S3", procedure.name, reproduced=ok, measured={"fraction_test2_pass": f, "n_cells": n},
                     control={"fraction_test2_pass": fc, "n_cells": nc})
    assert not (np.isfinite(fc) and fc >= 0.9), f"S3 control passed Test 2 in {fc:.0%} of cells"
    check_verdict(recorder.profile, "S3", procedure.name, ok, f"fraction {f}")


def test_S5_middle_layers_semantic(semantic_grid, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    grid = semantic_grid(procedure, control=False)
    means = {(t["layer_a"], t["layer_b"]): float(np.mean([c["svcca"] for c in scored(t)]))
             for t in grid if scored(t)}
    layers_a = sorted({la for la, _ in means})
    best = max(means, key=means.get) if means else None  # type: ignore[arg-type]
    ok = best is not None and len(layers_a) >= 3 and best[0] not in (layers_a[0], layers_a[-1])
    recorder.verdict("S5", procedure.name, reproduced=bool(ok),
                     measured={"best_pair": best, "mean_svcca": {f"A{a}/B{b}": v for (a, b), v in means.items()}})
    assert len(layers_a) >= 3, "S5 needs at least three A layers with scored subspaces"
    check_verdict(recorder.profile, "S5", procedure.name, bool(ok), f"best {best}")
