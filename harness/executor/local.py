"""The in-process executor (the default): cells one after another in this process, in the
order given (a grid's A-outer / B-inner walk, which the LoadedPair's space LRU is sized for),
each read from the cell store when stored there and stored as soon as it is computed."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.executor.cell import CellCompute, CellResult, CellSpec, CellStore, cell_key
from harness.executor.work import merge_preflight

log = logging.getLogger("harness.experiments.executor")

__all__ = ["LocalExecutor"]


@dataclass
class LocalExecutor:
    """Runs cells in this process.

    Attributes:
        store: where cell results are kept (default: nowhere; every cell is computed).
        computed: cells computed by this executor (not read from the store).
        from_store: cells read back from the store.
    """

    store: CellStore = field(default_factory=lambda: CellStore(None))
    computed: int = 0
    from_store: int = 0

    def run(
        self, world: Any, cells: Sequence[CellSpec], *, compute: CellCompute, what: str = "cells"
    ) -> list[CellResult]:
        """The result of every cell of ``cells`` (``compute(world, cell)`` unless stored), in their order."""
        t0 = time.perf_counter()
        out: list[CellResult] = []
        for i, spec in enumerate(cells):
            key = cell_key(world, spec) if self.store.root is not None else None
            hit = None if key is None else self.store.get(key)
            if hit is not None:
                self.from_store += 1
                merge_preflight(world, [hit])
                out.append(hit)
                continue
            if i == 0 or spec.layer_a != cells[i - 1].layer_a:  # progress: one line per grid row
                log.info(
                    "%s: %s (%d of %d cells), %.0f s so far",
                    what,
                    spec.label,
                    i + 1,
                    len(cells),
                    time.perf_counter() - t0,
                )
            result = compute(world, spec)
            self.computed += 1
            if key is not None:
                self.store.put(key, result)
            out.append(result)
        return out
