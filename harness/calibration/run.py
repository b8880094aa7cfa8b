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
pass rate reaches :data:`POWER_TARGET`), every rate with its exact 95% interval. A rule is
flagged unless its power's lower bound reaches the target and every false-positive rate's upper
bound stays under its target (:mod:`harness.calibration.rates`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from harness.calibration.rates import (
    POWER_TARGET,
    Rate,
    clopper_pearson,
    false_positive_flag,
    power_flag,
)
from harness.calibration.worlds import SeedKnobs, SyntheticWorld, WorldKnobs, seed_pair
from harness.config import CORRECTED, Procedure
from harness.errors import ConfigError
from harness.experiments.grid import pair_counts, run_grid, run_semantic
from harness.verdicts.recorder import conclude

Family = Literal["grid", "semantic", "seeds"]
Records = Mapping[str, Any]


@dataclass(frozen=True)
class RuleOutcome:
    """What a claim's test computes before its verdict: the rule on the real records and the
    rule on the negative control (``control_holds`` None: the claim has no control)."""

    rule_holds: bool
    control_holds: bool | None
    control_scored: bool = True
    measured: dict[str, Any] = field(default_factory=dict)
    control_measured: dict[str, Any] = field(default_factory=dict)
    """The negative control's measurements (what the report shows of it; empty without a control)."""
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
        rule_id: the claim whose rule (evaluator) this plan calibrates, when the plan is a variant
            of it in another world (e.g. "U1 token" runs U1's rule on the token-structured world).
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
    rule_id: str | None = None

    @property
    def rule(self) -> str:
        """The claim id whose rule runs."""
        return self.rule_id or self.claim_id

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

#: The token-structured world (WorldKnobs.features_per_token ...): 4 generic shared features per
#: trigger token, 60% of a feature's latent direction its token group's, the group part correlated
#: 0.8 across models whatever the strength. Its null twin (strength 0) is the world in which the
#: token filters alone make partners alike: real partners and filter-passing random partners are
#: equally similar (measured: 1-1 SVCCA 0.53 vs 0.54 within the token group, 0.45 across groups;
#: tests/calibration/test_worlds.py), so U1/U2's filter-aware control is what must refute it.
TOKEN_WORLD = {"features_per_token": 4, "token_coherence": 0.6, "group_strength": 0.8}
_TOKEN_NOTE = "4 features per trigger token sharing 60% of their direction, group part correlated 0.8 across models"
#: The X1 world: shared latents in one half of the coordinates, the others in the other half, 40%
#: shared (PB's ~0.42); the strength rotates the non-shared latents' half in the second seed.
X1_WORLD = {"shared_fraction": 0.4, "subspaces": True}

#: Paper-shaped world shapes (on top of :class:`WorldKnobs`): the Pythia grid (70m x 160m: 6 x 12
#: layers, 5 x 11 non-zero) with the paper profile's semantic layers and table, and Gemma's
#: semantic layer sets (Gemma-1-2B 18 layers x Gemma-2-2B 26). ``paper_pairs`` scales the latent
#: count so that the 1-1 pair counts (~2,000 per cell) reach the low end of Tables 6 and 8
#: (Pythia 1,880-7,553, Gemma 1,266-4,650).
WORLD_SHAPES: dict[str, dict[str, Any]] = {
    "small": {},
    # a reduced world for runs that must fit a few CPU minutes: 3 x 3 layers (2 x 2 non-zero), 160
    # features, no concept subspaces (grid claims only; ~5 s per grid and its control on one core)
    "tiny": {
        "n_layers_a": 3,
        "n_layers_b": 3,
        "n_features": 160,
        "concepts": (),
        "n_junk": 8,
        "n_samples": 32,
        "shared_fraction": 0.5,
    },
    "pythia": {
        "n_layers_a": 6,
        "n_layers_b": 12,
        "semantic_layers_a": (1, 2, 3, 4, 5),
        "semantic_layers_b": (3, 5, 7, 9, 11),
        "semantic_table": (3, 5),
    },
    "gemma-semantic": {
        "n_layers_a": 18,
        "n_layers_b": 26,
        "semantic_layers_a": (6, 10, 12, 17),
        "semantic_layers_b": (6, 10, 14, 17),
        "semantic_table": (12, 14),
    },
}
#: Latent counts of the paper's pair counts (1-1 pairs ~ shared_fraction x n_features = 2,048).
PAPER_PAIRS = {"n_features": 8192, "n_samples": 480, "n_junk": 256}

PLANS: dict[str, ClaimPlan] = {
    p.claim_id: p
    for p in (
        ClaimPlan("U1", "grid", _GRID, GRID_STRENGTHS, 0.7, _GRID_NOTE),
        ClaimPlan("U2", "grid", _GRID, GRID_STRENGTHS, 0.7, _GRID_NOTE),
        *(
            ClaimPlan(
                f"{cid} token",
                "grid",
                _GRID + "; token-structured world (its null twin: the filters alone make partners alike)",
                GRID_STRENGTHS,
                0.7,
                _GRID_NOTE + "; " + _TOKEN_NOTE,
                world=TOKEN_WORLD,
                rule_id=cid,
            )
            for cid in ("U1", "U2")
        ),
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
            "fraction of the non-shared latents that the second seed learned as a linear image of the first's "
            "(SeedKnobs.unshared_linear; shared fraction 0.4)",
            (0.0, 0.25, 0.5, 0.75, 1.0),
            1.0,
            "PB 2025: ~0.42 shared for 32k latents, while Lan et al.'s paired SVCCA is high: the non-shared "
            "latents span the same geometry (at 1.0 the 1-1 SVCCA excess is ~0.87, at 0 ~0.18)",
            world=X1_WORLD,
            false_worlds={"all latents shared": {"shared_fraction": 1.0}},
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
def _knobs(plan: ClaimPlan, base: WorldKnobs, changes: Mapping[str, Any], strength: float, seed: int) -> WorldKnobs:
    return base.replace(**{**plan.world, "strength": strength, **changes, "seed": seed})


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
        if claim_id == "X1":  # the strength is the linear share of the non-shared latents
            k = k.replace(unshared_linear=strength) if k.subspaces else k.replace(shared_fraction=strength)
        elif not (changes and "shared_fraction" in changes):
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
    control_measured: dict[str, float] = field(default_factory=dict)
    """The negative control's scalar measurements (e.g. the share of cells where random partners
    score as well as the real pairing): why a control came out the way it did."""


def _scalars(measured: Mapping[str, Any], *, finite: bool = False) -> dict[str, float]:
    """The numeric entries of ``measured`` as floats (``finite``: NaN and inf dropped -- a value that
    was not measured -- so stored trials compare equal when read back)."""
    return {
        k: float(v)
        for k, v in measured.items()
        if isinstance(v, (int, float, np.integer, np.floating))
        and not isinstance(v, bool)
        and (not finite or math.isfinite(float(v)))
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
        flags: why the rule does not meet a target on the 95% bounds (empty: calibrated); each says
            whether the target is missed or there were too few seeds to meet it.
        pass_count: strength -> passes with the Clopper-Pearson interval.
        false_world_count: claim-false world -> passes with the interval.
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
    pass_count: dict[float, Rate] = field(default_factory=dict)
    false_world_count: dict[str, Rate] = field(default_factory=dict)

    @property
    def calibrated(self) -> bool:
        return not self.flags

    @property
    def power_count(self) -> Rate:
        """Passes at the paper-like strength with their interval."""
        return self.pass_count[self.paper_strength]

    @property
    def null_twin_count(self) -> Rate | None:
        """False passes in the null twin with their interval (None when the claim is true there)."""
        return self.pass_count.get(0.0) if self.false_positive_rate is not None else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pass_rate"] = {str(k): v for k, v in self.pass_rate.items()}
        d["rule_rate"] = {str(k): v for k, v in self.rule_rate.items()}
        d["pass_count"] = {str(k): v._asdict() for k, v in self.pass_count.items()}
        d["false_world_count"] = {k: v._asdict() for k, v in self.false_world_count.items()}
        d["power_interval"] = [self.power_count.low, self.power_count.high]
        nt = self.null_twin_count
        d["false_positive_interval"] = None if nt is None else [nt.low, nt.high]
        d["calibrated"] = self.calibrated
        return d


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
    cache_dir: Path | None = None,
    workers: int = 1,
) -> list[ClaimCalibration]:
    """Calibrate the rules of ``claims`` (default: every planned claim with an evaluator).

    Args:
        evaluators: claim id -> evaluator (rule and negative control over the family's records).
        seeds: world seeds; each is also added to the procedure's seed (fresh null draws).
        world, seed_world: base knobs (defaults: :class:`WorldKnobs`, :class:`SeedKnobs`).
        strengths: claim id -> strengths to run instead of the plan's (must keep 0 and the
            paper-like strength when the plan has them), e.g. to make a CI check fast.
        n_permutations, n_permutations_semantic, n_random_subsets: null sizes of the run.
        cache_dir: where each cell's result is stored under its full key
            (:mod:`harness.calibration.cells`), so an interrupted run continues; None: not stored.
        workers: processes that build records and judge cells in parallel (forked).
        progress: called with a progress line after each group of cells.
    """
    from harness.calibration.cells import CellStore, run_cells

    seeds = tuple(seeds)
    ids = list(claims) if claims is not None else [c for c in plans if plans[c].rule in evaluators]
    unknown = [c for c in ids if c not in plans]
    missing = [c for c in ids if c in plans and plans[c].rule not in evaluators]
    if unknown:
        raise ConfigError(
            f"no calibration plan for {unknown}; planned claims: {sorted(plans)} "
            f"(not plantable: {sorted(NOT_PLANTED)})."
        )
    if missing:
        raise ConfigError(f"no evaluator (rule) supplied for {missing}; pass one per claim id.")
    grids = {}
    for cid in ids:
        plan = plans[cid]
        grid = tuple(strengths[cid]) if strengths and cid in strengths else plan.strengths
        if plan.paper_strength not in grid or (plan.null_twin_false and 0.0 not in grid):
            raise ConfigError(f"{cid}: strengths {grid} must include 0 and the paper-like {plan.paper_strength}.")
        grids[cid] = grid
    job = _Job(
        evaluators=evaluators,
        plans=plans,
        procedure=procedure,
        base=world or WorldKnobs(),
        sbase=seed_world or SeedKnobs(),
        nulls=(n_permutations, n_permutations_semantic, n_random_subsets),
    )
    cells = [
        job.cell(cid, name, changes, s, sd)
        for cid in ids
        for name, changes, ss in [("planted", {}, grids[cid])]
        + [(n, ch, (plans[cid].paper_strength,)) for n, ch in plans[cid].false_worlds.items()]
        for s in ss
        for sd in seeds
    ]
    store = CellStore(cache_dir)
    results_by_key = run_cells(cells, job.run_group, store=store, workers=workers, progress=progress)
    from harness.verdicts.records import CLAIMS

    results = []
    for cid in ids:
        trials = [_trial_from_dict(results_by_key[c.key]) for c in cells if c.claim_id == cid]
        results.append(
            summarise(
                plans[cid],
                grids[cid],
                trials,
                procedure=procedure,
                rule=CLAIMS[plans[cid].rule].rule if plans[cid].rule in CLAIMS else "",
            )
        )
    return results


@dataclass
class _Job:
    """Everything a calibration's cells depend on besides their own fields; builds cell keys and
    runs one group of cells (records built once, every cell of the group judged on them)."""

    evaluators: Mapping[str, Evaluator]
    plans: Mapping[str, ClaimPlan]
    procedure: Procedure
    base: WorldKnobs
    sbase: SeedKnobs
    nulls: tuple[int, int, int]

    def knobs(self, cid: str, changes: Mapping[str, Any], strength: float, seed: int) -> WorldKnobs | SeedKnobs:
        plan = self.plans[cid]
        if plan.family == "seeds":
            return self.sbase.replace(seed=seed, **{**plan.world, **changes})
        knobs = _knobs(plan, self.base, changes, strength, seed)
        if strength == 0.0:  # share factors only scale the strength: every null twin of one seed is the same world
            knobs = knobs.replace(concepts=self.base.concepts)
        return knobs

    def cell(self, cid: str, name: str, changes: Mapping[str, Any], strength: float, seed: int) -> Any:
        from harness.calibration.cells import Cell, cell_key, code_version

        plan = self.plans[cid]
        knobs = self.knobs(cid, changes, strength, seed)
        if plan.family == "seeds":  # seed records are built per claim
            group: Any = ("seeds", cid, json.dumps(dict(changes), sort_keys=True, default=str), strength, seed)
        else:
            group = (plan.family, knobs, seed)
        fields = {
            "claim": cid,
            "family": plan.family,
            "world": name,
            "changes": dict(changes),
            "knobs": asdict(knobs),
            "strength": strength,
            "seed": seed,
            "procedure": asdict(self.procedure),
            "nulls": self.nulls,
            "code": code_version(self.evaluators[plan.rule]),
        }
        return Cell(cid, name, dict(changes), strength, seed, group, cell_key(fields))

    def records(self, cell: Any) -> dict[str, Any]:
        plan = self.plans[cell.claim_id]
        n_perm, n_perm_sem, n_sub = self.nulls
        if plan.family == "seeds":
            return seed_records(
                cell.claim_id,
                cell.strength,
                cell.seed,
                self.procedure,
                base=self.sbase.replace(**plan.world),
                n_permutations=n_perm,
                changes=cell.changes,
            )
        knobs = self.knobs(cell.claim_id, cell.changes, cell.strength, cell.seed)
        assert isinstance(knobs, WorldKnobs)
        w = SyntheticWorld(knobs, n_permutations=n_perm, n_permutations_semantic=n_perm_sem, n_random_subsets=n_sub)
        proc = self.procedure.replace(seed=self.procedure.seed + cell.seed)
        return (grid_records if plan.family == "grid" else semantic_records)(w, proc)

    def run_group(self, group: Any, cells: Sequence[Any]) -> list[dict[str, Any]]:
        """Trial dicts of ``cells`` (one group: the records are built once)."""
        recs: dict[str, dict[str, Any]] = {}
        out = []
        for c in cells:
            fam = self.plans[c.claim_id].family
            if fam not in recs:
                recs[fam] = self.records(c)
            out.append(asdict(self.trial(c, recs[fam])))
        return out

    def trial(self, cell: Any, records: Records) -> Trial:
        r = self.evaluators[self.plans[cell.claim_id].rule](records, self.procedure)
        c = conclude(rule_holds=bool(r.rule_holds), control_holds=r.control_holds, control_scored=r.control_scored)
        verdict = "inconclusive" if r.inconclusive else c.verdict
        return Trial(
            cell.claim_id,
            cell.world,
            cell.strength,
            cell.seed,
            verdict,
            bool(r.rule_holds),
            c.control_outcome,
            _scalars(r.measured),
            _scalars(r.control_measured, finite=True),
        )


def summarise(
    plan: ClaimPlan, grid: Sequence[float], trials: Sequence[Trial], *, procedure: Procedure | str, rule: str
) -> ClaimCalibration:
    """Rates (with Clopper-Pearson intervals), power, minimum detectable effect and flags of one
    claim from its trials. Targets are judged on the 95% bounds (:mod:`harness.calibration.rates`):
    power's lower bound >= POWER_TARGET, each false-positive rate's upper bound <= FALSE_POSITIVE_TARGET."""

    def count(ts: list[Trial], attr: str = "verdict") -> Rate:
        ok = [t.verdict == "reproduced" if attr == "verdict" else t.rule_holds for t in ts]
        return clopper_pearson(int(sum(ok)), len(ok))

    planted = [t for t in trials if t.world == "planted"]
    by_s = {s: [t for t in planted if t.strength == s] for s in grid}
    pass_count = {s: count(ts) for s, ts in by_s.items()}
    pass_rate = {s: c.value for s, c in pass_count.items()}
    rule_rate = {s: count(ts, "rule").value for s, ts in by_s.items()}
    n = len(by_s[grid[0]])
    fpr = pass_rate.get(0.0) if plan.null_twin_false else None
    fw_count = {name: count([t for t in trials if t.world == name]) for name in plan.false_worlds}
    fw = {name: c.value for name, c in fw_count.items()}
    power = pass_rate[plan.paper_strength]
    mde = next((s for s in grid if s > 0 and pass_rate[s] >= POWER_TARGET), None)
    flags = []
    pf = power_flag(pass_count[plan.paper_strength], plan.paper_strength)
    if pf:
        flags.append(pf)
    false_sets = ([("null twin", pass_count[0.0])] if plan.null_twin_false else []) + list(fw_count.items())
    for name, c in false_sets:
        ff = false_positive_flag(c, name)
        if ff:
            flags.append(ff)
    return ClaimCalibration(
        plan.claim_id,
        rule,
        procedure if isinstance(procedure, str) else procedure.name,
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
        pass_count,
        fw_count,
    )


def _trial_from_dict(d: Mapping[str, Any]) -> Trial:
    return Trial(
        d["claim_id"],
        d["world"],
        float(d["strength"]),
        int(d["seed"]),
        d["verdict"],
        bool(d["rule_holds"]),
        d.get("control_outcome"),
        {k: float(v) for k, v in (d.get("measured") or {}).items()},
        {k: float(v) for k, v in (d.get("control_measured") or {}).items()},
    )
