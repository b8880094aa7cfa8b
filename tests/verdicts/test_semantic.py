"""Semantic-subspace rules S1-S5 (harness/verdicts/semantic.py) on constructed table and grid
records: true, false (refuted with power), underpowered, inputs missing, and for every control a
broken input on which it comes out the same way."""

from __future__ import annotations

import math

import pytest

from harness.config import CORRECTED, PAPER
from harness.verdicts.rules import judge
from tests.verdicts.rule_records import (
    judged,
    paper_like,
    sem_grid,
    table,
    TABLE9,
    verdict,
)


@pytest.mark.parametrize("claim_id", ["S1", "S4"])
def test_s1_s4_true_false_underpowered(claim_id: str) -> None:
    good = table({c: {} for c in TABLE9})
    noise = table({c: {"p": 0.4, "rsa_p": 0.4} for c in TABLE9})
    assert verdict(claim_id, {"table": good, "control_table": noise}) == ("reproduced", "other way")
    one_miss = table(
        {c: {"p": 0.3 if c == "Nature" else 0.01, "rsa_p": 0.3 if c == "Nature" else 0.01} for c in TABLE9}
    )
    if claim_id == "S1":
        assert verdict(claim_id, {"table": one_miss, "control_table": noise})[0] == "not reproduced"
    else:
        # S4: Nature not significant, but its RSA excess interval (0.3 +/- 0.02) does not exclude Table 9's
        # 0.22: undecided, not refuted; with RSA 0.05 (upper bound 0.07 < 0.22) it is refuted
        j = judge(claim_id, {"table": one_miss, "control_table": noise}, CORRECTED, profile="smoke")
        assert j.verdict == "inconclusive" and j.measured["undecided"] == ["Nature"]
        low = table({c: {"rsa": 0.05, "rsa_p": 0.3} if c == "Nature" else {} for c in TABLE9})
        j = judge(claim_id, {"table": low, "control_table": noise}, CORRECTED, profile="smoke")
        assert j.verdict == "not reproduced" and j.measured["refuted"] == ["Nature"]
        assert j.measured["categories"]["Nature"]["excess_upper_bound"] < 0.22
    # a category with too few concept features cannot be judged: the claim cannot be decided
    missing = table({c: ({"skipped": True} if c == "Emotions" else {}) for c in TABLE9})
    assert verdict(claim_id, {"table": missing, "control_table": noise})[0] == "inconclusive"
    weak = table({c: {"p": 0.4, "rsa_p": 0.4} for c in TABLE9}, n_perm=10)
    assert verdict(claim_id, {"table": weak, "control_table": noise})[0] == "inconclusive"
    assert verdict(claim_id, {"table": good, "control_table": good}) == ("not reproduced", "same way")


def test_s4_intervals_use_the_bootstrap_standard_error_where_recorded() -> None:
    """The null's sd is the sd at chance; a table with bootstrap standard errors (the claims' semantic table)
    uses those: a wide bootstrap interval turns a refutation into undecided."""
    noise = table({c: {"p": 0.4, "rsa_p": 0.4} for c in TABLE9})
    low = table({c: {"rsa": 0.05, "rsa_p": 0.3} if c == "Nature" else {} for c in TABLE9})
    assert verdict("S4", {"table": low, "control_table": noise})[0] == "not reproduced"  # null sd 0.01
    next(c for c in low["cells"] if c["category"] == "Nature")["rsa_boot_se"] = 0.2
    j = judge("S4", {"table": low, "control_table": noise}, CORRECTED, profile="smoke")
    assert j.verdict == "inconclusive" and j.measured["undecided"] == ["Nature"]
    assert j.measured["categories"]["Nature"]["excess_upper_bound"] > 0.22


