"""The verdict rule, the run's store of verdicts and experiments, and the reviewed expectations.

A claim is **reproduced** iff its rule holds AND its negative control, run through the same
rule, does not (:func:`conclude`); **inconclusive** when the data cannot decide (too few pairs,
too few permutations for alpha, a control that cannot be judged, an outcome not stable over seeds:
harness/verdicts/stability.py); **not run** with a reason. The store (:class:`RunStore`) collects every verdict and
experiment record of a run for the report; :class:`Expectations` reads the reviewed golden
verdicts of the smoke profile (``claims/expected/<profile>.json``) and says when an outcome
differs from them (:meth:`Expectations.mismatch`). pytest glue (turning a mismatch into a test
failure) lives in ``claims/conftest.py``; nothing here imports pytest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from harness.verdicts.outcome import (
    CONTROL_EMPTY,
    CONTROL_INCONCLUSIVE,
    CONTROL_NOT_RUN,
    CONTROL_OTHER_WAY,
    CONTROL_OUTCOMES,
    CONTROL_SAME_WAY,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    VERDICTS,
    Conclusion,
    ControlOutcome,
    Verdict,
    check_control_outcome,
    check_verdict,
    conclude,
)
from harness.verdicts.records import CLAIMS

__all__ = [
    "CONTROL_EMPTY",
    "CONTROL_INCONCLUSIVE",
    "CONTROL_NOT_RUN",
    "CONTROL_OTHER_WAY",
    "CONTROL_SAME_WAY",
    "CONTROL_OUTCOMES",
    "ClaimRecorder",
    "Conclusion",
    "ControlOutcome",
    "Expectations",
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "NOT_RUN",
    "REPRODUCED",
    "RunStore",
    "VERDICTS",
    "Verdict",
    "check_control_outcome",
    "check_verdict",
    "conclude",
]


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
        out = {k: v for k, v in data.items() if not k.startswith("_")}
        for claim_id, per in out.items():
            for proc, e in per.items():
                try:
                    check_verdict(e["verdict"])
                    check_control_outcome(e.get("control"))
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}: entry {claim_id}/{proc} is invalid ({exc}); fix it by hand.") from None
        return out

    def entry(self, profile: str, claim_id: str, procedure: str) -> dict[str, Any] | None:
        e = self.load(profile).get(claim_id, {}).get(procedure)
        return e if isinstance(e, dict) else None

    def mismatch(
        self, profile: str, claim_id: str, procedure: str, verdict: str, control: str | None, detail: str
    ) -> str | None:
        """Why this outcome fails, or None. Outside ``smoke`` the claim itself must reproduce;
        in ``smoke`` the outcome must equal the reviewed expectation."""
        if profile != "smoke":
            if verdict in (REPRODUCED, INCONCLUSIVE):
                return None
            return f"{claim_id} {'not run' if verdict == NOT_RUN else 'not reproduced'} under {procedure}: {detail}"
        want = self.entry(profile, claim_id, procedure)
        if want is None:
            return (
                f"No reviewed expectation for {claim_id}/{procedure} in {self.directory.name}/{profile}.json "
                f"(obtained: {verdict}, control {control}; see {profile}.json.obtained). "
                "A person must review and add it."
            )
        if (verdict, control) != (want["verdict"], want.get("control")):
            return (
                f"{claim_id}/{procedure} on the fixture world changed outcome: expected {want['verdict']} "
                f"(control {want.get('control')}), got {verdict} (control {control}). {detail}"
            )
        return None

    def write_obtained_if_changed(self, profile: str, obtained: dict[str, dict[str, dict[str, str | None]]]) -> bool:
        """Write ``<profile>.json.obtained`` when any obtained outcome differs from (or is missing
        in) the expectations; return whether it did."""
        changed = any(
            (e := self.entry(profile, c, p)) is None or (e["verdict"], e.get("control")) != (v["verdict"], v["control"])
            for c, ps in obtained.items()
            for p, v in ps.items()
        )
        if changed:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"{profile}.json.obtained").write_text(json.dumps(obtained, indent=1, sort_keys=True))
        return changed


class ClaimRecorder:
    """Records one verdict per (claim, procedure) of one profile into a :class:`RunStore`."""

    def __init__(
        self,
        profile: str,
        *,
        store: RunStore,
        expectations: Expectations,
        stability: Mapping[tuple[str, str], Any] | None = None,
    ) -> None:
        self.profile = profile
        self.store = store
        self.expectations = expectations
        self.stability: Mapping[tuple[str, str], Any] = {} if stability is None else stability
        """(claim, procedure) -> :class:`harness.verdicts.stability.ClaimStability` of the committed
        seed sweep (smoke) or of the run's own reseed check (gpu tier,
        :class:`harness.verdicts.reseed.ReseedCheck`, computed when first looked up): a claim whose
        outcome is not stable over seeds is concluded inconclusive ("unstable over seeds") when this
        run used the reference seed."""
        self.last: Conclusion | None = None
        """The latest :class:`Conclusion` (pytest glue turns an inconclusive one into a skip)."""

    def experiment(self, name: str, record: dict[str, Any]) -> None:
        self.store.experiments[name] = record

    def conclude(
        self,
        claim_id: str,
        procedure: str,
        *,
        rule_holds: bool | None,
        measured: dict[str, Any],
        control: dict[str, Any] | None,
        control_holds: bool | None,
        control_scored: bool = True,
        detail: str = "",
        inconclusive: str | None = None,
        control_inconclusive: str | None = None,
        control_not_run: str | None = None,
        not_run: str | None = None,
        inputs: dict[str, str] | None = None,
        seed: int | None = None,
    ) -> str | None:
        """Apply :func:`conclude`, store the report row, and return why the outcome fails its
        expectation (:meth:`Expectations.mismatch`) or None. ``inputs`` (role -> experiment name
        in this run's store) lets ``sae-claims judge`` re-judge the row from results.json.
        ``seed``: the procedure's base seed; at the seed sweep's reference seed (or None) a claim
        the sweep found unstable is concluded inconclusive (:func:`harness.verdicts.stability.apply_stability`).
        ``not_run``: why the claim could not be judged (an input it needs is missing): a *not run*
        row, checked against the expectation like any outcome."""
        from harness.verdicts.stability import REFERENCE_SEED, apply_stability, row_summary

        head = self._row_head(claim_id, procedure)  # an unknown claim id fails before anything is recorded
        if not_run is not None:  # an input the rule cannot do without is missing: nothing was judged
            self.not_run(claim_id, procedure, f"not run: {not_run}")
            self.last = Conclusion(NOT_RUN, None, f"not run: {not_run}")
            self.store.obtained.setdefault(claim_id, {})[procedure] = {"verdict": NOT_RUN, "control": None}
            return self.expectations.mismatch(self.profile, claim_id, procedure, NOT_RUN, None, not_run)
        c = conclude(
            rule_holds=rule_holds,
            control_holds=control_holds,
            control_scored=control_scored,
            control=control,
            detail=detail,
            inconclusive=inconclusive,
            control_inconclusive=control_inconclusive,
            control_not_run=control_not_run,
        )
        stab = self.stability.get((claim_id, procedure)) if seed in (None, REFERENCE_SEED) else None
        c = apply_stability(c, stab)
        self.last = c
        if control is not None:
            measured = {**measured, "control": control}
        self.store.results.append(
            {
                **head,
                "verdict": c.verdict,
                "rule_holds": None if rule_holds is None else bool(rule_holds),
                "control_outcome": c.control_outcome,
                "inconclusive": c.inconclusive,
                "measured": measured,
                "detail": c.detail,
                "expected": self.expectations.entry(self.profile, claim_id, procedure),
                **({"inputs": dict(inputs)} if inputs else {}),
                **({"seed_stability": row_summary(stab)} if stab is not None else {}),
            }
        )
        self.store.obtained.setdefault(claim_id, {})[procedure] = {"verdict": c.verdict, "control": c.control_outcome}
        return self.expectations.mismatch(
            self.profile, claim_id, procedure, c.verdict, c.control_outcome, f"{c.detail} {measured}"
        )

    def judge(self, claim_id: str, procedure: Any, inputs: dict[str, str]) -> str | None:
        """Judge ``claim_id`` with its registered rule (:mod:`harness.verdicts.rules`) on this
        run's experiment records named by ``inputs`` (role -> name, as passed to
        :meth:`experiment` without the profile prefix), and conclude as :meth:`conclude`. The row
        keeps ``inputs``, so ``sae-claims judge results.json`` can judge it again."""
        from harness.verdicts.rules import judge

        missing = [n for n in inputs.values() if f"{self.profile}:{n}" not in self.store.experiments]
        if missing:
            raise KeyError(f"{claim_id}: experiments {missing} were not recorded in this run (recorder.experiment).")
        records = {role: self.store.experiments[f"{self.profile}:{name}"] for role, name in inputs.items()}
        j = judge(claim_id, records, procedure, profile=self.profile)
        if j.not_run is not None:  # a record lacks a field the rule cannot do without
            return self.conclude(
                claim_id,
                procedure.name,
                rule_holds=None,
                measured={},
                control=None,
                control_holds=None,
                not_run=j.not_run,
            )
        return self.conclude(
            claim_id, procedure.name, **j.recorder_kwargs(), inputs=inputs, seed=getattr(procedure, "seed", None)
        )

    def _row_head(self, claim_id: str, procedure: str) -> dict[str, Any]:
        """The fields every results.json claim row starts with: the claim's record and the run."""
        rec = CLAIMS[claim_id]
        return {
            "id": claim_id,
            "statement": rec.statement,
            "source": rec.source,
            "paper_values": rec.paper_values,
            "rule": rec.rule,
            "procedure": procedure,
            "profile": self.profile,
        }

    def not_run(self, claim_id: str, procedure: str, reason: str) -> None:
        self.store.results.append(
            {
                **self._row_head(claim_id, procedure),
                "verdict": NOT_RUN,
                "measured": {},
                "detail": reason,
                "expected": None,
            }
        )
