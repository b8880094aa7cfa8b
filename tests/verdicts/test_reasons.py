"""Reasons of reviewed expectations quote no number a run can move (issue 14, finding 5;
harness.verdicts.reasons documents what digits a reason may still contain)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.verdicts.reasons import moving_numbers, reasons_with_moving_numbers

EXPECTED = Path(__file__).resolve().parents[2] / "claims" / "expected"


@pytest.mark.parametrize(
    ("reason", "found"),
    [
        ("The 1-1 rule keeps about 170-220 of 330-440 pairs.", ["170-220", "330-440"]),
        ("RSA ~0.1 vs SVCCA ~0.5: chance is 0.44.", ["~0.1", "~0.5", "0.44"]),
        ("Raw 1-1 > many-to-1 in 13/15 cells.", ["13/15"]),
        ("Test 2 passes in 11% of 72 cells (control 1%).", ["11%", "1%"]),
        ("2 of Table 1's 6 categories significant (Time p 0.02).", ["2", "0.02"]),
        ("Shared fraction 0.219 -> 0.215; the control is 1.0.", ["0.219", "0.215", "1.0"]),
        ("raw gain -0.014; 0/15 size-matched wins", ["-0.014", "0/15"]),
    ],
)
def test_measured_numbers_are_found(reason: str, found: list[str]) -> None:
    assert moving_numbers(reason) == found


def test_rule_and_design_constants_are_allowed() -> None:
    reason = (
        "With k=1 (keep=1) the 1-1 and many-to-1 sets of the 4- and 6-layer world (64/96-dim) miss the "
        "0.5 excess; the split-half gate is 0.8, U2 asks 80% of cells, the old bound was 0.9, the "
        "threshold 0.1, the cosine 0.7, alpha 0.05. Layer 0 and layer-0 cells, A1-3 and B1/3/5, the "
        "3 x 5 grid, in most of the 15 cells, one cell of 15, the 72 cells, 30 block placements, "
        "30 random same-size subsets, 9 placements with smallest p 1/9, TopK 256, 256 latents, widths "
        "128/256/512, the 128->256 step, matched L0, ReLU+L1, Table 1's 6 and Table 9's 7 categories, "
        "Figs. 5-8, App. A, Test 1 and Test 2."
    )
    assert moving_numbers(reason) == []


def test_every_committed_reason_is_free_of_moving_numbers() -> None:
    files = sorted(EXPECTED.glob("*.json"))
    assert files, f"no expectation files under {EXPECTED}"
    for path in files:
        data = json.loads(path.read_text())
        n_reasons = sum(1 for k, v in data.items() if not k.startswith("_") for e in v.values() if e.get("reason"))
        assert n_reasons > 0, path
        assert reasons_with_moving_numbers(data) == {}, (
            f"{path.name}: reasons quote numbers a run can move; describe them qualitatively "
            "(harness/verdicts/reasons.py lists the constants a reason may quote)"
        )


def test_the_file_check_fires_on_a_quoted_number() -> None:
    """The committed-file check can fail: one measured number in one reason is reported."""
    data = {
        "_about": "notes with 200 x 64 tokens are not reasons",
        "U8": {"paper": {"verdict": "reproduced", "reason": "238-269 of 403-459 pairs kept."}},
        "U1": {"corrected": {"verdict": "not reproduced", "reason": "Significant in most of the 15 cells."}},
    }
    assert reasons_with_moving_numbers(data) == {"U8/paper": ["238-269", "403-459"]}
