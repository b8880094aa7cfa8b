"""The cell, the unit of work of a run: its spec, its key, its result and the on-disk store.

A *cell* is one (procedure, experiment kind, layer pair or semantic category, control) of a
profile's run: one grid cell (:func:`harness.experiments.grid.grid_cell`, Lan et al. Sec. 4.2) or one
category of a semantic table (:func:`harness.experiments.grid.semantic_cell`, Sec. 4.3). Its result
is stored under a key that hashes everything the result depends on (:func:`cell_key`): the
identity of both feature spaces (the full weights of the model as the SAE reads it, the SAE's
full weights and configuration, the layer), the tokens' content key, the vocabulary, the
procedure's fields (seed included), the profile's null sizes, the cell's own fields, the device
kind, the torch thread count, the numeric libraries' versions and the code version (a hash of the
code a cell can run: the import closure of :data:`CODE_ENTRIES`, :func:`harness.code_closure.code_version`). An interrupted run then
continues where it stopped, and a changed input recomputes exactly the cells it touches.

Results are pickled (every float, NaN and integer type comes back bit for bit) and written
atomically (a temporary file renamed into place), so a worker killed mid-write leaves no cell,
and a cell computed twice (a retried task) is stored once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import uuid
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from harness.config import Procedure
from harness.profiles import Profile

__all__ = [
    "CellCompute",
    "CellKind",
    "CellResult",
    "CellSpec",
    "CellStore",
    "Executor",
    "World",
    "cell_key",
    "space_identity",
]

CellKind = Literal["grid", "semantic", "atlas"]

#: Bumped when the stored layout of a :class:`CellResult` changes (old files are then never read).
CELL_STORE_VERSION = 1

#: Libraries whose versions enter every key (their kernels make the numbers).
KEYED_LIBRARIES = ("torch", "numpy", "scipy", "transformer-lens", "sae-lens")


@dataclass(frozen=True)
class CellSpec:
    """One cell of a profile's run (module docstring).

    Attributes:
        kind: "grid" (a layer-grid cell), "semantic" (one category of a semantic table) or
            "atlas" (the atlas's 1-1 SVCCA cell, :func:`harness.experiments.atlas.atlas_cell`).
        procedure: the method choices it runs under.
        layer_a, layer_b: the layer pair.
        control: B's token positions shuffled (the negative control).
        n_top: grid control only: the size of the cell's top-correlated set (the real cell's
            1-1 pair count; None: no such set).
        category: semantic only: the Table 4 category.
        n_bootstrap: semantic: bootstrap resamples of the scores' standard errors; atlas: of the
            excess interval.
    """

    kind: CellKind
    procedure: Procedure
    layer_a: int
    layer_b: int
    control: bool = False
    n_top: int | None = None
    category: str | None = None
    n_bootstrap: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("grid", "semantic", "atlas"):
            raise ValueError(f"cell kind {self.kind!r}: use 'grid', 'semantic' or 'atlas'.")
        if (self.kind == "semantic") != (self.category is not None):
            raise ValueError("a semantic cell names its category; grid and atlas cells name none.")

    @property
    def label(self) -> str:
        """``grid paper A2 x B3 control`` / ``semantic corrected A2 x B3 Time``."""
        what = f"{self.kind} {self.procedure.name} A{self.layer_a} x B{self.layer_b}"
        return f"{what}{' ' + self.category if self.category else ''}{' control' if self.control else ''}"

    def fields(self) -> dict[str, Any]:
        """The spec as plain data (the procedure as all its fields)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "procedure"}
        out["procedure"] = dataclasses.asdict(self.procedure)
        return out


class CellResult(NamedTuple):
    """What a cell computed.

    Attributes:
        value: the grid cell's fields (:func:`harness.experiments.grid.grid_cell`) or the
            category's record (:func:`harness.experiments.grid.semantic_cell`).
        preflight: the pre-flight entries of the A and the B space (model, layer, checks), A first,
            so a run whose cells came from the store still reports them.
        n_positions_a: token positions of the A space (the grid's ``n_tokens``).
    """

    value: dict[str, Any]
    preflight: tuple[dict[str, Any], ...]
    n_positions_a: int


class World(Protocol):
    """What an executor and a cell read of a loaded world (:class:`harness.experiments.grid.LoadedPair`;
    the executors never import the experiments, which import them)."""

    profile: Profile
    device: str
    preflight: list[dict[str, Any]]

    @property
    def tokens(self) -> Any: ...

    @property
    def vocab(self) -> list[str]: ...

    def junk_tokens(self, procedure: Procedure) -> tuple[str, ...]: ...

    def model_for(self, which: str, sae: Any) -> Any: ...


#: Computes one cell on a world: a module-level function (Ray pickles it by reference), e.g.
#: :func:`harness.experiments.grid.compute_cell`, :func:`harness.experiments.atlas.compute_atlas_cell`.
CellCompute = Callable[[Any, "CellSpec"], "CellResult"]


