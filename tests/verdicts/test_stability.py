"""Seed stability of the smoke verdicts (harness/verdicts/stability.py): the stability rule on
constructed sweep data (stable, unstable, missing claim, too few seeds), the recorder turning an
unstable claim inconclusive, the report showing the fractions, and the committed sweep agreeing
with the reviewed smoke expectations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.verdicts.recorder import ClaimRecorder, Expectations, RunStore, conclude
from harness.verdicts.stability import (
    DEFAULT_STABILITY_FILE,
    MIN_SEEDS,
    NOT_SWEPT,
    UNSTABLE_REASON,
    apply_stability,
    check_expectations,
    run_sweep,
    stability_markdown,
    stability_notes,
    summarize,
    write_stability,
)

REPO = Path(__file__).resolve().parents[2]
NR, R, INC = "not reproduced", "reproduced", "inconclusive"


def sweep(outcomes: dict[str, dict[str, list[tuple[str, str | None]]]], *, complete: bool = True) -> dict[str, Any]:
    """A sweep record whose seed ``i`` gives ``outcomes[claim][proc][i]``."""
    return {
        "kind": "seed_stability",
        "profile": "smoke",
        "reference_seed": 0,
        "min_seeds": dict(MIN_SEEDS),
        "not_swept": dict(NOT_SWEPT),
        "complete": complete,
        "outcomes": {
            c: {p: [{"seed": i, "verdict": v, "control": k} for i, (v, k) in enumerate(xs)] for p, xs in per.items()}
            for c, per in outcomes.items()
        },
    }


def _expect(verdict: str, control: str | None, reason: str = "why") -> dict[str, Any]:
    return {"verdict": verdict, "control": control, "reason": reason}


def test_stable_needs_90_percent_of_enough_seeds_agreeing_with_the_reference_seed() -> None:
    n = MIN_SEEDS["semantic_table"]  # S1 is a cheap claim: 20 seeds
    two_off = [(NR, "other way")] * (n - 2) + [(R, "other way")] * 2
    three_off = [(NR, "other way")] * (n - 3) + [(NR, "same way")] * 3
    table = summarize(sweep({"S1": {"paper": two_off, "corrected": three_off}}))
    s = table[("S1", "paper")]
    assert (s.n_seeds, s.agreeing, s.stable) == (n, n - 2, True) and s.fraction == pytest.approx(0.9)
    u = table[("S1", "corrected")]
    # the verdict alone agrees everywhere, but the control outcome flips in 3 of 20: not stable
    assert (u.agreeing, u.verdict_agreeing, u.stable) == (n - 3, n, False)
    assert "same way" in u.describe() and f"{n - 3}/{n}" in u.describe()


def test_the_reference_is_seed_0_not_the_majority() -> None:
    # seed 0 is the outlier: the claims' run reports an outcome 1 seed in 20 gives
    xs = [(R, "other way")] + [(NR, "other way")] * 19
    s = summarize(sweep({"S4": {"paper": xs}}))[("S4", "paper")]
    assert s.reference == (R, "other way") and s.agreeing == 1 and s.stable is False


def test_too_few_seeds_is_no_statement_either_way() -> None:
    xs = [(NR, "other way")] * (MIN_SEEDS["grid"] - 1)
    s = summarize(sweep({"U1": {"paper": xs}}))[("U1", "paper")]
    assert s.stable is None and "below the" in s.describe()
    # expensive claims need their 5 seeds, all agreeing (90 % of 5 is 4.5)
    five = [(NR, "other way")] * 4 + [(R, "other way")]
    assert summarize(sweep({"U1": {"paper": five}}))[("U1", "paper")].stable is False


def test_check_expectations_stable_unstable_and_missing() -> None:
    n = MIN_SEEDS["semantic_table"]
    data = sweep(
        {
            "S1": {"paper": [(NR, "other way")] * n},
            "S4": {"paper": [(NR, "other way")] * (n // 2) + [(R, "other way")] * (n - n // 2)},
        }
    )
    good = {
        "S1": {"paper": _expect(NR, "other way")},
        "S4": {"paper": _expect(INC, "other way", f"{UNSTABLE_REASON}: half the seeds reproduce")},
        "P1": {"PB method": _expect(R, "other way")},  # not swept, by design
    }
    assert check_expectations(data, good) == []
    # an unstable claim pinned with its seed-0 verdict
    bad = {**good, "S4": {"paper": _expect(NR, "other way")}}
    assert any("S4/paper: not stable" in p for p in check_expectations(data, bad))
    # inconclusive, but not for the seed reason
    bad = {**good, "S4": {"paper": _expect(INC, "other way", "too few pairs")}}
    assert any("S4/paper" in p for p in check_expectations(data, bad))
    # a stable claim pinned with another outcome
    bad = {**good, "S1": {"paper": _expect(NR, "same way")}}
    assert any("S1/paper: stable" in p for p in check_expectations(data, bad))
    # an expected claim the sweep left out, and a swept claim without an expectation
    missing = {**good, "U2": {"paper": _expect(NR, "other way")}}
    assert any("U2/paper" in p and "missing from the seed sweep" in p for p in check_expectations(data, missing))
    unexpected = {k: v for k, v in good.items() if k != "S1"}
    assert any("S1/paper" in p and "no expectation" in p for p in check_expectations(data, unexpected))


def test_a_complete_sweep_must_reach_the_minimum_seeds() -> None:
    few = {"S1": {"paper": [(NR, "other way")] * 3}}
    want = {"S1": {"paper": _expect(NR, "other way")}}
    assert check_expectations(sweep(few, complete=False), want) == []  # partial: no statement yet
    assert any("too few seeds" in p for p in check_expectations(sweep(few, complete=True), want))


def test_apply_stability_makes_an_unstable_claim_inconclusive_and_keeps_the_control() -> None:
    n = MIN_SEEDS["seed_pair"]
    table = summarize(
        sweep({"W1": {"paper": [(NR, "other way")] * (n - 5) + [(R, "other way")] * 5, "corrected": [(NR, None)] * n}})
    )
    c = conclude(rule_holds=False, control_holds=False)
    u = apply_stability(c, table[("W1", "paper")])
    assert u.verdict == INC and u.control_outcome == "other way" and u.inconclusive is not None
    assert u.inconclusive.startswith(UNSTABLE_REASON)
    assert apply_stability(c, table[("W1", "corrected")]) == c  # stable: unchanged
    assert apply_stability(c, None) == c  # not swept: unchanged
    # inconclusive at seed 0 already, and unstable: both reasons, the seed one first
    c0 = conclude(rule_holds=None, control_holds=None, inconclusive="too few pairs")
    u0 = apply_stability(c0, table[("W1", "paper")])
    assert u0.inconclusive is not None and u0.inconclusive.startswith(UNSTABLE_REASON)
    assert u0.inconclusive.endswith("too few pairs") and u0.detail.count("too few pairs") == 1


def test_recorder_concludes_unstable_claims_inconclusive_at_the_reference_seed(tmp_path: Path) -> None:
    n = MIN_SEEDS["semantic_table"]
    table = summarize(sweep({"S1": {"paper": [(NR, "other way")] * (n - 4) + [(R, "other way")] * 4}}))
    (tmp_path / "smoke.json").write_text(
        json.dumps({"S1": {"paper": _expect(INC, "other way", f"{UNSTABLE_REASON}: r")}})
    )
    store = RunStore()
    rec = ClaimRecorder("smoke", store=store, expectations=Expectations(tmp_path), stability=table)
    kw: dict[str, Any] = {"measured": {}, "control": {}, "rule_holds": False, "control_holds": False}
    assert rec.conclude("S1", "paper", **kw, seed=0) is None  # matches its "unstable" expectation
    row = store.results[-1]
    assert row["verdict"] == INC and row["inconclusive"].startswith(UNSTABLE_REASON)
    assert row["seed_stability"]["stable"] is False and row["seed_stability"]["same_outcome"] == n - 4
    # the row (with its seed_stability) is what results.json's schema describes
    import jsonschema

    from harness.report.schema import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(json.loads(json.dumps(row)), {"$ref": "#/$defs/ClaimRow", "$defs": schema["$defs"]})
    # a run at another base seed is not the sweep's reference: judged as it came out
    failure = rec.conclude("S1", "paper", **kw, seed=7)
    assert store.results[-1]["verdict"] == NR and failure is not None


def test_judge_results_applies_a_stored_instability_again(tmp_path: Path) -> None:
    """`sae-claims judge` re-judges a row stored as 'unstable over seeds' inconclusive again."""
    from harness.cli import judge_results

    grid = {"kind": "grid", "layers_a": [0, 1], "layers_b": [0, 1], "cells": [], "n_permutations": 99}
    row = {
        "id": "U8",
        "procedure": "corrected",
        "profile": "smoke",
        "verdict": INC,
        "control_outcome": "other way",
        "inputs": {"grid": "g", "control_grid": "c"},
        "seed_stability": {"stable": False, "note": "reproduced (control other way) in 3/5 seeds"},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"profile": "smoke", "experiments": {"g": grid, "c": grid}, "claims": [row]}))
    out = judge_results(path)[0]
    assert out["rejudged"] == INC and UNSTABLE_REASON in str(out["detail"])
    path.write_text(
        json.dumps(
            {"profile": "smoke", "experiments": {"g": grid, "c": grid}, "claims": [{**row, "seed_stability": None}]}
        )
    )
    assert judge_results(path)[0]["rejudged"] != INC  # without the stored instability: the rule's own verdict


def test_report_shows_the_seed_fraction_per_claim_and_procedure(tmp_path: Path) -> None:
    from harness.report.markdown import write_report

    n = MIN_SEEDS["semantic_table"]
    write_stability(
        tmp_path / "st",
        sweep({"S1": {"paper": [(NR, "other way")] * n, "corrected": [(NR, "other way")] * 10 + [(R, None)] * 10}}),
    )
    notes = stability_notes(tmp_path / "st" / "stability.json")
    assert notes[("S1", "paper")].startswith("stable") and f"{n}/{n}" in notes[("S1", "paper")]
    assert notes[("S1", "corrected")].startswith("UNSTABLE") and f"10/{n}" in notes[("S1", "corrected")]
    assert "own replication" in notes[("P1", "*")]
    results = [
        {"id": "S1", "procedure": p, "verdict": v, "measured": {}} for p, v in (("paper", NR), ("corrected", INC))
    ]
    md = write_report(
        tmp_path / "r", profile="smoke", claim_results=results, experiments={}, provenance={}, stability=notes
    )
    report = md.read_text()
    s1 = report.split('<a id="claim-s1">')[1].split("### ")[0]  # S1's section: a row per procedure
    assert "| seed stability |" in s1
    assert f"| stable: {n}/{n}" in s1.split("| paper |")[1].splitlines()[0]
    assert "| UNSTABLE: 10/20" in s1.split("| corrected |")[1].splitlines()[0]
    p1 = report.split('<a id="claim-p1">')[1].split("### ")[0]
    assert "own replication" in p1  # P1-P3 say why they are not swept
    text = (tmp_path / "st" / "stability.md").read_text()
    assert "UNSTABLE" in text and "not swept: seed pairs are the claim's own replication" in text


def test_partial_sweep_is_marked_partial(tmp_path: Path) -> None:
    data = sweep({"S1": {"paper": [(NR, "other way")] * 3}}, complete=False)
    assert "PARTIAL" in stability_markdown(data)
    write_stability(tmp_path, data)
    assert all(v.endswith("(partial sweep)") for v in stability_notes(tmp_path / "stability.json").values())


class _Prof:
    name = "smoke"


class _World:
    profile = _Prof()


def test_run_sweep_judges_each_seed_with_the_registered_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver replaces the procedure's seed, judges every claim of a group and checkpoints."""
    from harness.config import get_procedure
    from harness.verdicts import stability

    seen: list[int] = []

    def records(world: Any, procedure: Any, group: str, spr: Any) -> dict[str, Any]:
        seen.append(procedure.seed)
        return {"grid": {"seed": procedure.seed}, "control_grid": {}}

    class J:
        def __init__(self, seed: int) -> None:
            self.seed = seed

        def conclusion(self) -> Any:
            return conclude(rule_holds=self.seed % 2 == 0, control_holds=False)

    monkeypatch.setattr(stability, "group_records", records)
    monkeypatch.setattr("harness.verdicts.rules.judge", lambda cid, recs, proc, profile: J(recs["grid"]["seed"]))
    checkpoints: list[bool] = []
    data = run_sweep(
        _World(), [get_procedure("paper")], {"grid": [0, 1, 2]}, checkpoint=lambda d: checkpoints.append(d["complete"])
    )
    assert seen == [0, 1, 2] and checkpoints == [False, False, False, True]
    u1 = [(r["seed"], r["verdict"]) for r in data["outcomes"]["U1"]["paper"]]
    assert u1 == [(0, R), (1, NR), (2, R)]
    assert set(data["outcomes"]) == set(stability.CLAIM_GROUPS["grid"])
    # extending a saved sweep runs only the steps it lacks and keeps what it had
    seen.clear()
    more = run_sweep(_World(), [get_procedure("paper")], {"grid": [0, 1, 2, 3, 4]}, previous=data)
    assert seen == [3, 4] and more["complete"]
    assert [r["seed"] for r in more["outcomes"]["U1"]["paper"]] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="another profile"):
        run_sweep(_World(), [get_procedure("paper")], {"grid": [0]}, previous={**data, "profile": "paper"})


