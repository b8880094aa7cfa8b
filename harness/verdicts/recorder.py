"""The verdict rule, the run's store of verdicts and experiments, and the reviewed expectations.

A claim is **reproduced** iff its rule holds AND its negative control, run through the same
rule, does not (:func:`conclude`). The store (:class:`RunStore`) collects every verdict and
experiment record of a run for the report; :class:`Expectations` reads the reviewed golden
verdicts of the smoke profile (``claims/expected/<profile>.json``) and says when an outcome
differs from them (:meth:`Expectations.mismatch`). pytest glue (turning a mismatch into a test
failure) lives in ``claims/conftest.py``; nothing here imports pytest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from harness.verdicts.records import CLAIMS

__all__ = ["CONTROL_EMPTY", "CONTROL_OTHER_WAY", "CONTROL_SAME_WAY", "ClaimRecorder", "Conclusion", "ControlOutcome",
           "Expectations", "RunStore", "Verdict", "conclude"]

ControlOutcome = Literal["other way", "same way", "empty"]
"""How a claim's negative control came out under the claim's own rule."""
CONTROL_OTHER_WAY, CONTROL_SAME_WAY, CONTROL_EMPTY = get_args(ControlOutcome)

Verdict = Literal["reproduced", "not reproduced", "not run"]
VERDICTS: tuple[str, ...] = get_args(Verdict)


@dataclass(frozen=True)
class Conclusion:
    """Outcome of :func:`conclude` for one (claim, procedure)."""

    verdict: Verdict
    control_outcome: ControlOutcome | None
    detail: str


def conclude(*, rule_holds: bool, control_holds: bool | None, control_scored: bool = True,
             control: dict[str, Any] | None = None, detail: str = "") -> Conclusion:
    """The verdict rule.

    ``control_holds`` is whether the negative control satisfies the claim's rule (``None``: the
    claim has no control of its own, only guards). When the control passes too, the rule
    cannot tell the effect from its absence on this data: not reproduced. A control that fails
    the rule only because it had nothing to score (``control_scored`` False: e.g. no misaligned
    pair survived the filters) is ``empty``: it never exercised the statistic, so the rule's
    power is untested and the claim is not counted as reproduced either.
    """
    if control_holds is None:
        outcome: ControlOutcome | None = None
    elif control_holds:
        outcome = CONTROL_SAME_WAY
    else:
        outcome = CONTROL_OTHER_WAY if control_scored else CONTROL_EMPTY
    if outcome == CONTROL_SAME_WAY:
        detail = (detail + "; " if detail else "") + (
            f"the negative control also satisfies the rule ({control}): the rule does not discriminate here")
    elif outcome == CONTROL_EMPTY:
        detail = (detail + "; " if detail else "") + (
            f"the negative control had nothing to score ({control}): the rule's power is untested")
    reproduced = bool(rule_holds) and outcome in (None, CONTROL_OTHER_WAY)
    return Conclusion("reproduced" if reproduced else "not reproduced", outcome, detail)


@dataclass
class RunStore:
    """Everything one run recorded: claim results (report rows), experiment records, and the
    obtained (verdict, control) per claim and procedure (written next to the expectations when
    they differ)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    experiments: dict[str, Any] = field(default_factory=dict)
    obtained: dict[str, dict[str, dict[str, str | None]]] = field(default_factory=dict)


class Expectations:
    """Reviewed expected outcomes per profile, ``<directory>/<profile>.json``: golden data
    changed only by a person, with the reason next to each entry."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def load(self, profile: str) -> dict[str, Any]:
        path = self.directory / f"{profile}.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        return {k: v for k, v in data.items() if not k.startswith("_")}

    def entry(self, profile: str, claim_id: str, procedure: str) -> dict[str, Any] | None:
        e = self.load(profile).get(claim_id, {}).get(procedure)
        return e if isinstance(e, dict) else None

    def mismatch(self, profile: str, claim_id: str, procedure: str, verdict: str, control: str | None,
                 detail: str) -> str | None:
        """Why this outcome fails, or None. Outside ``smoke`` the claim itself must reproduce;
        in ``smoke`` the outcome must equal the reviewed expectation."""
        if profile != "smoke":
            return None if verdict == "reproduced" else f"{claim_id} not reproduced under {procedure}: {detail}"
        want = self.entry(profile, claim_id, procedure)
        if want is None:
            return (f"No reviewed expectation for {claim_id}/{procedure} in {self.directory.name}/{profile}.json "
                    f"(obtained: {verdict}, control {control}; see {profile}.json.obtained). "
                    "A person must review and add it.")
        if (verdict, control) != (want["verdict"], want.get("control")):
            return (f"{claim_id}/{procedure} on the fixture world changed outcome: expected {want['verdict']} "
                    f"(control {want.get('control')}), got {verdict} (control {control}). {detail}")
        return None

    def write_obtained_if_changed(self, profile: str, obtained: dict[str, dict[str, dict[str, str | None]]]) -> bool:
        """Write ``<profile>.json.obtained`` when any obtained outcome differs from (or is missing
        in) the expectations; return whether it did."""
        changed = any(
            (e := self.entry(profile, c, p)) is None or (e["verdict"], e.get("control")) != (v["verdict"], v["control"])
            for c, ps in obtained.items() for p, v in ps.items())
        if changed:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"{profile}.json.obtained").write_text(json.dumps(obtained, indent=1, sort_keys=True))
        return changed


class ClaimRecorder:
    """Records one verdict per (claim, procedure) of one profile into a :class:`RunStore`."""

    def __init__(self, profile: str, *, store: RunStore, expectations: Expectations) -> None:
        self.profile = profile
        self.store = store
        self.expectations = expectations

    def experiment(self, name: str, record: dict[str, Any]) -> None:
        self.store.experiments[name] = record

    def conclude(self, claim_id: str, procedure: str, *, rule_holds: bool, measured: dict[str, Any],
                 control: dict[str, Any] | None, control_holds: bool | None, control_scored: bool = True,
                 detail: str = "") -> str | None:
        """Apply :func:`conclude`, store the report row, and return why the outcome fails its
        expectation (:meth:`Expectations.mismatch`) or None."""
        rec = CLAIMS[claim_id]
        c = conclude(rule_holds=rule_holds, control_holds=control_holds, control_scored=control_scored,
                     control=control, detail=detail)
        if control is not None:
            measured = {**measured, "control": control}
        self.store.results.append({
            "id": claim_id, "statement": rec.statement, "source": rec.source, "paper_values": rec.paper_values,
            "rule": rec.rule, "procedure": procedure, "profile": self.profile, "verdict": c.verdict,
            "rule_holds": bool(rule_holds), "control_outcome": c.control_outcome, "measured": measured,
            "detail": c.detail, "expected": self.expectations.entry(self.profile, claim_id, procedure),
        })
        self.store.obtained.setdefault(claim_id, {})[procedure] = {"verdict": c.verdict, "control": c.control_outcome}
        return self.expectations.mismatch(self.profile, claim_id, procedure, c.verdict, c.control_outcome,
                                          f"{c.detail} {measured}")

    def not_run(self, claim_id: str, procedure: str, reason: str) -> None:
        rec = CLAIMS[claim_id]
        self.store.results.append({"id": claim_id, "statement": rec.statement, "source": rec.source,
                                   "paper_values": rec.paper_values, "rule": rec.rule, "procedure": procedure,
                                   "profile": self.profile, "verdict": "not run", "measured": {}, "detail": reason,
                                   "expected": None})
