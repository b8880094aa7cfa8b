"""Scores of one pair set: SVCCA / RSA with shuffled-pairing nulls, effects, split halves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import CORRECTED
from harness.experiments.semantic_subspaces import compare_concept
from harness.experiments.spaces import compare_spaces
from harness.experiments.synthetic import synthetic_pair


def test_scores_carry_their_effect_over_chance_and_per_cell_seeds() -> None:
    """Every score comes with excess over its null, null sd, z, the +1 p and the paper's k/N;
    each variant's null is seeded from its own identity (no shared permutations)."""
    a, b = synthetic_pair()
    rec = compare_spaces(a, b, CORRECTED, n_permutations=19)
    one = rec["one_to_one"]
    assert one["svcca_excess"] == pytest.approx((one["svcca"] - one["svcca_null_mean"]) / (1 - one["svcca_null_mean"]))
    assert one["svcca_excess"] > 0.2 and one["svcca_z"] > 3
    assert one["svcca_p_paper"] == "0/19" and one["svcca_p_plus_one"] == pytest.approx(1 / 20)
    assert one["rsa_excess"] > 0 and np.isfinite(one["rsa_null_std"])
    seeds = {rec[v]["svcca_seed"] for v in ("one_to_one", "many_to_one", "unfiltered")}
    assert len(seeds) == 3
    again = compare_spaces(a, b, CORRECTED, n_permutations=19)["one_to_one"]
    assert again["svcca_seed"] == one["svcca_seed"] and again["svcca_null_mean"] == one["svcca_null_mean"]


def test_split_halves_agree_on_a_planted_pair() -> None:
    a, b = synthetic_pair()
    one = compare_spaces(a, b, CORRECTED, n_permutations=19, split_halves=True)["one_to_one"]
    assert one["split_half_n"] == one["n_pairs"] // 2
    assert one["svcca_excess_half1"] > 0.2 and one["svcca_excess_half2"] > 0.2
    assert "svcca_excess_half1" not in compare_spaces(a, b, CORRECTED, n_permutations=9)["one_to_one"]


def test_zero_permutations_is_an_error() -> None:
    """Issue 14, finding 8: n_permutations=0 silently meant the procedure's default."""
    from harness.config import CORRECTED
    from harness.errors import ConfigError
    from harness.experiments.spaces import compare_spaces
    from harness.experiments.synthetic import synthetic_pair

    a, b = synthetic_pair()
    with pytest.raises(ConfigError, match="n_permutations=0"):
        compare_spaces(a, b, CORRECTED, n_permutations=0)
    with pytest.raises(ConfigError, match="n_permutations=-1"):
        compare_concept(a, b, "x", ("x",), CORRECTED, n_permutations=-1)


def test_split_half_nulls_on_the_device_equal_numpy() -> None:
    """split_halves with null_device="cpu" (batched fixed-basis nulls) == the numpy nulls to 1e-10."""
    a, b = synthetic_pair()
    ref = compare_spaces(a, b, CORRECTED, n_permutations=19, split_halves=True)["one_to_one"]
    dev = compare_spaces(a, b, CORRECTED, n_permutations=19, split_halves=True, null_device="cpu")["one_to_one"]
    for key in ("svcca_excess_half1", "svcca_excess_half2"):
        assert math.isfinite(ref[key])
        assert dev[key] == pytest.approx(ref[key], rel=1e-10, abs=1e-12)
