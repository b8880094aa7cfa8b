"""Seed-pair rules (harness/verdicts/seed_rules.py): P1-P3 (seed stability) on constructed seed-pair records:
for each rule a record where the claim is true, one where it is false, one where the data cannot
decide (too few pairs, an interval that includes 0), and for each control a broken input on
which it comes out the same way; the intervals against first principles."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from harness.config import CORRECTED, PAPER
from harness.verdicts.rules import ROLES, RULES, judge
from harness.verdicts.seed_rules import (
    MIN_SEED_PAIRS,
    PB_METHOD,
    difference_interval,
    fraction_estimate,
    mean_interval,
)
from tests.verdicts.rule_records import grid, judged, lan, with_lan_rp
from tests.verdicts.rule_records import verdict as lan_verdict

CRITERIA = ("both", "decoder_only", "decoder_partner_both")


def overlaps(fractions: list[float], *, n: int = 256, l0: float = 8.0, **by: list[float]) -> dict[str, Any]:
    """A ``seed_overlaps`` record whose pairs share ``fractions`` under every criterion (``by``
    overrides one criterion's fractions)."""
    pairs = []
    for i, f in enumerate(fractions):
        per = {c: float(by[c][i]) if c in by else float(f) for c in CRITERIA}
        pairs.append(
            {
                "fraction_shared": per["both"],
                "fraction_by_criterion": per,
                "n_latents": n,
                "l0_a": l0,
                "l0_b": l0,
                "seeds": [2 * i, 2 * i + 1],
            }
        )
    return {"kind": "seed_overlaps", "condition": {}, "pairs": pairs}


def sweep(levels: list[int], groups: list[list[float]], *, shuffled: bool = False) -> dict[str, Any]:
    return {
        "kind": "seed_overlap_sweep",
        "axis": "width",
        "levels": levels,
        "groups": [overlaps(g) for g in groups],
        "labels_shuffled": shuffled,
    }


def verdict(claim_id: str, records: dict[str, Any]) -> tuple[str, str | None]:
    c = judge(claim_id, records, PB_METHOD, profile="smoke").conclusion()
    return c.verdict, c.control_outcome


# ----------------------------------------------------------------------------- statistics


def test_interval_is_welch_t_when_the_spread_over_pairs_dominates() -> None:
    a, b = [0.80, 0.86, 0.74, 0.83], [0.70, 0.60, 0.75]
    ea, eb = fraction_estimate(overlaps(a, n=100_000), "both"), fraction_estimate(overlaps(b, n=100_000), "both")
    assert ea.se == ea.se_between > ea.se_binomial
    d = difference_interval(ea, eb, 0.05)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d["ci"] == pytest.approx([ref.low, ref.high], rel=1e-9)
    lo, hi = mean_interval(ea, 0.05)
    ref1 = stats.ttest_1samp(a, 0.0).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ref1.low, ref1.high), rel=1e-9)


def test_binomial_floor_when_the_pairs_happen_to_agree() -> None:
    e = fraction_estimate(overlaps([0.2, 0.2, 0.2], n=256), "both")
    assert e.se_between == pytest.approx(0.0, abs=1e-15)
    assert e.se == pytest.approx(math.sqrt(3 * 0.2 * 0.8 / 256) / 3, rel=1e-12)
    lo, hi = mean_interval(e, 0.05)
    assert lo < 0.2 < hi and hi - lo == pytest.approx(2 * stats.t.ppf(0.975, 2) * e.se, rel=1e-12)


def test_fewer_than_two_pairs_give_an_unbounded_interval() -> None:
    one = fraction_estimate(overlaps([0.3]), "both")
    assert mean_interval(one, 0.05) == (-math.inf, math.inf)
    assert difference_interval(one, one, 0.05)["ci"] == [-math.inf, math.inf]


def test_interval_coverage_over_simulated_seed_pairs() -> None:
    """Fractions drawn binomially around one true value per condition: the difference interval
    of two equal conditions excludes 0 in about alpha of draws (not far above), and the rule's
    interval is never narrower than the binomial noise allows."""
    rng = np.random.default_rng(0)
    n, m, reps, excl = 256, MIN_SEED_PAIRS, 2000, 0
    for _ in range(reps):
        a = rng.binomial(n, 0.3, m) / n
        b = rng.binomial(n, 0.3, m) / n
        d = difference_interval(
            fraction_estimate(overlaps(list(a), n=n), "both"), fraction_estimate(overlaps(list(b), n=n), "both"), 0.05
        )
        excl += d["ci"][0] > 0 or d["ci"][1] < 0
    assert excl / reps < 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)


