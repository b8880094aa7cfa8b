"""Calibration of the claim rules on known-answer worlds (harness/calibration/).

A verdict on the fixture world tests the plumbing, not the rule: nobody knows what is true
there. Here the truth is planted. Each claim's rule and its negative control (from
``claims/calibration_rules.py``, the one place that says where the rules come from) run on
worlds with planted strengths from 0 (the null twin) to paper-like, over several seeds:

- ``-m calibration`` (its own tier, not in the default run): every plan, both procedures,
  ``SAE_CLAIMS_CALIBRATION_SEEDS`` seeds (default 50) per strength and world, on the Pythia-shaped
  world (6 x 12 layers; ``SAE_CLAIMS_CALIBRATION_SHAPE``), with ``SAE_CLAIMS_CALIBRATION_WORKERS``
  processes (default: every core) and every cell cached under its full key in
  ``.cache/calibration`` (an interrupted run continues); writes ``reports/calibration/``
  (calibration.json, calibration.md, one power curve per claim). Hours on a few cores: it has
  not been run at this size yet (the committed report is the 5-seed run of the small world, plus
  reduced sub-runs at 50 seeds; see docs/calibration.md). Flags are measurements, reported next to the
  verdicts; the tier fails only when the calibration itself is incomplete.
- ``-m smoke`` (CI, < 1 min): a small world, three claims (U1, U4, W1) must meet both targets,
  and a deliberately broken rule (raw SVCCA above a fixed value: it ignores its null) must be
  flagged -- so a rule change that breaks power or size fails CI.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np
import pytest

from claims.calibration_rules import EVALUATORS
from claims.conftest import REPO_ROOT
from harness.calibration.cells import DEFAULT_CELL_CACHE
from harness.calibration.run import NOT_PLANTED, PLANS, WORLD_SHAPES, RuleOutcome, calibrate
from harness.calibration.report import write_calibration
from harness.calibration.worlds import SeedKnobs, WorldKnobs
from harness.config import CORRECTED, PAPER
from harness.verdicts.records import CLAIMS

CALIBRATION_DIR = REPO_ROOT / "reports" / "calibration"
FULL_SEEDS = range(int(os.environ.get("SAE_CLAIMS_CALIBRATION_SEEDS", "50")))
FULL_SHAPE = os.environ.get("SAE_CLAIMS_CALIBRATION_SHAPE", "pythia")
FULL_WORKERS = int(os.environ.get("SAE_CLAIMS_CALIBRATION_WORKERS", str(os.cpu_count() or 1)))


@pytest.mark.calibration
def test_calibration_tier() -> None:
    """Every plantable claim of the inventory calibrated; the report written for docs/calibration.md."""
    rules = {p.rule for p in PLANS.values()}
    assert rules | set(NOT_PLANTED) == set(CLAIMS), "every claim is either planned or listed as not plantable"
    assert not rules & set(NOT_PLANTED)
    t0 = time.time()
    world = WorldKnobs().replace(**WORLD_SHAPES[FULL_SHAPE])
    results = []
    for procedure in (CORRECTED, PAPER):
        results += calibrate(
            EVALUATORS,
            seeds=FULL_SEEDS,
            procedure=procedure,
            world=world,
            progress=print,
            cache_dir=DEFAULT_CELL_CACHE,
            workers=FULL_WORKERS,
        )
    meta = {
        "procedures": [CORRECTED.name, PAPER.name],
        "seeds": len(FULL_SEEDS),
        "shape": FULL_SHAPE,
        "n_permutations": 99,
        "n_permutations_semantic": 99,
        "n_random_subsets": 30,
        "world": dataclasses.asdict(world),
        "seed_world": dataclasses.asdict(SeedKnobs()),
        "workers": FULL_WORKERS,
        "wall_s": round(time.time() - t0, 1),
    }
    write_calibration(CALIBRATION_DIR, results, meta=meta)
    assert {r.claim_id for r in results} == set(PLANS)
    assert {r.procedure for r in results} == {CORRECTED.name, PAPER.name}
    for r in results:
        assert len(r.trials) == len(r.strengths) * len(FULL_SEEDS) + len(r.false_world_rates) * len(FULL_SEEDS)
        assert all(np.isfinite(v) for v in r.pass_rate.values()), r.claim_id


# ----------------------------------------------------------------------------- CI check
#: A small world for CI: 4 x 4 layers, no concept subspaces, fewer features and positions
#: (~6 s per grid and its control on one core).
CI_WORLD = WorldKnobs(
    n_features=256, concepts=(), n_junk=8, n_samples=40, shared_fraction=0.5, n_layers_a=4, n_layers_b=4
)
CI_SEEDS = range(3)
#: U4's layer-label permutation test cannot reach alpha on a 4 x 4 grid (3 x 3 non-zero layers:
#: 9 placements of the middle block, smallest p 1/9), so it has no power at CI size; the full
#: tier measures it, and it is flagged there when its world is as small.
CI_CLAIMS = ("U1", "U2", "W1")
BROKEN_THRESHOLD = 0.2


def raw_svcca_rule(grid: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """A deliberately broken U1: 'most non-zero cells have SVCCA > 0.2', ignoring the null
    (SVCCA of unrelated rows is ~0.25 here, so this holds whatever is planted)."""
    cells = [c for c in grid["cells"] if c["layer_a"] != 0 and c["layer_b"] != 0]
    frac = float(np.mean([c["svcca"] > BROKEN_THRESHOLD for c in cells]))
    return frac >= 0.8, {"fraction_above": frac}


def broken_with_control(r: Any, procedure: Any) -> RuleOutcome:
    """The broken rule with U1's real negative control (shuffled positions, top-correlated pairs)."""
    from harness.experiments.grid import top_correlated_view

    ok, m = raw_svcca_rule(r["grid"])
    ctrl_ok, _ = raw_svcca_rule(top_correlated_view(r["control_grid"]))
    return RuleOutcome(ok, ctrl_ok, True, m)


