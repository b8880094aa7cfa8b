"""The sizes a profile's run works on: shapes, pair counts per set and draw counts (issue 20).

Two sources:

- :func:`workload_from_profile`: the profile alone. Model widths and latents from
  :data:`MODEL_SHAPES`; 1-1 and many-to-1 pair counts of each grid cell from the paper's
  Tables 5-8 (``harness/verdicts/paper_pair_counts.csv``); semantic set sizes from the profile's
  ``paper_semantic_table`` (Tables 1, 2, 9). Every size the paper does not print is an
  assumption, listed in :attr:`Workload.assumptions` (and printed by ``sae-claims cost``).
- :func:`workload_from_results`: a run's grid and semantic records (the ``experiments`` of a
  ``results.json``), optionally with the facts a counted run recorded
  (:class:`harness.cost.stage.Fact`: per placebo-filter run and per Test-2 draw pair counts,
  which the records keep only as means).

SVCCA's k per side (:func:`svcca_k`): under ``paper`` the procedure's fixed k; under
``corrected`` min(directions for 99% variance, floor(n/4), rank). The 99%-variance count of
real decoders is unknown before a run: :attr:`Workload.variance_dims` (default: the rank, an
upper bound on the work).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.config import Procedure, get_procedure
from harness.errors import ConfigError
from harness.profiles import Profile

#: Hub model name -> (d_model, SAE latents, TopK k of the SAE or None for non-TopK SAEs).
MODEL_SHAPES: dict[str, tuple[int, int, int | None]] = {
    "EleutherAI/pythia-70m": (512, 32768, 16),
    "EleutherAI/pythia-160m": (768, 32768, 32),
    "google/gemma-2b": (2048, 16384, None),
    "google/gemma-2-2b": (2304, 16384, None),
    "meta-llama/Llama-3.1-8B": (4096, 131072, None),
}

#: Model name -> (layers, parameters without embeddings) for the forward pass' flops.
MODEL_SIZES: dict[str, tuple[int, int]] = {
    "EleutherAI/pythia-70m": (6, 19_000_000),
    "EleutherAI/pythia-160m": (12, 85_000_000),
    "google/gemma-2b": (18, 1_980_000_000),
    "google/gemma-2-2b": (26, 2_000_000_000),
    "meta-llama/Llama-3.1-8B": (32, 7_000_000_000),
}


#: Share of a real cell's filtered pairs that its control (B positions shuffled) keeps, for a
#: profile without a run (the tiny rehearsal's control: 21 of 551 1-1 pairs, 30 of 1,311 many-to-1).
CONTROL_FILTERED = 0.04


#: Share of a space's filled top slots whose token word is a Table 4 keyword (each such distinct
#: position's window is decoded once per concept index). Measured on the fixture world, whose
#: corpus is built around the keywords (0.29: 550 of 1,902 distinct top positions of model A's last
#: layer; tests/pairing/test_concept_index.py); a real corpus has fewer, so this overstates.
KEYWORD_SLOT_SHARE = 0.3


@dataclass(frozen=True)
class PairSet:
    """One scored pair set: ``n`` pairs, ``unique_a`` / ``unique_b`` distinct features per side
    (the RSA similarity GEMMs run over the unique rows)."""

    n: int
    unique_a: int
    unique_b: int

    @classmethod
    def one_to_one(cls, n: int) -> PairSet:
        return cls(int(n), int(n), int(n))


@dataclass(frozen=True)
class CellWork:
    """One grid cell's pair sets and the sizes of its controls' draws."""

    layer_a: int
    layer_b: int
    control: bool
    one_to_one: PairSet
    many_to_one: PairSet
    unfiltered: PairSet
    random_partner: PairSet | None
    """The filter-aware control (real grid only)."""
    top_correlated: PairSet | None
    """The control grid's top-correlated set (control grid only)."""
    placebo_filter_runs: tuple[int, ...]
    """Pair count of each placebo-filter run (real grid only)."""


