"""Projection: stage sums, memory, kernel kinds and targets (issue 20)."""

from __future__ import annotations

import pytest

from harness.cost.project import TARGET_SECONDS, Projection, project
from harness.cost.device_specs import builtin_table
from harness.cost.workload import workload_from_profile
from harness.profiles import get_profile


@pytest.fixture(scope="module")
def paper_h100() -> Projection:
    return project(workload_from_profile(get_profile("paper")), builtin_table("h100"))


def test_totals_add_up(paper_h100: Projection) -> None:
    p = paper_h100
    assert p.total_seconds == pytest.approx(sum(s.seconds for s in p.stages.values()))
    assert p.total_seconds == pytest.approx(sum(p.by_kind.values()))
    for s in p.stages.values():
        assert s.seconds == pytest.approx(sum(s.seconds_by_procedure.values()))
    assert set(p.stages["grid.scores"].seconds_by_procedure) == {"paper", "corrected"}


def test_memory_of_the_paper_tier(paper_h100: Projection) -> None:
    mem = paper_h100.memory
    # residual cache: 100 x 300 tokens x (6 x 512 + 12 x 768) x 4 bytes x 2 sites ~ 2.9 GB
    assert 2.5e9 < mem["disk"] < 8e9 and 2.5e9 < mem["host"] < 16e9
    # the exact pairing's fp64 Gram + fp32 block of 32,768 x 32,768 lives on the device
    assert mem["device"] > 12 * 32768**2


def test_cpu_has_no_device_memory_and_targets_are_the_issues() -> None:
    p = project(workload_from_profile(get_profile("paper"), procedures=["corrected"]), builtin_table("cpu"))
    assert p.memory["device"] == 0 and p.total_seconds > 0
    assert TARGET_SECONDS == {"paper": 900.0, "gemma": 2700.0}


def test_a_reseed_redoes_every_stage_but_the_seed_free_shared_ones(paper_h100: Projection) -> None:
    """The gpu tier's reseed check (harness/verdicts/reseed.py): a cell at another seed is another
    cell, so one reseed costs the whole run less the forward passes and the spaces."""
    p = paper_h100
    shared = {name for name in p.stages if name.startswith("shared.")}
    assert shared == {"shared.forward", "shared.spaces"}
    assert p.reseed_seconds == pytest.approx(p.total_seconds - sum(p.stages[s].seconds for s in shared))
    assert 0 < p.reseed_seconds < p.total_seconds and p.to_json()["reseed_seconds_per_seed"] == p.reseed_seconds
