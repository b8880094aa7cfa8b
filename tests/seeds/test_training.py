"""Tests of harness.seeds.training: seed-only SAE training on a fixed activation tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sae_lens import TopKSAE, TopKSAEConfig

from harness.errors import ConfigError, DegenerateInputError, ShapeError
from harness.seeds.overlap import match_rows, seed_overlap
from harness.seeds.training import (
    SyntheticActivations,
    encoder_decoder_rows,
    evaluate_sae,
    match_l0,
    sparse_dictionary_activations,
    train_seed_sae,
)


@pytest.fixture(scope="module")
def world() -> SyntheticActivations:
    """256 ground-truth unit directions in d_in 64, ~3 active per token."""
    return sparse_dictionary_activations(20_000, d_in=64, n_features=256, mean_active=3.0, seed=0)


def test_synthetic_activations_are_deterministic(world: SyntheticActivations) -> None:
    again = sparse_dictionary_activations(20_000, d_in=64, n_features=256, mean_active=3.0, seed=0)
    assert torch.equal(world.activations, again.activations)
    other = sparse_dictionary_activations(20_000, d_in=64, n_features=256, mean_active=3.0, seed=1)
    assert not torch.equal(world.activations, other.activations)
    assert world.activations.shape == (20_000, 64) and world.activations.dtype == torch.float32
    torch.testing.assert_close(world.dictionary.norm(dim=1), torch.ones(256))
    assert world.mean_active == pytest.approx(3.0, rel=0.05)


def small(world: SyntheticActivations, seed: int, **kw: object) -> object:
    opts: dict[str, object] = dict(architecture="topk", d_sae=128, k=4, n_steps=30, batch_size=256, lr=3e-3)
    opts.update(kw)
    return train_seed_sae(world.activations[:4096], seed=seed, **opts)


def test_same_seed_same_weights_and_global_rng_untouched(world: SyntheticActivations) -> None:
    before = torch.random.get_rng_state()
    a, b = small(world, 7), small(world, 7)
    assert torch.equal(torch.random.get_rng_state(), before)
    for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
        assert torch.equal(getattr(a.sae, name), getattr(b.sae, name)), name
    assert a.metrics == b.metrics


@pytest.mark.parametrize("architecture", ["topk", "relu_l1"])
def test_different_seeds_different_weights(world: SyntheticActivations, architecture: str) -> None:
    kw: dict[str, object] = {"architecture": architecture}
    if architecture == "relu_l1":
        kw.update(k=None, l1_coefficient=0.5)
    a, b = small(world, 0, **kw), small(world, 1, **kw)
    diff = (a.sae.W_dec - b.sae.W_dec).abs().max()
    assert diff > 1e-3
    assert a.architecture == architecture and a.seed == 0 and b.seed == 1


def test_topk_learns_the_dictionary(world: SyntheticActivations) -> None:
    train, held_out = world.activations[:18_000], world.activations[18_000:]
    trained = train_seed_sae(
        train,
        architecture="topk",
        d_sae=512,
        k=8,
        seed=0,
        n_steps=500,
        batch_size=512,
        lr=3e-3,
        eval_activations=held_out,
    )
    m = trained.metrics
    assert m.n_eval_tokens == 2_000  # metrics on held-out tokens of the same world
    assert m.explained_variance > 0.85, m
    assert m.l0 <= 8.0 + 1e-9 and m.l0 > 7.0
    assert m.dead_fraction < 0.1
    assert evaluate_sae(trained.sae, train).explained_variance > 0.85
    enc, dec = trained.rows()
    assert enc.shape == dec.shape == (512, 64) and enc.dtype == np.float64
    # Most ground-truth directions have a decoder row within cosine 0.9.
    gt = match_rows(world.dictionary.numpy(), dec)
    assert np.mean(gt.cos > 0.9) > 0.9


def test_match_l0_reaches_target(world: SyntheticActivations) -> None:
    res = match_l0(
        world.activations[:8192], target_l0=6.0, d_sae=256, seed=0, rel_tol=0.15, n_steps=150, batch_size=256, lr=3e-3
    )
    assert res.within_tolerance, res.history
    assert abs(res.l0 - 6.0) <= 0.15 * 6.0
    assert res.trained.architecture == "relu_l1" and res.trained.l1_coefficient == res.l1_coefficient
    assert res.trained.metrics.l0 == res.l0
    # L0 falls as the L1 coefficient grows (the premise of the search).
    by_l1 = sorted(res.history)
    l0s = [l0 for _, l0 in by_l1]
    assert all(x >= y for x, y in zip(l0s, l0s[1:], strict=False)), by_l1
    assert len(res.history) >= 2


def test_encoder_decoder_rows_any_sae() -> None:
    torch.manual_seed(0)
    sae = TopKSAE(TopKSAEConfig(d_in=8, d_sae=16, k=2))
    enc, dec = encoder_decoder_rows(sae)
    assert enc.shape == dec.shape == (16, 8)
    np.testing.assert_array_equal(enc, sae.W_enc.detach().T.double().numpy())
    np.testing.assert_array_equal(dec, sae.W_dec.detach().double().numpy())
    r = seed_overlap(enc, dec, enc, dec)
    assert r.fraction_shared == 1.0


def test_bad_training_inputs(world: SyntheticActivations) -> None:
    x = world.activations[:1024]
    with pytest.raises(ConfigError, match="needs k"):
        train_seed_sae(x, architecture="topk", d_sae=32, seed=0, n_steps=1)
    with pytest.raises(ConfigError, match="l1_coefficient"):
        train_seed_sae(x, architecture="relu_l1", d_sae=32, seed=0, n_steps=1)
    with pytest.raises(ConfigError, match="architecture"):
        train_seed_sae(x, architecture="gated", d_sae=32, seed=0, n_steps=1)
    with pytest.raises(ConfigError, match="not both"):
        train_seed_sae(x, architecture="topk", d_sae=32, k=2, seed=0, n_steps=1, epochs=1)
    with pytest.raises(ConfigError, match="batch_size"):
        train_seed_sae(x, architecture="topk", d_sae=32, k=2, seed=0, batch_size=4096)
    with pytest.raises(ShapeError, match="2-D"):
        train_seed_sae(x[0], architecture="topk", d_sae=32, k=2, seed=0)
    with pytest.raises(ShapeError, match="torch.Tensor"):
        train_seed_sae(x.numpy(), architecture="topk", d_sae=32, k=2, seed=0)
    bad = x.clone()
    bad[5, 3] = float("nan")
    with pytest.raises(DegenerateInputError, match="NaN"):
        train_seed_sae(bad, architecture="topk", d_sae=32, k=2, seed=0)
    with pytest.raises(ConfigError, match="target_l0"):
        match_l0(x, target_l0=0, d_sae=32, seed=0)
    with pytest.raises(ConfigError, match="sets 'k'"):
        match_l0(x, target_l0=4, d_sae=32, seed=0, k=4)


def test_data_order_is_seeded_and_covers_each_epoch() -> None:
    from harness.seeds.training import _batches, _derived_seeds

    x = torch.arange(10, dtype=torch.float32)[:, None]
    take = lambda seed: torch.cat([next(it) for it in [_batches(x, 5, seed)] for _ in range(4)])  # noqa: E731
    a, b, c = take(1), take(1), take(2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    for epoch in (a[:10], a[10:]):  # two epochs, each a permutation of all rows
        assert sorted(epoch.ravel().tolist()) == list(range(10))
    init, data = _derived_seeds(0)
    assert init != data and _derived_seeds(0) == (init, data) and _derived_seeds(1) != (init, data)


def test_overlap_record_reports_every_criterion(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.seeds.experiment as seed_runs
    from harness.seeds.overlap import CRITERIA

    rng = np.random.default_rng(0)
    enc, dec = rng.standard_normal((32, 8)), rng.standard_normal((32, 8))
    item = {"enc": enc, "dec": dec, "l0": 2.0, "ev": 0.9, "dead": 0.0}
    rec = seed_runs.overlap_record(item, {**item, "dec": dec + 0.1 * rng.standard_normal((32, 8))})
    assert set(rec["fraction_by_criterion"]) == set(CRITERIA)
    assert rec["fraction_shared"] == rec["fraction_by_criterion"]["both"]
    assert rec["fraction_by_criterion_paper_float32"] == rec["fraction_by_criterion"]
    monkeypatch.setattr(seed_runs, "DENSE_AUTO_MAX_PAIRS", 100)  # paper convention: dense only
    assert seed_runs.overlap_record(item, item)["fraction_by_criterion_paper_float32"] is None