def test_s2_true_false() -> None:
    noise = table({c: {"p": 0.4, "svcca": 0.41} for c in TABLE9[:6]})  # excess ~0.02, upper bound 0.07
    good = paper_like("gemma", Countries={"p": 0.2})
    assert verdict("S2", {"table": good, "control_table": noise}, profile="gemma") == ("reproduced", "other way")
    # broken input: the shuffled-positions control shows Table 2's pattern too
    assert verdict("S2", {"table": good, "control_table": good}, profile="gemma") == ("not reproduced", "same way")
    # Countries significant at Table 2's own value (excess 0.27, CI excludes 0): it does not reach the null,
    # but a replication of p = 0.07 lands below alpha half the time -- undecided, not refuted
    j = judge("S2", {"table": paper_like("gemma"), "control_table": noise}, PAPER, profile="gemma")
    assert j.verdict == "inconclusive" and j.measured["Countries"]["outcome"] == "undecided"
    # refuted with power: Countries far above Table 2 (lower bound 0.83 > 0.27 + 0.15)
    far_countries = paper_like("gemma", Countries={"svcca": 0.9})
    j = judge("S2", {"table": far_countries, "control_table": noise}, PAPER, profile="gemma")
    assert j.verdict == "not reproduced" and j.measured["Countries"]["outcome"] == "refuted"
    # refuted with power: Time at chance, its upper bound (0.04) below Table 2's Time excess (0.43)
    flat_time = paper_like("gemma", Time={"svcca": 0.06, "null": 0.06, "p": 0.5}, Countries={"p": 0.2})
    j = judge("S2", {"table": flat_time, "control_table": noise}, PAPER, profile="gemma")
    assert j.verdict == "not reproduced" and j.measured["Time"]["outcome"] == "refuted"
    # underpowered: Time not significant but its interval reaches Table 2's value: inconclusive
    wide_time = paper_like("gemma", Time={"svcca": 0.3, "null": 0.06, "p": 0.2}, Countries={"p": 0.2})
    next(c for c in wide_time["cells"] if c["category"] == "Time")["svcca_null_std"] = 0.2
    j = judge("S2", {"table": wide_time, "control_table": noise}, PAPER, profile="gemma")
    assert j.verdict == "inconclusive" and j.measured["Time"]["outcome"] == "undecided"
    # Countries p < alpha, but its excess CI includes 0 (a wide null): it reaches the null
    wide = paper_like("gemma", Countries={"svcca": 0.2, "null": 0.17, "p": 0.04})
    next(c for c in wide["cells"] if c["category"] == "Countries")["svcca_null_std"] = 0.1
    j = judge("S2", {"table": wide, "control_table": noise}, PAPER, profile="gemma")
    assert j.measured["countries_reaches_null"] and j.verdict == "reproduced"
    # every category significant and Countries at chance, but twice the paper's excess everywhere
    far = {c: {"svcca": 0.95, "null": 0.1} for c in TABLE9[:6]}
    far["Countries"] = {"p": 0.2}
    j = judge("S2", {"table": table(far), "control_table": noise}, PAPER, profile="gemma")
    assert j.verdict == "not reproduced" and not j.measured["paper_agreement"]["Time"]["agrees"]
    # under `corrected` (99% variance) the SVCCA is another statistic than Table 2's k = 1: compared, not judged
    j = judge("S2", {"table": table(far), "control_table": noise}, CORRECTED, profile="gemma")
    assert j.verdict == "reproduced" and j.measured["paper_agreement_judged"] is False
    assert "k = 1" in j.measured["paper_agreement_not_judged"]
    # elsewhere (e.g. smoke) the agreement is reported, not judged
    j = judge("S2", {"table": table(far), "control_table": noise}, CORRECTED, profile="smoke")
    assert j.verdict == "reproduced" and j.measured["paper_agreement_judged"] is False


