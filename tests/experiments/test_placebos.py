"""U5's placebo 1-1 rule and U6's placebo filter."""

from __future__ import annotations

import math

import numpy as np

from harness.config import CORRECTED
from harness.experiments.synthetic import synthetic_pair


def test_placebo_one_to_one_keeps_the_a_features_and_draws_among_their_candidates() -> None:
    """U5's placebo: one random many-to-1 candidate per A feature of the real 1-1 set, same count;
    on the planted world the best-correlation 1-1 set beats it, and a 1-1 set that is itself a
    random choice (a broken pipeline) does not."""
    from harness.experiments.space_pairing import pair_spaces
    from harness.experiments.placebos import placebo_one_to_one

    a, b = synthetic_pair()
    one, mc = pair_spaces(a, b, CORRECTED)
    many, _ = pair_spaces(a, b, CORRECTED, mc=mc, one_to_one_rule="none")
    rec = placebo_one_to_one(a, b, one, many, CORRECTED, n_draws=49, seed=1)
    assert rec["placebo_one_to_one_n_draws"] == 49 and rec["placebo_one_to_one_n_with_choice"] > 10
    assert rec["placebo_one_to_one_p_plus_one"] <= 0.05
    # broken: the "real" 1-1 set is one random candidate per A feature, like the placebo
    rng = np.random.default_rng(5)
    pick = []
    for x in one.a_idx.tolist():
        rows = np.flatnonzero(many.a_idx == x)
        pick.append(int(rows[rng.integers(rows.size)]))
    from harness.pairing.matching import Pairs

    rows = np.asarray(pick)
    random_one = Pairs(many.a_idx[rows], many.b_idx[rows], many.corr[rows], ("random 1-1",))
    broken = placebo_one_to_one(a, b, random_one, many, CORRECTED, n_draws=49, seed=1)
    assert broken["placebo_one_to_one_p_plus_one"] > 0.05
    # no A feature with a choice: every placebo is the real set, nothing is judged
    single = Pairs(one.a_idx, one.b_idx, one.corr, ())
    none = placebo_one_to_one(a, b, single, single, CORRECTED, n_draws=9, seed=1)
    assert none["placebo_one_to_one_n_with_choice"] == 0 and math.isnan(none["placebo_one_to_one_p_plus_one"])


def test_placebo_filter_swaps_only_the_nonconcept_list() -> None:
    """U6's placebo: random non-junk tokens filtered instead of the non-concept list. On the planted
    world a random token filter removes the private features first (they fire at random positions,
    so their top tokens are many and varied, and a frequency-weighted draw hits them), so it raises
    the score as much as any filter would: the control comes out the same way there. On pure noise
    (B's positions shuffled) it does not beat its siblings. An all-False mask is the same as
    switching the non-concept filter off."""
    from dataclasses import replace

    from harness.experiments.space_pairing import pair_spaces

    from harness.experiments.placebos import placebo_filter

    proc = replace(CORRECTED, filter_shared_token=False, corr_threshold=-1.0)
    a, b = synthetic_pair()
    unf, mc = pair_spaces(a, b, proc, token_filters=False)
    rec = placebo_filter(a, b, proc, mc=mc, unfiltered=unf, seed=0)
    assert rec["placebo_filter_runs"] == 10 and rec["placebo_filter_n_pairs_mean"] < len(unf)
    assert rec["placebo_filter_p"] < 0.05
    na, nb = synthetic_pair(shuffle_b_positions=True)
    unf_noise, mc_noise = pair_spaces(na, nb, proc, token_filters=False)
    noise = placebo_filter(na, nb, proc, mc=mc_noise, unfiltered=unf_noise, seed=0)
    assert noise["placebo_filter_runs"] == 10 and noise["placebo_filter_p"] > 0.05
    off = (np.zeros(a.n_features, bool), np.zeros(b.n_features, bool))
    kept, _ = pair_spaces(a, b, proc, mc=mc, junk_masks=off)
    plain, _ = pair_spaces(a, b, replace(proc, filter_nonconcept=False), mc=mc)
    assert np.array_equal(kept.a_idx, plain.a_idx) and np.array_equal(kept.b_idx, plain.b_idx)