# ----------------------------------------------------------------------------- P1


RANDOM = [0.0, 0.004, 0.0]  # rotated B: chance matches rarely pass both 0.7 thresholds


def test_p1_true_false_underpowered() -> None:
    assert verdict("P1", {"overlaps": overlaps([0.20, 0.22, 0.21]), "control_overlaps": overlaps(RANDOM)}) == (
        "reproduced",
        "other way",
    )
    # none shared, or all shared: not "only a fraction"
    assert verdict("P1", {"overlaps": overlaps([0.0, 0.004, 0.0]), "control_overlaps": overlaps(RANDOM)})[0] == (
        "not reproduced"
    )
    assert verdict("P1", {"overlaps": overlaps([1.0, 1.0, 0.996]), "control_overlaps": overlaps(RANDOM)})[0] == (
        "not reproduced"
    )
    # one pair per condition, or an interval straddling the band's floor
    assert verdict("P1", {"overlaps": overlaps([0.2, 0.21]), "control_overlaps": overlaps(RANDOM)})[0] == "inconclusive"
    assert verdict("P1", {"overlaps": overlaps([0.02, 0.06, 0.10]), "control_overlaps": overlaps(RANDOM)})[0] == (
        "inconclusive"
    )


def test_p1_control_comes_out_the_same_way_when_chance_matching_passes_the_floor() -> None:
    """Broken input: rotated (unrelated) SAEs that still 'share' a fifth of their latents, as
    with too few dimensions for the latents or a broken threshold."""
    assert verdict(
        "P1", {"overlaps": overlaps([0.20, 0.22, 0.21]), "control_overlaps": overlaps([0.18, 0.21, 0.2])}
    ) == ("not reproduced", "same way")
    # a control with too few pairs cannot show that the rule discriminates
    assert verdict("P1", {"overlaps": overlaps([0.20, 0.22, 0.21]), "control_overlaps": overlaps([0.0])}) == (
        "inconclusive",
        "inconclusive",
    )


def test_p1_judges_its_figures_criterion_and_shows_the_sanity_check_unjudged() -> None:
    j = judge(
        "P1",
        {
            "overlaps": overlaps([0.2, 0.22, 0.21], decoder_only=[0.99, 0.99, 0.99]),
            "control_overlaps": overlaps(RANDOM),
            "sanity_different_layers": overlaps([0.9]),
        },
        PB_METHOD,
        profile="smoke",
    )
    assert j.verdict == "reproduced" and j.measured["criterion"] == "both"
    shown = j.recorder_kwargs()["control"]
    assert shown["sanity_different_layers"]["what"] == "sanity check, not evidence"


# ----------------------------------------------------------------------------- P2


RELU, TOPK, TOPK2 = [0.80, 0.83, 0.81], [0.70, 0.72, 0.69], [0.71, 0.69, 0.72]


def p2(relu: list[float], topk: list[float], topk2: list[float], **kw: Any) -> dict[str, Any]:
    return {"relu_l1": overlaps(relu, **kw), "topk": overlaps(topk), "control_topk": overlaps(topk2)}


def test_p2_true_false_underpowered() -> None:
    assert verdict("P2", p2(RELU, TOPK, TOPK2)) == ("reproduced", "other way")
    assert verdict("P2", p2(TOPK, RELU, RELU))[0] == "not reproduced"  # TopK shown more stable
    assert verdict("P2", p2([0.72, 0.69, 0.73], TOPK, TOPK2))[0] == "inconclusive"  # interval includes 0
    assert verdict("P2", p2(RELU[:2], TOPK, TOPK2))[0] == "inconclusive"  # two pairs
    assert verdict("P2", p2(RELU, TOPK, TOPK2, l0=20.0))[0] == "inconclusive"  # L0 not matched


def test_p2_judges_the_decoder_only_criterion() -> None:
    # under `both` ReLU+L1 would be lower; the architecture figure counts the decoder only
    rec = p2(RELU, TOPK, TOPK2)
    rec["relu_l1"] = overlaps([0.3, 0.3, 0.3], decoder_only=RELU)
    assert verdict("P2", rec) == ("reproduced", "other way")


