"""docs/distributed.md's cost table is the cost model's output (harness/executor/plan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.executor.plan import GPU_COUNTS, lpt_makespan, markdown_block, scaling

DOC = Path(__file__).resolve().parents[2] / "docs" / "distributed.md"


def test_the_docs_cost_table_is_generated() -> None:
    text = DOC.read_text()
    start, end = "<!-- distributed-cost:start -->\n", "<!-- distributed-cost:end -->"
    assert text.count(start) == 1 and text.count(end) == 1
    assert text.split(start, 1)[1].split(end, 1)[0] == markdown_block(), (
        "docs/distributed.md's cost table is stale: replace the block with `python -m harness.executor.plan`"
    )


def test_largest_first_scheduling() -> None:
    assert lpt_makespan([3, 3, 2, 2, 2], 2) == 7  # LPT: {3,2,2} and {3,2}
    assert lpt_makespan([5, 1, 1], 4) == 5  # never below the largest job
    assert lpt_makespan([], 3) == 0
    with pytest.raises(ValueError):
        lpt_makespan([1.0], 0)


def test_more_gpus_never_take_longer_and_never_beat_the_ideal_split() -> None:
    s = scaling("paper", "h100")
    assert s.cells == sum(len(e) for e in s.experiments) > 0
    walls = [s.wall_s(n) for n in GPU_COUNTS]
    assert walls[0] == s.total_s and all(b <= a for a, b in zip(walls, walls[1:], strict=False))
    cell_s = s.total_s - s.rest_s
    assert all(s.wall_s(n) >= s.rest_s + cell_s / n - 1e-9 for n in GPU_COUNTS)
