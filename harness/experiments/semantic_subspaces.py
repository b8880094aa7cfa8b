"""Semantic subspaces (Lan et al. 2024 Sec. 4.3): concept features on each side, paired within the
concept sets, scored with Test 1 (shuffled pairing) and Test 2 (random same-size subsets paired the
same way), with bootstrap standard errors (:func:`compare_concept`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from harness.config import Procedure
from harness.errors import DegenerateInputError
from harness.pairing.matching import (
    Pairs,
)
from harness.scoring.effects import (
    cell_seed,
    count_at_or_above,
    excess_over_chance,
    p_plus_one,
)
from harness.scoring.metrics import svcca
from harness.scoring.nulls import random_subset_test
from harness.experiments.feature_space import FeatureSpace
from harness.threads import single_threaded
from harness.experiments.space_pairing import pair_subsets
from harness.experiments.pair_scores import svcca_max_k, positive_int, score_pairs, svcca_of_sets


def _test2_batched(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    observed: float,
    *,
    rule: str,
    sizes: tuple[int, int],
    pools: tuple[NDArray[np.int64], NDArray[np.int64]],
    n_draws: int,
    seed: int,
    device: str,
) -> Any:
    """Test 2 with the draws of :func:`harness.scoring.nulls.random_subset_test` (same seed, same
    subsets, the same pairs), paired and scored in batches on ``device``
    (:func:`harness.experiments.subset_pairing.score_test2_draws`: batched correlations and 1-1 rule,
    SVCCAs batched by pair count, equal to the per-draw numpy path to 1e-10)."""
    from harness.experiments.subset_pairing import score_test2_draws
    from harness.scoring.nulls import random_subset_draws, subset_test_result

    draws = random_subset_draws(
        size_a=sizes[0], size_b=sizes[1], pool_a=pools[0], pool_b=pools[1], n_draws=n_draws, seed=seed
    )
    scores = score_test2_draws(space_a, space_b, procedure, draws, rule=rule, device=device)
    return subset_test_result(observed, scores, seed=seed, p_rule=procedure.p_rule)


#: Bootstrap resamples of a semantic table's pairs for the standard errors of its scores (S2/S4's
#: intervals); 0 = none (the semantic grid, the calibration worlds: rules fall back on the null's sd).
SEMANTIC_BOOTSTRAP = 200


@single_threaded
def bootstrap_se(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    pairs: Pairs,
    procedure: Procedure,
    *,
    n_boot: int,
    seed: int,
    device: str | None = None,
) -> dict[str, Any]:
    """Bootstrap standard errors of the observed SVCCA and RSA of ``pairs`` (pairs resampled with
    replacement, ``n_boot`` times, seeded): ``svcca_boot_se``, ``rsa_boot_se`` (sd over the
    resamples, ddof 1; NaN with fewer than 2 finite ones) and ``<metric>_boot_n`` (resamples scored:
    the cost model counts them). SVCCA of a resample
    is batched (:func:`svcca_of_sets`: repeated pairs weigh twice); RSA leaves out the similarity
    entries between two copies of one pair (exactly 1 on both sides: they would inflate the rank
    correlation), exact integer ranks as :mod:`harness.scoring.device_nulls`. The score's sampling
    sd, which S2/S4's intervals need; the shuffled-pairing null's sd is the sd at chance."""
    from harness.scoring.device_nulls import doubled_average_ranks, similarity_matrix

    n = len(pairs)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(int(n_boot), n))
    a_idx, b_idx = np.asarray(pairs.a_idx), np.asarray(pairs.b_idx)
    sv = svcca_of_sets(space_a, space_b, [(a_idx[i], b_idx[i]) for i in idx], procedure, device=device)
    dev = torch.device(device or "cpu")
    rs = np.full(int(n_boot), np.nan)
    iu = torch.triu_indices(n, n, offset=1, device=dev)
    for k, i in enumerate(idx):
        it = torch.as_tensor(i, device=dev)
        keep = it[iu[0]] != it[iu[1]]
        try:
            c = []
            for dec, rows in ((space_a.decoder, a_idx[i]), (space_b.decoder, b_idx[i])):
                sim = similarity_matrix(torch.as_tensor(dec[rows], device=dev), inner=procedure.rsa_inner)
                v = sim[iu[0], iu[1]][keep]
                r2 = doubled_average_ranks(v).to(torch.float64)
                c.append(r2 - r2.mean())
            den = torch.linalg.vector_norm(c[0]) * torch.linalg.vector_norm(c[1])
            rs[k] = float((c[0] @ c[1]) / den) if float(den) > 0 else math.nan
        except DegenerateInputError:
            continue

    def sd(x: NDArray[np.float64]) -> float:
        ok = x[np.isfinite(x)]
        return float(ok.std(ddof=1)) if ok.size > 1 else math.nan

    return {
        "svcca_boot_se": sd(sv),
        "rsa_boot_se": sd(rs),
        "svcca_boot_n": int(np.isfinite(sv).sum()),
        "rsa_boot_n": int(np.isfinite(rs).sum()),
    }


def compare_concept(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    category: str,
    keywords: Sequence[str],
    procedure: Procedure,
    *,
    n_permutations: int | None = None,
    n_random_subsets: int | None = None,
    null_device: str | None = None,
    n_bootstrap: int = 0,
) -> dict[str, Any]:
    """Semantic-subspace comparison for one concept category (Tables 1, 2, 9).

    ``n_bootstrap`` > 0 adds the scores' bootstrap standard errors (:func:`bootstrap_se`; the
    semantic table of S2/S4).

    Test 1: shuffled pairing within the subspace. Test 2: random feature subsets of the same
    sizes (from all live features), paired by correlation within the subsets with the same
    1-1 rule, scored the same way. ``null_device``: Test 1's nulls (see :func:`score_pairs`) and
    Test 2's SVCCAs batched on that device (same draws and pairs).
    """
    if n_permutations is not None:
        positive_int(n_permutations, "n_permutations")  # before any work
    python_set = procedure.semantic_column_order == "python_set"
    order = "python_set" if python_set else "ascending"
    feats_a = space_a.concept(keywords, rule=procedure.whole_word_rule, order=order)
    feats_b = space_b.concept(keywords, rule=procedure.whole_word_rule, order=order)
    rec: dict[str, Any] = {
        "category": category,
        "a": space_a.name,
        "b": space_b.name,
        "procedure": procedure.name,
        "n_concept_a": int(feats_a.size),
        "n_concept_b": int(feats_b.size),
    }
    if min(feats_a.size, feats_b.size) < procedure.min_subspace_size:
        rec.update(skipped=f"too few concept features ({feats_a.size}, {feats_b.size})", n_pairs=0)
        return rec
    rule = procedure.one_to_one
    # Paper: columns in the authors' list(set) order, and "first seen" walks B in that order.
    pairs = pair_subsets(space_a, space_b, feats_a, feats_b, rule=rule, order="given" if python_set else "sorted")
    n_perm = procedure.n_permutations_semantic if n_permutations is None else n_permutations
    rec.update(
        score_pairs(
            space_a,
            space_b,
            pairs,
            procedure,
            n_permutations=n_perm,
            identity=("semantic", category),
            null_device=null_device,
        )
    )
    if "skipped" in rec or not np.isfinite(rec.get("svcca", math.nan)):
        return rec
    if n_bootstrap > 0:
        rec.update(
            bootstrap_se(
                space_a,
                space_b,
                pairs,
                procedure,
                n_boot=n_bootstrap,
                seed=cell_seed(procedure.seed, "bootstrap", category, space_a.name, space_b.name),
                device=null_device,
            )
        )
    live_a = np.flatnonzero(space_a.live)
    live_b = np.flatnonzero(space_b.live)
    n = len(pairs)
    max_k = svcca_max_k(procedure, n)

    def score_subsets(ia: NDArray[np.int64], ib: NDArray[np.int64]) -> float:
        p = pair_subsets(space_a, space_b, ia, ib, rule=rule)
        if len(p) < max(procedure.min_subspace_size, 3):
            return math.nan
        try:
            return svcca(
                space_a.decoder[p.a_idx],
                space_b.decoder[p.b_idx],
                keep=procedure.svcca_keep,
                max_k=svcca_max_k(procedure, len(p)),
            ).score
        except DegenerateInputError:
            return math.nan

    n_draws = n_random_subsets or procedure.n_random_subsets
    seed = cell_seed(procedure.seed, "test 2", category, space_a.name, space_b.name)
    if null_device is None:
        t2 = random_subset_test(
            rec["svcca"],
            score_subsets,
            size_a=int(feats_a.size),
            size_b=int(feats_b.size),
            pool_a=live_a,
            pool_b=live_b,
            n_draws=n_draws,
            seed=seed,
            p_rule=procedure.p_rule,
        )
    else:
        t2 = _test2_batched(
            space_a,
            space_b,
            procedure,
            rec["svcca"],
            rule=rule,
            sizes=(int(feats_a.size), int(feats_b.size)),
            pools=(live_a, live_b),
            n_draws=n_draws,
            seed=seed,
            device=null_device,
        )
    k2 = count_at_or_above(t2.null, t2.observed)
    rec.update(
        test2_null_mean=float(t2.null.mean()),
        test2_p=t2.p_value,
        test2_failed=t2.n_failed,
        test2_n=int(t2.null.size),
        test2_p_plus_one=p_plus_one(k2, int(t2.null.size)),
        test2_p_paper=f"{k2}/{t2.null.size}",
        test2_excess=excess_over_chance(t2.observed, float(t2.null.mean())),
        svcca_max_k=max_k,
    )
    return rec
