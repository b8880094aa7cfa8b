"""Computing one cell on a loaded world, and folding a cell's pre-flight entries back into it.

The same function runs in the driver (the local executor) and in a worker process (Ray), so a
cell's result never depends on where it ran (harness/executor/cell.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from harness.executor.cell import CellResult, CellSpec

if TYPE_CHECKING:
    from harness.experiments.grid import LoadedPair

__all__ = ["compute_cell", "merge_preflight"]


def _preflight_of(world: LoadedPair, which: str, layer: int) -> dict[str, Any] | None:
    name = world.profile.model_name(which)
    return next((p for p in world.preflight if p["model"] == name and p["layer"] == layer), None)


def compute_cell(world: LoadedPair, spec: CellSpec) -> CellResult:
    """Run ``spec`` on ``world`` (:func:`harness.experiments.grid.grid_cell`,
    :func:`harness.experiments.grid.semantic_cell` or :func:`harness.experiments.atlas.atlas_cell`)
    and return its :class:`CellResult`."""
    from harness.experiments.atlas import atlas_cell
    from harness.experiments.grid import grid_cell, semantic_cell

    # the A space first, as the cell itself asks for it (the same LRU order as a run without executor)
    n_positions = int(world.space("a", spec.layer_a, spec.procedure).n_positions)
    if spec.kind == "grid":
        value = grid_cell(world, spec.procedure, spec.layer_a, spec.layer_b, control=spec.control, n_top=spec.n_top)
    elif spec.kind == "atlas":
        value = atlas_cell(world, spec.procedure, spec.layer_a, spec.layer_b, n_bootstrap=spec.n_bootstrap)
    else:
        assert spec.category is not None  # CellSpec.__post_init__
        value = semantic_cell(
            world,
            spec.procedure,
            spec.layer_a,
            spec.layer_b,
            spec.category,
            control=spec.control,
            n_bootstrap=spec.n_bootstrap,
        )
    entries = [_preflight_of(world, w, layer) for w, layer in (("a", spec.layer_a), ("b", spec.layer_b))]
    return CellResult(value, tuple(e for e in entries if e is not None), n_positions)


def merge_preflight(world: LoadedPair, results: Iterable[CellResult]) -> None:
    """Add each result's pre-flight entries that ``world`` lacks, in cell order (A, then B): the
    order in which an in-process run builds the spaces, so the report lists them the same way."""
    for result in results:
        for entry in result.preflight:
            if not any(p["model"] == entry["model"] and p["layer"] == entry["layer"] for p in world.preflight):
                world.preflight.append(entry)