def test_p2_control_comes_out_the_same_way_on_a_second_topk_set_with_a_gap() -> None:
    """Broken input: the second TopK set shares far more than the first (e.g. its seeds were not
    varied), so TopK against TopK shows the architecture 'gap'."""
    assert verdict("P2", p2(RELU, TOPK, [0.95, 0.96, 0.95])) == ("not reproduced", "same way")
    assert verdict("P2", p2(RELU, TOPK, TOPK2[:1])) == ("inconclusive", "inconclusive")


# ----------------------------------------------------------------------------- P3


W = [128, 256, 512]
FALLING = [[0.50, 0.52, 0.49], [0.41, 0.40, 0.42], [0.30, 0.31, 0.29]]
SHUFFLED = [[0.40, 0.42, 0.39], [0.41, 0.39, 0.42], [0.40, 0.41, 0.38]]


def p3(groups: list[list[float]], control: list[list[float]], levels: list[int] = W) -> dict[str, Any]:
    return {"width_sweep": sweep(levels, groups), "control_width_sweep": sweep(levels, control, shuffled=True)}


def test_p3_true_false_underpowered() -> None:
    assert verdict("P3", p3(FALLING, SHUFFLED)) == ("reproduced", "other way")
    assert verdict("P3", p3(FALLING[::-1], SHUFFLED))[0] == "not reproduced"  # rises with width
    # one step shown to rise refutes "falls with width" even when the ends fall
    bump = [[0.50, 0.52, 0.49], [0.70, 0.71, 0.69], [0.30, 0.31, 0.29]]
    assert verdict("P3", p3(bump, SHUFFLED))[0] == "not reproduced"
    assert verdict("P3", p3([g[:2] for g in FALLING], SHUFFLED))[0] == "inconclusive"  # two pairs per width
    flat = [[0.40, 0.45, 0.35], [0.41, 0.36, 0.44], [0.38, 0.43, 0.36]]
    assert verdict("P3", p3(flat, SHUFFLED))[0] == "inconclusive"  # interval includes 0
    assert verdict("P3", p3(FALLING[:1], SHUFFLED[:1], W[:1]))[0] == "inconclusive"  # one width


def test_p3_sorts_its_levels() -> None:
    assert verdict("P3", p3(FALLING[::-1], SHUFFLED, W[::-1])) == ("reproduced", "other way")


def test_p3_control_comes_out_the_same_way_when_shuffled_labels_still_show_a_trend() -> None:
    """Broken input: same-width pairs whose groups still fall with the shuffled labels (e.g. the
    groups were dealt by seed and later seeds trained differently)."""
    assert verdict("P3", p3(FALLING, FALLING)) == ("not reproduced", "same way")
    assert verdict("P3", p3(FALLING, [g[:1] for g in SHUFFLED])) == ("inconclusive", "inconclusive")


# ----------------------------------------------------------------------------- registry, judge command


def test_p_rules_are_registered_with_the_records_they_read() -> None:
    assert {"P1", "P2", "P3"} <= set(RULES)
    assert ROLES["P1"] == ("overlaps", "control_overlaps")
    assert ROLES["P2"] == ("relu_l1", "topk", "control_topk")
    assert ROLES["P3"] == ("width_sweep", "control_width_sweep")


def test_judge_command_rejudges_saved_p_rows(tmp_path) -> None:
    from harness.cli import judge_results

    exps = {"o": overlaps([0.2, 0.22, 0.21]), "c": overlaps(RANDOM), "r": overlaps(RELU), "t": overlaps(TOPK)}
    exps["t2"] = overlaps(TOPK2)
    exps["s"], exps["sc"] = sweep(W, FALLING), sweep(W, SHUFFLED, shuffled=True)
    row = {"procedure": "PB method", "profile": "smoke", "verdict": "reproduced", "control_outcome": "other way"}
    rows = [
        {"id": "P1", **row, "inputs": {"overlaps": "o", "control_overlaps": "c"}},
        {"id": "P2", **row, "inputs": {"relu_l1": "r", "topk": "t", "control_topk": "t2"}},
        {"id": "P3", **row, "inputs": {"width_sweep": "s", "control_width_sweep": "sc"}},
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"profile": "smoke", "provenance": {}, "claims": rows, "experiments": exps}))
    out = {r["id"]: r for r in judge_results(path)}
    assert {k: (v["rejudged"], v["control"]) for k, v in out.items()} == {
        k: ("reproduced", "other way") for k in ("P1", "P2", "P3")
    }


