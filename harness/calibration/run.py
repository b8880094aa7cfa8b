"""Calibration of the claim rules on known-answer worlds: power and false-positive rate.

For each claim a :class:`ClaimPlan` says which family of records its rule reads (a layer grid,
semantic tables, or seed-pair records), what the planted *strength* is, the paper-like
strength, and the worlds in which the claim is false. :func:`calibrate` builds the records of
every (world, strength, seed) with the pipeline's own code (:func:`~harness.experiments.grid.run_grid`,
:func:`~harness.experiments.grid.run_semantic`, :func:`~harness.seeds.experiment.lan_record`,
:func:`~harness.seeds.experiment.overlap_record` -- nothing here scores anything), hands them
to the claim's evaluator (the rule and its negative control, supplied by the caller: see
``claims/calibration_rules.py``), and turns rule + control into the verdict with the suite's
own verdict rule (:func:`harness.verdicts.recorder.conclude`).

Per claim it records the pass rate ("reproduced") at every strength, the false-positive rate
(pass rate in the null twin, strength 0, and in each claim-false world), the power (pass rate
at the paper-like strength) and the minimum detectable effect (the smallest strength whose
pass rate reaches :data:`POWER_TARGET`). A rule is flagged when its power is below the target
or when its false passes are too many to be consistent with a rate of alpha
(:func:`too_many_false_passes`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.stats import binomtest

from harness.calibration.worlds import SeedKnobs, SyntheticWorld, WorldKnobs, seed_pair
from harness.config import CORRECTED, Procedure
from harness.errors import ConfigError
from harness.experiments.grid import pair_counts, run_grid, run_semantic
from harness.verdicts.recorder import conclude

Family = Literal["grid", "semantic", "seeds"]
Records = Mapping[str, Any]

#: Target power at the paper-like strength.
POWER_TARGET = 0.8

#: Where the calibration tier writes its results (committed; read by the run report).
DEFAULT_CALIBRATION_FILE = Path(__file__).resolve().parents[2] / "reports" / "calibration" / "calibration.json"


@dataclass(frozen=True)
class RuleOutcome:
    """What a claim's test computes before its verdict: the rule on the real records and the
    rule on the negative control (``control_holds`` None: the claim has no control)."""

    rule_holds: bool
    control_holds: bool | None
    control_scored: bool = True
    measured: dict[str, Any] = field(default_factory=dict)
    inconclusive: bool = False
    """The rule judged that the data cannot decide (e.g. too little power): recorded as the
    verdict "inconclusive", which is never a pass (for rules that have that outcome)."""


#: claim id -> evaluator(records, procedure) -> RuleOutcome (see claims/calibration_rules.py)
Evaluator = Callable[[Records, Procedure], RuleOutcome]


@dataclass(frozen=True)
class ClaimPlan:
    """How one claim is planted.

    Attributes:
        claim_id: the inventory id.
        family: which records its rule reads.
        strength: what the strength axis is, in words.
        strengths: planted strengths, ascending; the first is 0 (the null twin) when
            ``null_twin_false`` is True.
        paper_strength: the paper-like strength (must be one of ``strengths``).
        world: knob changes of the world in which the claim is true (on top of the defaults).
        false_worlds: name -> knob changes (on top of ``world``, at the paper-like strength)
            of worlds in which the claim is false.
        null_twin_false: whether the claim is false in the null twin (U7 "does not track" is
            true there, so its false-positive rate comes from its false world only).
        paper_note: where the paper-like strength comes from.
    """

    claim_id: str
    family: Family
    strength: str
    strengths: tuple[float, ...]
    paper_strength: float
    paper_note: str
    world: Mapping[str, Any] = field(default_factory=dict)
    false_worlds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    null_twin_false: bool = True

    def __post_init__(self) -> None:
        if self.paper_strength not in self.strengths:
            raise ConfigError(f"{self.claim_id}: paper_strength {self.paper_strength} is not one of {self.strengths}.")
        if list(self.strengths) != sorted(self.strengths):
            raise ConfigError(f"{self.claim_id}: strengths must be ascending, got {self.strengths}.")


GRID_STRENGTHS = (0.0, 0.15, 0.3, 0.5, 0.7)
_GRID = "peak planted canonical correlation of paired shared decoder rows (WorldKnobs.strength)"
_GRID_NOTE = (
    "0.7 plants canonical correlations 0.49-0.70 in the middle block (A1-3 x B2-3) and >= 0.19 in every "
    "non-zero cell, like the paper's Pythia grid (middle block 1-1 SVCCA .40-.68, almost every cell p < .05)"
)
_SEM_NOTE = "0.7 plants 0.70 at the table pair (A2 x B2); Table 1's subspace SVCCA is .50-.83 (Pythia, paper procedure)"
#: One claim-false world for U3-U6 at once (flat profile with layer 0 as related as the rest,
#: no many-to-1 splits, no junk features), one for U7 (activation tracks the profile), and the
#: flat profile for S5.
_PLAIN = {"profile": "flat", "layer0_unrelated": False, "depth_drift": 0.0, "split_fraction": 0.0, "n_junk": 0}
_PLAIN_NAME = "flat world: layer 0 related, no many-to-1 splits, no junk"
_TRACKING = {"activation_tracks_profile": True, "depth_drift": 0.0}
#: The semantic world: concept subspaces of 12-48 pairs (Table 1: 24-228), room for them.
SEMANTIC_WORLD = {"n_features": 384, "n_per_concept": 24, "n_samples": 64, "shared_fraction": 0.15}
_NOT_COUNTRIES = {"concepts": tuple((c, 0.0 if c == "Countries" else 1.0) for c, _ in WorldKnobs().concepts)}

PLANS: dict[str, ClaimPlan] = {
    p.claim_id: p
    for p in (
        ClaimPlan("U1", "grid", _GRID, GRID_STRENGTHS, 0.7, _GRID_NOTE),
        ClaimPlan("U2", "grid", _GRID, GRID_STRENGTHS, 0.7, _GRID_NOTE),
        ClaimPlan("U3", "grid", _GRID, GRID_STRENGTHS, 0.7, _GRID_NOTE, false_worlds={_PLAIN_NAME: _PLAIN}),
        ClaimPlan("U4", "grid", _GRID, GRID_STRENGTHS, 0.7, _GRID_NOTE, false_worlds={_PLAIN_NAME: _PLAIN}),
        ClaimPlan(
            "U5",
            "grid",
            _GRID,
            GRID_STRENGTHS,
            0.7,
            _GRID_NOTE + "; 30% of B's shared features split (many-to-1)",
            false_worlds={_PLAIN_NAME: _PLAIN},
        ),
        ClaimPlan(
            "U6",
            "grid",
            _GRID,
            GRID_STRENGTHS,
            0.7,
            _GRID_NOTE + "; 12 co-firing junk features per SAE",
            false_worlds={_PLAIN_NAME: _PLAIN},
        ),
        ClaimPlan(
            "U7",
            "grid",
            _GRID,
            GRID_STRENGTHS,
            0.7,
            _GRID_NOTE,
            null_twin_false=False,
            false_worlds={"activation tracks the profile": _TRACKING},
        ),
        ClaimPlan(
            "S1",
            "semantic",
            _GRID,
            GRID_STRENGTHS,
            0.7,
            _SEM_NOTE + "; every category shared",
            world=SEMANTIC_WORLD,
            false_worlds={"Countries not shared": _NOT_COUNTRIES},
        ),
        ClaimPlan(
            "S2",
            "semantic",
            _GRID,
            (0.0, 0.3, 0.5, 0.7),
            0.7,
            _SEM_NOTE + "; Countries not shared (Table 2)",
            world={**SEMANTIC_WORLD, **_NOT_COUNTRIES},
            false_worlds={"Countries shared": {"concepts": WorldKnobs().concepts}},
        ),
        ClaimPlan(
            "S3",
            "semantic",
            _GRID,
            GRID_STRENGTHS,
            0.7,
            _SEM_NOTE + "; concept subspaces of rank 3",
            world=SEMANTIC_WORLD,
        ),
        ClaimPlan(
            "S4",
            "semantic",
            _GRID,
            GRID_STRENGTHS,
            0.7,
            _SEM_NOTE + "; every category shared",
            world=SEMANTIC_WORLD,
            false_worlds={"Countries not shared": _NOT_COUNTRIES},
        ),
        ClaimPlan(
            "S5",
            "semantic",
            _GRID,
            GRID_STRENGTHS,
            0.7,
            _SEM_NOTE,
            world=SEMANTIC_WORLD,
            false_worlds={"flat profile": {"profile": "flat", "depth_drift": 0.0}},
        ),
        ClaimPlan(
            "W1",
            "seeds",
            "fraction of latents shared by the two seeds (SeedKnobs.shared_fraction)",
            (0.0, 0.2, 0.4, 0.6, 0.8),
            0.8,
            "PB 2025: ReLU+L1 seed pairs share ~0.82 (App. A's pair is ReLU+L1)",
        ),
        ClaimPlan(
            "X1",
            "seeds",
            "fraction of latents shared by the two seeds (SeedKnobs.shared_fraction)",
            (0.0, 0.1, 0.2, 0.4),
            0.4,
            "PB 2025: ~0.42 shared for 32k latents (Pythia-160m)",
        ),
        ClaimPlan(
            "P1",
            "seeds",
            "fraction of latents shared by the two seeds (SeedKnobs.shared_fraction)",
            (0.0, 0.1, 0.2, 0.4),
            0.4,
            "PB 2025: ~0.42 shared for 32k latents (Pythia-160m)",
            false_worlds={"all latents shared": {"shared_fraction": 1.0}},
        ),
        ClaimPlan(
            "P2",
            "seeds",
            "shared fraction of the ReLU+L1 pair minus that of the TopK pair (TopK at 0.74)",
            (0.0, 0.02, 0.04, 0.08),
            0.08,
            "PB 2025 abstract: ReLU+L1 0.82 vs TopK 0.74",
        ),
        ClaimPlan(
            "P3",
            "seeds",
            "drop of the shared fraction per width doubling (0.8 at the narrowest of 3 widths)",
            (0.0, 0.02, 0.05, 0.1),
            0.1,
            "PB 2025 width figure: 0.70 (4k) -> 0.42 (32k), ~0.09 per doubling",
        ),
    )
}

#: Claims of the inventory (harness/verdicts/claims.toml) without a calibration row, and why.
NOT_PLANTED: dict[str, str] = {
    "U8": "a count, not a detection: the gpu rule compares each cell's pair counts with the paper's Tables 5-8 (a "
    "property of the paper's data and SAEs, no effect size to plant), the smoke rule (0 < 1-1 < many-to-1) "
    "is a plumbing check that any world with co-firing features satisfies.",
    "W2": "Llama-3-8B vs 3.1-8B at one layer (App. B): a single value band ([0.15, 0.6]) around the paper's 0.3, "
    "whose truth depends on those models; its significance half is W1's and U1's statistic, calibrated there.",
}


# ----------------------------------------------------------------------------- records
@dataclass
class _Cache:
    worlds: dict[Any, SyntheticWorld] = field(default_factory=dict)
    records: dict[Any, dict[str, Any]] = field(default_factory=dict)


def _knobs(plan: ClaimPlan, base: WorldKnobs, changes: Mapping[str, Any], strength: float, seed: int) -> WorldKnobs:
    return base.replace(**{**plan.world, **changes, "strength": strength, "seed": seed})


def grid_records(world: SyntheticWorld, procedure: Procedure) -> dict[str, Any]:
    """{"grid", "control_grid"}: the layer grid and its shuffled-positions control with the
    real cells' top-correlated pair counts, exactly as the claims' ``grids`` fixture builds them."""
    grid = run_grid(world, procedure)  # type: ignore[arg-type]  # a SyntheticWorld stands in for a LoadedPair
    control = run_grid(world, procedure, control=True, match_pairs=pair_counts(grid))  # type: ignore[arg-type]  # a SyntheticWorld stands in for a LoadedPair
    return {"grid": grid, "control_grid": control}


def semantic_records(world: SyntheticWorld, procedure: Procedure) -> dict[str, Any]:
    """{"table", "control_table", "tables", "control_tables"}: the semantic table pair and the
    semantic grid (and their shuffled-positions controls), as the ``semantic`` fixtures build them."""
    prof = world.profile
    tables: dict[tuple[int, int], Any] = {}
    controls: dict[tuple[int, int], Any] = {}
    for control, out in ((False, tables), (True, controls)):
        for la in prof.semantic_layers_a:
            for lb in prof.semantic_layers_b:
                out[(la, lb)] = run_semantic(world, procedure, la, lb, control=control)  # type: ignore[arg-type]  # a SyntheticWorld stands in for a LoadedPair
        if prof.semantic_table not in out:
            out[prof.semantic_table] = run_semantic(
                world,  # type: ignore[arg-type]  # a SyntheticWorld stands in for a LoadedPair
                procedure,
                *prof.semantic_table,
                control=control,
            )
    grid_keys = [(a, b) for a in prof.semantic_layers_a for b in prof.semantic_layers_b]
    return {
        "table": tables[prof.semantic_table],
        "control_table": controls[prof.semantic_table],
        "tables": [tables[k] for k in grid_keys],
        "control_tables": [controls[k] for k in grid_keys],
    }


#: Seed pairs per condition in the seed worlds (as the claims: harness.verdicts.seed_rules.MIN_SEED_PAIRS).
SEED_PAIRS_PER_CONDITION = 3


def _seed_set(knobs: SeedKnobs, tag: int, n_pairs: int = SEED_PAIRS_PER_CONDITION) -> list[tuple[Any, Any]]:
    """``n_pairs`` independent seed pairs of one condition (each its own world draw: which latents
    are shared is a binomial draw per pair, as PB's fraction varies from seed pair to seed pair)."""
    out = []
    for j in range(n_pairs):
        _, (a, b) = seed_pair(knobs.replace(seed=knobs.seed * 1000 + tag * 10 + j))
        out.append((a, b))
    return out


def seed_records(
    claim_id: str,
    strength: float,
    seed: int,
    procedure: Procedure,
    *,
    base: SeedKnobs,
    n_permutations: int,
    changes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Records of one seed claim, in the shapes claims/test_seeds.py records them. W1/X1:
    ``overlap``, ``lan`` and ``lan_control`` (B's positions shuffled, top-correlated sets of the
    real sizes). P1: ``overlaps`` (``seed_overlaps``, SEED_PAIRS_PER_CONDITION pairs) and
    ``control_overlaps`` (the same pairs with B rotated); P2: ``relu_l1``, ``topk`` and
    ``control_topk`` (a second TopK set); P3: ``width_sweep`` and ``control_width_sweep`` (pairs of
    the middle width dealt into the width labels)."""
    from harness.scoring.effects import cell_seed
    from harness.seeds.experiment import (
        lan_record,
        overlap_record,
        overlap_set,
        overlap_sweep,
        rotated,
        shuffled_label_sweep,
    )

    k = base.replace(seed=seed, **(changes or {}))
    if claim_id in ("W1", "X1"):
        if not (changes and "shared_fraction" in changes):
            k = k.replace(shared_fraction=strength)
        setup, (a, b) = seed_pair(k)
        proc = procedure.replace(seed=procedure.seed + seed)
        real = lan_record(setup, a, b, proc, n_permutations=n_permutations)
        match = {v: real[v]["n_pairs"] for v in ("many_to_one_filtered", "one_to_one_filtered")}
        return {
            "overlap": overlap_record(a, b),
            "lan": real,
            "lan_control": lan_record(
                setup, a, b, proc, n_permutations=n_permutations, shuffle_b=True, match_pairs=match
            ),
        }
    if claim_id == "P1":
        if not (changes and "shared_fraction" in changes):
            k = k.replace(shared_fraction=strength)
        pairs = _seed_set(k, 0)
        unrelated = [(a, rotated(b, cell_seed(seed, "P1 rotation", j))) for j, (a, b) in enumerate(pairs)]
        return {"overlaps": overlap_set({}, pairs), "control_overlaps": overlap_set({"b": "rotated"}, unrelated)}
    if claim_id == "P2":
        topk_fraction = 0.74
        topk = k.replace(shared_fraction=topk_fraction, architecture="topk")
        relu = k.replace(shared_fraction=min(1.0, topk_fraction + strength), architecture="relu_l1")
        return {
            "topk": overlap_set({"architecture": "topk"}, _seed_set(topk, 0)),
            "relu_l1": overlap_set({"architecture": "relu_l1"}, _seed_set(relu, 1)),
            "control_topk": overlap_set({"architecture": "topk", "set": 2}, _seed_set(topk, 2)),
        }
    if claim_id == "P3":
        widths = [128, 256, 512]

        def at(i: int, w: int) -> SeedKnobs:
            return k.replace(
                n_latents=w,
                shared_fraction=max(0.0, 0.8 - i * strength),
                n_samples=max(k.n_samples, int(w * k.occurrences / (0.8 * k.seq_len)) + 1),
            )

        groups = [overlap_set({"width": w}, _seed_set(at(i, w), i)) for i, w in enumerate(widths)]
        pool = overlap_set({"width": widths[1]}, _seed_set(at(1, widths[1]), 5, 3 * SEED_PAIRS_PER_CONDITION))
        return {
            "width_sweep": overlap_sweep("width", widths, groups),
            "control_width_sweep": shuffled_label_sweep(pool, "width", widths, seed=cell_seed(seed, "P3 width labels")),
        }
    raise ConfigError(f"no seed-record builder for claim {claim_id!r}")


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Trial:
    """One evaluation of a claim's rule and control on one world."""

    claim_id: str
    world: str
    """"planted" or the name of a claim-false world."""
    strength: float
    seed: int
    verdict: str
    rule_holds: bool
    control_outcome: str | None
    measured: dict[str, float] = field(default_factory=dict)
    """The rule's scalar measurements (e.g. the fraction of significant cells, Spearman rho)."""


def _scalars(measured: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in measured.items()
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
    }


@dataclass(frozen=True)
class ClaimCalibration:
    """Calibration of one claim's rule (typed result; ``to_dict`` for JSON).

    Attributes:
        pass_rate: strength -> fraction of seeds whose verdict is "reproduced".
        rule_rate: strength -> fraction of seeds whose rule alone holds (no control).
        false_positive_rate: pass rate in the null twin (None when the claim is true there).
        false_world_rates: claim-false world -> pass rate at the paper-like strength.
        power: pass rate at the paper-like strength.
        min_detectable: smallest strength whose pass rate >= POWER_TARGET (None: none does).
        flags: why the rule misses a target (empty: calibrated).
    """

    claim_id: str
    rule: str
    procedure: str
    strength: str
    strengths: tuple[float, ...]
    paper_strength: float
    paper_note: str
    n_seeds: int
    pass_rate: dict[float, float]
    rule_rate: dict[float, float]
    false_positive_rate: float | None
    false_world_rates: dict[str, float]
    power: float
    min_detectable: float | None
    flags: tuple[str, ...]
    trials: tuple[Trial, ...]

    @property
    def calibrated(self) -> bool:
        return not self.flags

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pass_rate"] = {str(k): v for k, v in self.pass_rate.items()}
        d["rule_rate"] = {str(k): v for k, v in self.rule_rate.items()}
        d["calibrated"] = self.calibrated
        return d


def too_many_false_passes(n_pass: int, n: int, *, alpha: float) -> bool:
    """True when ``n_pass`` false passes out of ``n`` are too many for a false-positive rate of
    ``alpha`` (one-sided exact binomial test at level 0.05). With few seeds a single false pass
    is not evidence of a bad rule (1 of 5 has p = 0.23 at alpha 0.05), two are (p = 0.02)."""
    if n == 0:
        return False
    return bool(binomtest(n_pass, n, alpha, alternative="greater").pvalue < 0.05)


def calibrate(
    evaluators: Mapping[str, Evaluator],
    *,
    claims: Sequence[str] | None = None,
    seeds: Iterable[int] = range(5),
    procedure: Procedure = CORRECTED,
    world: WorldKnobs | None = None,
    seed_world: SeedKnobs | None = None,
    strengths: Mapping[str, Sequence[float]] | None = None,
    n_permutations: int = 99,
    n_permutations_semantic: int = 99,
    n_random_subsets: int = 30,
    plans: Mapping[str, ClaimPlan] = PLANS,
    progress: Callable[[str], None] | None = None,
) -> list[ClaimCalibration]:
    """Calibrate the rules of ``claims`` (default: every planned claim with an evaluator).

    Args:
        evaluators: claim id -> evaluator (rule and negative control over the family's records).
        seeds: world seeds; each is also added to the procedure's seed (fresh null draws).
        world, seed_world: base knobs (defaults: :class:`WorldKnobs`, :class:`SeedKnobs`).
        strengths: claim id -> strengths to run instead of the plan's (must keep 0 and the
            paper-like strength when the plan has them), e.g. to make a CI check fast.
        n_permutations, n_permutations_semantic, n_random_subsets: null sizes of the run.
    """
    seeds = tuple(seeds)
    ids = list(claims) if claims is not None else [c for c in plans if c in evaluators]
    unknown = [c for c in ids if c not in plans]
    missing = [c for c in ids if c not in evaluators]
    if unknown:
        raise ConfigError(
            f"no calibration plan for {unknown}; planned claims: {sorted(plans)} "
            f"(not plantable: {sorted(NOT_PLANTED)})."
        )
    if missing:
        raise ConfigError(f"no evaluator (rule) supplied for {missing}; pass one per claim id.")
    base = world or WorldKnobs()
    sbase = seed_world or SeedKnobs()
    cache = _Cache()
    from harness.verdicts.records import CLAIMS

    def records(plan: ClaimPlan, changes: Mapping[str, Any], strength: float, seed: int) -> dict[str, Any]:
        if plan.family == "seeds":
            key = ("seeds", plan.claim_id, tuple(sorted(changes.items())), strength, seed)
            if key not in cache.records:
                cache.records[key] = seed_records(
                    plan.claim_id, strength, seed, procedure, base=sbase, n_permutations=n_permutations, changes=changes
                )
            return cache.records[key]
        knobs = _knobs(plan, base, changes, strength, seed)
        if strength == 0.0:  # share factors only scale the strength: every null twin of one seed is the same world
            knobs = knobs.replace(concepts=base.concepts)
        if knobs not in cache.worlds:
            cache.worlds[knobs] = SyntheticWorld(
                knobs,
                n_permutations=n_permutations,
                n_permutations_semantic=n_permutations_semantic,
                n_random_subsets=n_random_subsets,
            )
        gkey = (plan.family, knobs)
        if gkey not in cache.records:
            w = cache.worlds[knobs]
            proc = procedure.replace(seed=procedure.seed + seed)
            t0 = time.perf_counter()
            cache.records[gkey] = (grid_records if plan.family == "grid" else semantic_records)(w, proc)
            if progress:
                progress(
                    f"{plan.family} strength={strength} seed={seed} {dict(changes) or ''}: "
                    f"{time.perf_counter() - t0:.1f}s"
                )
        return cache.records[gkey]

    def trial(plan: ClaimPlan, name: str, changes: Mapping[str, Any], strength: float, seed: int) -> Trial:
        out = evaluators[plan.claim_id](records(plan, changes, strength, seed), procedure)
        c = conclude(
            rule_holds=bool(out.rule_holds), control_holds=out.control_holds, control_scored=out.control_scored
        )
        verdict = "inconclusive" if out.inconclusive else c.verdict
        return Trial(
            plan.claim_id,
            name,
            strength,
            seed,
            verdict,
            bool(out.rule_holds),
            c.control_outcome,
            _scalars(out.measured),
        )

    results = []
    for cid in ids:
        plan = plans[cid]
        grid = tuple(strengths[cid]) if strengths and cid in strengths else plan.strengths
        if plan.paper_strength not in grid or (plan.null_twin_false and 0.0 not in grid):
            raise ConfigError(f"{cid}: strengths {grid} must include 0 and the paper-like {plan.paper_strength}.")
        trials = [trial(plan, "planted", {}, s, sd) for s in grid for sd in seeds]
        for name, changes in plan.false_worlds.items():
            trials += [trial(plan, name, changes, plan.paper_strength, sd) for sd in seeds]
        results.append(
            summarise(
                plan,
                grid,
                trials,
                procedure=procedure,
                alpha=procedure.alpha,
                rule=CLAIMS[cid].rule if cid in CLAIMS else "",
            )
        )
    return results


def summarise(
    plan: ClaimPlan, grid: Sequence[float], trials: Sequence[Trial], *, procedure: Procedure, alpha: float, rule: str
) -> ClaimCalibration:
    """Rates, power, minimum detectable effect and flags of one claim from its trials."""

    def rate(ts: list[Trial], attr: str = "verdict") -> float:
        if not ts:
            return math.nan
        if attr == "verdict":
            return float(np.mean([t.verdict == "reproduced" for t in ts]))
        return float(np.mean([t.rule_holds for t in ts]))

    planted = [t for t in trials if t.world == "planted"]
    by_s = {s: [t for t in planted if t.strength == s] for s in grid}
    pass_rate = {s: rate(ts) for s, ts in by_s.items()}
    rule_rate = {s: rate(ts, "rule") for s, ts in by_s.items()}
    n = len(by_s[grid[0]])
    fpr = pass_rate.get(0.0) if plan.null_twin_false else None
    fw = {name: rate([t for t in trials if t.world == name]) for name in plan.false_worlds}
    power = pass_rate[plan.paper_strength]
    mde = next((s for s in grid if s > 0 and pass_rate[s] >= POWER_TARGET), None)
    flags = []
    if power < POWER_TARGET:
        flags.append(f"power {power:.2f} < {POWER_TARGET} at the paper-like strength {plan.paper_strength}")
    false_sets = ([("null twin", by_s.get(0.0, []))] if plan.null_twin_false else []) + [
        (name, [t for t in trials if t.world == name]) for name in plan.false_worlds
    ]
    for name, ts in false_sets:
        k = sum(t.verdict == "reproduced" for t in ts)
        if too_many_false_passes(k, len(ts), alpha=alpha):
            flags.append(f"false-positive rate {k}/{len(ts)} in the {name} (too many for alpha = {alpha})")
    return ClaimCalibration(
        plan.claim_id,
        rule,
        procedure.name,
        plan.strength,
        tuple(grid),
        plan.paper_strength,
        plan.paper_note,
        n,
        pass_rate,
        rule_rate,
        fpr,
        fw,
        power,
        mde,
        tuple(flags),
        tuple(trials),
    )


# ----------------------------------------------------------------------------- output
def table_rows(results: Sequence[ClaimCalibration]) -> list[list[str]]:
    """Rows of the calibration table: claim, procedure, rule, false-positive rates, power,
    minimum detectable effect, status."""

    def pct(x: float | None) -> str:
        return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"

    rows = []
    for r in results:
        fw = "; ".join(f"{k}: {pct(v)}" for k, v in r.false_world_rates.items()) or "—"
        rows.append(
            [
                r.claim_id,
                r.procedure,
                r.rule,
                pct(r.false_positive_rate),
                fw,
                f"{pct(r.power)} (at {r.paper_strength})",
                "—" if r.min_detectable is None else f"{r.min_detectable}",
                "ok" if r.calibrated else "FLAGGED: " + "; ".join(r.flags),
            ]
        )
    return rows


TABLE_HEADERS = [
    "claim",
    "procedure",
    "rule",
    "false-positive rate (null twin)",
    "pass rate in claim-false worlds",
    "power (paper-like strength)",
    "min. detectable strength",
    "status",
]


def write_calibration(out_dir: Path, results: Sequence[ClaimCalibration], *, meta: Mapping[str, Any]) -> Path:
    """Write ``calibration.json``, ``calibration.md`` and ``power_<claim>.png`` under ``out_dir``."""
    from tabulate import tabulate

    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "schema_version": 1,
        "meta": dict(meta),
        "power_target": POWER_TARGET,
        "not_planted": NOT_PLANTED,
        "claims": [r.to_dict() for r in results],
    }
    (out_dir / "calibration.json").write_text(json.dumps(payload, indent=1, default=str))
    md = [
        "# Calibration of the claim rules on known-answer worlds",
        "",
        (
            "Pass rate = fraction of seeds whose verdict is *reproduced* (rule holds and the negative control does "
            "not). Null twin = strength 0 (same codes and marginals, cross-model decoder structure destroyed). "
            "Targets: false-positive rate <= ~alpha (flagged when the false passes are too many for alpha, one-sided "
            f"binomial test at 0.05), power >= {POWER_TARGET}. Generated by `claims/test_calibration.py` "
            "(`-m calibration`)."
        ),
        "",
        tabulate(table_rows(results), headers=TABLE_HEADERS, tablefmt="github"),
        "",
        "## Pass rate by planted strength",
        "",
    ]
    for r in results:
        md.append(
            f"- **{r.claim_id}** ({r.strength}; paper-like {r.paper_strength}: {r.paper_note}): "
            + ", ".join(f"{s}: {r.pass_rate[s]:.2f} (rule alone {r.rule_rate[s]:.2f})" for s in r.strengths)
            + f" — [curve](power_{r.claim_id}.png)"
        )
    md += ["", "![power curves](power_curves.png)"]
    md += ["", "## Claims without a calibration row", ""]
    md += [f"- **{k}**: {v}" for k, v in NOT_PLANTED.items()]
    md += ["", f"Run: {json.dumps(dict(meta), default=str)}", ""]
    (out_dir / "calibration.md").write_text("\n".join(md))
    for r in results:
        power_curve(r, out_dir / f"power_{r.claim_id}.png")
    summary_figure(out_dir / "calibration.json", out_dir / "power_curves.png")
    return out_dir / "calibration.json"


def summary_figure(json_path: Path, path: Path) -> None:
    """All claims' power curves in one figure (from ``calibration.json``), for the README."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    claims = json.loads(Path(json_path).read_text())["claims"]
    n_col = 5
    n_row = math.ceil(len(claims) / n_col)
    fig, axes = plt.subplots(n_row, n_col, figsize=(2.6 * n_col, 2.1 * n_row), squeeze=False)
    for ax, c in zip(axes.ravel(), claims, strict=False):  # the last row may have spare axes
        s = [float(x) for x in c["strengths"]]
        ax.plot(s, [c["pass_rate"][str(x)] for x in s], "o-", ms=3, label="verdict")
        ax.plot(s, [c["rule_rate"][str(x)] for x in s], "s--", ms=3, alpha=0.5, label="rule alone")
        for v in (c.get("false_world_rates") or {}).values():
            ax.plot([c["paper_strength"]], [v], "rx", ms=7)
        ax.axhline(POWER_TARGET, color="g", lw=0.7, ls=":")
        ax.axhline(0.05, color="r", lw=0.7, ls=":")
        ax.axvline(c["paper_strength"], color="grey", lw=0.7, ls=":")
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(
            c["claim_id"] + ("" if c["calibrated"] else " (flagged)"), fontsize=8, color="k" if c["calibrated"] else "r"
        )
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(claims) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=5)
    fig.supxlabel("planted strength (grey: paper-like; red x: claim-false world)", fontsize=7)
    fig.supylabel("pass rate", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def power_curve(r: ClaimCalibration, path: Path) -> None:
    """Pass rate against planted strength (verdict and rule alone), with the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    s = list(r.strengths)
    ax.plot(s, [r.pass_rate[x] for x in s], "o-", label="verdict: reproduced")
    ax.plot(s, [r.rule_rate[x] for x in s], "s--", alpha=0.6, label="rule alone")
    for name, v in r.false_world_rates.items():
        ax.plot([r.paper_strength], [v], "x", markersize=9, label=f"false world: {name}"[:40])
    ax.axhline(POWER_TARGET, color="g", lw=0.8, ls=":")
    ax.axhline(0.05, color="r", lw=0.8, ls=":")
    ax.axvline(r.paper_strength, color="grey", lw=0.8, ls=":")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("planted strength")
    ax.set_ylabel(f"pass rate (n = {r.n_seeds})")
    ax.set_title(f"{r.claim_id} ({r.procedure})" + (" — FLAGGED" if r.flags else ""), fontsize=9)
    ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Two-sided ``level`` Clopper-Pearson interval of a binomial proportion k / n (exact: beta
    quantiles); (0, upper) for k = 0, (lower, 1) for k = n. 0/5 gives (0, 0.52): five seeds
    cannot show a false-positive rate near alpha."""
    from scipy.stats import beta

    if n < 1:
        return math.nan, math.nan
    a = (1 - level) / 2
    lo = 0.0 if k <= 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k >= n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def calibration_notes(path: Path = DEFAULT_CALIBRATION_FILE) -> dict[str, str]:
    """Claim id -> one-line calibration status of its rule (for the report, next to the
    verdict): "ok" with power and false passes as counts of n seeds with their 95% Clopper-Pearson
    bounds (a point rate over 5 seeds overstates what they show: 0/5 false passes bound the rate
    only below 0.52), or "FLAGGED" with the reasons. The procedure is named as the rule is judged:
    P1-P3 under Paulo & Belrose's method ("PB method"), not `corrected`. Empty when no calibration
    has been written (the report then says nothing about it)."""
    from harness.verdicts.seed_rules import PB_METHOD

    if not Path(path).exists():
        return {}
    data = json.loads(Path(path).read_text())
    notes = {}
    for c in data.get("claims", []):
        fpr = c.get("false_positive_rate")
        fw = c.get("false_world_rates") or {}
        worst = max([v for v in [fpr, *fw.values()] if v is not None and not math.isnan(v)], default=math.nan)
        n = int(c["n_seeds"])
        k_power = round(c["power"] * n)
        power_lo = clopper_pearson(k_power, n)[0]
        fp = "false passes not measured"
        if not math.isnan(worst):
            k_false = round(worst * n)
            fp = f"{k_false}/{n} false passes (upper bound {clopper_pearson(k_false, n)[1]:.2f})"
        procedure = PB_METHOD.name if c["claim_id"].startswith("P") else c["procedure"]
        head = f"power {k_power}/{n} (lower bound {power_lo:.2f}), {fp} ({procedure}; 95% Clopper-Pearson)"
        notes[c["claim_id"]] = f"ok: {head}" if c.get("calibrated") else f"FLAGGED: {'; '.join(c.get('flags', []))}"
    for cid in data.get("not_planted") or {}:
        notes.setdefault(cid, "not plantable (see reports/calibration/)")
    return notes