def broken_without_control(r: Any, procedure: Any) -> RuleOutcome:
    """The broken rule with no control: only the null twin can catch it."""
    ok, m = raw_svcca_rule(r["grid"])
    return RuleOutcome(ok, None, True, m)


@pytest.fixture(scope="module")
def ci_calibration() -> dict[str, Any]:
    # CI: the null twin and the paper-like strength only, no claim-false worlds (the full tier has them)
    plans = {c: dataclasses.replace(PLANS[c], false_worlds={}) for c in CI_CLAIMS}
    plans["U1 broken"] = dataclasses.replace(plans["U1"], claim_id="U1 broken")
    plans["U1 broken, no control"] = dataclasses.replace(plans["U1"], claim_id="U1 broken, no control")
    evaluators = {**EVALUATORS, "U1 broken": broken_with_control, "U1 broken, no control": broken_without_control}
    ids = [*CI_CLAIMS, "U1 broken", "U1 broken, no control"]
    strengths = {c: (0.0, plans[c].paper_strength) for c in ids}
    results = calibrate(
        evaluators,
        claims=ids,
        seeds=CI_SEEDS,
        world=CI_WORLD,
        seed_world=SeedKnobs(n_latents=160, n_samples=24),
        strengths=strengths,
        plans=plans,
    )
    return {r.claim_id: r for r in results}


#: A measured limit of the CI world, kept failing on purpose (strict: CI says when it changes): U1/U2's
#: control is the contrast with filter-aware random partners, and on this world every cell's 99 draws
#: are one set (each shared A feature's only filter-passing alternative is its split twin; 38 pairs per
#: set, sd 0 over the draws). The contrast there is one comparison per cell, whose +1-rule p is 1/2 or 1,
#: so it cannot reach alpha: U1 and U2 are inconclusive ("underpowered, not refuted") at every seed at the
#: paper-like strength -- power 0/3 -- although their rule holds at every seed (issue 21; before the
#: distinct-set null the 99 identical draws gave p = 0.01 and U1 passed 1/3 seeds, losing that single
#: comparison in 2 of 9 cells at the others; U2 passed 3/3). A world whose filters admit several
#: partners per feature (the token world, "U1 token") is where this control is calibrated.
CONTRAST_VACUOUS_ON_CI_WORLD = pytest.mark.xfail(
    strict=True,
    reason="U1/U2's random-partner contrast is one comparison per cell on the CI world (draws are one set): "
    "inconclusive at every seed",
)


@pytest.mark.smoke
def test_ci_contrast_on_one_random_partner_set_is_underpowered_not_refuted(ci_calibration: dict[str, Any]) -> None:
    """Where the random-partner draws are one set, U1/U2 are inconclusive at the paper-like strength
    (their rule holds, the contrast cannot decide) -- never "not reproduced" -- and never reproduced in
    the null twin."""
    for claim_id in ("U1", "U2"):
        r = ci_calibration[claim_id]
        planted = [t for t in r.trials if t.strength == PLANS[claim_id].paper_strength]
        assert planted and all(t.verdict == "inconclusive" and t.rule_holds for t in planted), r.to_dict()
        assert all(t.verdict != "reproduced" for t in r.trials if t.strength == 0.0), r.to_dict()


@pytest.mark.smoke
@pytest.mark.parametrize(
    "claim_id",
    [pytest.param(c, marks=CONTRAST_VACUOUS_ON_CI_WORLD) if c in ("U1", "U2") else c for c in CI_CLAIMS],
)
def test_ci_rule_meets_calibration_targets(ci_calibration: dict[str, Any], claim_id: str) -> None:
    r = ci_calibration[claim_id]
    # 3 seeds cannot meet the targets on the 95% bounds (0/3 bounds the false-positive rate only by
    # 0.71): the CI check asks for every seed right and no flag but "too few seeds"
    assert r.false_positive_rate == 0.0, r.to_dict()
    assert r.power == 1.0
    assert r.flags and all("too few seeds" in f for f in r.flags), r.flags


@pytest.mark.smoke
def test_ci_broken_rule_fails_calibration(ci_calibration: dict[str, Any]) -> None:
    """A rule that ignores its null is caught: with its control, the control passes too and the
    claim can never be reproduced (power 0); without one, it 'reproduces' the null twin."""
    with_control = ci_calibration["U1 broken"]
    assert not with_control.calibrated and with_control.power < 0.8
    assert with_control.rule_rate[0.0] == 1.0  # the rule alone holds on the null twin
    without = ci_calibration["U1 broken, no control"]
    assert not without.calibrated
    assert without.false_positive_rate == 1.0
    assert any("false passes in the null twin" in f and "above the target" in f for f in without.flags)
