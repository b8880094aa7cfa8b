"""A computed cell's result with its pre-flight entries, and folding those entries back into a world.

The cell functions themselves live with their experiments (:func:`harness.experiments.grid.compute_cell`,
:func:`harness.experiments.atlas.compute_atlas_cell`) and are handed to an executor, which runs the
same function in the driver (local) or in a worker process (Ray): a cell's result never depends
on where it ran (harness/executor/cell.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.executor.cell import CellResult, CellSpec, World

__all__ = ["cell_result", "merge_preflight"]


def _preflight_of(world: World, which: str, layer: int) -> dict[str, Any] | None:
    name = world.profile.model_name(which)
    return next((p for p in world.preflight if p["model"] == name and p["layer"] == layer), None)


def cell_result(world: World, spec: CellSpec, value: dict[str, Any], n_positions_a: int) -> CellResult:
    """``value`` of ``spec`` computed on ``world`` as a :class:`CellResult`, with the pre-flight
    entries of its A and B spaces (A first)."""
    entries = [_preflight_of(world, w, layer) for w, layer in (("a", spec.layer_a), ("b", spec.layer_b))]
    return CellResult(value, tuple(e for e in entries if e is not None), int(n_positions_a))


def merge_preflight(world: World, results: Iterable[CellResult]) -> None:
    """Add each result's pre-flight entries that ``world`` lacks, in cell order (A, then B): the
    order in which an in-process run builds the spaces, so the report lists them the same way."""
    for result in results:
        for entry in result.preflight:
            if not any(p["model"] == entry["model"] and p["layer"] == entry["layer"] for p in world.preflight):
                world.preflight.append(entry)
