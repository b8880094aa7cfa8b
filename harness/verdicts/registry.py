"""The claim-rule registry and the types every rule returns (:class:`Judgement`, :class:`ClaimJudgement`).

Pure data and one registry, imported by every family of rules (harness/verdicts/whole_space.py:
U1-U8, W2; semantic.py: S1-S5; seed_rules.py: W1, X1, P1-P3) and never importing them back, so no
import cycle runs through the rules: ``outcome`` <- ``registry`` <- ``common`` <- the families <-
``rules`` <- ``recorder``. Importing :mod:`harness.verdicts.rules` registers every rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.verdicts.outcome import NOT_RUN, Conclusion, conclude
from harness.verdicts.records import CLAIMS

__all__ = [
    "CONTROL_PREFIX",
    "ClaimJudgement",
    "Judgement",
    "MissingInput",
    "ROLES",
    "RULES",
    "Rule",
    "decided",
    "missing",
    "register_rule",
    "undecided",
]


# ----------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Judgement:
    """One application of a claim's rule to one set of records (the real ones or the control).

    ``holds`` is None exactly when ``inconclusive`` gives the reason the data cannot decide.
    ``scored`` False: the records had nothing to score (a control that was in effect not run).
    ``not_run``: an input the rule cannot do without is missing ("needs X", :func:`missing`): the
    claim is *not run* (a control: *not run*), not merely undecided."""

    holds: bool | None
    measured: dict[str, Any]
    inconclusive: str | None = None
    scored: bool = True
    not_run: str | None = None

    def __post_init__(self) -> None:
        if (self.holds is None) != (self.inconclusive is not None):
            raise ValueError("A judgement is either decided (holds True/False) or inconclusive with a reason.")
        if self.not_run is not None and self.holds is not None:
            raise ValueError("A judgement whose input is missing decides nothing (holds None).")


def decided(holds: bool, measured: dict[str, Any], *, scored: bool = True) -> Judgement:
    return Judgement(bool(holds), measured, None, scored)


def undecided(reason: str, measured: dict[str, Any]) -> Judgement:
    return Judgement(None, measured, reason)


def missing(reason: str, measured: dict[str, Any] | None = None) -> Judgement:
    """A judgement that could not be made: an input the rule cannot do without is missing
    (``reason``: "needs X ..."); the claim (or control) is *not run*."""
    return Judgement(None, dict(measured or {}), reason, scored=False, not_run=reason)


class MissingInput(ValueError):
    """A rule met a record without a field it cannot do without; the message says which ("needs
    X"). :func:`judge_available` turns it into a *not run* claim."""


@dataclass(frozen=True)
class ClaimJudgement:
    """A claim's rule on its records and on its negative control's records."""

    claim: Judgement
    control: Judgement | None
    """None: the claim has no control of its own."""
    detail: str = ""
    control_measured: dict[str, Any] | None = field(default=None)
    """What the report shows of the control (default: the control judgement's measurements)."""
    control_not_run: str | None = None
    """Why the negative control was not run (absent or empty record), else None: a claim whose
    rule holds is then inconclusive, never reproduced."""

    @property
    def rule_holds(self) -> bool | None:
        return self.claim.holds

    @property
    def not_run(self) -> str | None:
        """Why the claim itself could not be judged (an input it needs is missing), else None."""
        return self.claim.not_run

    @property
    def measured(self) -> dict[str, Any]:
        return self.claim.measured

    @property
    def inconclusive(self) -> str | None:
        return self.conclusion().inconclusive

    @property
    def control_outcome(self) -> str | None:
        return self.conclusion().control_outcome

    def recorder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`harness.verdicts.recorder.ClaimRecorder.conclude`."""
        c = self.control
        shown = self.control_measured if self.control_measured is not None else (None if c is None else c.measured)
        ctrl_not_run = self.control_not_run or (None if c is None else c.not_run)
        return {
            "rule_holds": self.claim.holds,
            "measured": self.claim.measured,
            "control": shown,
            "control_holds": None if c is None or ctrl_not_run else c.holds,
            "control_scored": True if c is None else c.scored,
            "detail": self.detail,
            "inconclusive": self.claim.inconclusive,
            "control_inconclusive": None if c is None or ctrl_not_run else c.inconclusive,
            "control_not_run": ctrl_not_run,
        }

    def conclusion(self) -> Conclusion:
        if self.claim.not_run is not None:
            return Conclusion(NOT_RUN, None, f"not run: {self.claim.not_run}")
        kw = self.recorder_kwargs()
        kw.pop("measured")
        return conclude(**kw)

    @property
    def verdict(self) -> str:
        return self.conclusion().verdict


Rule = Callable[..., ClaimJudgement]
"""``rule(records: Mapping[str, Record], procedure: Procedure, *, profile: str) -> ClaimJudgement``"""

RULES: dict[str, Rule] = {}
ROLES: dict[str, tuple[str, ...]] = {}


def register_rule(claim_id: str, *roles: str) -> Callable[[Rule], Rule]:
    """Register ``claim_id``'s rule, reading the records ``roles``; duplicates and ids outside
    the claim inventory are refused."""

    def add(fn: Rule) -> Rule:
        if claim_id in RULES:
            raise ValueError(f"Duplicate rule for claim {claim_id!r}.")
        if claim_id not in CLAIMS:
            raise ValueError(f"Rule for unknown claim {claim_id!r}; add its record to harness/verdicts/claims.toml.")
        RULES[claim_id] = fn
        ROLES[claim_id] = tuple(roles)
        return fn

    return add


#: Roles of negative-control records start with this (``control_grid``, ``control_table``, ...); the
#: claim's own record of the same kind is the role without it.
CONTROL_PREFIX = "control_"
