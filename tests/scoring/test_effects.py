"""Effect sizes over chance, the +1 p-value, power for alpha, and per-cell seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.scoring.effects import (
    cell_seed,
    count_at_or_above,
    effect_fields,
    excess_over_chance,
    min_permutations,
    p_plus_one,
    powered,
)


def test_excess_is_zero_at_chance_and_one_at_ceiling() -> None:
    assert excess_over_chance(0.44, 0.44) == 0.0
    assert excess_over_chance(1.0, 0.44) == 1.0
    # 0.68 against a null of 0.435 is 0.43 above chance, rescaled (the X1 example)
    assert excess_over_chance(0.68, 0.435) == pytest.approx(0.245 / 0.565)
    assert math.isnan(excess_over_chance(math.nan, 0.4))
    assert math.isnan(excess_over_chance(0.9, 1.0))


def test_effect_fields_on_a_known_null() -> None:
    null = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    f = effect_fields("svcca", 0.45, null)
    assert f["svcca_exceed"] == 1 and f["svcca_p_paper"] == "1/5"
    assert f["svcca_p_plus_one"] == pytest.approx(2 / 6)
    assert f["svcca_null_std"] == pytest.approx(np.std(null, ddof=1))
    assert f["svcca_z"] == pytest.approx((0.45 - 0.3) / np.std(null, ddof=1))
    assert f["svcca_excess"] == pytest.approx(0.15 / 0.7)
    # above every draw: the paper's rule says 0/N, the judging p is 1/(N+1), never 0
    g = effect_fields("rsa", 0.9, null)
    assert g["rsa_p_paper"] == "0/5" and g["rsa_p_plus_one"] == pytest.approx(1 / 6)


def test_permutations_needed_for_alpha() -> None:
    assert min_permutations(0.05) == 20 and p_plus_one(0, 20) < 0.05 <= p_plus_one(0, 19)
    assert min_permutations(0.01) == 100
    assert not powered(10, 0.05)  # Gemma's printed grids: p >= 1/11 always
    assert powered(99, 0.05) and powered(999, 0.01)


def test_cell_seed_is_stable_and_differs_between_cells() -> None:
    s = cell_seed(0, "grid", "m/L1", "n/L2", "svcca")
    assert s == cell_seed(0, "grid", "m/L1", "n/L2", "svcca")
    others = {cell_seed(0, "grid", f"m/L{a}", f"n/L{b}", "svcca") for a in range(5) for b in range(5)}
    assert len(others) == 25
    assert cell_seed(1, "grid", "m/L1", "n/L2", "svcca") != s
    assert 0 <= s < 2**63


def test_layer_label_test_exact_and_sampled() -> None:
    from harness.scoring.effects import layer_label_test

    v = np.zeros((3, 5))
    v[:2, 1:3] = 0.3  # a clear block
    rows, cols = np.array([1, 1, 0], bool), np.array([0, 1, 1, 0, 0], bool)
    t = layer_label_test(v, rows, cols, seed=0)
    assert t.exact and t.n_permutations == 30 and t.min_p == pytest.approx(1 / 30)
    assert t.statistic == pytest.approx(0.3) and t.p_value == pytest.approx(1 / 30)
    # the same block placed elsewhere: the statistic at the stated block is low, p large
    w = np.zeros((3, 5))
    w[1:, 3:] = 0.3
    assert layer_label_test(w, rows, cols, seed=0).p_value > 0.5
    # a flat grid cannot show structure: every placement ties
    assert layer_label_test(np.ones((3, 5)), rows, cols, seed=0).p_value == 1.0
    big = np.zeros((12, 12))
    big[3:7, 3:7] = 1.0
    r12 = np.zeros(12, bool)
    r12[3:7] = True
    s = layer_label_test(big, r12, r12, seed=1, max_exact=100)
    assert not s.exact and s.n_permutations == 999 and s.p_value == pytest.approx(1 / 1000)
    with pytest.raises(ValueError, match="999"):
        layer_label_test(big, r12, r12, seed=1, n_permutations=99)


def test_rank_sum_p_is_the_exact_tail_of_a_sum_of_uniform_ranks() -> None:
    import itertools

    from harness.scoring.effects import rank_sum_p

    assert rank_sum_p([9], 9) == pytest.approx(0.1)
    assert rank_sum_p([0], 9) == pytest.approx(1.0)
    assert rank_sum_p([9, 9], 9) == pytest.approx(0.01)
    # brute force over every outcome of three runs with 4 siblings each
    sums = [sum(t) for t in itertools.product(range(5), repeat=3)]
    for s in range(13):
        got = rank_sum_p([s // 3, s // 3, s - 2 * (s // 3)], 4) if s - 2 * (s // 3) <= 4 else None
        if got is not None:
            assert got == pytest.approx(sum(x >= s for x in sums) / len(sums))
    assert math.isnan(rank_sum_p([], 9))
    with pytest.raises(ValueError):
        rank_sum_p([10], 9)


def test_bh_discoveries() -> None:
    from harness.scoring.effects import bh_discoveries

    assert bh_discoveries([0.01] * 15, 0.05) == 15
    # 12 cells at 0.045: each below alpha, but p_(12) = 0.045 > 12/15 * 0.05 = 0.04 -> nothing survives
    assert bh_discoveries([0.045] * 12 + [0.5] * 3, 0.05) == 0
    assert bh_discoveries([0.001, 0.03, 0.5, math.nan], 0.05) == 1  # 0.03 > 2/4 * 0.05
    assert bh_discoveries([0.001, 0.02, 0.03, 0.04], 0.05) == 4
    assert bh_discoveries([], 0.05) == 0


def test_effect_fields_report_the_papers_k_over_n_from_the_first_draws() -> None:
    null = np.array([0.1, 0.9, 0.2, 0.3, 0.95, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    full = effect_fields("svcca", 0.8, null)
    head = effect_fields("svcca", 0.8, null, paper_n=4)
    assert full["svcca_p_paper"] == "2/12" and head["svcca_p_paper"] == "1/4"
    assert head["svcca_p_plus_one"] == full["svcca_p_plus_one"] == pytest.approx(3 / 13)


def test_a_draw_one_ulp_from_the_observed_score_is_a_tie_on_every_machine() -> None:
    """Issue 23: the observed pair set drawn again is scored along another code path and differs
    by an ulp, up on one CPU and down on another; both must give the same count and p."""
    from harness.scoring.effects import TIE_ATOL, count_at_or_above, count_below
    from harness.scoring.nulls import p_value

    observed = 0.4513998816592797
    others = [0.2, 0.3, 0.6]
    up = np.array([*others, math.nextafter(observed, 1.0)])
    down = np.array([*others, math.nextafter(observed, 0.0)])
    assert count_at_or_above(up, observed) == count_at_or_above(down, observed) == 2
    assert count_below(up, observed) == count_below(down, observed) == 2
    assert p_value(observed, up, rule="paper") == p_value(observed, down, rule="paper") == 0.5
    assert p_value(observed, down, rule="plus_one") == 3 / 5
    fx = effect_fields("svcca", observed, down)
    assert fx["svcca_exceed"] == 2 and fx["svcca_p_paper"] == "2/4"
    # a different score, however close in the report's digits, is not a tie
    assert count_at_or_above([observed - 10 * TIE_ATOL], observed) == 0
    assert count_below([observed - 10 * TIE_ATOL], observed) == 1
    # NaN draws never count; a NaN observed counts nothing
    assert count_at_or_above([math.nan, 1.0], 0.5) == 1 and count_at_or_above([1.0], math.nan) == 0


@pytest.mark.parametrize("seed", [6, 9, 19, 27, 36, 38])
def test_rsa_ties_count_the_same_along_both_null_paths(seed: int) -> None:
    """Issue 23's seed-pair control (4 pairs: RSA takes few values, many draws equal the observed
    score): the numpy null (float ranks scaled to unit norm) and the device null (exact integer
    ranks) count the same draws. With a bare ``>=`` these seeds counted 47-60 vs 49-64 of 99."""
    from harness.scoring.device_nulls import permutation_test_device
    from harness.scoring.nulls import permutation_test

    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    host = permutation_test(a, b, metric="rsa", n_permutations=99, seed=seed, p_rule="paper")
    device = permutation_test_device(a, b, metric="rsa", n_permutations=99, seed=seed, p_rule="paper")
    assert host.p_value == device.p_value
    assert int(np.sum(host.null >= host.observed)) != int(np.sum(device.null >= device.observed))  # the old count


def test_size_matched_draws_equal_to_the_observed_set_are_ties() -> None:
    """Size-5 subsets of 6 pairs (issue 23's grid cell A3 x B0): a draw that is the observed set
    itself, scored in a batched SVD, ties with the observed score from the single SVD."""
    from harness.scoring.device_nulls import size_matched_draws, size_matched_test_device
    from harness.scoring.metrics import svcca

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 16)), rng.normal(size=(6, 16))
    rows = np.arange(5)  # the observed set: the first 5 pairs
    observed = svcca(a[rows], b[rows], keep=1).score
    res = size_matched_test_device(observed, a, b, n=5, n_draws=99, seed=11, keep=1, max_k=None, p_rule="paper")
    same = int(np.sum(np.all(size_matched_draws(5, 6, 99, 11) == rows, axis=1)))
    assert same > 5  # about a sixth of the draws are the observed set
    identical = res.draws[np.all(size_matched_draws(5, 6, 99, 11) == rows, axis=1)]
    assert np.allclose(identical, observed, rtol=0.0, atol=1e-12)  # equal up to rounding, not bit for bit
    k = count_at_or_above(res.draws, observed)
    assert k >= same and res.p_value == k / 99
