"""The claim inventory file (harness/verdicts/claims.toml) and its loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.verdicts.records import CLAIMS, CLAIMS_FILE, ClaimRecord, load_claims
from harness.verdicts.rules import RULES

GOOD = """
[Z1]
slug = "a-claim"
statement = "Something holds."
source = "Sec. 1"
paper_values = "0.5"
rule = "x > 0"
reason = "because"
tiers = ["smoke"]
negative_control = "shuffled: must fail"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "claims.toml"
    path.write_text(text)
    return path


def test_builtin_inventory_is_the_reference_claims() -> None:
    # the ids of shared/reference/claims.md, in report order
    assert list(CLAIMS) == [
        "U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "S1", "S2", "S3", "S4", "S5",
        "W1", "W2", "P1", "P2", "P3", "X1",
    ]  # fmt: skip
    assert load_claims(CLAIMS_FILE) == CLAIMS
    assert all(isinstance(r, ClaimRecord) and r.statement and r.rule and r.reason for r in CLAIMS.values())


def test_every_claim_with_a_rule_has_a_record_and_back() -> None:
    assert set(RULES) <= set(CLAIMS)


def test_a_good_file_loads(tmp_path: Path) -> None:
    rec = load_claims(_write(tmp_path, GOOD))["Z1"]
    assert rec.tiers == ("smoke",) and rec.paper == "Lan et al. 2024" and rec.notes == ()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('slug = "a-claim"\n', ""), "lacks ['slug']"),
        (lambda t: t + 'colour = "red"\n', "unknown fields ['colour']"),
        (lambda t: t.replace('tiers = ["smoke"]', 'tiers = ["tpu"]'), "unknown tiers ['tpu']"),
        (lambda t: t.replace('tiers = ["smoke"]', 'tiers = "smoke"'), "tiers has the wrong type"),
        (lambda t: t + 'criterion = "both"\n', "no quoted figure uses it"),
        (lambda t: t + '\n[[Z1.paper_figures]]\nfigure = "f"\nvalues = "1"\ncriterion = "sideways"\n', "sideways"),
        (lambda t: t.replace("[Z1]", "[Z1"), "not valid TOML"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, edit, message: str) -> None:
    path = _write(tmp_path, edit(GOOD))
    with pytest.raises((ConfigError, ValueError)) as err:
        load_claims(path)
    assert message in str(err.value)
    if "sideways" not in message:
        assert str(path) in str(err.value)