class Executor(Protocol):
    """Runs cells on a world with ``compute``: one result per cell, in the cells' order."""

    def run(
        self, world: Any, cells: Sequence[CellSpec], *, compute: CellCompute, what: str = ...
    ) -> list[CellResult]: ...


def _versions() -> dict[str, str]:
    out = {}
    for name in KEYED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def space_identity(world: World, which: str, layer: int) -> dict[str, Any]:
    """What a feature space of model ``which`` at ``layer`` is made of: the fingerprint of the
    model as its SAE asks for it (weight processing applied; every weight byte,
    :func:`harness.load.models.model_fingerprint`), the SAE's fingerprint (every weight byte and
    its configuration), the model's label (it names the space and so seeds its draws) and the layer.
    Remembered on ``world`` (loading an SAE and hashing weights once per space)."""
    from harness.load.models import model_fingerprint
    from harness.load.saes import load_sae

    memo: dict[tuple[str, int], dict[str, Any]] = world.__dict__.setdefault("_cell_identities", {})
    if (which, layer) not in memo:
        sae = load_sae(world.profile.sae_spec(which, layer), device="cpu")
        model = world.model_for(which, sae)
        memo[(which, layer)] = {
            "model": model_fingerprint(model),
            "model_label": world.profile.model_name(which),
            "sae": sae.fingerprint(),
            "layer": int(layer),
        }
    return memo[(which, layer)]


def _world_identity(world: World) -> dict[str, Any]:
    """Tokens, vocabulary and profile fields every cell of ``world`` reads (remembered on it)."""
    memo: dict[str, Any] | None = world.__dict__.get("_cell_world_identity")
    if memo is None:
        prof = world.profile
        memo = {
            "tokens": world.tokens.key,
            "vocab": hashlib.sha256("\x00".join(world.vocab).encode()).hexdigest()[:16],
            "batch_size": prof.batch_size,
            "activation_site": prof.activation_site,
            "size_matched_draws": prof.size_matched_draws,
            "placebo_filter_runs": prof.placebo_filter_runs,
            "random_partner_sets": prof.random_partner_sets,
        }
        world.__dict__["_cell_world_identity"] = memo
    return memo


#: The modules whose cell computations a store holds (grid and semantic cells, atlas cells): the
#: code key is their import closure, so an edit elsewhere (the report, the cost model) keeps the cells.
CODE_ENTRIES = ("harness.experiments.grid", "harness.experiments.atlas")


def cell_key(world: World, spec: CellSpec, *, threads: int | None = None, device: str | None = None) -> str:
    """sha256 (32 hex) over everything ``spec``'s result depends on on ``world`` (module
    docstring). ``threads``: the torch thread count the cell runs with (default: this process's);
    ``device``: the device it runs on (default: the world's; only its kind is keyed)."""
    import torch

    from harness.code_closure import code_version

    proc = spec.procedure
    prof = world.profile
    fields = {
        "store": CELL_STORE_VERSION,
        "code": code_version(CODE_ENTRIES),
        "versions": _versions(),
        "device": str(device or world.device).split(":")[0],
        "threads": int(threads if threads is not None else torch.get_num_threads()),
        "cell": spec.fields(),
        "a": space_identity(world, "a", spec.layer_a),
        "b": space_identity(world, "b", spec.layer_b),
        "world": _world_identity(world),
        "junk": list(world.junk_tokens(proc)),
        "nulls": {
            "grid": prof.n_permutations(proc),
            "paper_grid": prof.paper_permutations(proc),
            "semantic": prof.n_permutations_semantic(proc),
            "random_subsets": prof.n_random_subsets(proc),
        },
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


@dataclass
class CellStore:
    """Cell results on disk: ``<root>/<key[:2]>/<key>.pkl`` (``root`` None: nothing is stored).

    Attributes:
        hits: cells read back from disk.
        written: cells written.
    """

    root: Path | None
    hits: int = 0
    written: int = 0

    def __post_init__(self) -> None:
        if self.root is not None:
            self.root = Path(self.root)

    def path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.pkl"

    def get(self, key: str) -> CellResult | None:
        """The stored result of ``key``, or None (none stored, or a damaged file: recompute)."""
        if self.root is None:
            return None
        path = self.path(key)
        try:
            with path.open("rb") as fh:
                version, value, preflight, n_positions = pickle.load(fh)
        except FileNotFoundError:
            return None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
            return None
        if version != CELL_STORE_VERSION:
            return None
        self.hits += 1
        return CellResult(value, tuple(preflight), int(n_positions))

    def put(self, key: str, result: CellResult) -> None:
        """Store ``result`` under ``key`` atomically (temporary file renamed into place)."""
        if self.root is None:
            return
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        with tmp.open("wb") as fh:
            pickle.dump(
                (CELL_STORE_VERSION, result.value, list(result.preflight), result.n_positions_a),
                fh,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        os.replace(tmp, path)  # atomic: readers see the whole cell or none
        self.written += 1
