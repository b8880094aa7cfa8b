"""Seed-pair sets (harness/seeds/experiment.py): the records P1-P3 read and their controls' inputs
(B rotated at random; pairs of one width dealt into width labels; entries cached without codes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from harness.seeds.experiment import (
    SeedSetup,
    overlap_set,
    overlap_sweep,
    rotated,
    shuffled_label_sweep,
    trained_pair,
)


def item(seed: int, n: int = 64, d: int = 32, *, rows: np.ndarray | None = None) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    dec = rng.standard_normal((n, d)) if rows is None else rows
    dec = dec / np.linalg.norm(dec, axis=1, keepdims=True)
    enc = dec + 0.1 * rng.standard_normal((n, d))
    return {"enc": enc, "dec": dec, "l0": 8.0, "ev": 0.9, "dead": 0, "seed": seed, "codes": None}


def test_rotation_keeps_the_geometry_and_removes_the_shared_directions() -> None:
    a = item(0)
    r = rotated(a, seed=1)
    np.testing.assert_allclose(np.linalg.norm(r["dec"], axis=1), np.linalg.norm(a["dec"], axis=1), rtol=1e-12)
    np.testing.assert_allclose(r["dec"] @ r["dec"].T, a["dec"] @ a["dec"].T, atol=1e-12)
    np.testing.assert_allclose(r["enc"] @ r["dec"].T, a["enc"] @ a["dec"].T, atol=1e-12)
    assert r["dec"].dtype == np.float64 and r is not a
    same = overlap_set({}, [(a, {**a, "seed": 1})])["pairs"][0]["fraction_shared"]
    unrelated = overlap_set({}, [(a, {**rotated(a, seed=1), "seed": 1})])["pairs"][0]["fraction_shared"]
    assert same == 1.0 and unrelated < 0.05
    np.testing.assert_array_equal(rotated(a, seed=1)["dec"], r["dec"])  # seeded


def test_overlap_set_records_each_pair_with_its_seeds() -> None:
    rec = overlap_set({"width": 64}, [(item(0), item(1)), (item(2), item(3))])
    assert rec["kind"] == "seed_overlaps" and rec["condition"] == {"width": 64}
    assert [p["seeds"] for p in rec["pairs"]] == [[0, 1], [2, 3]]
    assert all("fraction_by_criterion" in p and p["n_latents"] == 64 for p in rec["pairs"])


def test_shuffled_label_sweep_deals_every_pair_once_into_equal_groups() -> None:
    pool = {
        "kind": "seed_overlaps",
        "condition": {"width": 256},
        "pairs": [{"seeds": [2 * i, 2 * i + 1]} for i in range(9)],
    }
    sw = shuffled_label_sweep(pool, "width", [128, 256, 512], seed=3)
    assert sw["kind"] == "seed_overlap_sweep" and sw["labels_shuffled"] and sw["levels"] == [128, 256, 512]
    dealt = [tuple(p["seeds"]) for g in sw["groups"] for p in g["pairs"]]
    assert sorted(dealt) == sorted(tuple(p["seeds"]) for p in pool["pairs"]) and len(set(dealt)) == 9
    assert all(len(g["pairs"]) == 3 and g["condition"]["label_shuffled"] for g in sw["groups"])
    assert dealt != [tuple(p["seeds"]) for p in pool["pairs"]]  # dealt at random, not in seed order
    assert shuffled_label_sweep(pool, "width", [128, 256, 512], seed=3) == sw
    with pytest.raises(ValueError, match="levels"):
        overlap_sweep("width", [1, 2], [pool])


def test_entries_without_codes_have_their_own_cache_key(tmp_path: Path) -> None:
    x = torch.randn(2048, 16, generator=torch.Generator().manual_seed(0))
    setup = SeedSetup(
        name="t",
        train=x,
        eval=x[:256],
        tokens=np.zeros((4, 64), dtype=np.int64),
        sample_index=np.repeat(np.arange(4), 64),
        position_index=np.tile(np.arange(64), 4),
        vocab=["a"],
        junk_tokens=(),
        key="test-acts",
    )
    kw: dict[str, Any] = {"architecture": "topk", "d_sae": 32, "k": 4, "n_steps": 5, "cache_dir": tmp_path}
    (lean,) = trained_pair(setup, seeds=(3,), keep_codes=False, **kw)
    assert lean["codes"] is None and len(list(tmp_path.glob("*.pt"))) == 1
    (full,) = trained_pair(setup, seeds=(3,), **kw)
    assert full["codes"] is not None and len(list(tmp_path.glob("*.pt"))) == 2
    np.testing.assert_array_equal(full["dec"], lean["dec"])  # same seed, same training