# ----------------------------------------------------------------------------- missing inputs


def test_p_rules_with_an_absent_or_empty_control_are_never_reproduced() -> None:
    from harness.verdicts.rules import judge_available

    good = overlaps([0.2, 0.22, 0.21])
    j = judge_available("P1", {"overlaps": good}, PB_METHOD, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")
    assert "no control_overlaps record" in str(j.inconclusive)
    empty = {**good, "pairs": []}
    assert verdict("P1", {"overlaps": good, "control_overlaps": empty}) == ("inconclusive", "not run")
    j = judge(
        "P2", {"relu_l1": overlaps(RELU), "topk": overlaps(TOPK), "control_topk": empty}, PB_METHOD, profile="smoke"
    )
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")
    shuffled = sweep(W, SHUFFLED, shuffled=True)
    no_pairs = {**shuffled, "groups": [{**g, "pairs": []} for g in shuffled["groups"]]}
    j = judge("P3", {"width_sweep": sweep(W, FALLING), "control_width_sweep": no_pairs}, PB_METHOD, profile="smoke")
    assert j.control_outcome == "not run"


def test_p_rules_name_a_missing_record_or_field() -> None:
    from harness.verdicts.rules import judge_available

    j = judge_available("P2", {"topk": overlaps(TOPK)}, PB_METHOD, profile="smoke")
    assert j.verdict == "not run" and "needs the 'relu_l1' record" in j.conclusion().detail
    rec = overlaps([0.2, 0.22, 0.21])
    for p in rec["pairs"]:
        del p["n_latents"]
    j = judge_available("P1", {"overlaps": rec, "control_overlaps": overlaps(RANDOM)}, PB_METHOD, profile="smoke")
    assert j.verdict == "not run" and "needs each seed pair's n_latents" in j.conclusion().detail
    rec = overlaps([0.2, 0.22, 0.21])
    for p in rec["pairs"]:
        del p["fraction_by_criterion"]["decoder_only"]
    j = judge_available(
        "P2", {"relu_l1": rec, "topk": overlaps(TOPK), "control_topk": overlaps(TOPK2)}, PB_METHOD, profile="smoke"
    )
    assert j.verdict == "not run" and "criterion 'decoder_only'" in j.conclusion().detail
    # a shared fraction marked missing (null, read as NaN): inconclusive, naming it
    rec = overlaps([0.2, 0.22, 0.21])
    rec["pairs"][0]["fraction_by_criterion"]["both"] = math.nan
    c = judge_available("P1", {"overlaps": rec, "control_overlaps": overlaps(RANDOM)}, PB_METHOD, profile="smoke")
    assert c.verdict == "inconclusive" and "without a finite shared fraction" in str(c.inconclusive)


# ----------------------------------------------------------------------------- W1, X1 (and W2's missing inputs)


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_w1_judges_the_excess_not_the_raw_score(procedure: Any) -> None:
    noise = lan(0.45, 0.44, 0.5)
    assert lan_verdict("W1", {"lan_relu_l1": lan(0.9, 0.44, 0.01), "control_lan_relu_l1": noise}, procedure) == (
        "reproduced",
        "other way",
    )
    # raw 0.63 passed the old "> 0.5": against a null of 0.45 it is only a third of the way to identical
    assert (
        lan_verdict("W1", {"lan_relu_l1": lan(0.63, 0.45, 0.01), "control_lan_relu_l1": noise}, procedure)[0]
        == "not reproduced"
    )
    assert (
        lan_verdict("W1", {"lan_relu_l1": lan(0.9, 0.44, 0.1, n_perm=9), "control_lan_relu_l1": noise}, procedure)[0]
        == "inconclusive"
    )
    # broken input: the control is as far above its null as the real pair
    assert lan_verdict(
        "W1", {"lan_relu_l1": lan(0.9, 0.44, 0.01), "control_lan_relu_l1": lan(0.9, 0.44, 0.01)}, procedure
    ) == (
        "not reproduced",
        "same way",
    )


def test_x1_true_false_underpowered_and_broken_control() -> None:
    ov, noise = {"fraction_shared": 0.2}, lan(0.45, 0.44, 0.5)
    assert lan_verdict("X1", {"lan": lan(0.9, 0.44, 0.01), "control_lan": noise, "overlap": ov}) == (
        "reproduced",
        "other way",
    )
    # significant but only 0.43 of the way from chance: not the "high" similarity the claim states
    assert (
        lan_verdict("X1", {"lan": lan(0.68, 0.435, 0.01), "control_lan": noise, "overlap": ov})[0] == "not reproduced"
    )
    assert lan_verdict("X1", {"lan": lan(0.9, 0.44, 0.01), "control_lan": lan(0.9, 0.44, 0.01), "overlap": ov}) == (
        "not reproduced",
        "same way",
    )
    assert (
        lan_verdict("X1", {"lan": lan(0.9, 0.44, 0.1, n_perm=9), "control_lan": lan(0.44, 0.44, 0.5), "overlap": ov})[0]
        == "inconclusive"
    )
    assert (
        lan_verdict(
            "X1",
            {"lan": lan(0.9, 0.44, 0.01), "control_lan": lan(0.44, 0.44, 0.5), "overlap": {"fraction_shared": 0.95}},
        )[0]
        == "not reproduced"
    )


@pytest.mark.parametrize("claim_id", ["W1", "X1"])
def test_w1_x1_filter_aware_control_can_come_out_the_same_way(claim_id: str) -> None:
    noise, ov = lan(0.45, 0.44, 0.5), {"fraction_shared": 0.2}
    real = lan(0.9, 0.44, 0.01)
    role = "lan_relu_l1" if claim_id == "W1" else "lan"

    def records(rec: dict[str, Any]) -> dict[str, Any]:
        return {role: rec, f"control_{role}": noise, "overlap": ov}

    j = judge(claim_id, records(with_lan_rp(real, 0.46, 0.44, 0.4)), CORRECTED, profile="smoke")
    assert (j.verdict, j.control_outcome) == ("reproduced", "other way")
    assert set(j.control.measured) == {"shuffled_positions", "random_partner"}
    # broken input: partners that merely pass the token filters are as highly similar as the real ones
    assert lan_verdict(claim_id, records(with_lan_rp(real, 0.9, 0.44, 0.01))) == ("not reproduced", "same way")
    # significant but far below "highly similar": the control fails the rule, as it should
    assert lan_verdict(claim_id, records(with_lan_rp(real, 0.5, 0.44, 0.01))) == ("reproduced", "other way")


def test_w1_reads_the_relu_l1_seed_pair() -> None:
    """App. A's pair is ReLU+L1: W1 reads ``lan_relu_l1``; the TopK pair (X1's ``lan``) is not W1's input."""
    assert ROLES["W1"] == ("lan_relu_l1", "control_lan_relu_l1") and ROLES["X1"][0] == "lan"
    with pytest.raises(KeyError, match="lan_relu_l1"):
        judge("W1", {"lan": lan(0.9, 0.44, 0.01), "control_lan": lan(0.45, 0.44, 0.5)}, CORRECTED, profile="smoke")


def test_w1_w2_x1_with_missing_p_null_or_pair_set() -> None:
    rec = lan(0.94, 0.004, 0.01)
    rec["many_to_one_filtered"] = {**rec["many_to_one_filtered"], "svcca_p": math.nan, "svcca_p_plus_one": math.nan}
    j = judged("W1", {"lan_relu_l1": rec})
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")
    assert "svcca_p missing" in str(j.inconclusive)
    j = judged("W1", {"lan_relu_l1": {"kind": "seed_pair", "one_to_one_filtered": rec["one_to_one_filtered"]}})
    assert j.verdict == "not run" and "needs the 'many_to_one_filtered' pair set" in j.conclusion().detail
    # an empty control seed-pair record
    j = judge(
        "W1",
        {"lan_relu_l1": lan(0.9, 0.44, 0.01), "control_lan_relu_l1": {"kind": "seed_pair"}},
        CORRECTED,
        profile="smoke",
    )
    assert (j.verdict, j.control_outcome) == ("inconclusive", "not run")
    g = grid(lambda a, b: {"svcca": 0.3, "null": 0.0}, la=(25,), lb=(25,))
    g["cells"][0].update(svcca_null_mean=math.nan, svcca_excess=math.nan)
    j = judged("W2", {"grid": g}, profile="llama")
    assert j.verdict == "inconclusive" and "svcca_null_mean missing" in str(j.inconclusive)
    j = judged("X1", {"lan": lan(0.9, 0.1, 0.01), "overlap": {"kind": "seed_overlap"}})
    assert j.verdict == "inconclusive" and "fraction_shared missing" in str(j.inconclusive)
