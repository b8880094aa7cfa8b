"""Experiments: pair two SAE feature spaces and score them (Lan et al. 2024, Sec. 3-4).

Inputs are :class:`FeatureSpace` objects (one SAE at one layer of one model, run on the
shared tokens): sparse codes, decoder rows, and what the token filters need. Outputs are
plain records (dicts of numbers) that claims and reports read.

Whole-space pipeline (Sec. 3, App. D-F), in the order of the authors' code:
many-to-1 max-correlation pairs -> non-concept filter -> shared-top-token filter -> 1-1 rule
-> correlation > threshold -> SVCCA and RSA of the paired decoder rows with shuffled-pairing
nulls.

Semantic pipeline (Sec. 4.3): concept features on each side (Table 4 keywords, whole-word
rule) -> pairing restricted to the concept features -> 1-1 rule -> SVCCA/RSA with Test 1
(shuffled pairing) and Test 2 (random same-size subsets paired the same way).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any


from harness.config import Procedure
from harness.pairing.matching import (
    Pairs,
)
from harness.scoring.effects import (
    cell_seed,
)
from harness.experiments.feature_space import FeatureSpace
from harness.experiments.space_pairing import pair_spaces, space_max_correlation, top_correlated_pairs
from harness.experiments.pair_scores import positive_int, score_pairs, split_half
from harness.experiments.random_partners import (
    RANDOM_PARTNER_SETS,
    random_partner_contrast,
    random_partner_draws,
    random_partner_pairs,
)
from harness.experiments.placebos import PLACEBO_FILTER_RUNS, placebo_filter, placebo_one_to_one
from harness.experiments.size_matched import SIZE_MATCHED_DRAWS, size_matched


def compare_spaces(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    variants: Sequence[str] = ("one_to_one", "many_to_one", "unfiltered"),
    n_permutations: int | None = None,
    n_size_matched: int = SIZE_MATCHED_DRAWS,
    n_top_correlated: int | None = None,
    split_halves: bool = False,
    random_partners: bool = False,
    random_partner_sets: int = RANDOM_PARTNER_SETS,
    placebos: bool = False,
    placebo_filter_runs: int = PLACEBO_FILTER_RUNS,
    device: str = "cpu",
    null_device: str | None = None,
    paper_permutations: int | None = None,
    rsa_variants: Collection[str] | None = None,
    null_variants: Collection[str] | None = None,
    size_matched_sets: bool = True,
) -> dict[str, Any]:
    """Whole-space comparison of two SAEs (Figs. 2-3, 5-14): one record per variant.

    Variants: ``one_to_one`` (the main text), ``many_to_one`` (App. E), ``unfiltered``
    (1-1 without the token filters, App. F). ``n_size_matched`` random same-size subsets of
    the many-to-1 and the unfiltered pairs score the 1-1 set against its own pair count.
    ``n_top_correlated`` adds the variant ``top_correlated`` (for negative controls): the 1-1
    rule without token filters and without the correlation threshold, keeping the
    ``n_top_correlated`` most correlated pairs -- on misaligned tokens nothing passes the
    filters, and this is the set that still exercises the statistic at the real pair count.
    ``null_device``: see :func:`score_pairs` (also used for the size-matched draws).
    ``split_halves`` adds the 1-1 set's split-half excesses (:func:`split_half`); ``random_partners``
    the variant ``random_partner`` (one set, :func:`random_partner_pairs`, scored against its own
    null: reported) and ``random_partner_contrast`` (the real 1-1 pairing ranked among
    ``random_partner_sets`` such sets, :func:`random_partner_contrast`: U1/U2's control).
    ``placebos`` adds U5's and U6's placebo controls: ``placebo_one_to_one`` (one random many-to-1
    partner per A feature, ``n_size_matched`` draws + 1 held out; :func:`placebo_one_to_one`) and
    ``placebo_filter`` (random tokens filtered instead of the non-concept list; :func:`placebo_filter`),
    each seeded from the cell's identity. ``paper_permutations``: see :func:`score_pairs`.
    ``rsa_variants``: the pair sets (variant names, ``random_partner``, ``top_correlated``) whose RSA
    and RSA null are computed; None = every set. A grid passes the sets its cells read
    (:data:`harness.experiments.grid.RSA_VARIANTS`); the others' ``rsa*`` fields are NaN with
    ``rsa_skipped`` (:func:`score_pairs` ``rsa=False``). ``null_variants``: the pair sets whose
    permutation nulls are computed; the others get their observed SVCCA only (``null_skipped``,
    :func:`score_pairs` ``null=False``); None = every set. ``size_matched_sets=False`` skips the
    size-matched draws (a grid's shuffled-positions control, whose draws nothing reads).
    """
    n_perm = procedure.n_permutations if n_permutations is None else positive_int(n_permutations, "n_permutations")
    # device: the exact pairing runs on the GPU in the gpu tier (64 TFLOP per Pythia pair)
    mc = space_max_correlation(space_a, space_b, procedure, device=device)
    out: dict[str, Any] = {
        "a": space_a.name,
        "b": space_b.name,
        "procedure": procedure.name,
        "mean_max_corr": mc.mean_max_corr_b,
        "n_features_a": space_a.n_features,
        "n_features_b": space_b.n_features,
        "dead_a": int(mc.dead_a.sum()),
        "dead_b": int(mc.dead_b.sum()),
        "n_tokens": mc.n_tokens,
        "backend": mc.backend,
    }
    settings = {
        "one_to_one": {"one_to_one_rule": None, "token_filters": True},
        "many_to_one": {"one_to_one_rule": "none", "token_filters": True},
        "unfiltered": {"one_to_one_rule": None, "token_filters": False},
    }
    kept: dict[str, Pairs] = {}
    for variant in variants:
        pairs, _ = pair_spaces(space_a, space_b, procedure, mc=mc, **settings[variant])  # type: ignore[arg-type]  # settings hold pair_spaces keywords of mixed types
        kept[variant] = pairs
        out[variant] = score_pairs(
            space_a,
            space_b,
            pairs,
            procedure,
            n_permutations=n_perm,
            identity=("whole space", variant),
            null_device=null_device,
            paper_permutations=paper_permutations,
            rsa=rsa_variants is None or variant in rsa_variants,
            null=null_variants is None or variant in null_variants,
        )
    if split_halves and "one_to_one" in kept:  # U7's split-half reliability
        out["one_to_one"].update(
            split_half(
                space_a,
                space_b,
                kept["one_to_one"],
                procedure,
                n_permutations=n_perm,
                identity=("whole space", "one_to_one"),
                null_device=null_device,
            )
        )
    if random_partners and "one_to_one" in kept:  # U1/U2's filter-aware control
        n_rp = positive_int(random_partner_sets, "random_partner_sets")
        rp_seed = cell_seed(procedure.seed, "random partner sets", space_a.name, space_b.name)
        rp_draws = random_partner_draws(space_a, space_b, kept["one_to_one"], procedure, seed=rp_seed, n_sets=n_rp)
        # the reported single set is the contrast's set 0 (its observed score; drawn once)
        rp = random_partner_pairs(space_a, space_b, kept["one_to_one"], procedure, seed=rp_seed, draw=rp_draws[0])
        out["random_partner"] = score_pairs(
            space_a,
            space_b,
            rp,
            procedure,
            n_permutations=n_perm,
            identity=("whole space", "random_partner"),
            null_device=null_device,
            paper_permutations=paper_permutations,
            rsa=rsa_variants is None or "random_partner" in rsa_variants,
            null=null_variants is None or "random_partner" in null_variants,
        )
        out["random_partner_contrast"] = random_partner_contrast(
            space_a,
            space_b,
            kept["one_to_one"],
            procedure,
            n_sets=n_rp,
            seed=rp_seed,
            device=null_device,
            rsa=rsa_variants is None or "random_partner" in rsa_variants,
            draws=rp_draws,
        )
    if n_top_correlated is not None:
        pairs = top_correlated_pairs(space_a, space_b, procedure, mc=mc, n=n_top_correlated)
        out["top_correlated"] = score_pairs(
            space_a,
            space_b,
            pairs,
            procedure,
            n_permutations=n_perm,
            identity=("whole space", "top_correlated"),
            null_device=null_device,
            paper_permutations=paper_permutations,
            rsa=rsa_variants is None or "top_correlated" in rsa_variants,
            null=null_variants is None or "top_correlated" in null_variants,
        )
    others: dict[str, dict[str, float]] = {}
    if placebos and "one_to_one" in kept and "many_to_one" in kept:  # U5's placebo 1-1 rule
        out["placebo_one_to_one"] = placebo_one_to_one(
            space_a,
            space_b,
            kept["one_to_one"],
            kept["many_to_one"],
            procedure,
            n_draws=n_size_matched,
            seed=cell_seed(procedure.seed, "placebo one to one", space_a.name, space_b.name),
            device=null_device,
        )
        others["many_to_one"] = {"placebo": out["placebo_one_to_one"]["placebo_one_to_one_svcca"]}
    if placebos and "unfiltered" in kept:  # U6's placebo filter (App. F)
        out["placebo_filter"] = placebo_filter(
            space_a,
            space_b,
            procedure,
            mc=mc,
            unfiltered=kept["unfiltered"],
            seed=cell_seed(procedure.seed, "placebo filter", space_a.name, space_b.name),
            device=null_device,
            n_runs=placebo_filter_runs,
        )
    # App. E and F compare pair sets of different sizes; SVCCA rises as n falls, so the 1-1
    # (filtered) score is also compared with same-size random subsets of the larger set.
    if "one_to_one" in kept and size_matched_sets:
        for superset in ("many_to_one", "unfiltered"):
            if superset in kept:
                out[f"one_to_one_vs_{superset}_size_matched"] = size_matched(
                    space_a,
                    space_b,
                    kept["one_to_one"],
                    out["one_to_one"].get("svcca", math.nan),
                    kept[superset],
                    procedure,
                    n_draws=n_size_matched,
                    seed=cell_seed(procedure.seed, "size matched", superset, space_a.name, space_b.name),
                    null_device=null_device,
                    others=others.get(superset),
                )
    return out
