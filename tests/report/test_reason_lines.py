"""One-line reasons of the report's first screen: words from the measured numbers, never dumps."""

from __future__ import annotations

import math

from harness.report.reason_lines import ABSENT, MAX_BRIEF, MAX_REASON, brief_reason, fmt_number, fmt_value, reason

U1_CORRECTED = {
    "id": "U1",
    "verdict": "not reproduced",
    "rule_holds": True,
    "control_outcome": "same way",
    "measured": {
        "fraction_significant": 1.0,
        "n_family": 15,
        "n_needed": 12,
        "n_discoveries_bh": 15,
        "control": {
            "shuffled_positions": {"n_family": 15, "n_needed": 12, "n_discoveries_bh": 0},
            "random_partner": {"n_cells": 15, "n_significant": 14, "fraction_significant": 0.93},
        },
    },
    "detail": "the negative control also satisfies the rule ({'shuffled_positions': {'n': 1}}): the rule does not discriminate here",
}


def test_reason_names_the_rule_statistic_and_each_control_in_words() -> None:
    text = reason(U1_CORRECTED)
    assert text == (
        "rule holds: 15/15 cells significant (BH; 12 needed); control same way (not distinguished) — "
        "shuffled positions: 0/15 cells significant (BH); random partner: 14/15 cells significant"
    )
    assert "{" not in text and "=" not in text  # no dict dump, no key=value
    # the verdict words ("rule holds; control not distinguished") already say the control came out the same way
    assert brief_reason(U1_CORRECTED) == "15/15 cells (BH)"
    assert brief_reason({**U1_CORRECTED, "rule_holds": False}) == "15/15 cells (BH); ctrl same way"


def test_interval_claims_quote_their_interval() -> None:
    row = {
        "verdict": "reproduced",
        "rule_holds": True,
        "control_outcome": "other way",
        "measured": {
            "mean": 0.1966,
            "ci": [0.135, 0.2583],
            "band": [0.05, 0.95],
            "control": {"x": {"mean": 0.0, "ci": [0.0, 0.0]}},
        },
    }
    assert reason(row).startswith(
        "rule holds: mean shared fraction 0.197 [0.135, 0.258] vs band (0.05, 0.95); control other way — x: mean"
    )
    assert brief_reason(row) == "mean 0.20 [0.14, 0.26]; ctrl other way"


def test_inconclusive_and_not_run_rows_say_why() -> None:
    inc = {"verdict": "inconclusive", "inconclusive": "inconclusive: unstable over seeds: 4/5 seeds", "measured": {}}
    assert reason(inc) == "unstable over seeds: 4/5 seeds" and brief_reason(inc) == "unstable over seeds"
    inc_stat = {
        "verdict": "inconclusive",
        "inconclusive": "inconclusive: too noisy",
        "measured": {"split_half_reliability": 0.363},
    }
    assert brief_reason(inc_stat) == "reliability 0.36"
    not_run = {"verdict": "not run", "detail": "runs only in the large tier (pytest claims -m large)", "measured": {}}
    assert (
        reason(not_run).startswith("runs only in the large tier")
        and brief_reason(not_run) == "runs only in the large tier"
    )


def test_long_reasons_are_cut_and_absent_values_are_a_dash() -> None:
    row = {"verdict": "inconclusive", "inconclusive": "x" * 400, "measured": {}}
    assert len(reason(row)) == MAX_REASON and reason(row).endswith("…")
    assert len(brief_reason(row)) <= MAX_BRIEF
    assert fmt_number(math.nan) == fmt_number(None) == fmt_number(math.inf) == ABSENT
    assert fmt_value([None, None]) == f"[{ABSENT}, {ABSENT}]" and fmt_value([]) == ABSENT
    assert fmt_number(3e-18) == "3e-18" and fmt_number(0.5) == "0.500" and fmt_number(True) == "yes"


def test_the_random_partner_contrast_reads_as_a_contrast() -> None:
    row = {
        **U1_CORRECTED,
        "verdict": "reproduced",
        "control_outcome": "other way",
        "measured": {
            **U1_CORRECTED["measured"],
            "control": {
                "random_partner": {
                    "n_cells": 15,
                    "n_distinguished": 15,
                    "n_needed": 12,
                    "mean_svcca_real": 0.487,
                    "mean_svcca_random_partner_sets": 0.455,
                }
            },
        },
    }
    assert reason(row).endswith(
        "control other way — random partner: real pairing beats random-partner sets in 15/15 cells (BH): mean 0.487 vs 0.455"
    )