def test_committed_sweep_agrees_with_the_smoke_expectations() -> None:
    """reports/stability/stability.json (committed, written by `sae-claims stability`) against
    claims/expected/smoke.json: a stable claim pins the reference seed's outcome, an unstable one
    is inconclusive 'unstable over seeds'; every smoke claim is swept or listed as not swept."""
    assert DEFAULT_STABILITY_FILE.exists(), "run `sae-claims stability` and commit reports/stability/"
    data = json.loads(DEFAULT_STABILITY_FILE.read_text())
    expected = Expectations(REPO / "claims" / "expected").load("smoke")
    assert check_expectations(data, expected) == []


def test_rewrite_recomputes_summary_and_markdown_from_the_saved_outcomes(tmp_path: Path) -> None:
    from fixtures.stability import main

    n = MIN_SEEDS["seed_pair"]
    write_stability(tmp_path, sweep({"X1": {"paper": [(NR, "other way")] * n}}), provenance={"git_commit": "abc"})
    saved = json.loads((tmp_path / "stability.json").read_text())
    saved["summary"] = {"X1/paper": {"stable": "stale"}}
    (tmp_path / "stability.md").write_text("stale")
    (tmp_path / "stability.json").write_text(json.dumps(saved))
    assert main(["--rewrite", "--out", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "stability.json").read_text())
    assert again["summary"]["X1/paper"]["stable"] is True and again["provenance"] == {"git_commit": "abc"}
    assert "X1" in (tmp_path / "stability.md").read_text()


def test_the_reference_seed_is_the_seed_the_claims_run_at() -> None:
    from harness.config import PROCEDURES
    from harness.verdicts.stability import REFERENCE_SEED

    assert {p.seed for p in PROCEDURES.values()} == {REFERENCE_SEED}