@dataclass(frozen=True)
class ConceptWork:
    """One semantic category: concept features per side, the observed pairs, and Test 2's sizes:
    per batch of draws (draws, distinct A features, distinct B features), and the pair count of
    each draw that is scored (at least max(min_subspace_size, 3) pairs)."""

    category: str
    n_concept_a: int
    n_concept_b: int
    n_pairs: int
    test2_pairs: tuple[int, ...]
    """Pair count of each scored draw, in draw order (one ragged batch of SVCCAs)."""
    test2_batches: tuple[tuple[int, int, int], ...] | None = ()
    """(draws, distinct A, distinct B) per batch; None: expected for the device
    (:func:`expected_test2_batches`, pools of every latent, one draw per entry of ``test2_pairs``)."""
    test2_encodes: tuple[tuple[int, int], ...] | None = None
    """(d_in, columns) of each column encode Test 2 makes (None: one per batch and side, of the
    batch's distinct features)."""


@dataclass(frozen=True)
class SemanticWork:
    layer_a: int
    layer_b: int
    control: bool
    concepts: tuple[ConceptWork, ...]


@dataclass(frozen=True)
class ProcedureWork:
    """Everything one procedure runs: grid, control grid, semantic tables and their draws."""

    procedure: Procedure
    grid: tuple[CellWork, ...]
    control_grid: tuple[CellWork, ...]
    semantic: tuple[SemanticWork, ...]
    n_permutations: int
    n_permutations_semantic: int
    n_random_subsets: int
    n_size_matched: int
    n_placebo_filter_runs: int
    n_placebo_filter_siblings: int
    n_random_partner_sets: int
    """Filter-aware random-partner sets per non-control grid cell (U1/U2's contrast)."""
    n_positions: int
    """Token positions the spaces hold under this procedure (special positions masked or not)."""
    space_builds: tuple[int, int] = (0, 0)
    """FeatureSpaces of A and of B built (one encode pass each) by this procedure's run."""


@dataclass(frozen=True)
class Workload:
    """A run's sizes (module docstring). Shapes: residual widths ``d_a``, ``d_b``; SAE latents
    ``f_a``, ``f_b``; TopK ``k`` per side (None: dense pre-activations); ``n_positions`` token
    positions per procedure in :attr:`ProcedureWork.n_positions`."""

    profile: str
    model_a: str
    model_b: str
    d_a: int
    d_b: int
    f_a: int
    f_b: int
    topk_a: int | None
    topk_b: int | None
    layers_a: tuple[int, ...]
    layers_b: tuple[int, ...]
    procedures: tuple[ProcedureWork, ...]
    source: str
    assumptions: tuple[str, ...] = ()
    variance_dims: float = 1.0
    """Directions for 99% variance, as a fraction of the rank (corrected SVCCA's k)."""
    facts: dict[str, Any] = field(default_factory=dict)


def svcca_k(procedure: Procedure, n: int, d: int, *, variance_dims: float = 1.0) -> int:
    """SVCCA directions kept on a side of ``n`` pairs and width ``d`` (module docstring)."""
    rank = min(n - 1, d) if n > 1 else 0
    keep = procedure.svcca_keep
    if isinstance(keep, int) and not isinstance(keep, bool):
        k = int(keep)
    else:
        k = max(1, int(math.ceil(variance_dims * rank)))
    if procedure.svcca_max_k_fraction is not None:
        k = min(k, max(1, int(math.floor(procedure.svcca_max_k_fraction * n))))
    return max(0, min(k, rank))


def _shapes(profile: Profile, which: str) -> tuple[int, int, int | None]:
    name = str(profile.models[which]["name"])
    if name not in MODEL_SHAPES:
        raise ConfigError(
            f"Profile {profile.name!r}: no shapes known for model {name!r}; add (d_model, latents, TopK k) "
            "to harness.cost.workload.MODEL_SHAPES."
        )
    return MODEL_SHAPES[name]


def _draws(profile: Profile, procedure: Procedure) -> dict[str, int]:
    from harness.experiments.placebos import PLACEBO_FILTER_RUNS, PLACEBO_FILTER_SIBLINGS
    from harness.experiments.random_partners import RANDOM_PARTNER_SETS
    from harness.experiments.size_matched import SIZE_MATCHED_DRAWS

    return {
        "n_permutations": profile.n_permutations(procedure),
        "n_permutations_semantic": profile.n_permutations_semantic(procedure),
        "n_random_subsets": profile.n_random_subsets(procedure),
        "n_size_matched": profile.size_matched_draws or SIZE_MATCHED_DRAWS,
        "n_placebo_filter_runs": profile.placebo_filter_runs or PLACEBO_FILTER_RUNS,
        "n_placebo_filter_siblings": PLACEBO_FILTER_SIBLINGS,
        "n_random_partner_sets": profile.random_partner_sets or RANDOM_PARTNER_SETS,
    }


