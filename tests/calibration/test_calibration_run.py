"""Calibration runner: rates, minimum detectable effect, flags, and early errors."""

from __future__ import annotations

import pytest

from harness.calibration.run import PLANS, ClaimPlan, Trial, calibrate, summarise
from harness.calibration.report import DEFAULT_CALIBRATION_FILE, calibration_notes, load_calibration, write_calibration
from harness.config import CORRECTED, PAPER
from harness.errors import ConfigError


def _trials(rates: dict[float, int], n: int, world: str = "planted", strength: float | None = None) -> list[Trial]:
    out = []
    for s, k in rates.items():
        for seed in range(n):
            ok = seed < k
            out.append(
                Trial(
                    "U1",
                    world,
                    s if strength is None else strength,
                    seed,
                    "reproduced" if ok else "not reproduced",
                    ok,
                    "other way",
                )
            )
    return out


def test_summarise_rates_power_mde_and_flags_on_the_bounds() -> None:
    plan = ClaimPlan("U1", "grid", "x", (0.0, 0.3, 0.7), 0.7, "note", false_worlds={"flat": {}})
    trials = _trials({0.0: 0, 0.3: 40, 0.7: 50}, 50) + _trials({0.7: 30}, 50, world="flat")
    r = summarise(plan, plan.strengths, trials, procedure=CORRECTED, rule="r")
    assert r.pass_rate == {0.0: 0.0, 0.3: 0.8, 0.7: 1.0}
    assert r.false_positive_rate == 0.0 and r.power == 1.0 and r.min_detectable == 0.3
    assert (r.power_count.k, r.power_count.n) == (50, 50) and r.power_count.low > 0.9
    assert r.false_world_rates == {"flat": 0.6}
    assert len(r.flags) == 1 and r.flags[0].startswith("30/50 false passes in the flat, 95% upper bound 0.74: above")
    assert not r.calibrated
    clean = summarise(
        plan,
        plan.strengths,
        _trials({0.0: 0, 0.3: 40, 0.7: 50}, 50) + _trials({0.7: 0}, 50, world="flat"),
        procedure=CORRECTED,
        rule="r",
    )
    assert clean.calibrated and clean.flags == ()
    # the same rates from 5 seeds are not evidence enough: flagged, never ok
    few = summarise(
        plan,
        plan.strengths,
        _trials({0.0: 0, 0.3: 4, 0.7: 5}, 5) + _trials({0.7: 0}, 5, world="flat"),
        procedure=CORRECTED,
        rule="r",
    )
    assert not few.calibrated and len(few.flags) == 3
    assert all("too few seeds" in f for f in few.flags)
    weak = summarise(plan, plan.strengths, _trials({0.0: 1, 0.3: 1, 0.7: 3}, 5), procedure=CORRECTED, rule="r")
    assert weak.min_detectable is None
    assert (
        weak.flags[0]
        == "power 3/5 at the paper-like strength 0.7, 95% lower bound 0.15: too few seeds to meet the target 0.8"
    )


def test_written_calibration_reloads_to_the_same_judgement(tmp_path) -> None:
    plan = ClaimPlan("U1", "grid", "x", (0.0, 0.7), 0.7, "note", false_worlds={"flat": {}})
    r = summarise(
        plan,
        plan.strengths,
        _trials({0.0: 0, 0.7: 48}, 50) + _trials({0.7: 1}, 50, world="flat"),
        procedure=CORRECTED,
        rule="r",
    )
    path = write_calibration(tmp_path, [r], meta={"seeds": 50}, figures=False)
    (back,) = load_calibration(path)
    assert back.flags == r.flags and back.pass_count == r.pass_count and back.false_world_count == r.false_world_count
    notes = calibration_notes(path)
    assert {k for k in notes if k[1] != "*"} == {("U1", "corrected")}
    assert notes[("U1", "corrected")].startswith(
        "FLAGGED (too few seeds): power 48/50 (95% lower bound 0.86), false passes 1/50 (95% upper bound 0.11) (corrected, n = 50)"
    )


def test_calibration_notes_are_per_procedure_with_variants_on_their_claims_row(tmp_path) -> None:
    """Issue 22: the report's verdict row of a procedure shows that procedure's calibration; a
    variant world's entry ("U1 token") joins its claim's row of the same procedure."""
    plan = ClaimPlan("U1", "grid", "x", (0.0, 0.7), 0.7, "note")
    token = ClaimPlan("U1 token", "grid", "x", (0.0, 0.7), 0.7, "note", rule_id="U1")
    results = [
        summarise(plan, plan.strengths, _trials({0.0: 0, 0.7: 50}, 50), procedure=CORRECTED, rule="r"),
        summarise(plan, plan.strengths, _trials({0.0: 0, 0.7: 20}, 50), procedure=PAPER, rule="r"),
        summarise(token, token.strengths, _trials({0.0: 15, 0.7: 50}, 50), procedure=CORRECTED, rule="r"),
    ]
    notes = calibration_notes(write_calibration(tmp_path, results, meta={}, figures=False))
    assert {k for k in notes if k[1] != "*"} == {("U1", "corrected"), ("U1", "paper")}
    corrected, paper = notes[("U1", "corrected")], notes[("U1", "paper")]
    assert (
        corrected.startswith("ok: power 50/50 (95% lower bound 0.93), false passes 0/50")
        and "(corrected, n = 50)" in corrected
    )
    assert " | FLAGGED (misses a target): power 50/50" in corrected and "(corrected, token world, n = 50)" in corrected
    assert (
        paper.startswith("FLAGGED (misses a target): power 20/50 (95% lower bound 0.26)") and "(paper, n = 50)" in paper
    )
    assert "corrected" not in paper and "token" not in paper


