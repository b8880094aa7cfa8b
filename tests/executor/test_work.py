"""Computing one cell and folding pre-flight entries back (harness/executor/work.py)."""

from __future__ import annotations

from typing import Any

from harness.executor.cell import CellResult, CellSpec
from harness.executor.work import merge_preflight


def test_a_computed_cell_is_the_grid_cell_with_its_preflight(
    smoke_world: Any, corrected: Any, reference_grid: dict[str, Any], same_cells: Any
) -> None:
    from harness.experiments.grid import compute_cell

    la, lb = reference_grid["layers_a"][0], reference_grid["layers_b"][-1]
    got = compute_cell(smoke_world, CellSpec(kind="grid", procedure=corrected, layer_a=la, layer_b=lb))
    same_cells([got.value], [reference_grid["cells"][-1]], rel=0.0)
    assert got.n_positions_a == reference_grid["n_tokens"]
    names = [smoke_world.profile.model_name(w) for w in ("a", "b")]
    assert [(p["model"], p["layer"]) for p in got.preflight] == [(names[0], la), (names[1], lb)]


def test_preflight_entries_are_merged_in_cell_order_once() -> None:
    from types import SimpleNamespace

    world = SimpleNamespace(preflight=[{"model": "A", "layer": 1, "ok": True}])

    def entry(model: str, layer: int) -> dict[str, Any]:
        return {"model": model, "layer": layer, "ok": True}

    results = [
        CellResult({}, (entry("A", 1), entry("B", 3)), 1),
        CellResult({}, (entry("A", 1), entry("B", 4)), 1),
        CellResult({}, (entry("A", 2), entry("B", 3)), 1),
    ]
    merge_preflight(world, results)  # a stand-in world: only .preflight is read
    assert [(p["model"], p["layer"]) for p in world.preflight] == [("A", 1), ("B", 3), ("B", 4), ("A", 2)]
