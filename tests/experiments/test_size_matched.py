"""The pair-count bias control: the 1-1 set against same-size random subsets of a larger set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import CORRECTED
from harness.experiments.size_matched import rows_in, size_matched
from harness.experiments.space_pairing import pair_spaces
from harness.experiments.synthetic import synthetic_pair
from harness.pairing.matching import Pairs
from harness.scoring.metrics import svcca


@pytest.mark.parametrize("null_device", [None, "cpu"])
def test_planted_one_to_one_beats_size_matched_subsets_and_a_random_subset_does_not(null_device) -> None:
    """True input: the planted 1-1 set scores above every same-size random subset of the unfiltered
    pairs (p at its floor). Broken input: a random subset of the superset itself is exchangeable
    with the draws (p far from alpha). Both routes (numpy draws, batched device draws) agree."""
    a, b = synthetic_pair()
    one, _ = pair_spaces(a, b, CORRECTED)
    unf, _ = pair_spaces(a, b, CORRECTED, token_filters=False, one_to_one_rule="none")
    assert len(one) < len(unf)
    observed = svcca(a.decoder[one.a_idx], b.decoder[one.b_idx], keep=0.99, max_k=len(one) // 4).score
    rec = size_matched(a, b, one, observed, unf, CORRECTED, n_draws=49, seed=1, null_device=null_device)
    assert rec["n_draws"] == 49 and rec["p_plus_one"] == pytest.approx(1 / 50)
    assert rec["draws_mean"] < observed
    rows = np.sort(np.random.default_rng(0).choice(len(unf), size=len(one), replace=False))
    sub = Pairs(unf.a_idx[rows], unf.b_idx[rows], unf.corr[rows], ())
    sub_score = svcca(a.decoder[sub.a_idx], b.decoder[sub.b_idx], keep=0.99, max_k=len(sub) // 4).score
    broken = size_matched(a, b, sub, sub_score, unf, CORRECTED, n_draws=49, seed=1, null_device=null_device)
    assert broken["p_plus_one"] > 0.1


def test_rows_in_and_a_nan_observed_score() -> None:
    sup = Pairs(np.array([0, 1, 2, 3]), np.array([5, 6, 7, 8]), np.zeros(4), ())
    assert rows_in(Pairs(np.array([2, 0]), np.array([7, 5]), np.zeros(2), ()), sup).tolist() == [2, 0]
    assert rows_in(Pairs(np.array([2]), np.array([6]), np.zeros(1), ()), sup) is None
    a, b = synthetic_pair()
    one, _ = pair_spaces(a, b, CORRECTED)
    rec = size_matched(a, b, one, math.nan, one, CORRECTED, n_draws=9, seed=0)
    assert rec["skipped"] == "observed score is NaN"
