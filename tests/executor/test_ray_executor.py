"""Cells as Ray tasks on a local 2-CPU cluster (harness/executor/ray_executor.py): the same
results as the in-process run, a killed worker's cell retried with nothing counted twice, a
stored cell not submitted again. Skipped when Ray is not installed (pip install .[distributed])."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from harness.executor import CellStore  # noqa: E402  (after the skip: Ray installed)
from harness.executor.ray_executor import FAULT_ENV, RayExecutor  # noqa: E402


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A local cluster of 2 CPUs (about 5 s to start), shared by this module's tests."""
    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _grid(world: Any, procedure: Any, reference: dict[str, Any], executor: Any) -> dict[str, Any]:
    from harness.experiments.grid import run_grid

    return run_grid(world, procedure, layers_a=reference["layers_a"], layers_b=reference["layers_b"], executor=executor)


def test_ray_tasks_give_the_in_process_results_and_skip_stored_cells(
    ray_cluster: None,
    smoke_world: Any,
    corrected: Any,
    reference_grid: dict[str, Any],
    same_cells: Any,
    tmp_path: Path,
) -> None:
    from harness.experiments.grid import LoadedPair

    world = LoadedPair(smoke_world.profile, cache_dir=smoke_world.cache_dir)  # a fresh driver world
    ex = RayExecutor(CellStore(tmp_path))
    grid = _grid(world, corrected, reference_grid, ex)
    n = len(reference_grid["cells"])
    assert (ex.computed, ex.from_store) == (n, 0)
    same_cells(grid["cells"], reference_grid["cells"])  # counts and k/N exactly, floats within 1e-9
    assert grid["n_tokens"] == reference_grid["n_tokens"]
    assert world.preflight == smoke_world.preflight[: len(world.preflight)]  # same entries, same order
    # the workers wrote the cells: a rerun submits none; one cell removed -> only it is submitted
    files = sorted(tmp_path.rglob("*.pkl"))
    assert len(files) == n
    files[0].unlink()
    again = RayExecutor(CellStore(tmp_path))
    same_cells(_grid(world, corrected, reference_grid, again)["cells"], reference_grid["cells"])
    assert (again.computed, again.from_store) == (1, n - 1)


def test_a_killed_worker_is_retried_and_nothing_is_counted_twice(
    ray_cluster: None,
    smoke_world: Any,
    corrected: Any,
    reference_grid: dict[str, Any],
    same_cells: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    faults = tmp_path / "faults"
    monkeypatch.setenv(FAULT_ENV, str(faults))  # each cell's first attempt kills its worker (os._exit)
    ex = RayExecutor(CellStore(tmp_path / "cells"), max_retries=2)
    grid = _grid(smoke_world, corrected, reference_grid, ex)
    n = len(reference_grid["cells"])
    assert len(list(faults.glob("*.attempt"))) == n  # every cell's first worker died
    assert ex.computed == n and len(list((tmp_path / "cells").rglob("*.pkl"))) == n
    same_cells(grid["cells"], reference_grid["cells"])


def test_a_cell_whose_worker_dies_every_time_fails_the_run(
    ray_cluster: None,
    smoke_world: Any,
    corrected: Any,
    reference_grid: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(FAULT_ENV, str(tmp_path / "faults"))
    with pytest.raises(ray.exceptions.WorkerCrashedError):  # no retries left: an error, never a result
        _grid(smoke_world, corrected, reference_grid, RayExecutor(CellStore(tmp_path / "cells"), max_retries=0))
    assert not list((tmp_path / "cells").rglob("*.pkl"))


def test_the_atlas_runs_its_cells_as_ray_tasks(
    ray_cluster: None, smoke_world: Any, corrected: Any, reference_grid: dict[str, Any], same_cells: Any, tmp_path: Path
) -> None:
    import dataclasses

    from harness.executor import LocalExecutor
    from harness.experiments.atlas import run_atlas_pair
    from harness.experiments.grid import LoadedPair

    prof = dataclasses.replace(
        smoke_world.profile, layers_a=tuple(reference_grid["layers_a"]), layers_b=tuple(reference_grid["layers_b"])
    )
    world = LoadedPair(prof, cache_dir=smoke_world.cache_dir)
    ex = RayExecutor(CellStore(tmp_path))
    on_ray = run_atlas_pair(world, corrected, n_bootstrap=20, executor=ex)
    here = run_atlas_pair(world, corrected, n_bootstrap=20, executor=LocalExecutor())
    assert ex.computed == len(here["cells"]) == len(reference_grid["cells"])
    same_cells(on_ray["cells"], here["cells"])
    assert on_ray["best"] == here["best"]
    # the atlas cell's 1-1 SVCCA is the grid cell's (the same pairs and null draws)
    for atlas, grid in zip(here["cells"], reference_grid["cells"], strict=True):
        assert (atlas["n_pairs"], atlas["svcca"], atlas["svcca_p_paper"]) == (
            grid["n_pairs"],
            grid["svcca"],
            grid["svcca_p_paper"],
        )