def test_a_seed_rule_measured_under_both_procedures_gets_one_note(tmp_path) -> None:
    """P1-P3's records do not depend on the run's procedure (the PB method judges them): the runs
    under `paper` and `corrected` hold the same trials, so their "PB method" row shows one note, the
    entry with the most seeds."""
    plan = ClaimPlan("P1", "seed", "x", (0.0, 0.4), 0.4, "note")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_calibration(
        tmp_path / "a",
        [summarise(plan, plan.strengths, _trials({0.0: 0, 0.4: 50}, 50), procedure=CORRECTED, rule="r")],
        meta={},
        figures=False,
    )
    write_calibration(
        tmp_path / "b",
        [summarise(plan, plan.strengths, _trials({0.0: 0, 0.4: 50}, 50), procedure=PAPER, rule="r")],
        meta={},
        figures=False,
    )
    main = write_calibration(
        tmp_path,
        [summarise(plan, plan.strengths, _trials({0.0: 0, 0.4: 5}, 5), procedure=PAPER, rule="r")],
        meta={},
        figures=False,
    )
    notes = calibration_notes(main)
    (key,) = [k for k in notes if k[1] != "*"]
    assert key == ("P1", "PB method") and " | " not in notes[key] and "n = 50" in notes[key]


def test_a_run_that_added_claim_false_worlds_speaks_for_the_same_seeds(tmp_path) -> None:
    """Of two runs of a rule with equal seeds, the one that also measured its claim-false worlds
    gives the note, whichever file comes first."""
    plan = ClaimPlan("U4", "grid", "x", (0.0, 0.7), 0.7, "note", false_worlds={"flat": {}})
    null_only = _trials({0.0: 0, 0.7: 50}, 50)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for sub, trials in (("a", null_only), ("b", null_only + _trials({0.7: 3}, 50, world="flat"))):
        write_calibration(
            tmp_path / sub,
            [summarise(plan, plan.strengths, trials, procedure=CORRECTED, rule="r")],
            meta={},
            figures=False,
        )
    main = write_calibration(tmp_path, [], meta={}, figures=False)
    note = calibration_notes(main)[("U4", "corrected")]
    assert "false passes 3/50" in note and "claim-false worlds not in this run" not in note


def test_committed_calibration_report_is_judged_on_the_bounds() -> None:
    """The committed report's flags are what today's judging derives from its own trials (so a
    report written before the intervals, or by hand, fails here), and no rule is 'ok' on too few seeds."""
    import json

    files = [DEFAULT_CALIBRATION_FILE, *sorted(DEFAULT_CALIBRATION_FILE.parent.glob("*/calibration.json"))]
    for f in files:
        stored = json.loads(f.read_text())["claims"]
        for c, r in zip(stored, load_calibration(f), strict=True):
            assert tuple(c["flags"]) == r.flags, (f, c["claim_id"])
            assert c["calibrated"] == r.calibrated
            if r.calibrated:
                assert r.power_count.low >= 0.8 and r.power_count.n >= 36


def test_calibrate_refuses_unknown_claims_missing_rules_and_bad_strengths() -> None:
    with pytest.raises(ConfigError, match="not plantable"):
        calibrate({}, claims=["U8"])
    with pytest.raises(ConfigError, match="no evaluator"):
        calibrate({}, claims=["U1"])
    with pytest.raises(ConfigError, match="must include 0"):
        calibrate({"U1": lambda r, p: None}, claims=["U1"], strengths={"U1": (0.3, 0.7)})
    with pytest.raises(ConfigError, match="paper_strength"):
        ClaimPlan("U1", "grid", "x", (0.0, 0.5), 0.7, "note")


def test_every_plan_is_consistent() -> None:
    for cid, plan in PLANS.items():
        assert plan.claim_id == cid and plan.strengths[0] == 0.0
    assert PLANS["U1 token"].rule == "U1" and PLANS["U1"].rule == "U1"


def test_readme_calibration_block_is_generated_from_the_committed_data() -> None:
    """README's list of rules that meet both targets on the bounds is the committed data's
    (regenerate with ``python -m harness.calibration readme``)."""
    from harness.calibration.cells import REPO_ROOT
    from harness.calibration.report import README_BEGIN, README_END, readme_summary

    readme = (REPO_ROOT / "docs" / "calibration.md").read_text()
    block = readme[readme.index(README_BEGIN) : readme.index(README_END) + len(README_END)]
    assert block == readme_summary()
    assert "Meet both targets on the 95% bounds" in block


