"""Test 2 batched on the device (harness.experiments.subset_pairing) == the per-draw host pairing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.config import CORRECTED, PAPER
from harness.errors import ConfigError
from harness.experiments.space_pairing import pair_subsets
from harness.experiments.subset_pairing import pair_batched, score_test2_draws, subset_correlations
from harness.experiments.synthetic import synthetic_pair
from harness.pairing.matching import SUBSET_TIE_TOL, pair_from_correlation
from harness.scoring.nulls import random_subset_draws


def tied_correlations(b: int, sa: int, sb: int, seed: int) -> np.ndarray:
    """(b, sa, sb) correlations with many exact ties and ties inside SUBSET_TIE_TOL (values on a
    coarse grid, some nudged by less than the tolerance)."""
    rng = np.random.default_rng(seed)
    c = rng.integers(-3, 6, size=(b, sa, sb)) / 10.0
    nudge = rng.random(size=c.shape) < 0.3
    return c + nudge * rng.uniform(-0.4, 0.4, size=c.shape) * SUBSET_TIE_TOL


@pytest.mark.parametrize("rule", ["first_seen", "best"])
def test_pair_batched_equals_pair_from_correlation(rule: str) -> None:
    corr = tied_correlations(40, 7, 11, seed=1)
    row, keep = pair_batched(torch.as_tensor(corr), rule=rule)
    ia, ib = np.arange(7) * 3 + 2, np.arange(11) * 5 + 1  # ascending feature ids
    n_multi = 0
    for t in range(corr.shape[0]):
        ref = pair_from_correlation(corr[t], ia, ib, rule=rule)
        kept = keep[t].numpy()
        np.testing.assert_array_equal(ia[row[t].numpy()][kept], ref.a_idx)
        np.testing.assert_array_equal(ib[kept], ref.b_idx)
        n_multi += int(kept.sum() < ib.size)
    assert n_multi > 30  # the 1-1 rule really dropped columns


def test_pair_batched_refuses_hungarian() -> None:
    with pytest.raises(ConfigError, match="hungarian"):
        pair_batched(torch.zeros(1, 2, 2, dtype=torch.float64), rule="hungarian")


@pytest.mark.parametrize("full_gemm_ratio", [0, 4])
@pytest.mark.parametrize("cache_elements", [0, 1 << 25])
def test_subset_correlations_equal_numpy_submatrix(monkeypatch, full_gemm_ratio: int, cache_elements: int) -> None:
    """Both routes (batched GEMM of gathered z-scores; one GEMM over the distinct features), with
    the spaces' z-scored live rows cached (FeatureSpace.zscored_rows) or computed per batch."""
    import harness.experiments.feature_space as feature_space
    import harness.experiments.subset_pairing as subset_pairing
    from harness.pairing.matching import correlation_submatrix

    monkeypatch.setattr(subset_pairing, "FULL_GEMM_RATIO", full_gemm_ratio)
    monkeypatch.setattr(feature_space, "ZROWS_CACHE_ELEMENTS", cache_elements)
    a, b = synthetic_pair(seed=2)
    draws = random_subset_draws(size_a=20, size_b=25, pool_a=a.n_features, pool_b=b.n_features, n_draws=6, seed=3)
    ia = np.stack([d[0] for d in draws])
    ib = np.stack([d[1] for d in draws])
    got = subset_correlations(a, b, ia, ib).numpy()
    assert (a._zrows is not None) == (cache_elements > 0)
    for t in range(len(draws)):
        ref = correlation_submatrix(a.codes, b.codes, ia[t], ib[t])
        np.testing.assert_allclose(got[t], ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "procedure", [PAPER, CORRECTED, CORRECTED.replace(one_to_one="hungarian")], ids=lambda p: p.one_to_one
)
@pytest.mark.parametrize("full_gemm_ratio", [0, 4])
def test_score_test2_draws_equals_per_draw_pairing(monkeypatch, procedure, full_gemm_ratio: int) -> None:
    """Same pairs as pair_subsets per draw, scores equal the per-draw numpy SVCCA to 1e-10 relative."""
    import harness.experiments.subset_pairing as subset_pairing

    monkeypatch.setattr(subset_pairing, "FULL_GEMM_RATIO", full_gemm_ratio)
    from harness.experiments.pair_scores import svcca_max_k
    from harness.scoring.metrics import svcca

    a, b = synthetic_pair(seed=4)
    live_a, live_b = np.flatnonzero(a.live), np.flatnonzero(b.live)
    draws = random_subset_draws(size_a=30, size_b=40, pool_a=live_a, pool_b=live_b, n_draws=15, seed=8)
    got = score_test2_draws(a, b, procedure, draws, rule=procedure.one_to_one, device="cpu", max_elements=1 << 20)
    ref = []
    for ia, ib in draws:
        p = pair_subsets(a, b, ia, ib, rule=procedure.one_to_one)
        if len(p) < max(procedure.min_subspace_size, 3):
            ref.append(np.nan)
            continue
        r = svcca(
            a.decoder[p.a_idx], b.decoder[p.b_idx], keep=procedure.svcca_keep, max_k=svcca_max_k(procedure, len(p))
        )
        ref.append(r.score)
    ref_arr = np.array(ref)
    assert np.isfinite(ref_arr).sum() >= 10
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref_arr))
    np.testing.assert_allclose(got, ref_arr, rtol=1e-10, atol=0)
