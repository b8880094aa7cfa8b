"""Whole-space rules U1-U8 and W2 (harness/verdicts/whole_space.py) on constructed grid records: for
every rule a record where the claim is true, one where it is false (refuted with power), one where
the data cannot decide (underpowered), one with inputs missing, and for every control a broken input
on which it comes out the same way."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.config import CORRECTED, PAPER
from harness.verdicts.rules import judge
from tests.verdicts.rule_records import (
    contrast,
    control_grid,
    grid,
    judged,
    no_nulls,
    NOISE_TOP,
    SIG_TOP,
    strip,
    verdict,
    with_contrast,
)


def test_u1_true_false_underpowered_and_a_control_that_comes_out_the_same_way() -> None:
    ok = grid(lambda a, b: {})
    assert verdict("U1", {"grid": ok, "control_grid": control_grid(NOISE_TOP)}) == ("reproduced", "other way")
    half = grid(lambda a, b: {"p": 0.01 if b % 2 else 0.5})
    assert verdict("U1", {"grid": half, "control_grid": control_grid(NOISE_TOP)})[0] == "not reproduced"
    # Gemma's printed grids used 10 permutations: p >= 1/11 > alpha whatever the data
    weak = grid(lambda a, b: {"p": 1 / 11}, n_perm=10)
    assert verdict("U1", {"grid": weak, "control_grid": control_grid(NOISE_TOP)})[0] == "inconclusive"
    # broken input: a control whose misaligned sets are as significant as the real ones
    assert verdict("U1", {"grid": ok, "control_grid": control_grid(SIG_TOP)}) == ("not reproduced", "same way")


@pytest.mark.parametrize("claim_id", ["U1", "U2"])
def test_u1_u2_random_partner_contrast_true_false_underpowered_missing(claim_id: str) -> None:
    """The control is a contrast: the real pairing against >= 99 random-partner sets per cell, BH over
    the cells, the claim's own share (U1 80%, U2 50%)."""
    noise = control_grid(NOISE_TOP)
    # true: the real pairing beats the random partners in every cell
    j = judge(claim_id, {"grid": grid(lambda a, b: {}), "control_grid": noise}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("reproduced", "other way")
    assert j.detail.startswith("rule holds in 15/15 cells; real pairing beats filter-only random partners in 15/15")
    assert set(j.control.measured) == {"shuffled_positions", "random_partner_contrast"}
    assert j.control.measured["random_partner_contrast"]["random_partner_sets"] == 15 * 99
    # broken: the rule holds, but the pairing is no better than filter-only partners (p ~ uniform)
    flat = with_contrast(grid(lambda a, b: {}), lambda a, b: {"p": 0.3 + 0.04 * b})
    j = judge(claim_id, {"grid": flat, "control_grid": noise}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome, j.rule_holds) == ("not reproduced", "same way", True)
    assert "random partners in 0/15 cells (BH)" in j.detail
    # underpowered: 9 random-partner sets per cell cannot give p < alpha
    weak = with_contrast(grid(lambda a, b: {}), lambda a, b: {"p": 0.1, "n": 9})
    j = judge(claim_id, {"grid": weak, "control_grid": noise}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == (
        "inconclusive",
        "inconclusive",
    ) and "random-partner sets" in j.inconclusive
    # inputs missing: a grid without the contrast (an older run, the paper's printed grid)
    bare = grid(lambda a, b: {})
    for c in bare["cells"]:
        for k in [k for k in c if "_rp_contrast_" in k]:
            del c[k]
    j = judge(claim_id, {"grid": bare, "control_grid": noise}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")
    assert "rp_contrast_p" in j.inconclusive


def one_set(g: dict[str, Any], lose: set[tuple[int, int]]) -> dict[str, Any]:
    """Every cell's 99 random-partner draws are one set (sd 0, as on a world where each A feature's
    only filter-passing alternative is one B feature): the real pairing beats it (p 0.01) except in
    the cells ``lose`` (p 1.0)."""
    for c in g["cells"]:
        lost = (c["layer_a"], c["layer_b"]) in lose
        c.update(contrast(1.0 if lost else 0.01))
        c.update(svcca_rp_sets_std=0.0, rsa_rp_sets_std=0.0)
    return g


@pytest.mark.parametrize("claim_id", ["U1", "U2"])
def test_a_contrast_whose_draws_are_one_set_is_underpowered_not_the_same_way(claim_id: str) -> None:
    """99 draws that all score the same are one random-partner set: the +1 rule over it gives p 1/2 or
    1, so the contrast cannot reach alpha there, and "not distinguished" is undecided (inconclusive),
    never the control coming out the same way (the CI calibration world: issue 21)."""
    noise = control_grid(NOISE_TOP)
    for lose in (set(), {(3, 1), (3, 2)}, {(a, b) for a in (1, 2, 3) for b in (1, 2, 3, 4, 5)}):
        g = one_set(grid(lambda a, b: {}), lose)
        j = judge(claim_id, {"grid": g, "control_grid": noise}, CORRECTED, profile="smoke")
        assert (j.verdict, j.control_outcome) == ("inconclusive", "inconclusive"), lose
        assert "every random-partner draw scored the same" in str(j.inconclusive)
        m = j.control.measured["random_partner_contrast"]
        assert m["n_cells_one_random_partner_set"] == 15 and m["n_distinguished"] == 0
    # where the draws vary in enough cells, those cells decide: distinguished in all 12 others -> other way
    g = one_set(grid(lambda a, b: {}), set())
    for c in g["cells"]:
        if c["layer_a"] in (1, 2) or c["layer_b"] in (1, 2):
            c.update(svcca_rp_sets_std=0.02, rsa_rp_sets_std=0.01)
    j = judge(claim_id, {"grid": g, "control_grid": noise}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("reproduced", "other way")
    assert j.control.measured["random_partner_contrast"]["n_cells_one_random_partner_set"] == 3
    # and a varying null that does not distinguish the real pairing still comes out the same way
    flat = with_contrast(grid(lambda a, b: {}), lambda a, b: {"p": 0.5})
    j = judge(claim_id, {"grid": flat, "control_grid": noise}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("not reproduced", "same way")


@pytest.mark.parametrize("claim_id,share", [("U1", 0.8), ("U2", 0.5)])
def test_random_partner_contrast_uses_the_claims_own_share_and_bh(claim_id: str, share: float) -> None:
    """Distinguished in k of the 15 cells: enough for the claim's share -> other way; fewer -> same way.
    Raw p < alpha without a BH discovery does not count."""
    noise = control_grid(NOISE_TOP)
    need = math.ceil(share * 15 - 1e-9)
    cells = [(a, b) for a in (1, 2, 3) for b in (1, 2, 3, 4, 5)]

    def distinguished_in(k: int, p_rest: float = 0.6) -> dict[str, Any]:
        chosen = set(cells[:k])
        return with_contrast(grid(lambda a, b: {}), lambda a, b: {"p": 0.01 if (a, b) in chosen else p_rest})

    assert verdict(claim_id, {"grid": distinguished_in(need), "control_grid": noise}) == ("reproduced", "other way")
    assert verdict(claim_id, {"grid": distinguished_in(need - 1), "control_grid": noise}) == (
        "not reproduced",
        "same way",
    )
    # every cell at p = 0.045: all below alpha, BH keeps all (p_(15) <= alpha); at 0.049 with 5 cells
    # at 0.6, the 0.049s are below alpha but not BH discoveries at rank 10 (bar 10/15 * 0.05 = 0.033)
    border = with_contrast(grid(lambda a, b: {}), lambda a, b: {"p": 0.049 if b <= 3 else 0.6})
    j = judge(claim_id, {"grid": border, "control_grid": noise}, CORRECTED, profile="smoke")
    m = j.control.measured["random_partner_contrast"]
    assert m["n_below_alpha_raw"] == 9 and m["n_distinguished"] == 0 and j.control_outcome == "same way"


def test_a_fully_null_contrast_comes_out_the_same_way_at_about_the_nominal_rate() -> None:
    """Under the null (the pairing no better than random partners), each cell's +1-rule p over 99 sets is
    uniform on {1/100, ..., 1}: the contrast is 'distinguished' (other way) in at most ~alpha of
    simulated grids -- the binomial count it replaces came out wrong 11-13% of the time."""
    import numpy as np

    rng = np.random.default_rng(0)
    noise = control_grid(NOISE_TOP)
    other = 0
    for _ in range(200):
        ps = rng.integers(1, 101, size=24) / 100
        it = iter(ps.tolist())
        g = with_contrast(grid(lambda a, b: {}), lambda a, b, it=it: {"p": next(it)})
        other += verdict("U2", {"grid": g, "control_grid": noise})[1] == "other way"
    assert other <= 2  # U2's share (8 of 15 BH discoveries) is all but unreachable under the null


def test_u1_counts_benjamini_hochberg_discoveries_not_raw_p_below_alpha() -> None:
    noise = control_grid(NOISE_TOP)
    # 12 of 15 cells at p = 0.045: 80% below alpha, but none survives BH (p_(12) > 12/15 * alpha)
    border = grid(lambda a, b: {"p": 0.045 if b < 5 else 0.5})
    j = judge("U1", {"grid": border, "control_grid": noise}, CORRECTED, profile="smoke")
    assert j.measured["fraction_significant"] == pytest.approx(0.8) and j.measured["n_discoveries_bh"] == 0
    assert j.verdict == "not reproduced"
    # 21 permutations reach alpha (p >= 1/22) but not BH's bar at rank 12 of 15 (0.04): inconclusive
    short = grid(lambda a, b: {"p": 1 / 22}, n_perm=21)
    assert verdict("U1", {"grid": short, "control_grid": noise})[0] == "inconclusive"


def test_alpha_is_read_from_the_procedure() -> None:
    g = grid(lambda a, b: {"p": 0.03})
    c = control_grid(NOISE_TOP)
    assert verdict("U1", {"grid": g, "control_grid": c})[0] == "reproduced"
    assert verdict("U1", {"grid": g, "control_grid": c}, CORRECTED.replace(alpha=0.01))[0] != "reproduced"


def test_u2_compares_excesses_not_raw_values() -> None:
    noise = control_grid(NOISE_TOP)
    weaker = grid(lambda a, b: {"svcca": 0.7, "rsa": 0.1})
    assert verdict("U2", {"grid": weaker, "control_grid": noise}) == ("reproduced", "other way")
    # raw RSA 0.3 < raw SVCCA 0.5, but SVCCA's 0.5 is barely above its chance (0.44): RSA is the stronger
    stronger = grid(lambda a, b: {"svcca": 0.5, "rsa": 0.3})
    assert verdict("U2", {"grid": stronger, "control_grid": noise})[0] == "not reproduced"
    assert verdict("U2", {"grid": grid(lambda a, b: {}, n_perm=10), "control_grid": noise})[0] == "inconclusive"
    # the old raw ordering held in every control cell; the excess ordering does not
    j = judge("U2", {"grid": weaker, "control_grid": noise}, CORRECTED, profile="smoke")
    assert j.control.measured["shuffled_positions"]["rsa_excess_below_svcca_excess"] == 0.0
    assert verdict("U2", {"grid": weaker, "control_grid": control_grid(SIG_TOP)}) == ("not reproduced", "same way")


def blocky(a: int, b: int, *, la: tuple[int, ...], lb: tuple[int, ...]) -> dict[str, float]:
    """Excess 0.5 in the middle block (first 60% of A, 25-60% of B), 0.1 elsewhere; the last A
    layer peaks at B's last layer."""
    na, nb = [x for x in la if x], [x for x in lb if x]
    mid = a in na[: math.ceil(0.6 * len(na))] and b in nb[math.floor(0.25 * len(nb)) : math.ceil(0.6 * len(nb))]
    e = 0.5 if mid else (0.3 if (a == na[-1] and b == nb[-1]) else 0.1 + 0.01 * ((a + b) % 3))
    return {"null": 0.4, "svcca": 0.4 + 0.6 * e}


PYTHIA = dict(la=tuple(range(6)), lb=tuple(range(12)))


def test_u4_layer_label_test_true_false_underpowered_and_broken_control() -> None:
    real = grid(lambda a, b: blocky(a, b, **PYTHIA), **PYTHIA)
    flat = control_grid(NOISE_TOP, **PYTHIA)
    assert verdict("U4", {"grid": real, "control_grid": flat}) == ("reproduced", "other way")
    # the same values with the layer labels permuted: no structure at the stated block
    import random

    perm_a, perm_b = list(range(1, 6)), list(range(1, 12))
    random.Random(0).shuffle(perm_a)
    random.Random(1).shuffle(perm_b)
    shuffled = grid(lambda a, b: blocky(perm_a[a - 1] if a else 0, perm_b[b - 1] if b else 0, **PYTHIA), **PYTHIA)
    assert verdict("U4", {"grid": shuffled, "control_grid": flat})[0] == "not reproduced"
    # a 2 x 3 non-zero grid has 3 x 3 placements of its block: p >= 1/9 whatever the data
    small = dict(la=(0, 1, 2), lb=(0, 1, 2, 3))
    assert (
        verdict(
            "U4",
            {
                "grid": grid(lambda a, b: blocky(a, b, **small), **small),
                "control_grid": control_grid(NOISE_TOP, **small),
            },
        )[0]
        == "inconclusive"
    )
    # broken input: the control grid has the same layer structure
    ctrl = grid(lambda a, b: {"svcca": math.nan, "p": math.nan, "top": {**blocky(a, b, **PYTHIA), "p": 0.01}}, **PYTHIA)
    assert verdict("U4", {"grid": real, "control_grid": ctrl}) == ("not reproduced", "same way")


def halves(e: float, wobble: float = 0.01) -> dict[str, float]:
    return {"svcca_excess_half1": e + wobble, "svcca_excess_half2": e - wobble}


def u7_cell(a: int, b: int, *, mmc: float, e: float, h: dict[str, float] | None = None) -> dict[str, float]:
    return {"mean_max_corr": mmc, "null": 0.4, "svcca": 0.4 + 0.6 * e, **(h if h is not None else halves(e))}


def test_u7_true_false_underpowered_and_a_tracker_that_comes_out_the_other_way() -> None:
    """U7 on the disattenuated rank correlation rho / sqrt(reliability) with a bootstrap interval."""

    # true: excess varies reliably over cells (both halves agree); mean max corr unrelated, high where excess is low
    def dissociated(a: int, b: int) -> dict[str, float]:
        e = 0.05 * a + 0.02 * b
        return u7_cell(a, b, mmc=0.5 + 0.02 * ((a * 5 + b * 3) % 7) + (0.3 if (a, b) == (1, 1) else 0.0), e=e)

    j = judge("U7", {"grid": grid(dissociated, **PYTHIA)}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("reproduced", None)
    lo, hi = j.measured["disattenuated_ci"]
    assert -0.9 < lo < hi < 0.9 and j.measured["bootstrap_draws"] == 999
    # false (the broken input a control must catch): a measure that tracks the excess -- refuted with its interval
    tracked = grid(lambda a, b: u7_cell(a, b, mmc=0.1 * b + 0.01 * a, e=0.04 * b + 0.004 * a), **PYTHIA)
    j = judge("U7", {"grid": tracked}, CORRECTED, profile="smoke")
    assert j.verdict == "not reproduced" and j.measured["disattenuated_ci"][0] >= 0.9
    # halves that disagree: the grid cannot say what tracks it
    noisy = grid(
        lambda a, b: u7_cell(
            a,
            b,
            mmc=0.1 * b,
            e=0.1,
            h={"svcca_excess_half1": 0.01 * ((a * 7 + b) % 5), "svcca_excess_half2": 0.01 * ((a + b * 3) % 5)},
        )
    )
    assert verdict("U7", {"grid": noisy})[0] == "inconclusive"

    # underpowered: 15 cells, a measure rank-correlated 0.86 with the excess: the interval includes 0.9
    def partly(a: int, b: int) -> dict[str, float]:
        e = 0.05 * a + 0.02 * b
        return u7_cell(a, b, mmc=e + 0.015 * ((a * 5 + b * 3) % 7), e=e)

    j = judge("U7", {"grid": grid(partly)}, CORRECTED, profile="smoke")
    assert j.verdict == "inconclusive" and "bootstrap interval" in j.inconclusive
    lo, hi = j.measured["disattenuated_ci"]
    assert lo < 0.9 <= hi


def test_u7_corrects_for_an_unreliable_grid() -> None:
    """Raw rho falls with the grid's noise; the disattenuated rho does not: a tracker measured on a noisy
    grid (raw Spearman 0.83 < 0.9, reliability 0.58) is refuted, not called "does not track"."""
    import numpy as np

    rng = np.random.default_rng(1)
    la, lb = tuple(range(8)), tuple(range(12))
    true = {(a, b): 0.02 * a + 0.01 * b for a in la for b in lb}
    noise = {k: rng.normal(0, 0.06, 2) for k in true}

    def cell(a: int, b: int) -> dict[str, float]:
        t = true[(a, b)]
        h = {"svcca_excess_half1": t + noise[(a, b)][0], "svcca_excess_half2": t + noise[(a, b)][1]}
        return u7_cell(a, b, mmc=t, e=t + 0.5 * float(noise[(a, b)].sum()), h=h)

    j = judge("U7", {"grid": grid(cell, la=la, lb=lb)}, CORRECTED, profile="smoke")
    m = j.measured
    assert m["meancorr_vs_svcca_excess_spearman"] < 0.9 and m["split_half_reliability"] < 0.9
    assert m["disattenuated_spearman"] > m["meancorr_vs_svcca_excess_spearman"]
    assert j.verdict == "not reproduced" and m["disattenuated_ci"][0] >= 0.9


def test_u7_judges_the_excess_not_raw_svcca() -> None:
    # raw SVCCA tracks the mean correlation only through chance levels that move with it
    def chance_only(a: int, b: int) -> dict[str, float]:
        null = 0.2 + 0.06 * b + 0.006 * a
        e = 0.004 * ((a * 5 + b * 3) % 7)
        return {"mean_max_corr": 0.1 * b + 0.01 * a, "null": null, "svcca": null + (1 - null) * e, **halves(e)}

    from scipy.stats import spearmanr

    g = grid(chance_only)
    nz = [c for c in g["cells"] if c["layer_a"] and c["layer_b"]]
    assert spearmanr([c["svcca"] for c in nz], [c["mean_max_corr"] for c in nz])[0] > 0.9
    assert verdict("U7", {"grid": g})[0] == "reproduced"


def u3_cell(e: float, *, sd: float = 0.01, n: int = 200) -> dict[str, Any]:
    if n < 3:
        return {"svcca": math.nan, "null": math.nan, "svcca_null_std": math.nan, "n_pairs": n}
    return {"null": 0.4, "svcca": 0.4 + 0.6 * e, "svcca_null_std": sd, "n_pairs": n}


def test_u3_equivalence_true_false_underpowered_and_broken_control() -> None:
    # non-zero cells: excess 0.2 (weakest layers 0.15); layer 0: excess ~0 with a tight null
    def layered(a: int, b: int) -> dict[str, Any]:
        return u3_cell(0.0 if 0 in (a, b) else (0.15 if 1 in (a, b) else 0.2))

    assert verdict("U3", {"grid": grid(layered)}) == ("reproduced", "other way")
    # layer 0 merely not significant: excess 0.05 with a wide null -- its upper bound is not below the
    # margin (0.1), nor is its lower bound above it: undecided, not refuted
    vague = grid(lambda a, b: u3_cell(0.05, sd=0.05) if 0 in (a, b) else u3_cell(0.2))
    j = judge("U3", {"grid": vague}, CORRECTED, profile="smoke")
    assert j.verdict == "inconclusive" and "intervals too wide to decide" in j.inconclusive
    assert (j.measured["n_equivalent"], j.measured["n_refuted"], j.measured["n_undecided"]) == (0, 0, 9)
    # false, with power: layer 0 as similar as the rest (excess 0.2, tight null) -- shown above the margin
    similar = grid(lambda a, b: u3_cell(0.2))
    j = judge("U3", {"grid": similar}, CORRECTED, profile="smoke")
    assert j.verdict == "not reproduced" and j.measured["n_refuted"] == 9
    # two of nine cells shown above the margin: 7 < 8 needed can still be equivalent at most -> refuted
    two = grid(lambda a, b: u3_cell(0.2 if (a, b) in ((0, 4), (0, 5)) else 0.0) if 0 in (a, b) else u3_cell(0.2))
    assert verdict("U3", {"grid": two})[0] == "not reproduced"
    # half the layer-0 cells have 4 pairs: the data cannot decide
    few = grid(lambda a, b: u3_cell(0.0, n=2 if (a + b) % 2 else 200) if 0 in (a, b) else u3_cell(0.2))
    assert verdict("U3", {"grid": few})[0] == "inconclusive"
    # broken input: the weakest non-zero layers are as empty as layer 0 -- layer 0 is not special
    flat_edge = grid(lambda a, b: u3_cell(0.0 if 0 in (a, b) or 1 in (a, b) else 0.2))
    assert verdict("U3", {"grid": flat_edge}) == ("not reproduced", "same way")
    # 8 of 9 layer-0 cells just inside the margin (each equivalence p ~0.045), one clearly similar: the
    # raw count reaches 80%, the BH count over the layer-0 family does not (bar at rank 8 of 9 ~0.044);
    # only one cell is shown above the margin, so the 8 needed are still possible: undecided
    from scipy.stats import norm

    e_edge = (0.1 * 0.6 - norm.isf(0.045) * 0.01) / 0.6
    edge = grid(lambda a, b: u3_cell(0.2 if (a, b) == (0, 5) else e_edge) if 0 in (a, b) else u3_cell(0.2))
    j = judge("U3", {"grid": edge}, CORRECTED, profile="smoke")
    assert j.measured["n_equivalent_raw"] == 8 and j.measured["n_equivalent"] == 0
    assert j.verdict == "inconclusive" and j.measured["n_refuted"] == 1
    # no excess anywhere: nothing to be equivalent to a fraction of
    assert verdict("U3", {"grid": grid(lambda a, b: u3_cell(0.0))})[0] == "inconclusive"


@pytest.mark.parametrize("claim_id,short", [("U5", "m21"), ("U6", "unfiltered")])
def test_u5_u6_true_false_underpowered(claim_id: str, short: str) -> None:
    # U5's control is its size-matched contrast itself (no separate outcome); U6 has its placebo filter
    control = None if claim_id == "U5" else "other way"
    assert verdict(claim_id, {"grid": grid(lambda a, b: {})}) == ("reproduced", control)
    lose = grid(lambda a, b: {f"size_matched_{short}_p_plus_one": 0.6})
    assert verdict(claim_id, {"grid": lose})[0] == "not reproduced"
    weak = grid(lambda a, b: {f"size_matched_{short}_n_draws": 9})
    assert verdict(claim_id, {"grid": weak})[0] == "inconclusive"
    # 12 of 15 cells at p = 0.045, 3 at 0.5: 80% below alpha, but counted as BH discoveries (bar at
    # rank 12 of 15 is 0.04) there are none
    border = grid(lambda a, b: {f"size_matched_{short}_p_plus_one": 0.045 if b < 5 else 0.5})
    j = judge(claim_id, {"grid": border}, CORRECTED, profile="smoke")
    assert j.measured["fraction_beats_same_size_random"] == pytest.approx(0.8)
    assert j.verdict == "not reproduced"


def test_u5_is_judged_on_the_size_matched_test_and_reports_the_placebo() -> None:
    # the 1-1 set beats the size-matched subsets but not a random one-partner-per-A rule: reproduced (the
    # placebo asks whether the choice of partner matters, not App. E's question), the placebo reported
    same = grid(lambda a, b: {"placebo_one_to_one_p_plus_one": 0.4, "placebo_one_to_one_vs_siblings_p_plus_one": 0.01})
    j = judge("U5", {"grid": same}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("reproduced", None)
    diag = j.measured["placebo_diagnostic"]
    assert diag["judged"] is False and diag["fraction_one_to_one_beats_placebo"] == 0.0
    assert diag["fraction_placebo_beats_siblings"] == 1.0
    # no A feature has a choice of partner: reported, not judged
    no_choice = grid(lambda a, b: {"placebo_one_to_one_n_with_choice": 0, "placebo_one_to_one_p_plus_one": math.nan})
    j = judge("U5", {"grid": no_choice}, CORRECTED, profile="smoke")
    assert j.verdict == "reproduced" and j.measured["placebo_diagnostic"]["n_cells_without_choice"] == 15


def test_u5_contrast_comes_out_the_same_way_on_a_broken_input_and_needs_no_placebo() -> None:
    # broken pipeline: the 1-1 set is no better than random same-size subsets of the many-to-1 pairs,
    # although raw 1-1 > many-to-1 everywhere (the paper's statistic): not reproduced
    broken = grid(lambda a, b: {"size_matched_m21_p_plus_one": 0.3 + 0.04 * b, "svcca": 0.7, "svcca_m21": 0.6})
    j = judge("U5", {"grid": broken}, CORRECTED, profile="smoke")
    assert j.verdict == "not reproduced" and j.measured["paper_statistic_fraction_raw_higher"] == 1.0
    # a record without the placebo fields (an older run, an outside file) is judged: the placebo is a diagnostic
    old = grid(lambda a, b: {})
    for c in old["cells"]:
        del c["placebo_one_to_one_vs_siblings_p_plus_one"], c["placebo_one_to_one_p_plus_one"]
    j = judge("U5", {"grid": old}, CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("reproduced", None)
    assert j.measured["placebo_diagnostic"]["n_cells_with_placebo"] == 0


def test_u6_paper_placebo_comes_out_the_same_way_on_a_broken_input() -> None:
    # broken: filtering 7 random tokens raises the score as much as the non-concept list does
    broken = grid(lambda a, b: {"placebo_filter_p": 0.001})
    assert verdict("U6", {"grid": broken}) == ("not reproduced", "same way")
    # a random filter that raises the score in a few cells only: the control still fails the rule
    some = grid(lambda a, b: {"placebo_filter_p": 0.001 if b == 1 else 0.5})
    assert verdict("U6", {"grid": some}) == ("reproduced", "other way")
    # one run with 9 siblings cannot reach p < alpha: the control cannot decide
    weak = grid(lambda a, b: {"placebo_filter_p": 0.1, "placebo_filter_runs": 1})
    assert verdict("U6", {"grid": weak}) == ("inconclusive", "inconclusive")


def test_u8_without_printed_counts_is_a_sanity_check_never_reproduced() -> None:
    """Smoke (no printed counts): 0 < 1-1 < many-to-1 is shown as a sanity check, the claim inconclusive
    -- whether the check holds or fails; it holds by construction of the 1-1 rule."""
    g = grid(lambda a, b: {})
    empty = grid(lambda a, b: {"n_pairs": 0, "n_pairs_m21": 0})
    j = judge("U8", {"grid": g, "control_grid": empty}, CORRECTED, profile="smoke")
    assert j.verdict == "inconclusive" and "sanity check 0 < 1-1 < many-to-1 holds in all 15" in j.inconclusive
    assert "not counted as reproduced" in j.inconclusive and "no pair counts for this profile" in j.inconclusive
    assert j.measured["sanity_check_1to1_between_0_and_many_to_1"] is True
    j = judge("U8", {"grid": grid(lambda a, b: {"n_pairs": 300}), "control_grid": empty}, CORRECTED, profile="smoke")
    assert j.verdict == "inconclusive" and "fails in" in j.inconclusive


def test_u8_per_cell_ratio_to_tables_5_8_under_the_paper_procedure_only() -> None:
    from harness.verdicts.paper_tables import paper_pair_counts

    printed = paper_pair_counts("paper")
    assert len(printed) == 2 * 5 * 11 and printed[("one_to_one", 1, 1)] == 7553
    assert printed[("many_to_one", 5, 11)] == 6037 and len(paper_pair_counts("gemma")) == 2 * 4 * 6
    assert paper_pair_counts("smoke") == {}
    pythia = dict(la=tuple(range(6)), lb=tuple(range(12)))

    def like(factor: float, odd: tuple[int, int] | None = None, odd_factor: float = 3.0) -> dict[str, Any]:
        def fn(a: int, b: int) -> dict[str, Any]:
            if 0 in (a, b):
                return {}
            f = odd_factor if (a, b) == odd else factor
            return {
                "n_pairs": round(f * printed[("one_to_one", a, b)]),
                "n_pairs_m21": round(f * printed[("many_to_one", a, b)]),
            }

        return grid(fn, **pythia)

    empty = grid(lambda a, b: {"n_pairs": 0, "n_pairs_m21": 0}, **pythia)
    ok = like(1.3)
    assert verdict("U8", {"grid": ok, "control_grid": empty}, PAPER, profile="paper") == ("reproduced", "other way")
    # one cell 3x its printed count fails, although it lies inside the old whole-table range
    odd = like(1.3, odd=(3, 5))
    j = judge("U8", {"grid": odd, "control_grid": empty}, PAPER, profile="paper")
    assert j.verdict == "not reproduced" and j.measured["n_cells_outside_band"] == 2
    # under corrected the counts are meant to differ: ratios reported, the sanity check shown, inconclusive
    j = judge("U8", {"grid": like(0.2), "control_grid": empty}, CORRECTED, profile="paper")
    assert j.verdict == "inconclusive" and j.measured["ratio_judged"] is False
    assert "meant to differ" in j.inconclusive
    assert verdict("U8", {"grid": like(0.2), "control_grid": empty}, PAPER, profile="paper")[0] == "not reproduced"
    # broken input: a control that keeps as many pairs as the real grid
    assert verdict("U8", {"grid": ok, "control_grid": ok}, PAPER, profile="paper") == ("not reproduced", "same way")
    # a grid with no printed cell (e.g. layers outside Tables 7-8) cannot be judged
    g = grid(lambda a, b: {}, la=(0, 1, 2), lb=(0, 1, 3))
    assert verdict("U8", {"grid": g, "control_grid": g}, PAPER, profile="gemma")[0] == "inconclusive"


def test_w2_judges_the_excess_in_its_band() -> None:
    one = dict(la=(25,), lb=(25,))
    noise = control_grid(NOISE_TOP, **one)
    assert verdict(
        "W2",
        {"grid": grid(lambda a, b: {"svcca": 0.3, "null": 0.0}, **one), "control_grid": noise},
        PAPER,
        profile="llama",
    ) == ("reproduced", "other way")
    # raw 0.45 sits in the old raw band, but against a null of 0.44 it is chance
    assert (
        verdict(
            "W2",
            {"grid": grid(lambda a, b: {"svcca": 0.45, "null": 0.44}, **one), "control_grid": noise},
            PAPER,
            profile="llama",
        )[0]
        == "not reproduced"
    )
    assert verdict(
        "W2",
        {
            "grid": grid(lambda a, b: {"svcca": 0.3, "null": 0.0}, **one),
            "control_grid": control_grid({"svcca": 0.3, "null": 0.0, "p": 0.01}, **one),
        },
        PAPER,
        profile="llama",
    ) == ("not reproduced", "same way")
    # under `corrected` the band (App. B's k = 1 value) is not judged: significant -> inconclusive; chance -> refuted
    j = judge(
        "W2",
        {"grid": grid(lambda a, b: {"svcca": 0.3, "null": 0.0}, **one), "control_grid": noise},
        CORRECTED,
        profile="llama",
    )
    assert j.verdict == "inconclusive" and "k = 1" in j.inconclusive and j.measured["band_judged"] is False
    j = judge(
        "W2",
        {"grid": grid(lambda a, b: {"svcca": 0.45, "null": 0.44, "p": 0.4}, **one), "control_grid": noise},
        CORRECTED,
        profile="llama",
    )
    assert j.verdict == "not reproduced"


def test_w2_underpowered_is_inconclusive() -> None:
    g = grid(lambda a, b: {"svcca": 0.3, "null": 0.0}, la=(25,), lb=(25,), n_perm=10)
    c = control_grid(NOISE_TOP, la=(25,), lb=(25,), n_perm=10)
    assert verdict("W2", {"grid": g, "control_grid": c}, PAPER, profile="llama")[0] == "inconclusive"


@pytest.mark.parametrize("claim_id", ["U1", "U2", "U4", "U8"])
def test_grid_claims_with_an_empty_or_absent_control_are_never_reproduced(claim_id: str) -> None:
    la, lb = (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5, 6, 7)
    real = grid(lambda a, b: blocky(a, b, la=la, lb=lb), la=la, lb=lb) if claim_id == "U4" else grid(lambda a, b: {})
    ctrl = control_grid(NOISE_TOP, la=la, lb=lb)
    # U8 is judged against Tables 5-8 (Pythia under `paper`); its shuffled positions keep no pairs
    proc, profile = (PAPER, "paper") if claim_id == "U8" else (CORRECTED, "smoke")
    if claim_id == "U8":
        from harness.verdicts.paper_tables import paper_pair_counts

        printed = paper_pair_counts("paper")
        la, lb = tuple(range(6)), tuple(range(12))
        real = grid(
            lambda a, b: (
                {}
                if 0 in (a, b)
                else {"n_pairs": printed[("one_to_one", a, b)], "n_pairs_m21": printed[("many_to_one", a, b)]}
            ),
            la=la,
            lb=lb,
        )
        ctrl = grid(lambda a, b: {"n_pairs": 0, "n_pairs_m21": 0}, la=la, lb=lb)
    assert verdict(claim_id, {"grid": real, "control_grid": ctrl}, proc, profile) == ("reproduced", "other way")
    # an empty control used to count as "other way" and gave a silent "reproduced"
    empty = {**real, "cells": []}
    j = judge(claim_id, {"grid": real, "control_grid": empty}, proc, profile=profile)
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")
    assert "control_grid record is empty" in j.conclusion().detail
    j = judged(claim_id, {"grid": real}, proc, profile)
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")
    assert "no control_grid record" in str(j.inconclusive)


def test_u1_u2_u4_missing_null_means_are_named_not_reported_as_no_scored_cells() -> None:
    la, lb = (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5, 6, 7)
    printed = no_nulls(grid(lambda a, b: blocky(a, b, la=la, lb=lb), la=la, lb=lb))
    j = judged("U4", {"grid": printed})
    assert j.verdict == "inconclusive" and "svcca_null_mean missing" in str(j.inconclusive)
    assert "no scored cells" not in str(j.inconclusive)
    j = judged("U2", {"grid": no_nulls(grid(lambda a, b: {}))})
    assert j.verdict == "inconclusive" and "null_mean missing" in str(j.inconclusive)
    # U1 judges p-values only: its printed p's decide, and the absent control makes it inconclusive
    j = judged("U1", {"grid": no_nulls(grid(lambda a, b: {}))})
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")


def test_u3_without_layer_0_cells_is_not_run_and_without_nulls_is_inconclusive() -> None:
    no_zero = grid(lambda a, b: {}, la=(1, 2, 3), lb=(1, 2, 3, 4, 5))
    j = judged("U3", {"grid": no_zero})
    assert j.verdict == "not run" and "needs layer-0 cells" in j.conclusion().detail
    j = judged("U3", {"grid": no_nulls(grid(lambda a, b: {}))})
    assert j.verdict == "inconclusive" and "svcca_null_mean missing" in str(j.inconclusive)
    # nulls for the non-zero cells but no null spread for layer 0: unscorable, and the reason says why
    g = grid(lambda a, b: u3_cell(0.0 if 0 in (a, b) else 0.5))
    for c in g["cells"]:
        if 0 in (c["layer_a"], c["layer_b"]):
            c["svcca_null_std"] = math.nan
    j = judged("U3", {"grid": g})
    assert j.verdict == "inconclusive" and "no null spread (svcca_null_std missing)" in str(j.inconclusive)
    assert "too few pairs" not in str(j.inconclusive)


@pytest.mark.parametrize("claim_id,key", [("U5", "size_matched_m21_p"), ("U6", "size_matched_unfiltered_p")])
def test_u5_u6_without_size_matched_comparisons_are_not_run(claim_id: str, key: str) -> None:
    g = strip(grid(lambda a, b: {}), key, f"{key}_plus_one")
    j = judged(claim_id, {"grid": g})
    assert j.verdict == "not run" and f"needs {key}" in j.conclusion().detail
    # marked missing (null) everywhere: the same
    assert judged(claim_id, {"grid": strip(grid(lambda a, b: {}), key, f"{key}_plus_one", null=True)}).verdict == (
        "not run"
    )


def test_u6_without_its_placebo_has_its_control_not_run() -> None:
    g = strip(grid(lambda a, b: {}), "placebo_filter_p")
    j = judged("U6", {"grid": g})
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")
    assert "placebo_filter_p missing" in j.conclusion().detail
    assert "written before the placebo existed" not in j.conclusion().detail


def test_u7_without_mean_max_corr_or_split_halves() -> None:
    g = strip(grid(lambda a, b: {}), "mean_max_corr")
    j = judged("U7", {"grid": g})
    assert j.verdict == "not run" and "needs mean_max_corr" in j.conclusion().detail
    g = grid(lambda a, b: {"mean_max_corr": 0.1 * a + 0.01 * b})
    j = judged("U7", {"grid": g})  # the builder's cells carry no split-half excesses
    assert j.verdict == "inconclusive" and "svcca_excess_half1/half2" in str(j.inconclusive)
    assert j.control_outcome is None  # the control is in the statistic (disattenuation), no separate outcome


def test_u8_reads_counts_marked_missing_without_failing() -> None:
    g = strip(grid(lambda a, b: {}), "n_pairs_unfiltered")
    assert verdict("U8", {"grid": g, "control_grid": {**g, "cells": []}}) == ("inconclusive", "not run")
    g = strip(grid(lambda a, b: {}), "n_pairs_unfiltered", null=True)
    j = judged("U8", {"grid": g})
    assert j.rule_holds is None and j.measured["sanity_check_1to1_between_0_and_many_to_1"] is True
    assert "unfiltered_1to1_min" not in j.measured
    # counts missing in some cells: judged on the others, the rest named
    for c in g["cells"][:8]:
        c["n_pairs"] = math.nan
    j = judged("U8", {"grid": g})
    assert j.verdict == "inconclusive" and j.measured["cells_without_counts"]
    j = judged("U8", {"grid": strip(g, "n_pairs", null=True)})
    assert j.verdict == "not run" and "needs n_pairs and n_pairs_m21" in j.conclusion().detail


@pytest.mark.parametrize("claim_id", ["U1", "U2"])
def test_the_shuffled_control_reads_its_top_correlated_sets_null_size(claim_id: str) -> None:
    """A control cell's own ``n_permutations`` is its filtered misaligned set's (a handful of pairs, often
    scored without a null: 0); the control is judged on the top-correlated set, whose null is the grid's
    (or ``n_permutations_top``): it decides, rather than "inconclusive: [0] permutations"."""
    real = grid(lambda a, b: {})
    ctrl = control_grid(NOISE_TOP)
    for c in ctrl["cells"]:
        c["n_permutations"] = 0
    assert verdict(claim_id, {"grid": real, "control_grid": ctrl}) == ("reproduced", "other way")
    # a recorded top-correlated null size is the one judged: 9 permutations cannot reach alpha
    for c in ctrl["cells"]:
        c["n_permutations_top"] = 9
    assert verdict(claim_id, {"grid": real, "control_grid": ctrl}) == ("inconclusive", "inconclusive")
