"""docs/paper-tier.md's cost table is the cost model's output, not written by hand (issue 20)."""

from __future__ import annotations

from pathlib import Path

from harness.cost.render import README_MARKERS, readme_block

README = Path(__file__).resolve().parents[2] / "docs" / "paper-tier.md"


def test_readme_block_equals_the_generated_table() -> None:
    text = README.read_text()
    start, end = README_MARKERS
    assert text.count(start) == 1 and text.count(end) == 1, f"docs/paper-tier.md needs one {start} ... {end} block"
    block = text.split(start, 1)[1].split(end, 1)[0]
    assert block.strip() == readme_block().strip(), (
        "docs/paper-tier.md's cost table is stale: replace the block between the markers with "
        "`python -m harness.cli cost --markdown`"
    )


def test_the_block_labels_gpu_rows_as_datasheet_derived() -> None:
    block = readme_block()
    assert "datasheet-derived" in block and "not measurements" in block
    assert "measured" not in block.replace("not measurements", "")
