"""README.md: one or two screens, and every number it states is generated from committed data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.report.readme_blocks import BLOCKS, README, block_text, main, markers, prose_outside_blocks, render

#: The only digits prose may hold: names and identifiers, never a measurement.
ALLOWED_WITH_DIGITS = re.compile(
    r"""
      \b[UPSWX][1-8]\b(?:-[UPSWX][1-8]\b)?      # claim ids and ranges: U1-U8
    | \b(?:2024|2025)\b                         # the papers' years
    | Pythia-\d+m | Gemma-\d+-\d+B | Llama-\d(?:\.\d)?-\d+B | \d+B-parameter | \b8B\b
    | OPENBLAS_NUM_THREADS=1
    | \bSec\.\ \d\b
    | \bh100\b | \b1-1\b
    """,
    re.X,
)


def test_readme_is_one_or_two_screens() -> None:
    assert len(README.read_text().splitlines()) < 200


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_every_block_equals_its_generated_text(name: str) -> None:
    text = README.read_text()
    assert block_text(text, name) == block_text(render(text), name), (
        f"README.md's {name!r} block is stale: python -m harness.report.readme_blocks --write"
    )


def test_prose_states_no_number_outside_the_generated_blocks() -> None:
    prose = ALLOWED_WITH_DIGITS.sub("", prose_outside_blocks(README.read_text()))
    stray = sorted({m.group(0) for m in re.finditer(r"\S*\d\S*", prose)})
    assert stray == [], f"README.md states numbers outside its generated blocks: {stray}"


def test_the_number_check_can_fail() -> None:
    """A hand-written measurement in the prose is caught (the check is not vacuous)."""
    _, end = markers("timings")
    text = README.read_text().replace(end, end + "\nThe tests take 17 min here.\n", 1)
    prose = ALLOWED_WITH_DIGITS.sub("", prose_outside_blocks(text))
    assert re.search(r"\b17\b", prose)


def test_check_names_a_stale_block(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = README.read_text()
    start, end = markers("outcomes")
    stale = tmp_path / "README.md"
    stale.write_text(text.replace(start + block_text(text, "outcomes") + end, start + "\nold\n" + end))
    assert main(["--check"], readme=stale) == 1
    assert "'outcomes' is stale" in capsys.readouterr().err