def test_s4_compares_each_category_with_table9_on_the_pythia_profile() -> None:
    noise = table({c: {"p": 0.4, "rsa_p": 0.4} for c in TABLE9})
    good = paper_like("paper")
    for c in good["cells"]:  # Table 9's shuffle means are 0.00
        c.update(rsa_null_mean=0.0, rsa_excess=c["rsa"])
    assert verdict("S4", {"table": good, "control_table": noise}, profile="paper") == ("reproduced", "other way")
    # all significant, but RSA 0.3 everywhere: Time and Calendar (0.10, 0.09) are far off
    off = table({c: {} for c in TABLE9})
    j = judge("S4", {"table": off, "control_table": noise}, CORRECTED, profile="paper")
    assert j.verdict == "not reproduced" and not j.measured["paper_agreement"]["Time"]["agrees"]
    assert j.measured["paper_agreement"]["Nature"]["agrees"]
    assert verdict("S4", {"table": off, "control_table": noise}, profile="smoke")[0] == "reproduced"


def test_s3_true_false() -> None:
    good, noise = sem_grid(lambda a, b: {}), sem_grid(lambda a, b: {"t2": 0.5})
    assert verdict("S3", {"semantic_grid": good, "control_semantic_grid": noise}) == ("reproduced", "other way")
    assert verdict("S3", {"semantic_grid": noise, "control_semantic_grid": noise})[0] == "not reproduced"
    assert verdict("S3", {"semantic_grid": good, "control_semantic_grid": good}) == ("not reproduced", "same way")
    # 77 of 84 cells at p = 0.048: 92% below alpha, but BH's bar at rank 76 of 84 is ~0.045: no discoveries
    border = sem_grid(lambda a, b: {"t2": 0.5 if (a, b) == (1, 1) else 0.048})
    j = judge("S3", {"semantic_grid": border, "control_semantic_grid": noise}, CORRECTED, profile="smoke")
    assert j.measured["fraction_test2_pass"] > 0.9 and j.measured["n_discoveries_bh"] == 0
    assert j.verdict == "not reproduced"


def test_s3_underpowered_test2_is_inconclusive() -> None:
    """Test 2 with 15 random subsets per cell: p >= 1/16 > alpha whatever the data: inconclusive, not
    refuted."""
    good = sem_grid(lambda a, b: {"t2": 1 / 16})
    for tab in good["tables"]:
        for c in tab["cells"]:
            c["test2_n"] = 15
    noise = sem_grid(lambda a, b: {"t2": 0.5})
    j = judge("S3", {"semantic_grid": good, "control_semantic_grid": noise}, CORRECTED, profile="smoke")
    assert j.verdict == "inconclusive" and "[15] Test-2 draws cannot give p < alpha" in str(j.inconclusive)


def test_s5_layer_label_test_true_false_underpowered_and_broken_control() -> None:
    la, lb = (1, 2, 3, 4, 5), (1, 3, 5, 7, 9)

    def middle(a: int, b: int) -> dict[str, float]:
        inside = a not in (la[0], la[-1]) and b not in (lb[0], lb[-1])
        e = 0.5 if inside else 0.1 + 0.01 * ((a + b) % 3)
        return {"null": 0.4, "svcca": 0.4 + 0.6 * e}

    def noise(a: int, b: int) -> dict[str, float]:
        return {"null": 0.4, "svcca": 0.4 + 0.01 * ((a * 7 + b * 3) % 5)}

    real, ctrl = sem_grid(middle, la, lb), sem_grid(noise, la, lb)
    assert verdict("S5", {"semantic_grid": real, "control_semantic_grid": ctrl}) == ("reproduced", "other way")
    edges = sem_grid(lambda a, b: middle(la[-1] if a == la[2] else la[2] if a == la[-1] else a, b), la, lb)
    assert verdict("S5", {"semantic_grid": edges, "control_semantic_grid": ctrl})[0] == "not reproduced"
    small = sem_grid(middle, (1, 2, 3), (1, 3, 5))  # 3 x 3: 9 placements of the interior, p >= 1/9
    assert verdict("S5", {"semantic_grid": small, "control_semantic_grid": small})[0] == "inconclusive"
    assert verdict("S5", {"semantic_grid": real, "control_semantic_grid": real}) == ("not reproduced", "same way")


