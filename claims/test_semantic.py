"""Semantic-subspace claims S1-S5 (Lan et al. 2024, Sec. 4.3, Tables 1, 2, 9, Figs. 15-22).

The table pair (Pythia-70m L3 x 160m L5 for Table 1, profile ``paper``; Gemma-1 L12 x
Gemma-2 L14 for Table 2, profile ``gemma``; the profile's ``semantic_table`` pair in the
smoke world) is scored for every Table 4 category with Test 1 (shuffled pairing)
and Test 2 (random same-size subsets). The negative control shuffles B's token positions.
Thin callers: the rules live in ``harness/verdicts/rules.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from claims.conftest import semantic_grid_name, table_name


def _table_inputs(semantic: Any, world: Any, procedure: Any) -> dict[str, str]:
    semantic(procedure, control=False)
    semantic(procedure, control=True)
    la, lb = world.profile.semantic_table
    return {"table": table_name(procedure, la, lb), "control_table": table_name(procedure, la, lb, control=True)}


@pytest.mark.parametrize("claim_id", ["S1", "S4"])
def test_S1_S4_table_pair_all_categories_significant(claim_id, semantic, world, procedure, recorder) -> None:
    if recorder.profile == "gemma":
        reason = f"{claim_id} is about Pythia's Tables 1/9; the Gemma table is S2"
        recorder.not_run(claim_id, procedure.name, reason)
        pytest.skip(reason)
    recorder.judge(claim_id, procedure, _table_inputs(semantic, world, procedure))


def test_S2_gemma_table2(semantic, world, procedure, recorder) -> None:
    if recorder.profile != "gemma":
        reason = "S2 is about Gemma-1-2B x Gemma-2-2B (Table 2): it runs under the gpu-tier profile 'gemma' only"
        recorder.not_run("S2", procedure.name, reason)
        pytest.skip(reason)
    recorder.judge("S2", procedure, _table_inputs(semantic, world, procedure))


def _grid_inputs(semantic_grid: Any, procedure: Any) -> dict[str, str]:
    semantic_grid(procedure, control=False)
    semantic_grid(procedure, control=True)
    return {
        "semantic_grid": semantic_grid_name(procedure),
        "control_semantic_grid": semantic_grid_name(procedure, control=True),
    }


def test_S3_test2_all_pass(semantic_grid, procedure, recorder) -> None:
    recorder.judge("S3", procedure, _grid_inputs(semantic_grid, procedure))


def test_S5_middle_layers_semantic(semantic_grid, procedure, recorder) -> None:
    recorder.judge("S5", procedure, _grid_inputs(semantic_grid, procedure))
