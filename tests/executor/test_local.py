"""The in-process executor: stored cells are read back, an interrupted run resumes
(harness/executor/local.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import harness.experiments.grid as grid_module
from harness.executor import CellStore, LocalExecutor


def test_an_interrupted_run_resumes_without_recomputing_finished_cells(
    smoke_world: Any,
    corrected: Any,
    reference_grid: dict[str, Any],
    same_cells: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.experiments.grid import run_grid

    layers = {"layers_a": reference_grid["layers_a"], "layers_b": reference_grid["layers_b"]}
    computed: list[str] = []
    real = grid_module.compute_cell

    def interrupted_after_one(world: Any, spec: Any) -> Any:
        if computed:
            raise KeyboardInterrupt  # the driver is stopped during the second cell
        computed.append(spec.label)
        return real(world, spec)

    monkeypatch.setattr(grid_module, "compute_cell", interrupted_after_one)  # what run_grid hands its executor
    with pytest.raises(KeyboardInterrupt):
        run_grid(smoke_world, corrected, executor=LocalExecutor(CellStore(tmp_path)), **layers)
    assert len(list(tmp_path.rglob("*.pkl"))) == 1
    monkeypatch.setattr(grid_module, "compute_cell", real)
    resumed = LocalExecutor(CellStore(tmp_path))
    grid = run_grid(smoke_world, corrected, executor=resumed, **layers)
    assert (resumed.computed, resumed.from_store) == (len(reference_grid["cells"]) - 1, 1)
    same_cells(grid["cells"], reference_grid["cells"], rel=0.0)  # bit for bit: pickled
    assert grid["n_tokens"] == reference_grid["n_tokens"]
    again = LocalExecutor(CellStore(tmp_path))
    run_grid(smoke_world, corrected, executor=again, **layers)
    assert (again.computed, again.from_store) == (0, len(reference_grid["cells"]))


def test_semantic_tables_come_back_from_the_store_unchanged(
    smoke_world: Any, corrected: Any, same_cells: Any, tmp_path: Path
) -> None:
    from harness.experiments.grid import run_semantic

    plain = run_semantic(smoke_world, corrected, 2, 3, control=True)
    first = LocalExecutor(CellStore(tmp_path))
    stored = run_semantic(smoke_world, corrected, 2, 3, control=True, executor=first)
    again = LocalExecutor(CellStore(tmp_path))
    read = run_semantic(smoke_world, corrected, 2, 3, control=True, executor=again)
    assert first.computed == again.from_store == len(plain["cells"]) == 8 and again.computed == 0
    same_cells(stored["cells"], plain["cells"], rel=0.0)
    same_cells(read["cells"], plain["cells"], rel=0.0)


def test_make_executor_checks_its_options_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from harness.errors import ConfigError
    from harness.executor import make_executor

    ex = make_executor("local", cell_cache=tmp_path)
    assert isinstance(ex, LocalExecutor) and ex.store.root == tmp_path
    plain = make_executor("local")
    assert isinstance(plain, LocalExecutor) and plain.store.root is None
    with pytest.raises(ConfigError, match="use one of local, ray"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="needs --executor ray"):
        make_executor("local", ray_address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    with pytest.raises(ConfigError, match=r"distributed\]"):
        make_executor("ray", cell_cache=tmp_path)
