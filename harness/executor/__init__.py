"""Executors of a run's cells (issue 25): the cell as the unit of work, keyed and stored on disk
(:mod:`harness.executor.cell`), computed in this process (:mod:`harness.executor.local`, the
default) or as Ray tasks (:mod:`harness.executor.ray_executor`, imported only when asked for).

An executor takes a loaded world, a list of :class:`CellSpec` and the function that computes one
(the experiment's: the executors import no experiment) and returns one :class:`CellResult` per
cell, in order; the driver (``run_grid``, ``run_semantic``, the claims
session) judges and writes the report as before.
"""

from __future__ import annotations

from pathlib import Path

from harness.executor.cell import CellCompute, CellResult, CellSpec, CellStore, Executor, World, cell_key
from harness.executor.local import LocalExecutor

__all__ = [
    "EXECUTORS",
    "CellCompute",
    "CellResult",
    "CellSpec",
    "CellStore",
    "Executor",
    "LocalExecutor",
    "World",
    "cell_key",
    "make_executor",
]

#: The ``--executor`` choices.
EXECUTORS = ("local", "ray")


def make_executor(
    kind: str = "local", *, cell_cache: Path | None = None, ray_address: str | None = None
) -> LocalExecutor | Executor:
    """The executor ``kind`` ("local" or "ray") storing cells under ``cell_cache`` (None: not stored;
    the Ray executor needs a store its workers can write: give one). ``ray_address``: an existing
    cluster (``auto``, ``ray://host:10001``; None: a local one is started)."""
    from harness.errors import ConfigError

    if kind not in EXECUTORS:
        raise ConfigError(f"--executor {kind!r}: use one of {', '.join(EXECUTORS)}.")
    if ray_address is not None and kind != "ray":
        raise ConfigError(f"--ray-address {ray_address}: it needs --executor ray.")
    store = CellStore(None if cell_cache is None else Path(cell_cache))
    if kind == "local":
        return LocalExecutor(store)
    from harness.executor.ray_executor import RayExecutor, check_ray

    check_ray()
    return RayExecutor(store, address=ray_address)