def test_s1_s4_name_the_real_cause_of_an_unscored_category() -> None:
    cats = {c: {} for c in TABLE9}
    t = table(cats)
    month = next(c for c in t["cells"] if c["category"] == "MonthNames")
    month["svcca"] = math.nan  # Table 9 prints MonthNames' RSA only
    j = judged("S4", {"table": t})
    assert j.verdict == "inconclusive" and "MonthNames has no SVCCA score" in str(j.inconclusive)
    assert "too few concept features" not in str(j.inconclusive)
    skipped = table({c: ({"skipped": True} if c == "Emotions" else {}) for c in TABLE9})
    j = judged("S1", {"table": skipped})
    assert "Emotions was skipped (too few concept features)" in str(j.inconclusive)
    # an empty control table used to count as "other way"
    j = judge("S1", {"table": t, "control_table": {**t, "cells": []}}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")


def test_s2_s4_agreement_without_a_null_spread_is_undecided_not_a_disagreement() -> None:
    # the paper's own Table 2: its values, Countries at p = 0.07, no null spread given
    t2 = paper_like("gemma", Countries={"p": 0.0709})
    for c in t2["cells"]:
        c["svcca_null_std"] = math.nan
    j = judged("S2", {"table": t2}, PAPER, profile="gemma")
    assert j.verdict == "inconclusive" and "no null spread" in str(j.inconclusive)
    assert all(a["agrees"] is None for a in j.measured["paper_agreement"].values())
    t9 = paper_like("paper")
    for c in t9["cells"]:
        c.update(rsa_null_mean=0.0, rsa_excess=c["rsa"], rsa_null_std=math.nan)
    j = judged("S4", {"table": t9}, profile="paper")
    assert j.verdict == "inconclusive" and "rsa_null_std missing" in str(j.inconclusive)
    # a decided disagreement still refutes, whatever is undecided elsewhere
    off = table({c: {} for c in TABLE9})
    off["cells"][-1]["rsa_null_std"] = math.nan  # MonthNames: undecided
    noise = table({c: {"p": 0.4, "rsa_p": 0.4} for c in TABLE9})
    j = judge("S4", {"table": off, "control_table": noise}, CORRECTED, profile="paper")
    assert j.verdict == "not reproduced" and j.measured["paper_agreement"]["Time"]["agrees"] is False
    assert j.measured["paper_agreement"]["MonthNames"]["agrees"] is None


def test_s2_without_countries_is_inconclusive_not_refuted() -> None:
    noise = table({c: {"p": 0.4} for c in TABLE9[:6]})
    t = paper_like("gemma", Countries={"p": 0.2})
    t["cells"] = [c for c in t["cells"] if c["category"] != "Countries"]
    j = judge("S2", {"table": t, "control_table": noise}, CORRECTED, profile="gemma")
    assert j.verdict == "inconclusive" and "Countries has no cell" in str(j.inconclusive)


def test_s3_without_test2_is_not_run_and_s5_without_nulls_names_them() -> None:
    sg = sem_grid(lambda a, b: {})
    for t in sg["tables"]:
        for c in t["cells"]:
            del c["test2_p"], c["test2_p_plus_one"]
    j = judged("S3", {"semantic_grid": sg})
    assert j.verdict == "not run" and "needs test2_p" in j.conclusion().detail
    la, lb = (1, 2, 3, 4, 5), (1, 3, 5, 7, 9)
    sg = sem_grid(lambda a, b: {}, la, lb)
    for t in sg["tables"]:
        for c in t["cells"]:
            c.update(svcca_null_mean=math.nan, svcca_excess=math.nan)
    j = judged("S5", {"semantic_grid": sg})
    assert j.verdict == "inconclusive" and "svcca_null_mean missing" in str(j.inconclusive)
