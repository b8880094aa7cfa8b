"""Cells as Ray tasks (issue 25): one task per cell, one GPU each where the device is cuda (one
CPU otherwise), submitted largest first (:mod:`harness.executor.order`); results come back to
the driver, which judges and writes the report as an in-process run does.

Faults: a worker killed mid-cell is retried by Ray (``max_retries``); each task writes its cell
to the store atomically before returning, and the driver takes exactly one result per cell, so a
retried or duplicated task is never counted twice. A driver interrupted mid-run resumes from the
stored cells: they are read back, not submitted again.

Workers rebuild the world (models, SAEs, tokens; residuals from the shared activation cache) once
per process and keep it for the next cells of the same world. On several nodes the profile's
local paths, the activation cache and the cell store must be on a shared file system (or the
hub cache on every node).

Test seam: with ``SAE_CLAIMS_FAULT_DIR`` set, a task's first attempt at each cell leaves a
marker file there and kills its worker process (``os._exit``), as a crashed worker would.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.executor.cell import CellCompute, CellResult, CellSpec, CellStore, World, cell_key
from harness.executor.order import largest_first
from harness.executor.work import merge_preflight

if TYPE_CHECKING:
    from harness.profiles import Profile

log = logging.getLogger("harness.experiments.executor")

__all__ = ["FAULT_ENV", "RayExecutor", "WorldRecipe", "check_ray"]

#: Environment variable of the fault-injection test seam (module docstring).
FAULT_ENV = "SAE_CLAIMS_FAULT_DIR"

#: Variables passed on to the workers (hub access, the fixture world, the fault seam, BLAS threads).
FORWARDED_ENV = (
    FAULT_ENV,
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_TOKEN",
    "SAE_FIXTURE_WORLD",
    "SAE_CLAIMS_STAGED_HUB",
    "OPENBLAS_NUM_THREADS",
    "PYTHONPATH",
)


def check_ray() -> None:
    """Raises ConfigError (with the fix) when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray: pip install 'sae-universality-claims[distributed]' (or pip install 'ray>=2.9'); "
            "without it use --executor local."
        ) from None


@dataclass(frozen=True)
class WorldRecipe:
    """What a worker needs to rebuild the driver's world: its class (a LoadedPair, built as
    ``factory(profile, cache_dir=, device=, sites=)``), the profile, the device, the activation
    cache, the residual sites, the torch thread count and the cell store's folder."""

    factory: Callable[..., Any]
    profile: Profile
    device: str
    cache_dir: str | None
    sites: tuple[str, ...] | None
    threads: int
    store_root: str | None


#: Worlds built in this worker process (recipe -> world), reused by its next cells.
_WORKER_WORLDS: dict[str, Any] = {}


def _worker_world(recipe: WorldRecipe) -> Any:
    from harness.threads import pin_threads

    key = repr(recipe)
    if key not in _WORKER_WORLDS:
        pin_threads(recipe.threads)  # the driver's thread count: the same reduction order
        _WORKER_WORLDS.clear()  # one world per worker: free the last one's models first
        _WORKER_WORLDS[key] = recipe.factory(
            recipe.profile,
            cache_dir=None if recipe.cache_dir is None else Path(recipe.cache_dir),
            device=recipe.device,
            sites=recipe.sites,
        )
    return _WORKER_WORLDS[key]


def _fault_point(key: str) -> None:
    """The test seam: kill this worker on the first attempt at cell ``key`` (module docstring)."""
    folder = os.environ.get(FAULT_ENV)
    if not folder:
        return
    marker = Path(folder) / f"{key}.attempt"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        os._exit(17)


def run_cell_task(recipe: WorldRecipe, compute: CellCompute, spec: CellSpec, key: str) -> CellResult:
    """The body of one Ray task: ``compute(world, spec)`` in this worker's world, stored under
    ``key`` (atomically), returned."""
    _fault_point(key)
    result = compute(_worker_world(recipe), spec)
    CellStore(None if recipe.store_root is None else Path(recipe.store_root)).put(key, result)
    return result


