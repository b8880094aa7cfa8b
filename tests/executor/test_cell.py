"""Cell specs, keys and the on-disk store (harness/executor/cell.py)."""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.executor.cell import CellResult, CellSpec, CellStore, cell_key


def _spec(proc: Any, la: int = 2, lb: int = 3, **kw: Any) -> CellSpec:
    return CellSpec(kind="grid", procedure=proc, layer_a=la, layer_b=lb, **kw)


def test_a_cell_names_its_kind_and_category(corrected: Any) -> None:
    with pytest.raises(ValueError, match="kind"):
        CellSpec(kind="other", procedure=corrected, layer_a=0, layer_b=0)  # the bad input under test
    with pytest.raises(ValueError, match="category"):
        CellSpec(kind="semantic", procedure=corrected, layer_a=0, layer_b=0)
    with pytest.raises(ValueError, match="category"):
        CellSpec(kind="grid", procedure=corrected, layer_a=0, layer_b=0, category="Time")
    assert _spec(corrected, control=True).label == "grid corrected A2 x B3 control"


def test_the_key_is_stable_and_changes_with_every_input(smoke_world: Any, corrected: Any) -> None:
    from harness.experiments.grid import LoadedPair

    base = cell_key(smoke_world, _spec(corrected))
    assert base == cell_key(smoke_world, _spec(corrected))
    # a second world of the same profile (models and SAEs loaded again) gives the same key
    assert base == cell_key(LoadedPair(smoke_world.profile, cache_dir=smoke_world.cache_dir), _spec(corrected))
    changed = {
        "seed": cell_key(smoke_world, _spec(dataclasses.replace(corrected, seed=corrected.seed + 1))),
        "procedure field": cell_key(smoke_world, _spec(dataclasses.replace(corrected, svcca_keep=0.9))),
        "layer": cell_key(smoke_world, _spec(corrected, lb=4)),
        "control": cell_key(smoke_world, _spec(corrected, control=True)),
        "matched set": cell_key(smoke_world, _spec(corrected, control=True, n_top=7)),
        "threads": cell_key(smoke_world, _spec(corrected), threads=2),
        "device": cell_key(smoke_world, _spec(corrected), device="cuda:0"),
        "null size": cell_key(LoadedPair(dataclasses.replace(smoke_world.profile, permutations=49)), _spec(corrected)),
    }
    assert all(k != base for k in changed.values()), [n for n, k in changed.items() if k == base]
    assert len(set(changed.values())) == len(changed)


def test_a_changed_sae_changes_exactly_the_cells_that_read_it(smoke_world: Any, corrected: Any) -> None:
    from harness.experiments.grid import LoadedPair

    cells = [_spec(corrected, la, lb) for la in (1, 2) for lb in (3, 4)]
    before = [cell_key(smoke_world, c) for c in cells]
    edited = LoadedPair(smoke_world.profile, cache_dir=smoke_world.cache_dir)
    [cell_key(edited, c) for c in cells]  # fill its identities, then change B layer 4's SAE weights' digest
    vars(edited)["_cell_identities"][("b", 4)] = {**vars(edited)["_cell_identities"][("b", 4)], "sae": "edited"}
    after = [cell_key(edited, c) for c in cells]
    assert [b != a for b, a in zip(before, after, strict=True)] == [c.layer_b == 4 for c in cells]


def test_the_store_gives_back_exactly_what_was_put(tmp_path: Path) -> None:
    store = CellStore(tmp_path)
    value = {"x": 0.1 + 0.2, "nan": math.nan, "n": np.int64(7), "k_over_n": "3/99", "arr": np.arange(3.0)}
    result = CellResult(value, ({"model": "m", "layer": 1},), 11110)
    assert store.get("ab" * 16) is None
    store.put("ab" * 16, result)
    got = CellStore(tmp_path).get("ab" * 16)
    assert got is not None
    assert got.value["x"] == value["x"] and math.isnan(got.value["nan"])
    assert type(got.value["n"]) is np.int64 and got.value["k_over_n"] == "3/99"
    assert np.array_equal(got.value["arr"], value["arr"])
    assert got.preflight == result.preflight and got.n_positions_a == 11110
    assert [p.name for p in tmp_path.rglob("*")] == ["ab", "ab" * 16 + ".pkl"]  # no temporary file left
    assert store.written == 1


def test_a_damaged_or_foreign_cell_file_is_recomputed(tmp_path: Path) -> None:
    store = CellStore(tmp_path)
    store.put("cd" * 16, CellResult({"x": 1.0}, (), 1))
    path = store.path("cd" * 16)
    path.write_bytes(path.read_bytes()[:10])  # a write cut short
    assert store.get("cd" * 16) is None
    path.write_bytes(pickle.dumps((999, {"x": 1.0}, [], 1)))  # another store layout
    assert store.get("cd" * 16) is None
    assert CellStore(None).get("cd" * 16) is None
