"""The verdict vocabulary and the verdict rule (:func:`conclude`): pure, imported by the rules
(harness/verdicts/whole_space.py, semantic.py, seed_rules.py), the seed sweep (stability.py) and the recorder, which sits above them.

A claim is **reproduced** iff its rule holds AND its negative control, run through the same rule,
does not; **inconclusive** when the data cannot decide; **not run** with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "CONTROL_EMPTY",
    "CONTROL_INCONCLUSIVE",
    "CONTROL_NOT_RUN",
    "CONTROL_OTHER_WAY",
    "CONTROL_SAME_WAY",
    "CONTROL_OUTCOMES",
    "Conclusion",
    "ControlOutcome",
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "NOT_RUN",
    "REPRODUCED",
    "VERDICTS",
    "Verdict",
    "check_control_outcome",
    "check_verdict",
    "conclude",
]

ControlOutcome = Literal["other way", "same way", "empty", "inconclusive", "not run"]
"""How a claim's negative control came out under the claim's own rule: ``other way`` (the rule
fails on it: the rule discriminates), ``same way`` (it passes too: the rule cannot tell the effect
from its absence), ``inconclusive`` (the control's data cannot decide, e.g. too few pairs or too
few permutations for alpha), ``not run`` (no control record, an empty one, or one with nothing to
score: e.g. a results file built from the paper's printed numbers -- the paper ran no controls).
``empty`` is read from files written before ``not run`` existed (it meant "nothing to score");
:func:`conclude` no longer writes it."""
CONTROL_OUTCOMES: tuple[str, ...] = get_args(ControlOutcome)
CONTROL_OTHER_WAY: ControlOutcome = "other way"
CONTROL_SAME_WAY: ControlOutcome = "same way"
CONTROL_EMPTY: ControlOutcome = "empty"
CONTROL_INCONCLUSIVE: ControlOutcome = "inconclusive"
CONTROL_NOT_RUN: ControlOutcome = "not run"

Verdict = Literal["reproduced", "not reproduced", "inconclusive", "not run"]
"""The closed verdict vocabulary. ``inconclusive``: the data cannot decide (too few pairs, too
few permutations for alpha, a control that cannot be judged); ``not run``: with the reason
(no GPU, no hub access, another tier's claim)."""
VERDICTS: tuple[str, ...] = get_args(Verdict)
REPRODUCED: Verdict = "reproduced"
NOT_REPRODUCED: Verdict = "not reproduced"
INCONCLUSIVE: Verdict = "inconclusive"
NOT_RUN: Verdict = "not run"
if (CONTROL_OTHER_WAY, CONTROL_SAME_WAY, CONTROL_EMPTY, CONTROL_INCONCLUSIVE, CONTROL_NOT_RUN) != CONTROL_OUTCOMES or (
    REPRODUCED,
    NOT_REPRODUCED,
    INCONCLUSIVE,
    NOT_RUN,
) != VERDICTS:
    raise RuntimeError("The named verdict constants must list their Literal vocabularies in order.")


def check_verdict(verdict: str) -> Verdict:
    """``verdict`` if it belongs to :data:`Verdict`, else a ValueError naming the vocabulary."""
    if verdict not in VERDICTS:
        raise ValueError(f"Unknown verdict {verdict!r}; the vocabulary is {', '.join(map(repr, VERDICTS))}.")
    return verdict  # type: ignore[return-value]  # checked against VERDICTS just above


def check_control_outcome(outcome: str | None) -> ControlOutcome | None:
    """``outcome`` if it is None or belongs to :data:`ControlOutcome`, else a ValueError."""
    if outcome is not None and outcome not in CONTROL_OUTCOMES:
        raise ValueError(
            f"Unknown control outcome {outcome!r}; use one of {', '.join(map(repr, CONTROL_OUTCOMES))} or None."
        )
    return outcome  # type: ignore[return-value]  # checked against CONTROL_OUTCOMES just above


@dataclass(frozen=True)
class Conclusion:
    """Outcome of :func:`conclude` for one (claim, procedure)."""

    verdict: Verdict
    control_outcome: ControlOutcome | None
    detail: str
    inconclusive: str | None = None
    """Why the data cannot decide (verdict ``inconclusive``), else None."""

    def __post_init__(self) -> None:
        check_verdict(self.verdict)
        check_control_outcome(self.control_outcome)
        if (self.verdict == INCONCLUSIVE) != (self.inconclusive is not None):
            raise ValueError("An inconclusive verdict needs its reason, and only it has one.")


def conclude(
    *,
    rule_holds: bool | None,
    control_holds: bool | None,
    control_scored: bool = True,
    control: dict[str, Any] | None = None,
    detail: str = "",
    inconclusive: str | None = None,
    control_inconclusive: str | None = None,
    control_not_run: str | None = None,
) -> Conclusion:
    """The verdict rule.

    ``inconclusive`` (a reason) when the claim's own data cannot decide: the verdict is
    ``inconclusive`` whatever the control did. ``control_holds`` is whether the negative control
    satisfies the claim's rule (``None``: the claim has no control of its own, only guards). When
    the control passes too, the rule cannot tell the effect from its absence on this data: not
    reproduced. A control that was not run (``control_not_run``: why, e.g. the file holds no
    control record or an empty one) or that fails the rule only because it had nothing to score
    (``control_scored`` False: e.g. no misaligned pair survived the filters) is ``not run``: it
    never exercised the statistic, so that the rule discriminates is not shown and a claim whose
    rule holds is ``inconclusive`` -- never reproduced. A control whose data cannot decide
    (``control_inconclusive``) makes a claim whose rule holds ``inconclusive`` too. A rule that
    fails on the claim's own data is not reproduced whatever its control did.
    """
    if control_not_run is None and control_holds is False and not control_scored:
        control_not_run = f"the negative control had nothing to score ({control})"
    if control_not_run is not None:
        outcome: ControlOutcome | None = CONTROL_NOT_RUN
    elif control_inconclusive is not None:
        outcome = CONTROL_INCONCLUSIVE
    elif control_holds is None:
        outcome = None
    elif control_holds:
        outcome = CONTROL_SAME_WAY
    else:
        outcome = CONTROL_OTHER_WAY
    if outcome == CONTROL_SAME_WAY:
        detail = (detail + "; " if detail else "") + (
            f"the negative control also satisfies the rule ({control}): the rule does not discriminate here"
        )
    elif outcome == CONTROL_NOT_RUN:
        detail = (detail + "; " if detail else "") + f"control not run: {control_not_run}"
    elif outcome == CONTROL_INCONCLUSIVE:
        detail = (detail + "; " if detail else "") + f"the negative control cannot decide: {control_inconclusive}"
    if inconclusive is None and rule_holds and outcome == CONTROL_INCONCLUSIVE:
        inconclusive = f"the rule holds but its negative control cannot decide ({control_inconclusive})"
    if inconclusive is None and rule_holds and outcome == CONTROL_NOT_RUN:
        inconclusive = f"the rule holds but its negative control was not run ({control_not_run})"
    if inconclusive is not None:
        return Conclusion(
            INCONCLUSIVE, outcome, (f"inconclusive: {inconclusive}; " + detail).rstrip("; "), inconclusive
        )
    reproduced = bool(rule_holds) and outcome in (None, CONTROL_OTHER_WAY)
    return Conclusion(REPRODUCED if reproduced else NOT_REPRODUCED, outcome, detail)
