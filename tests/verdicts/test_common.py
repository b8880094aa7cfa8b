"""Helpers every claim rule shares (harness/verdicts/common.py): the judging p, the excess over
chance, Benjamini-Hochberg share counts with their power bar, and the paper-statistic guard."""

from __future__ import annotations

import math

import pytest

from harness.config import CORRECTED, PAPER
from harness.verdicts.common import (
    count_significant,
    excess,
    judging_p,
    missing_score,
    need_of,
    needs_power,
    pair_set,
    same_statistic_as_printed,
)
from harness.verdicts.registry import MissingInput


def test_judging_p_prefers_the_plus_one_rule_and_falls_back_to_the_stored_p() -> None:
    assert judging_p({"svcca_p": 0.0, "svcca_p_plus_one": 1 / 100}, "svcca") == pytest.approx(0.01)
    assert judging_p({"svcca_p": 0.02}, "svcca") == pytest.approx(0.02)
    assert math.isnan(judging_p({"svcca_p": math.nan}, "svcca")) and math.isnan(judging_p({}, "svcca"))


def test_excess_is_rescaled_from_score_and_null_when_not_stored() -> None:
    assert excess({"svcca": 0.72, "svcca_null_mean": 0.44}, "svcca") == pytest.approx(0.5)
    assert excess({"svcca_excess": 0.3, "svcca": 0.9, "svcca_null_mean": 0.0}, "svcca") == pytest.approx(0.3)


def test_need_of_rounds_up_robustly() -> None:
    assert need_of(0.8, 15) == 12 and need_of(0.8, 16) == 13 and need_of(0.5, 3) == 2


def test_needs_power_names_null_sizes_that_cannot_reach_alpha() -> None:
    assert needs_power([99, 199], 0.05) is None
    why = needs_power([10, 99], 0.05)
    assert why is not None and "[10] permutations" in why


def test_count_significant_counts_bh_discoveries_and_says_when_the_bar_is_out_of_reach() -> None:
    # 15 cells, 12 needed; BH at rank 12 of 15 needs p <= 0.04: 12 cells at p = 0.01 pass
    holds, m, why = count_significant([0.01] * 12 + [0.5] * 3, 0.8, 0.05, [99] * 15)
    assert holds and why is None and m["n_discoveries_bh"] == 12 and m["n_needed"] == 12
    # raw p < alpha is not a discovery: 12 cells at p = 0.045 are below alpha but above BH's bar
    holds, m, why = count_significant([0.045] * 12 + [0.9] * 3, 0.8, 0.05, [999] * 15)
    assert not holds and why is None and m["n_significant_raw"] == 12 and m["n_discoveries_bh"] == 0
    # 19 permutations give p >= 0.05 = alpha: the count cannot pass whatever the data
    holds, m, why = count_significant([0.05] * 15, 0.8, 0.05, [19] * 15)
    assert why is not None and "cannot give p < alpha" in why
    # 20 permutations reach alpha (p >= 1/21 = 0.048) but not BH's bar at rank 44 of 55 (0.04)
    holds, m, why = count_significant([1 / 21] * 55, 0.8, 0.05, [20] * 55)
    assert why is not None and "Benjamini-Hochberg's bar" in why


def test_same_statistic_as_printed_guards_corrected_svcca_only() -> None:
    assert same_statistic_as_printed("svcca", PAPER) is None
    assert "k = 1" in str(same_statistic_as_printed("svcca", CORRECTED))


def test_pair_set_and_missing_score_name_what_is_missing() -> None:
    with pytest.raises(MissingInput, match="'one_to_one_filtered' pair set"):
        pair_set({"kind": "seed_pair"}, "one_to_one_filtered")
    full = {"svcca": 0.9, "svcca_p_plus_one": 0.01, "svcca_null_mean": 0.4}
    assert missing_score(full) is None
    assert missing_score({**full, "svcca_null_mean": math.nan}) is not None
    assert "svcca_p missing" in str(missing_score({"svcca": 0.9, "svcca_null_mean": 0.4}))
