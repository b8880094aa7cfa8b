"""Effect sizes over chance, the +1 p-value, power for alpha, and per-cell seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.scoring.effects import cell_seed, effect_fields, excess_over_chance, min_permutations, p_plus_one, powered


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


def test_bh_discoveries_and_binomial_excess() -> None:
    from harness.scoring.effects import bh_discoveries, binomial_excess_p

    assert bh_discoveries([0.01] * 15, 0.05) == 15
    # 12 cells at 0.045: each below alpha, but p_(12) = 0.045 > 12/15 * 0.05 = 0.04 -> nothing survives
    assert bh_discoveries([0.045] * 12 + [0.5] * 3, 0.05) == 0
    assert bh_discoveries([0.001, 0.03, 0.5, math.nan], 0.05) == 1  # 0.03 > 2/4 * 0.05
    assert bh_discoveries([0.001, 0.02, 0.03, 0.04], 0.05) == 4
    assert bh_discoveries([], 0.05) == 0
    assert binomial_excess_p(0, 15, 0.05) == pytest.approx(1.0)
    assert binomial_excess_p(1, 15, 0.05) == pytest.approx(1 - 0.95**15)
    assert binomial_excess_p(3, 15, 0.05) < 0.05 < binomial_excess_p(2, 15, 0.05)
    assert math.isnan(binomial_excess_p(0, 0, 0.05))


def test_effect_fields_report_the_papers_k_over_n_from_the_first_draws() -> None:
    null = np.array([0.1, 0.9, 0.2, 0.3, 0.95, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    full = effect_fields("svcca", 0.8, null)
    head = effect_fields("svcca", 0.8, null, paper_n=4)
    assert full["svcca_p_paper"] == "2/12" and head["svcca_p_paper"] == "1/4"
    assert head["svcca_p_plus_one"] == full["svcca_p_plus_one"] == pytest.approx(3 / 13)