class RayExecutor:
    """Runs cells as Ray tasks (module docstring).

    Args:
        store: the cell store (its folder must be reachable by every worker; None root: results
            only come back to the driver).
        address: an existing cluster (``auto``, ``ray://host:10001``); None: start a local one
            (or use the one already initialised in this process).
        max_retries: retries of a task whose worker died.
        device: the workers' torch device (default: the world's).
        init_kwargs: more arguments of ``ray.init`` for a local cluster (e.g. ``num_cpus=2``).
    """

    def __init__(
        self,
        store: CellStore,
        *,
        address: str | None = None,
        max_retries: int = 3,
        device: str | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.address = address
        self.max_retries = max_retries
        self.device = device
        self.init_kwargs = dict(init_kwargs or {})
        self.computed = 0
        self.from_store = 0
        self._key_worlds: dict[int, World] = {}

    def _init(self) -> Any:
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, **self.init_kwargs}
            if self.address is not None:
                kwargs.pop("num_cpus", None)
                kwargs.pop("num_gpus", None)
            ray.init(address=self.address, **kwargs)
        return ray

    def _key_world(self, world: Any) -> World:
        """The world the driver hashes keys on: ``world`` itself on the CPU; for a device world, a
        CPU twin (the driver loads the models and SAEs to hash them, never onto a worker's GPU)."""
        if str(world.device) == "cpu":
            return world
        twin = self._key_worlds.get(id(world))
        if twin is None:
            twin = type(world)(world.profile, cache_dir=world.cache_dir, device="cpu", sites=world.sites)
            self._key_worlds[id(world)] = twin
        return twin

    def run(
        self, world: Any, cells: Sequence[CellSpec], *, compute: CellCompute, what: str = "cells"
    ) -> list[CellResult]:
        """The result of every cell of ``cells``, in their order (stored ones read back, the others
        run as Ray tasks, largest first)."""
        import torch

        t0 = time.perf_counter()
        device = self.device or str(world.device)
        threads = torch.get_num_threads()
        key_world = self._key_world(world)
        keys = [cell_key(key_world, c, threads=threads, device=device) for c in cells]
        results: list[CellResult | None] = [self.store.get(k) for k in keys]
        self.from_store += sum(r is not None for r in results)
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            ray = self._init()
            on_gpu = device.startswith("cuda")
            env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}  # as the driver sees them now
            task = ray.remote(run_cell_task).options(
                num_gpus=1 if on_gpu else 0,
                num_cpus=1,
                max_retries=self.max_retries,
                retry_exceptions=False,
                runtime_env={"env_vars": env} if env else None,
            )
            recipe = WorldRecipe(
                factory=type(world),
                profile=world.profile,
                device="cuda" if on_gpu else device,  # Ray gives each task its own visible GPU
                cache_dir=None if world.cache_dir is None else str(Path(world.cache_dir).absolute()),
                sites=world.sites,
                threads=threads,
                store_root=None if self.store.root is None else str(Path(self.store.root).absolute()),
            )
            recipe_ref = ray.put(recipe)
            order = largest_first(world.profile, [cells[i] for i in todo], device)
            pending = {task.remote(recipe_ref, compute, cells[todo[j]], keys[todo[j]]): todo[j] for j in order}
            log.info("%s: %d cells as Ray tasks (%d from the store)", what, len(pending), len(cells) - len(pending))
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    result = ray.get(ref)
                    if self.store.root is not None and not self.store.path(keys[i]).exists():
                        # the worker's file system is not the driver's (several nodes, no shared disk)
                        self.store.put(keys[i], result)
                    results[i] = result
                    self.computed += 1
                    log.info(
                        "%s: %s done (%d left), %.0f s so far",
                        what,
                        cells[i].label,
                        len(pending),
                        time.perf_counter() - t0,
                    )
        final = [r for r in results if r is not None]
        assert len(final) == len(cells)
        merge_preflight(world, final)
        return final
