"""The order in which a distributed executor submits cells: largest first, so the longest cells
do not start last and leave the other workers idle at the end (longest-processing-time first).

A cell's size is the cost model's projection of its kernels (:mod:`harness.cost`: the grid cell's
or the semantic category's counted work on the device's throughput table) where the model knows
the profile's shapes and pair counts (the paper's profiles); otherwise its known pair count (a
control cell's top-correlated set, else 0), which keeps the given order among equals. Only the
order depends on it, never a result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.executor.cell import CellSpec

if TYPE_CHECKING:
    from harness.profiles import Profile

log = logging.getLogger(__name__)

__all__ = ["cell_weights", "largest_first"]


def projected_seconds(profile: Profile, cells: Sequence[CellSpec], device: str) -> list[float] | None:
    """Seconds the cost model projects for each cell on ``device`` ("cpu": the built-in CPU table;
    cuda: the H100 datasheet table), or None where it cannot (shapes or pair counts unknown)."""
    from harness.cost.recipes import Ctx, cell_stages, concept_stages
    from harness.cost.device_specs import builtin_table
    from harness.cost.workload import workload_from_profile
    from harness.errors import ConfigError

    try:
        names = tuple(sorted({c.procedure.name for c in cells}))
        wl = workload_from_profile(profile, procedures=names)
        dev = "cpu" if str(device).startswith("cpu") else "cuda"
        table = builtin_table("cpu" if dev == "cpu" else "h100")
        works = {pw.procedure.name: pw for pw in wl.procedures}
        out = []
        for c in cells:
            pw = works[c.procedure.name]
            ctx = Ctx(wl, pw, dev)
            if c.kind == "grid":
                grid = pw.control_grid if c.control else pw.grid
                cw = next(g for g in grid if (g.layer_a, g.layer_b) == (c.layer_a, c.layer_b))
                stages = cell_stages(ctx, cw)
            elif c.kind == "semantic":
                table_work = next(
                    t for t in pw.semantic if (t.layer_a, t.layer_b, t.control) == (c.layer_a, c.layer_b, c.control)
                )
                stages = concept_stages(ctx, next(x for x in table_work.concepts if x.category == c.category))
            else:  # an atlas cell: the cost model has no recipe for it
                return None
            out.append(sum(table.seconds(k) for kernels in stages.values() for k in kernels))
        return out
    except (ConfigError, KeyError, StopIteration, ValueError) as exc:
        log.debug("cell order: no cost-model projection for %s (%s); by pair count", profile.name, exc)
        return None


def cell_weights(profile: Profile, cells: Sequence[CellSpec], device: str) -> list[float]:
    """Each cell's size (module docstring)."""
    seconds = projected_seconds(profile, cells, device)
    if seconds is not None:
        return seconds
    return [float(c.n_top or 0) for c in cells]


def largest_first(profile: Profile, cells: Sequence[CellSpec], device: str) -> list[int]:
    """Indices of ``cells``, largest first (ties keep their given order)."""
    weights = cell_weights(profile, cells, device)
    return sorted(range(len(cells)), key=lambda i: -weights[i])
