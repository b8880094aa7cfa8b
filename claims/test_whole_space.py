"""Whole-space similarity claims U1-U8 (Lan et al. 2024, Sec. 4.2, App. E, F, H).

Thin callers: each test computes (once per session) the layer grid of the profile and, where
the claim's rule needs it, the negative-control grid (B's token positions shuffled against A's),
then judges the claim with its rule in ``harness/verdicts/rules.py`` (a pure function of the
recorded grids; ``sae-claims judge results.json`` applies the same rule to a saved run).
"""

from __future__ import annotations

from typing import Any

from claims.conftest import grid_name
from harness.verdicts.rules import ROLES


def _judge(claim_id: str, grids: Any, procedure: Any, recorder: Any) -> None:
    grids(procedure, control=False)
    inputs = {"grid": grid_name(procedure)}
    if "control_grid" in ROLES[claim_id]:
        grids(procedure, control=True)
        inputs["control_grid"] = grid_name(procedure, control=True)
    recorder.judge(claim_id, procedure, inputs)


def test_U1_significant_nonzero_layers(grids, procedure, recorder) -> None:
    _judge("U1", grids, procedure, recorder)


def test_U2_rsa_weaker_than_svcca(grids, procedure, recorder) -> None:
    _judge("U2", grids, procedure, recorder)


def test_U3_layer0_not_significant(grids, procedure, recorder) -> None:
    _judge("U3", grids, procedure, recorder)


def test_U4_middle_layers_most_similar(grids, procedure, recorder) -> None:
    _judge("U4", grids, procedure, recorder)


def test_U5_one_to_one_helps(grids, procedure, recorder) -> None:
    _judge("U5", grids, procedure, recorder)


def test_U6_nonconcept_filter_helps(grids, procedure, recorder) -> None:
    _judge("U6", grids, procedure, recorder)


def test_U7_mean_corr_not_predictive(grids, procedure, recorder) -> None:
    _judge("U7", grids, procedure, recorder)


def test_U8_pair_counts(grids, procedure, recorder) -> None:
    _judge("U8", grids, procedure, recorder)