def test_command_line_refuses_unknown_plans_and_procedures(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m harness.calibration run`` names a bad plan or procedure before any world is built."""
    from harness.calibration.__main__ import main

    assert main(["run", "--claims", "U1,NOPE"]) == 2
    assert "no calibration plan for ['NOPE']" in capsys.readouterr().err
    assert main(["run", "--claims", "U1", "--procedure", "papr"]) == 2
    assert "--procedure takes corrected and/or paper" in capsys.readouterr().err


def test_command_line_batches_leave_a_consistent_file_when_stopped(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --batch 1`` writes the report after every seed (every claim and procedure of it), so a run
    stopped in its second batch leaves the first batch's file with one seed in every row."""
    import json

    import harness.calibration.__main__ as cli

    real = cli.calibrate
    seen: list[int] = []

    def stop_in_second_batch(*args, **kwargs):
        seen.append(len(kwargs["seeds"]))
        if len(kwargs["seeds"]) == 2:
            raise KeyboardInterrupt  # the run is stopped part-way
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "calibrate", stop_in_second_batch)
    argv = ["run", "--claims", "W1", "--seeds", "2", "--batch", "1", "--strengths", "ends"]
    argv += ["--procedure", "corrected,paper", "--no-cache", "--out", str(tmp_path)]
    with pytest.raises(KeyboardInterrupt):
        cli.main(argv)
    assert seen == [1, 1, 2]  # batch 1: both procedures; batch 2 stopped at its first
    data = json.loads((tmp_path / "calibration.json").read_text())
    assert data["meta"]["seeds"] == 1 and data["meta"]["seeds_asked"] == 2
    assert [(c["procedure"], c["n_seeds"]) for c in data["claims"]] == [("corrected", 1), ("paper", 1)]
    assert "batch 1/2, seeds 0-0 of 2" in capsys.readouterr().out
    assert cli.main([*argv[:5], "--batch=-1"]) == 2 and "--batch takes 0" in capsys.readouterr().err


def test_command_line_false_worlds_none_keeps_the_null_twin_and_the_cell_keys(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run --false-worlds none`` drops the claim-false worlds besides the null twin (a plan whose
    null twin is not claim-false keeps its own) and leaves the planted cells' keys as they are, so a
    later full run reuses them."""
    import harness.calibration.__main__ as cli

    calls: list[dict] = []

    def record(evaluators, **kwargs):
        calls.append(kwargs)
        return []

    monkeypatch.setattr(cli, "calibrate", record)
    monkeypatch.setattr(cli, "write_calibration", lambda *a, **k: tmp_path / "calibration.json")
    base = ["run", "--claims", "X1,U7", "--seeds", "1", "--procedure", "corrected", "--no-cache"]
    assert cli.main([*base, "--out", str(tmp_path)]) == 0
    assert cli.main([*base, "--false-worlds", "none", "--out", str(tmp_path)]) == 0
    full, lean = calls[0]["plans"], calls[1]["plans"]
    assert full["X1"].false_worlds and lean["X1"].false_worlds == {}
    assert lean["U7"].false_worlds == full["U7"].false_worlds != {}  # U7's null twin is not claim-false

    from harness.calibration.run import _Job
    from harness.config import CORRECTED
    from harness.calibration.worlds import SeedKnobs, WorldKnobs
    from claims.calibration_rules import EVALUATORS

    keys = [
        _Job(EVALUATORS, plans, CORRECTED, WorldKnobs(), SeedKnobs(), (99, 99, 30))
        .cell("X1", "planted", {}, 1.0, 3)
        .key
        for plans in (full, lean)
    ]
    assert keys[0] == keys[1]


def test_a_trial_keeps_the_controls_measurements_and_reads_back() -> None:
    """A trial stores why its control came out as it did (the control's scalar measurements), and a
    stored trial reads back with them (old trials without the field read back with none)."""
    from dataclasses import asdict

    from harness.calibration.run import RuleOutcome, _Job, _trial_from_dict
    from harness.calibration.worlds import SeedKnobs, WorldKnobs

    def evaluator(records, procedure):
        return RuleOutcome(True, False, measured={"frac": 0.9}, control_measured={"share_same": 0.2, "note": "x"})

    job = _Job({"U1": evaluator}, PLANS, CORRECTED, WorldKnobs(), SeedKnobs(), (99, 99, 30))

    class _Cell:
        claim_id, world, strength, seed = "U1", "planted", 0.7, 3

    t = job.trial(_Cell(), {})
    assert t.verdict == "reproduced" and t.control_measured == {"share_same": 0.2}
    assert _trial_from_dict(asdict(t)) == t
    old = {k: v for k, v in asdict(t).items() if k != "control_measured"}
    assert _trial_from_dict(old).control_measured == {}
