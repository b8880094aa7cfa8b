"""The claim rules the calibration tier measures, as evaluators over calibration records.

THE one place that says where the rules come from. Today the rule functions live in the claim
test modules (claims/test_whole_space.py, test_semantic.py, test_seeds.py); each evaluator below
applies the claim's rule to the real records and to its negative control exactly as that
claim's test does before ``recorder.conclude`` (same control choice, same 'scored' test). When
the rules move to ``harness.verdicts.rules``, only the imports and these small wrappers change;
``harness.calibration.run.calibrate`` takes this mapping as input and never imports rules itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from claims import test_seeds as seeds
from claims import test_semantic as sem
from claims import test_whole_space as ws
from harness.calibration.run import Evaluator, Records, RuleOutcome
from harness.config import Procedure
from harness.experiments.grid import top_correlated_view


def _shuffled_control(rule: Callable[[dict[str, Any]], tuple[bool, dict[str, Any]]]) -> Evaluator:
    """U1/U2/U4: the rule on the grid, and on the shuffled-positions control's top-correlated
    view; the control counts as scored when at least half its non-zero cells were (test_whole_space._run)."""
    def evaluate(r: Records, procedure: Procedure) -> RuleOutcome:
        ok, measured = rule(r["grid"])
        view = top_correlated_view(r["control_grid"])
        ctrl_ok, ctrl = rule(view)
        cells = ws.nonzero(view)
        scored = sum(bool(np.isfinite(c["svcca"])) for c in cells) >= 0.5 * len(cells)
        return RuleOutcome(ok, ctrl_ok, scored, {**measured, "control": ctrl})
    return evaluate


def _u3(r: Records, procedure: Procedure) -> RuleOutcome:
    ok, measured = ws.u3(r["grid"])
    med, _ = ws.median_p(ws.nonzero(r["grid"]))  # control: the non-zero layers must not look like layer 0
    return RuleOutcome(ok, bool(np.isfinite(med) and med >= ws.ALPHA), bool(np.isfinite(med)), measured)


def _holdout(rule: Callable[..., tuple[bool, dict[str, Any]]]) -> Evaluator:
    def evaluate(r: Records, procedure: Procedure) -> RuleOutcome:
        ok, measured = rule(r["grid"])
        ctrl_ok, _ = rule(r["grid"], holdout=True)  # control: a held-out random same-size subset
        return RuleOutcome(ok, ctrl_ok, True, measured)
    return evaluate


def _u7(r: Records, procedure: Procedure) -> RuleOutcome:
    ok, measured = ws.u7(r["grid"])
    ctrl_ok, _ = ws.u7(r["grid"], against="svcca")  # control: SVCCA against itself
    return RuleOutcome(ok, ctrl_ok, True, measured)


def _table(rule: Callable[[dict[str, Any]], tuple[bool, dict[str, Any]]]) -> Evaluator:
    def evaluate(r: Records, procedure: Procedure) -> RuleOutcome:
        ok, measured = rule(r["table"])
        ctrl_ok, _ = rule(r["control_table"])  # control: B's positions shuffled
        return RuleOutcome(ok, ctrl_ok, True, measured)
    return evaluate


def _tables(rule: Callable[[list[dict[str, Any]]], tuple[bool, dict[str, Any]]]) -> Evaluator:
    def evaluate(r: Records, procedure: Procedure) -> RuleOutcome:
        ok, measured = rule(r["tables"])
        ctrl_ok, _ = rule(r["control_tables"])
        return RuleOutcome(ok, ctrl_ok, True, measured)
    return evaluate


def _w1(r: Records, procedure: Procedure) -> RuleOutcome:
    c = r["lan_control"]["many_to_one_filtered"]
    return RuleOutcome(seeds.w1(r["lan"], procedure), seeds.w1(r["lan_control"], procedure),
                       bool(np.isfinite(c["svcca"])), {"svcca": r["lan"]["many_to_one_filtered"]["svcca"]})


def _x1(r: Records, procedure: Procedure) -> RuleOutcome:
    f = r["overlap"]["fraction_shared"]
    c = r["lan_control"]["one_to_one_filtered"]
    return RuleOutcome(seeds.x1(f, r["lan"]), seeds.x1(f, r["lan_control"]), bool(np.isfinite(c["svcca"])),
                       {"fraction_shared": f})


def _p1(r: Records, procedure: Procedure) -> RuleOutcome:
    return RuleOutcome(seeds.p1(r["overlap"]["fraction_shared"]), seeds.p1(r["cross_layer_overlap"]["fraction_shared"]),
                       True, {"fraction_shared": r["overlap"]["fraction_shared"]})


def _p2(r: Records, procedure: Procedure) -> RuleOutcome:
    ok, measured = seeds.p2(r["relu"], r["topk"])
    ctrl_ok, _ = seeds.p2(r["relu_cross_layer"], r["topk"])
    return RuleOutcome(ok, ctrl_ok, True, measured)


def _p3(r: Records, procedure: Procedure) -> RuleOutcome:
    return RuleOutcome(seeds.p3(r["fractions"]), seeds.p3(r["permuted_self"]), True, {"fractions": r["fractions"]})


#: claim id -> evaluator(records, procedure) -> RuleOutcome
EVALUATORS: dict[str, Evaluator] = {
    "U1": _shuffled_control(ws.u1),
    "U2": _shuffled_control(ws.u2),
    "U3": _u3,
    "U4": _shuffled_control(ws.u4),
    "U5": _holdout(ws.u5),
    "U6": _holdout(ws.u6),
    "U7": _u7,
    "S1": _table(lambda t: sem.all_significant(t, "svcca_p")),
    "S2": _table(sem.s2),
    "S3": _tables(sem.s3),
    "S4": _table(lambda t: sem.all_significant(t, "rsa_p")),
    "S5": _tables(sem.s5),
    "W1": _w1,
    "X1": _x1,
    "P1": _p1,
    "P2": _p2,
    "P3": _p3,
}
