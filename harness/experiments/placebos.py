"""The paper's own placebos: U5's placebo 1-1 rule (App. E: one random many-to-1 partner per A
feature) and U6's placebo filter (App. A/F: random tokens filtered instead of the non-concept list).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.config import Procedure
from harness.pairing.matching import (
    MaxCorrelation,
    Pairs,
)
from harness.scoring.effects import (
    TIE_ATOL,
    count_below,
    p_plus_one,
    rank_sum_p,
)
from harness.experiments.feature_space import FeatureSpace
from harness.experiments.space_pairing import pair_spaces
from harness.experiments.pair_scores import svcca_of_sets


def placebo_one_to_one(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    one: Pairs,
    many: Pairs,
    procedure: Procedure,
    *,
    n_draws: int,
    seed: int,
    device: str | None = None,
) -> dict[str, Any]:
    """U5's placebo 1-1 rule (App. E): for each A feature of the real 1-1 set ``one``, ONE RANDOM
    partner among its many-to-1 candidates (the pairs of ``many`` -- the filtered, thresholded
    many-to-1 set -- with that A feature), instead of the procedure's choice; same A features,
    same count. ``n_draws + 1`` placebo sets: set 0 is held out (the control scores it against the
    real set's size-matched siblings, :func:`size_matched`'s ``others``), sets 1..n_draws are the
    real set's placebo null.

    Returns ``placebo_one_to_one_*`` fields: ``svcca`` (held-out set), ``mean`` (the null's mean),
    ``p_plus_one`` (the real 1-1 SVCCA against the null, +1 rule; a draw identical to the real set
    counts as a tie, i.e. as at or above it), ``n_draws``, ``n_with_choice`` (A features with more
    than one candidate: with none, every placebo is the real set and nothing is judged: NaN p)."""
    pre = "placebo_one_to_one"
    rng = np.random.default_rng(seed)
    a_feats = np.asarray(one.a_idx, dtype=np.int64)
    # each A feature's candidates: the rows of ``many`` with that A feature, a slice of ``by_a``
    # (rows grouped by A feature, ascending within a group)
    many_a, many_b = np.asarray(many.a_idx, dtype=np.int64), np.asarray(many.b_idx, dtype=np.int64)
    by_a = np.argsort(many_a, kind="stable")
    start = np.searchsorted(many_a[by_a], a_feats, side="left")
    count = np.searchsorted(many_a[by_a], a_feats, side="right") - start
    # the real partner's row of ``many`` (the first row with the same (a, b)), -1 if absent
    width = int(max(many_b.max(initial=0), np.max(one.b_idx, initial=0))) + 1
    keys = many_a * width + many_b
    by_key = np.argsort(keys, kind="stable")
    want = a_feats * width + np.asarray(one.b_idx, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys[by_key], want), max(keys.size - 1, 0))
    real_rows = np.where(keys.size and (keys[by_key][at] == want), by_key[at] if keys.size else -1, -1)
    n_choice = int(np.sum(count > 1))
    rec: dict[str, Any] = {
        f"{pre}_n_with_choice": int(n_choice),
        f"{pre}_n_draws": 0,
        f"{pre}_svcca": math.nan,
        f"{pre}_mean": math.nan,
        f"{pre}_p_plus_one": math.nan,
    }
    if not a_feats.size or np.any(count == 0):
        rec[f"{pre}_skipped"] = "an A feature of the 1-1 set has no many-to-1 candidate"
        return rec
    # (n_draws + 1, n) rows of ``many``: one uniform candidate per A feature per draw
    picks = by_a[start[None, :] + rng.integers(0, count[None, :], size=(n_draws + 1, a_feats.size))]
    sets = [(many_a[p], many_b[p]) for p in picks]
    real = real_rows
    scores = svcca_of_sets(space_a, space_b, [(a_feats, np.asarray(one.b_idx)), *sets], procedure, device=device)
    observed, held, null = scores[0], scores[1], scores[2:]
    same = np.all(picks[1:] == real[None, :], axis=1)
    ok = np.isfinite(null)
    rec.update({f"{pre}_svcca": float(held), f"{pre}_n_draws": int(ok.sum())})
    if ok.any():
        rec[f"{pre}_mean"] = float(null[ok].mean())
    if n_choice and ok.any() and np.isfinite(observed):
        k = int(np.sum((null[ok] >= observed - TIE_ATOL) | same[ok]))
        rec[f"{pre}_p_plus_one"] = p_plus_one(k, int(ok.sum()))
    return rec


#: U6's placebo (App. F): tokens filtered instead of the non-concept list, and runs.
PLACEBO_FILTER_TOKENS = 7
PLACEBO_FILTER_RUNS = 10
#: Random same-size subsets of the unfiltered 1-1 pairs each placebo run is ranked among.
PLACEBO_FILTER_SIBLINGS = 9


def placebo_filter(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    mc: MaxCorrelation,
    unfiltered: Pairs,
    seed: int,
    n_runs: int = PLACEBO_FILTER_RUNS,
    n_tokens: int = PLACEBO_FILTER_TOKENS,
    n_siblings: int = PLACEBO_FILTER_SIBLINGS,
    device: str | None = None,
) -> dict[str, Any]:
    """U6's placebo, the paper's own (App. A/F: "for 10 random runs where we randomly choose 7
    tokens that are not part of the non-concept tokens, the filtering ... does not change the
    unfiltered SVCCA score"): the filtered 1-1 set rebuilt with ``n_tokens`` random non-junk
    tokens in place of the non-concept list (every other stage as in the real filtered set: the
    shared-top-token filter, the 1-1 rule, the threshold), ``n_runs`` times.

    Tokens are drawn without replacement from the non-junk strings among the live features' top
    tokens (both spaces), with probability proportional to how many features list them, so a
    placebo removes a share of pairs comparable to a list of common tokens (uniform draws from the
    vocabulary would remove almost nothing and could never raise the score).

    "Does not change the score", judged without the pair-count bias: each run's SVCCA is ranked
    among ``n_siblings`` random subsets of the ``unfiltered`` 1-1 pairs of the run's size;
    ``placebo_filter_p`` is the exact rank-sum p over the runs
    (:func:`harness.scoring.effects.rank_sum_p`): small when the random filter raises the score
    as well."""
    pre = "placebo_filter"
    rng = np.random.default_rng(seed)
    junk = set(space_a.junk_tokens) | set(space_b.junk_tokens)
    counts: dict[str, int] = {}
    for space in (space_a, space_b):
        for t, c in space.string_incidence.feature_counts(space.live).items():
            if t not in junk:
                counts[t] = counts.get(t, 0) + c
    pool = sorted(counts)
    rec: dict[str, Any] = {
        f"{pre}_runs": 0,
        f"{pre}_siblings": int(n_siblings),
        f"{pre}_mean": math.nan,
        f"{pre}_siblings_mean": math.nan,
        f"{pre}_n_pairs_mean": math.nan,
        f"{pre}_p": math.nan,
    }
    if len(pool) < n_tokens or len(unfiltered) < 2:
        rec[f"{pre}_skipped"] = f"{len(pool)} non-junk top-token strings, {len(unfiltered)} unfiltered pairs"
        return rec
    weights = np.array([counts[t] for t in pool], dtype=np.float64)
    below, placebo_scores, sibling_scores, sizes = [], [], [], []
    for _ in range(n_runs):
        tokens = [pool[i] for i in rng.choice(len(pool), size=n_tokens, replace=False, p=weights / weights.sum())]
        masks = (space_a.token_mask(tokens), space_b.token_mask(tokens))
        pairs, _ = pair_spaces(space_a, space_b, procedure, mc=mc, junk_masks=masks)
        n = len(pairs)
        sizes.append(n)
        if not 0 < n < len(unfiltered):
            continue
        subsets = [np.sort(rng.choice(len(unfiltered), size=n, replace=False)) for _ in range(n_siblings)]
        sets = [(pairs.a_idx, pairs.b_idx)] + [(unfiltered.a_idx[i], unfiltered.b_idx[i]) for i in subsets]
        scores = svcca_of_sets(space_a, space_b, sets, procedure, device=device)
        if not np.isfinite(scores).all():
            continue
        below.append(count_below(scores[1:], float(scores[0])))
        placebo_scores.append(float(scores[0]))
        sibling_scores.extend(scores[1:].tolist())
    rec.update({f"{pre}_runs": len(below), f"{pre}_n_pairs_mean": float(np.mean(sizes))})
    if below:
        rec.update(
            {
                f"{pre}_mean": float(np.mean(placebo_scores)),
                f"{pre}_siblings_mean": float(np.mean(sibling_scores)),
                f"{pre}_p": rank_sum_p(below, n_siblings),
            }
        )
    return rec
