"""The claim rules the calibration tier measures, as evaluators over calibration records.

THE one place that says where the rules come from: the registered rules of
:mod:`harness.verdicts.rules` (the same functions the claim tests and ``sae-claims judge``
use), applied to the calibration world's records under the roles each rule reads, together
with its negative control exactly as the rule defines it (P1-P3 too: their rules are in
:mod:`harness.verdicts.seed_rules`, registered with the others). ``harness.calibration.run.calibrate``
takes this mapping as input and never imports rules itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.calibration.run import Evaluator, Records, RuleOutcome
from harness.config import Procedure
from harness.verdicts.rules import ClaimJudgement, judge


def _outcome(j: ClaimJudgement) -> RuleOutcome:
    """A registered rule's judgement as the calibration runner's outcome (an inconclusive
    verdict is never a pass)."""
    c = j.control
    return RuleOutcome(
        rule_holds=bool(j.claim.holds),
        control_holds=None if c is None else c.holds,
        control_scored=True if c is None else c.scored,
        measured=dict(j.claim.measured),
        control_measured=dict(j.control_measured if j.control_measured is not None else (c.measured if c else {})),
        inconclusive=j.conclusion().verdict == "inconclusive",
    )


def _registered(claim_id: str, roles: Callable[[Records], dict[str, Any]]) -> Evaluator:
    def evaluate(r: Records, procedure: Procedure) -> RuleOutcome:
        return _outcome(judge(claim_id, roles(r), procedure, profile="calibration"))

    return evaluate


def _grid(r: Records) -> dict[str, Any]:
    return {"grid": r["grid"], "control_grid": r["control_grid"]}


def _table(r: Records) -> dict[str, Any]:
    return {"table": r["table"], "control_table": r["control_table"]}


def _semantic_grid(r: Records) -> dict[str, Any]:
    return {
        "semantic_grid": {"kind": "semantic_grid", "tables": r["tables"]},
        "control_semantic_grid": {"kind": "semantic_grid", "tables": r["control_tables"]},
    }


def _lan(r: Records) -> dict[str, Any]:
    # W1 reads its seed pair as ``lan_relu_l1`` (App. A's architecture), X1 as ``lan``: one synthetic pair here
    return {
        "lan": r["lan"],
        "control_lan": r["lan_control"],
        "lan_relu_l1": r["lan"],
        "control_lan_relu_l1": r["lan_control"],
        "overlap": r.get("overlap", {}),
    }


def _p1(r: Records) -> dict[str, Any]:
    return {"overlaps": r["overlaps"], "control_overlaps": r["control_overlaps"]}


def _p2(r: Records) -> dict[str, Any]:
    return {"relu_l1": r["relu_l1"], "topk": r["topk"], "control_topk": r["control_topk"]}


def _p3(r: Records) -> dict[str, Any]:
    return {"width_sweep": r["width_sweep"], "control_width_sweep": r["control_width_sweep"]}


#: claim id -> evaluator(records, procedure) -> RuleOutcome
EVALUATORS: dict[str, Evaluator] = {
    **{cid: _registered(cid, _grid) for cid in ("U1", "U2", "U3", "U4", "U5", "U6", "U7")},
    **{cid: _registered(cid, _table) for cid in ("S1", "S2", "S4")},
    **{cid: _registered(cid, _semantic_grid) for cid in ("S3", "S5")},
    "W1": _registered("W1", _lan),
    "X1": _registered("X1", _lan),
    "P1": _registered("P1", _p1),
    "P2": _registered("P2", _p2),
    "P3": _registered("P3", _p3),
}
