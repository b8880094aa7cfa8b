"""Calibration cells: keyed, cached on disk, run in parallel processes, with a progress line.

A *cell* is one evaluation of one claim's rule on one world: (claim, procedure, world, strength,
seed). Its result (a :class:`~harness.calibration.run.Trial` as a dict) is stored under a key that
hashes everything that can change it -- the claim id, the world's full knobs, the procedure's
fields (seed included), the null sizes, the strength, the seed, and the code version (a hash of the
code a cell can run: the import closure of the records' and trials' module and of the evaluator's
module, :func:`code_version`) -- so an interrupted run continues where it
stopped and a changed rule or world never reads a stale result.

Cells that read the same records (every grid claim on one world draw) are run together as a
*group*, so the records are built once; groups are what the worker processes take.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Repository root (the cache lives in its git-ignored .cache/).
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CELL_CACHE = REPO_ROOT / ".cache" / "calibration"


#: The module whose code builds a calibration cell's records and judges its trial (its import
#: closure is what a cell can run, besides the evaluator's module).
RECORDS_MODULE = "harness.calibration.run"


def code_version(evaluator: Callable[..., Any]) -> str:
    """sha256 (16 hex) of the code a cell of ``evaluator`` can run: the import closure of
    :data:`RECORDS_MODULE` and of the evaluator's source file (e.g. claims/calibration_rules.py, with
    the harness modules it imports), their package data, and the numeric libraries' versions
    (:func:`harness.code_closure.code_version`). An edit outside the closure (the report, the cost
    model, the command line) keeps every cached cell; an edit inside recomputes them."""
    from harness.code_closure import code_version as closure_version

    try:
        src = inspect.getsourcefile(evaluator)
    except TypeError:
        src = None
    if not src or not Path(src).exists():
        raise ValueError(
            f"evaluator {evaluator!r} has no source file: a cell's key needs the code that judges it; "
            "define the evaluator in a module."
        )
    return closure_version((RECORDS_MODULE,), (str(Path(src).resolve()),))


def cell_key(fields: Mapping[str, Any]) -> str:
    """sha256 of the cell's fields as canonical JSON (sorted keys; tuples as lists)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Cell:
    """One (claim, world, strength, seed) evaluation and its full key.

    Attributes:
        claim_id: the claim whose rule runs.
        world: "planted" or the name of a claim-false world.
        changes: knob changes of that world (on top of the plan's world).
        strength: planted strength.
        seed: world seed (also added to the procedure's seed).
        group: the records this cell reads (cells with the same group share one build).
        key: :func:`cell_key` of everything that determines the result.
    """

    claim_id: str
    world: str
    changes: Mapping[str, Any]
    strength: float
    seed: int
    group: Any
    key: str


@dataclass
class CellStore:
    """Cell results on disk: ``<root>/<key[:2]>/<key>.json`` (None: nothing is stored)."""

    root: Path | None
    hits: int = 0
    written: int = 0
    _mem: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, key: str) -> dict[str, Any] | None:
        if key in self._mem:
            return self._mem[key]
        if self.root is None:
            return None
        path = self.root / key[:2] / f"{key}.json"
        if not path.exists():
            return None
        try:
            out: dict[str, Any] = json.loads(path.read_text())
        except json.JSONDecodeError:  # a write cut short: recompute the cell
            return None
        self.hits += 1
        self._mem[key] = out
        return out

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self._mem[key] = dict(value)
        if self.root is None:
            return
        path = self.root / key[:2] / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(value, default=str))
        tmp.replace(path)  # atomic: a killed run never leaves a half-written cell
        self.written += 1


class Progress:
    """ "calibration: 120/600 cells (20%), 30 from cache, 3.4 s per group, ~27 min left" lines."""

    def __init__(self, total: int, cached: int, n_groups: int, emit: Callable[[str], None] | None) -> None:
        self.total, self.done, self.cached, self.n_groups = total, cached, cached, n_groups
        self.groups_done = 0
        self.t0 = time.perf_counter()
        self.emit = emit
        if emit:
            emit(f"calibration: {total} cells, {cached} from cache, {n_groups} record groups to run")

    def step(self, n_cells: int, what: str) -> None:
        self.done += n_cells
        self.groups_done += 1
        if not self.emit:
            return
        el = time.perf_counter() - self.t0
        per = el / self.groups_done
        left = per * (self.n_groups - self.groups_done)
        self.emit(
            f"calibration: {self.done}/{self.total} cells ({100 * self.done / max(self.total, 1):.0f}%), "
            f"{self.cached} from cache, {per:.1f} s per group, ~{left / 60:.1f} min left ({what})"
        )


GroupRunner = Callable[[Any, Sequence[Cell]], list[dict[str, Any]]]

#: The group runner of a parallel run, set before the worker processes fork (closures over the
#: evaluators are not picklable; forked workers inherit them).
_RUNNER: GroupRunner | None = None


def _run_in_worker(group: Any, cells: Sequence[Cell]) -> list[dict[str, Any]]:
    assert _RUNNER is not None, "worker started without a group runner"
    return _RUNNER(group, cells)


def _grouped(cells: Iterable[Cell]) -> dict[Any, list[Cell]]:
    groups: dict[Any, list[Cell]] = {}
    for c in cells:
        groups.setdefault(c.group, []).append(c)
    return groups


def run_cells(
    cells: Sequence[Cell],
    runner: GroupRunner,
    *,
    store: CellStore,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Results of every cell (key -> trial dict): stored ones read back, the others computed
    group by group by ``runner(group, cells) -> [trial dict per cell]`` -- in this process
    (``workers`` 1) or in ``workers`` forked processes -- and stored as each group finishes."""
    global _RUNNER
    if workers < 1:
        raise ValueError(f"workers={workers}: use 1 or more processes.")
    out: dict[str, dict[str, Any]] = {}
    todo = []
    for c in cells:
        hit = store.get(c.key)
        if hit is None:
            todo.append(c)
        else:
            out[c.key] = hit
    groups = _grouped(todo)
    bar = Progress(len(cells), len(cells) - len(todo), len(groups), progress)

    def done(group_cells: Sequence[Cell], results: list[dict[str, Any]]) -> None:
        for c, r in zip(group_cells, results, strict=True):
            store.put(c.key, r)
            out[c.key] = r
        c0 = group_cells[0]
        bar.step(len(group_cells), f"{c0.claim_id} {c0.world} strength={c0.strength} seed={c0.seed}")

    if workers == 1 or len(groups) <= 1:
        for g, cs in groups.items():
            done(cs, runner(g, cs))
        return out
    if "fork" not in multiprocessing.get_all_start_methods():
        raise RuntimeError("--workers > 1 needs the 'fork' start method (Linux, macOS); use --workers 1.")
    _RUNNER = runner
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {pool.submit(_run_in_worker, g, cs): cs for g, cs in groups.items()}
            for f in as_completed(futures):
                done(futures[f], f.result())
    finally:
        _RUNNER = None
    return out
