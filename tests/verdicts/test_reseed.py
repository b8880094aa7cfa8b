"""The gpu tier's own seed-stability check (harness/verdicts/reseed.py): the recheck logic on
constructed records (a verdict one reseed overturns is unstable, so the recorder concludes it
inconclusive; records are computed once per group, procedure and seed), what it leaves out, and
the real pipeline on a slice of the fixture world agreeing with the smoke seed sweep's driver."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from harness.config import get_procedure
from harness.verdicts.recorder import ClaimRecorder, Expectations, RunStore, conclude
from harness.verdicts.reseed import RESEED_GROUPS, ReseedCheck, reseed_group
from harness.verdicts.stability import CLAIM_GROUPS, UNSTABLE_REASON, group_records, run_sweep

NR, R, INC = "not reproduced", "reproduced", "inconclusive"


class _J:
    """A judgement whose rule holds unless the records say ``flip`` (a seed-dependent verdict)."""

    def __init__(self, records: dict[str, Any]) -> None:
        self.flip = bool(records["grid"].get("flip"))

    def conclusion(self) -> Any:
        return conclude(rule_holds=not self.flip, control_holds=False)


@pytest.fixture
def fake_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.verdicts.rules.judge", lambda cid, recs, proc, profile: _J(recs))


def _check(flip_at: set[int], n: int, seen: list[tuple[str, int]]) -> ReseedCheck:
    def records(procedure: Any, group: str) -> dict[str, Any]:
        seen.append((procedure.name, procedure.seed))
        return {"grid": {"flip": procedure.seed in flip_at}, "control_grid": {}}

    procs = {p: get_procedure(p) for p in ("paper", "corrected")}
    return ReseedCheck("paper", n, records, procs)


def test_one_reseed_that_overturns_the_verdict_makes_it_unstable(fake_judge: None) -> None:
    seen: list[tuple[str, int]] = []
    check = _check({2}, 2, seen)
    s = check[("U1", "paper")]
    assert (s.n_seeds, s.agreeing, s.reference, s.stable) == (3, 2, (R, "other way"), False)
    # the other claims of the group share the group's records: computed once per (procedure, seed)
    assert check[("U4", "paper")].stable is False and seen == [("paper", 0), ("paper", 1), ("paper", 2)]
    assert check.cost_s.keys() == {("grid", "paper", s) for s in (0, 1, 2)}
    steady = _check(set(), 2, [])[("U1", "corrected")]
    assert (steady.n_seeds, steady.agreeing, steady.stable) == (3, 3, True)
    assert "3/3 seeds" in steady.describe() and len(check) == 2 and set(check) == {("U1", "paper"), ("U4", "paper")}


def test_the_recorder_reports_an_unstable_gpu_verdict_inconclusive(fake_judge: None, tmp_path: Path) -> None:
    store = RunStore()
    rec = ClaimRecorder("paper", store=store, expectations=Expectations(tmp_path), stability=_check({1}, 2, []))
    kw: dict[str, Any] = {"measured": {}, "control": {}, "rule_holds": True, "control_holds": False}
    rec.conclude("U1", "paper", **kw, seed=0)
    row = store.results[-1]
    assert row["verdict"] == INC and row["inconclusive"].startswith(UNSTABLE_REASON)
    assert row["seed_stability"] == {
        **row["seed_stability"],
        "n_seeds": 3,
        "min_seeds": 3,
        "same_outcome": 2,
        "stable": False,
    }
    # a steady claim keeps its verdict, and its row says on how many seeds it rests
    rec2 = ClaimRecorder("paper", store=store, expectations=Expectations(tmp_path), stability=_check(set(), 2, []))
    rec2.conclude("U1", "paper", **kw, seed=0)
    assert store.results[-1]["verdict"] == R and store.results[-1]["seed_stability"]["same_outcome"] == 3
    # the report shows the row's own seed stability beside the verdict
    from harness.report.markdown import write_report

    rec2.conclude("W1", "paper", **kw, seed=0)  # a seed-pair claim: not rechecked
    assert "seed_stability" not in store.results[-1]
    md = write_report(
        tmp_path / "rep", profile="paper", claim_results=store.results[-2:], experiments={}, provenance={}
    ).read_text()
    assert "stable: 3/3 seeds give seed 0's outcome" in md and "not rechecked" in md and "not swept" not in md


def test_what_the_check_leaves_out(fake_judge: None) -> None:
    seen: list[tuple[str, int]] = []
    check = _check({1}, 2, seen)
    assert check.get(("W1", "paper")) is None and check.get(("P1", "corrected")) is None
    assert ("U1", "unknown-procedure") not in check and seen == []
    off = _check({1}, 0, seen)
    assert off.get(("U1", "paper")) is None and seen == []
    other_seed = ReseedCheck(
        "paper", 2, lambda p, g: {"grid": {}}, {"paper": dataclasses.replace(get_procedure("paper"), seed=7)}
    )
    assert other_seed.get(("U1", "paper")) is None  # the check is about the reference seed's verdict
    with pytest.raises(ValueError, match="n_reseeds = -1"):
        ReseedCheck("paper", -1, lambda p, g: {}, {})
    # every claim judged on a recomputable record group is rechecked; the seed-pair claims are not
    assert reseed_group("S2") == "semantic_table" and reseed_group("X1") is None
    swept = {c for g, cs in CLAIM_GROUPS.items() if g != "seed_pair" for c in cs}
    assert swept <= {c for cs in RESEED_GROUPS.values() for c in cs}


def test_on_the_fixture_world_the_check_gives_the_seed_sweeps_outcomes(tmp_path: Path) -> None:
    """Real records: S1/S4 on the fixture world's semantic table pair (smaller nulls and draws)
    rechecked at seeds 0-1 agree with the smoke sweep's driver (harness/verdicts/stability.py
    ``run_sweep``) at the same seeds."""
    from fixtures.profile import smoke_profile
    from harness.experiments.grid import LoadedPair

    small = dataclasses.replace(
        smoke_profile(), permutations=19, permutations_semantic=19, random_subsets=5, size_matched_draws=9
    )
    world = LoadedPair(small, cache_dir=tmp_path / "activations")
    paper = get_procedure("paper")
    check = ReseedCheck("smoke", 1, lambda p, g: group_records(world, p, g), {"paper": paper})
    data = run_sweep(world, [paper], {"semantic_table": [0, 1]})
    for cid in ("S1", "S4"):
        got = check[(cid, "paper")]
        want = [(r["verdict"], r["control"]) for r in data["outcomes"][cid]["paper"]]
        assert got.n_seeds == 2 and got.reference == want[0]
        assert got.agreeing == sum(o == want[0] for o in want)
    assert json.dumps(check.cost_s.get(("semantic_table", "paper", 1)))  # the reseed was timed


def test_the_claims_plugin_hands_back_the_run_records_at_seed_0_and_recomputes_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """claims/conftest.py ``reseed_check``: at the reference seed the group's records are the ones
    the claims were judged on (the session cache, no recompute); at another seed they are computed
    with the run's executor and layer options."""
    import types

    import claims.conftest as plugin
    from harness.verdicts import stability

    prof = types.SimpleNamespace(name="paper", semantic_table=(3, 4), semantic_layers_a=[1], semantic_layers_b=[2, 3])
    world = types.SimpleNamespace(profile=prof)
    held = {
        ("grid", "paper", "paper", False): "grid0",
        ("grid", "paper", "paper", True): "control0",
        ("semantic", "paper", "paper", False, 3, 4): "table0",
        ("semantic", "paper", "paper", True, 3, 4): "ctable0",
    }
    monkeypatch.setattr(plugin, "_CACHE", dict(held))
    calls: list[tuple[int, str, dict[str, Any]]] = []

    def computed(w: Any, procedure: Any, group: str, spr: Any = None, **kw: Any) -> dict[str, Any]:
        calls.append((procedure.seed, group, kw))
        return {"computed": procedure.seed}

    monkeypatch.setattr(stability, "group_records", computed)
    config = types.SimpleNamespace(getoption=lambda o: {"--reseeds": None, "--procedure": "paper"}[o])
    options = {"layers_a": [1], "layers_b": [2, 3]}
    check = plugin.reseed_check(world, options, "EXECUTOR", config)
    assert check.n_reseeds == 1 and list(check.procedures) == ["paper"]
    paper = get_procedure("paper")
    assert check.group_records(paper, "grid") == {"grid": "grid0", "control_grid": "control0"}
    assert check.group_records(paper, "semantic_table") == {"table": "table0", "control_table": "ctable0"}
    assert calls == []
    # a grid held without its control (the claims judged so far read the grid alone): the grid is the
    # judged one, its control made as the fixture makes it
    import harness.experiments.grid as grid_mod

    del plugin._CACHE[("grid", "paper", "paper", True)]
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(grid_mod, "pair_counts", lambda g: {"counts of": g})
    monkeypatch.setattr(grid_mod, "run_grid", lambda w, p, **kw: made.append(kw) or "control-made")
    assert check.group_records(paper, "grid") == {"grid": "grid0", "control_grid": "control-made"}
    assert made == [
        {
            "control": True,
            "layers_a": [1],
            "layers_b": [2, 3],
            "match_pairs": {"counts of": "grid0"},
            "executor": "EXECUTOR",
        }
    ]
    # the semantic grid is not all held: computed; so is any group at another seed
    assert check.group_records(paper, "semantic_grid") == {"computed": 0}
    assert check.group_records(dataclasses.replace(paper, seed=1), "grid") == {"computed": 1}
    assert calls[-1] == (1, "grid", {"executor": "EXECUTOR", "layers_a": [1], "layers_b": [2, 3]})


def test_a_failed_reseed_keeps_the_verdict_unchecked_and_is_not_retried(fake_judge: None) -> None:
    """An error while recomputing (e.g. out of device memory) must not lose the seed-0 verdict: the
    claim gets no stability entry (reported "not rechecked"), the failure is kept and logged, and
    the group's other claims do not retry the recompute."""
    calls: list[int] = []
    lines: list[str] = []

    def records(procedure: Any, group: str) -> dict[str, Any]:
        calls.append(procedure.seed)
        if procedure.seed == 1:
            raise RuntimeError("CUDA out of memory")
        return {"grid": {}, "control_grid": {}}

    check = ReseedCheck("paper", 2, records, {"paper": get_procedure("paper")}, log=lines.append)
    assert check.get(("U1", "paper")) is None and check.get(("U2", "paper")) is None
    assert calls == [0, 1] and check.failures == {("grid", "paper"): "seed 1: RuntimeError: CUDA out of memory"}
    assert any("reseed check FAILED" in line for line in lines)