def test2_batch_size(n_positions: int, size_a: int, size_b: int, max_elements: int | None = None) -> int:
    """Draws per batch of Test 2 (harness.experiments.subset_pairing.score_test2_draws; its
    ``max_elements`` code entries per batch: MAX_CODE_ELEMENTS on the cpu, a sixteenth of the free
    device memory on cuda)."""
    from harness.experiments.subset_pairing import MAX_CODE_ELEMENTS

    cap = MAX_CODE_ELEMENTS if max_elements is None else int(max_elements)
    return max(1, cap // max(1, n_positions * (size_a + size_b)))


def expected_test2_batches(
    n_draws: int,
    size_a: int,
    size_b: int,
    pool_a: int,
    pool_b: int,
    n_positions: int,
    max_elements: int | None = None,
) -> tuple[tuple[int, int, int], ...]:
    """(draws, distinct A, distinct B) per batch when each draw takes ``size`` of ``pool``
    features at random: pool (1 - (1 - size / pool)^draws) distinct ones expected."""
    batch = test2_batch_size(n_positions, size_a, size_b, max_elements)
    out = []
    for s0 in range(0, n_draws, batch):
        b = min(batch, n_draws - s0)
        ua = round(pool_a * (1 - (1 - size_a / pool_a) ** b)) if pool_a else 0
        ub = round(pool_b * (1 - (1 - size_b / pool_b) ** b)) if pool_b else 0
        out.append((b, max(size_a, ua), max(size_b, ub)))
    return tuple(out)


def _positions(profile: Profile, procedure: Procedure) -> int:
    """Positions of the run's spaces: every token, less one BOS per document where the procedure
    masks special positions (the profiles' tokenizers prepend one)."""
    n, seq = profile.data.n_samples, profile.data.seq_len
    return n * (seq - 1) if procedure.mask_special_positions else n * seq


def space_builds(profile: Profile, procedures: Sequence[str]) -> dict[str, tuple[int, int]]:
    """FeatureSpaces each procedure builds in a whole run (harness.experiments.rehearsal's order:
    every layer's space, the grid A-outer / B-inner, the control grid, the semantic pairs), through
    :class:`harness.experiments.grid.LoadedPair`'s LRU of
    :func:`harness.experiments.grid.default_space_capacity` spaces (each build is one encode pass):
    a grid row's spaces and the previous row's A fit, so B spaces are built once; A spaces evicted
    by the warm-up and by the rows two back are rebuilt."""
    from collections import OrderedDict

    from harness.experiments.grid import default_space_capacity

    cap = default_space_capacity(len(profile.layers_a), len(profile.layers_b))
    cache: OrderedDict[tuple[str, int, str], None] = OrderedDict()
    out = {p: [0, 0] for p in procedures}

    def use(which: str, layer: int, pname: str) -> None:
        key = (which, layer, pname)
        if key in cache:
            cache.move_to_end(key)
            return
        out[pname][0 if which == "a" else 1] += 1
        cache[key] = None
        while len(cache) > cap:
            cache.popitem(last=False)

    for pname in procedures:
        for layer in profile.layers_a:
            use("a", layer, pname)
        for layer in profile.layers_b:
            use("b", layer, pname)
        for _grid in range(2):  # the grid and its control
            for la in profile.layers_a:
                for lb in profile.layers_b:
                    use("a", la, pname)
                    use("b", lb, pname)
        for la, lb in [*_semantic_pairs(profile), profile.semantic_table]:
            use("a", la, pname)
            use("b", lb, pname)
    return {p: (a, b) for p, (a, b) in out.items()}


def _semantic_pairs(profile: Profile) -> list[tuple[int, int]]:
    la, lb = profile.semantic_table
    return sorted({(a, b) for a in profile.semantic_layers_a for b in profile.semantic_layers_b} | {(la, lb)})


def workload_from_profile(
    profile: Profile, *, procedures: Sequence[str] = ("paper", "corrected"), variance_dims: float = 1.0
) -> Workload:
    """The sizes of ``profile``'s whole run (both procedures, controls, semantic tables) from the
    profile and the paper's printed counts; every unprinted size is an assumption (listed)."""
    from harness.pairing.concepts import CONCEPT_KEYWORDS
    from harness.verdicts.paper_tables import paper_pair_counts

    d_a, f_a, k_a = _shapes(profile, "a")
    d_b, f_b, k_b = _shapes(profile, "b")
    printed = paper_pair_counts(profile.name)
    assumptions: list[str] = []
    by_variant: dict[str, dict[tuple[int, int], int]] = {}
    for (variant, la, lb), count in printed.items():
        by_variant.setdefault(variant, {})[(la, lb)] = count
    if not printed:
        raise ConfigError(
            f"Profile {profile.name!r} has no printed pair counts (harness/verdicts/paper_pair_counts.csv); "
            "give a run's results.json (`sae-claims cost --results FILE`)."
        )
    medians = {v: int(statistics.median(c.values())) for v, c in by_variant.items()}
    missing = [
        (la, lb) for la in profile.layers_a for lb in profile.layers_b if (la, lb) not in by_variant["one_to_one"]
    ]
    if missing:
        assumptions.append(
            f"{len(missing)} grid cells have no printed count (Tables 5-8): they get the median printed count "
            f"(1-1 {medians['one_to_one']}, many-to-1 {medians['many_to_one']})."
        )
    assumptions.append(
        "Unfiltered 1-1 sets (App. F) are not printed: as many pairs as the cell's many-to-1 set; "
        "random-partner sets and placebo-filter runs: as many as the 1-1 set; the many-to-1 set's "
        "distinct A features: the 1-1 count."
    )
    assumptions.append(
        f"Control grids (B positions shuffled): filtered 1-1 and many-to-1 sets {CONTROL_FILTERED:.0%} of the "
        "real cell's (the tiny rehearsal's control kept 21 of 551 and 30 of 1,311), the unfiltered set as "
        "the real one's, the top-correlated set the real 1-1 count."
    )
    table = profile.paper_semantic_table
    sizes = [int(v["n"]) for v in table.values() if "n" in v]
    median_n = int(statistics.median(sizes)) if sizes else 0
    assumptions.append(
        f"Semantic sets: the paper's n per category (Tables 1/2/9; {median_n} where unprinted) at every "
        "semantic layer pair; concept features per side and every Test-2 draw's pair count: that n."
    )
    assumptions.append(
        f"Concept indexes: every filled top slot holds a distinct token, and {KEYWORD_SLOT_SHARE:.0%} of them a "
        "Table 4 keyword whose window is decoded (the fixture world's share; a real corpus has fewer)."
    )
    if variance_dims >= 1.0:
        assumptions.append("corrected SVCCA: k = min(rank, floor(n/4)) (99%-variance count taken as the rank).")
    else:
        assumptions.append(f"corrected SVCCA: 99% variance in {variance_dims:.0%} of the rank.")

    def cell(la: int, lb: int, control: bool) -> CellWork:
        one = by_variant["one_to_one"].get((la, lb), medians["one_to_one"])
        many = max(one, by_variant["many_to_one"].get((la, lb), medians["many_to_one"]))
        unfiltered = many
        top = one
        if control:
            one, many = (int(round(CONTROL_FILTERED * x)) for x in (one, many))
        return CellWork(
            layer_a=la,
            layer_b=lb,
            control=control,
            one_to_one=PairSet.one_to_one(one),
            many_to_one=PairSet(many, one, many),
            unfiltered=PairSet.one_to_one(unfiltered),
            random_partner=None if control else PairSet.one_to_one(one),
            top_correlated=PairSet.one_to_one(top) if control else None,
            placebo_filter_runs=() if control else tuple([one] * draws["n_placebo_filter_runs"]),
        )

    builds = space_builds(profile, procedures)
    work = []
    for pname in procedures:
        proc = get_procedure(pname)
        draws = _draws(profile, proc)
        grid = tuple(cell(la, lb, False) for la in profile.layers_a for lb in profile.layers_b)
        control = tuple(cell(la, lb, True) for la in profile.layers_a for lb in profile.layers_b)
        concepts = []
        for c in CONCEPT_KEYWORDS:
            n = int(table.get(c, {}).get("n", median_n))
            concepts.append(
                ConceptWork(
                    category=c,
                    n_concept_a=n,
                    n_concept_b=n,
                    n_pairs=n,
                    test2_pairs=tuple([n] * draws["n_random_subsets"]),
                    test2_batches=None,  # batched by the device's budget (harness.cost.recipes.test2)
                )
            )
        semantic = [SemanticWork(a, b, False, tuple(concepts)) for a, b in _semantic_pairs(profile)]
        semantic.append(SemanticWork(*profile.semantic_table, True, tuple(concepts)))
        work.append(
            ProcedureWork(
                procedure=proc,
                grid=grid,
                control_grid=control,
                semantic=tuple(semantic),
                n_positions=_positions(profile, proc),
                space_builds=builds[pname],
                **draws,
            )
        )
    return _workload(
        profile,
        work,
        source="profile + the paper's Tables 5-8 (pair counts) and 1/2/9 (semantic n)",
        assumptions=assumptions,
        variance_dims=variance_dims,
    )


def _workload(
    profile: Profile,
    procedures: Sequence[ProcedureWork],
    *,
    source: str,
    assumptions: Sequence[str],
    variance_dims: float,
) -> Workload:
    """The :class:`Workload` of ``profile``'s models and SAE shapes with its procedures' work."""
    (d_a, f_a, k_a), (d_b, f_b, k_b) = _shapes(profile, "a"), _shapes(profile, "b")
    return Workload(
        profile=profile.name,
        model_a=str(profile.models["a"]["name"]),
        model_b=str(profile.models["b"]["name"]),
        d_a=d_a,
        d_b=d_b,
        f_a=f_a,
        f_b=f_b,
        topk_a=k_a,
        topk_b=k_b,
        layers_a=tuple(profile.layers_a),
        layers_b=tuple(profile.layers_b),
        procedures=tuple(procedures),
        source=source,
        assumptions=tuple(assumptions),
        variance_dims=variance_dims,
    )


def _n(rec: Mapping[str, Any], key: str) -> int:
    v = rec.get(key)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else 0


def workload_from_results(
    profile: Profile,
    experiments: Mapping[str, Any],
    *,
    facts: Sequence[Any] = (),
    n_positions: Mapping[str, int] | None = None,
    space_builds: Mapping[str, tuple[int, int]] | None = None,
    variance_dims: float = 1.0,
) -> Workload:
    """The sizes of a run from its records (``experiments`` of a results.json: grid and semantic
    records by name) and, where given, the facts a counted run recorded (placebo-filter run
    sizes, Test-2 draw pair counts, distinct features of many-to-1 sets, in call order); without
    facts those sizes are assumed as in :func:`workload_from_profile`."""
    d_a, f_a, k_a = _shapes(profile, "a")
    d_b, f_b, k_b = _shapes(profile, "b")
    assumptions: list[str] = []
    queues: dict[tuple[str, str], list[int]] = {}
    test2_facts: dict[str, list[Any]] = {}
    for f in facts:
        queues.setdefault((f.stage, f.function), []).append(f.size)
        if f.stage.endswith(".test2") and f.function in ("subset_correlations", "svcca_subsets", "columns"):
            test2_facts.setdefault(f.stage, []).append(f)

    def take_test2(
        stage: str, n_batches: int
    ) -> tuple[tuple[tuple[int, int, int], ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
        """This category's Test-2 facts, in call order: per batch the column encodes and then the
        batch's (draws, distinct A, distinct B); then the pair counts of its scored draws (the
        ragged svcca_subsets calls up to the next category's)."""
        q = test2_facts.get(stage, [])
        batches: list[tuple[int, int, int]] = []
        encodes: list[tuple[int, int]] = []
        while q and len(batches) < n_batches and q[0].function in ("columns", "subset_correlations"):
            f = q.pop(0)
            if f.function == "columns":
                encodes.append((f.detail[0], f.detail[1]))
            else:
                batches.append((f.detail[0], f.detail[1], f.detail[2]))
        pairs: list[int] = []
        while q and q[0].function == "svcca_subsets":
            rows, width, *lengths = q.pop(0).detail
            pairs += list(lengths) if lengths else [width] * rows
        return tuple(batches), tuple(pairs), tuple(encodes)

    if not facts:
        assumptions.append(
            "No counted facts: placebo-filter runs and Test-2 draws get the observed pair counts, Test-2 "
            "batches the expected distinct features of draws from every latent; the many-to-1 set's "
            "distinct A features: the 1-1 count."
        )

    def take(stage: str, function: str, count: int, default: int) -> tuple[int, ...]:
        q = queues.get((stage, function))
        if not facts:
            return tuple([default] * count)
        got = tuple(q[:count]) if q else ()
        if q is not None:
            del q[:count]
        return got

    if n_positions is None:  # a grid record names its spaces' positions
        n_positions = {
            str(rec["procedure"]): int(rec["n_tokens"])
            for rec in experiments.values()
            if isinstance(rec, dict) and rec.get("kind") == "grid" and isinstance(rec.get("n_tokens"), int)
        }
    by_proc: dict[str, dict[str, list[Any]]] = {}
    for rec in experiments.values():  # in run order: facts are consumed in the order they were recorded
        if not isinstance(rec, dict) or rec.get("kind") not in ("grid", "semantic"):
            continue
        pname = str(rec.get("procedure"))
        slot = by_proc.setdefault(pname, {"grid": [], "control_grid": [], "semantic": []})
        draws = _draws(profile, get_procedure(pname))
        control = bool(rec.get("control"))
        if rec.get("kind") == "grid":
            exp = "grid_control" if control else "grid"
            for c in rec["cells"]:
                one, many, unf = _n(c, "n_pairs"), _n(c, "n_pairs_m21"), _n(c, "n_pairs_unfiltered")
                runs = draws["n_placebo_filter_runs"]
                placebo = () if control else take(f"{exp}.placebo_filter", "pair_spaces", runs, one)
                slot["control_grid" if control else "grid"].append(
                    CellWork(
                        layer_a=int(c["layer_a"]),
                        layer_b=int(c["layer_b"]),
                        control=control,
                        one_to_one=PairSet.one_to_one(one),
                        many_to_one=PairSet(many, one, many),
                        unfiltered=PairSet.one_to_one(unf),
                        random_partner=None if control else PairSet.one_to_one(_n(c, "n_pairs_rp")),
                        top_correlated=PairSet.one_to_one(_n(c, "n_pairs_top")) if control else None,
                        placebo_filter_runs=placebo,
                    )
                )
        else:
            exp = "semantic_control" if control else "semantic"
            concepts = []
            n_pos = int((n_positions or {}).get(pname) or _positions(profile, get_procedure(pname)))
            for c in rec["cells"]:
                n_pairs, size_a, size_b, n_t2 = (
                    _n(c, "n_pairs"),
                    _n(c, "n_concept_a"),
                    _n(c, "n_concept_b"),
                    _n(c, "test2_n"),
                )
                batches: tuple[tuple[int, int, int], ...] | None = ()
                pairs: tuple[int, ...] = ()
                encodes: tuple[tuple[int, int], ...] | None = None
                if "test2_n" in c and facts:
                    n_batches = -(-n_t2 // test2_batch_size(n_pos, size_a, size_b))
                    batches, pairs, encodes = take_test2(f"{exp}.test2", n_batches)
                elif "test2_n" in c:
                    batches = None
                    pairs = tuple([n_pairs] * n_t2)
                concepts.append(
                    ConceptWork(
                        category=str(c["category"]),
                        n_concept_a=size_a,
                        n_concept_b=size_b,
                        n_pairs=n_pairs,
                        test2_pairs=pairs,
                        test2_batches=batches,
                        test2_encodes=encodes,
                    )
                )
            slot["semantic"].append(SemanticWork(int(rec["layer_a"]), int(rec["layer_b"]), control, tuple(concepts)))
    procs = []
    for pname, slot in by_proc.items():
        proc = get_procedure(pname)
        procs.append(
            ProcedureWork(
                procedure=proc,
                grid=tuple(slot["grid"]),
                control_grid=tuple(slot["control_grid"]),
                semantic=tuple(slot["semantic"]),
                n_positions=int((n_positions or {}).get(pname) or _positions(profile, proc)),
                space_builds=(space_builds or {}).get(pname, (0, 0)),
                **_draws(profile, proc),
            )
        )
    if not procs:
        raise ConfigError("The results hold no grid or semantic records; give a results.json of a profile run.")
    return _workload(
        profile,
        procs,
        source="a run's records" + (" and counted facts" if facts else ""),
        assumptions=assumptions,
        variance_dims=variance_dims,
    )
