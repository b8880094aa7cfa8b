"""Device nulls == today's numpy nulls (harness.scoring.nulls) for the same permutations / draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from harness.scoring.device_nulls import (
    canonical_correlations_batched,
    centred_doubled_ranks,
    doubled_average_ranks,
    permutation_test_device,
    permutations,
    rsa_null_device,
    similarity_matrix,
    size_matched_test_device,
    svcca_null_device,
    svcca_subsets,
)
from harness.errors import ConfigError, DegenerateInputError
from harness.scoring.metrics import similarity_upper, svcca
from harness.scoring.nulls import _permutations, permutation_test, size_matched_test

#: (keep, max_k) of the two procedures (config.PAPER / CORRECTED via experiments._max_k)
PAPER = {"keep": 1, "max_k": None}


def corrected(n: int) -> dict[str, object]:
    return {"keep": 0.99, "max_k": max(1, int(math.floor(0.25 * n)))}


def paired(n: int = 120, da: int = 24, db: int = 32, seed: int = 0, dup: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Paired rows with a shared low-rank signal; ``dup`` rows of ``a`` repeat earlier rows
    (many-to-1 sets: several B features share one A partner)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    a = z @ rng.normal(size=(4, da)) + 0.7 * rng.normal(size=(n, da))
    b = z @ rng.normal(size=(4, db)) + 0.7 * rng.normal(size=(n, db))
    if dup:
        src = rng.integers(0, n - dup, size=dup)
        a[n - dup :] = a[src]
    return a, b


def test_permutations_are_the_stats_permutations() -> None:
    np.testing.assert_array_equal(permutations(50, 7, 3), np.stack(_permutations(50, 7, 3)))


@pytest.mark.parametrize("setting", ["paper", "corrected"])
@pytest.mark.parametrize("method", ["auto", "gram", "svd"])
def test_svcca_null_equals_stats(setting: str, method: str) -> None:
    a, b = paired()
    opts = PAPER if setting == "paper" else corrected(a.shape[0])
    ref = permutation_test(a, b, metric="svcca", n_permutations=60, seed=4, workers=1, **opts)
    dev = permutation_test_device(
        a, b, metric="svcca", n_permutations=60, seed=4, method=method, max_elements=5000, **opts
    )  # several batches
    if setting == "corrected":
        assert dev.details["k_a"] > 1 and dev.details["k_b"] > 1  # the Gram / svd routes are exercised
    assert dev.observed == ref.observed
    np.testing.assert_allclose(dev.null, ref.null, atol=1e-10, rtol=0)
    assert dev.p_value == ref.p_value and dev.details == ref.details
    assert np.std(ref.null) > 1e-3  # the draws really differ


@pytest.mark.parametrize("setting", ["paper", "corrected"])
def test_svcca_null_with_bases_on_device(setting: str) -> None:
    a, b = paired(seed=2)
    opts = PAPER if setting == "paper" else corrected(a.shape[0])
    ref = permutation_test(a, b, metric="svcca", n_permutations=30, seed=5, workers=1, **opts)
    dev = permutation_test_device(a, b, metric="svcca", n_permutations=30, seed=5, basis_on_device=True, **opts)
    assert dev.observed == pytest.approx(ref.observed, abs=1e-12)
    np.testing.assert_allclose(dev.null, ref.null, atol=1e-10, rtol=0)
    assert (dev.details["k_a"], dev.details["k_b"]) == (ref.details["k_a"], ref.details["k_b"])
    assert dev.details["variance_kept_a"] == pytest.approx(ref.details["variance_kept_a"], abs=1e-12)


def test_svcca_null_degenerate_like_stats() -> None:
    a, b = paired(n=8, da=12, db=12)
    with pytest.raises(DegenerateInputError, match="trivially"):
        svcca_null_device(a, b, n_permutations=3, seed=0, keep=7)
    with pytest.raises(DegenerateInputError, match="trivially"):
        svcca_null_device(a, b, n_permutations=3, seed=0, keep=7, basis_on_device=True)
    with pytest.raises(DegenerateInputError, match="constant"):
        svcca_null_device(
            np.ones((10, 4)),
            np.random.default_rng(0).normal(size=(10, 4)),
            n_permutations=3,
            seed=0,
            keep=1,
            basis_on_device=True,
        )


def test_gram_route_falls_back_for_tiny_singular_values() -> None:
    """A draw with a near-zero canonical correlation: sqrt(eigvalsh) alone is off by ~1e-8,
    the auto route (svdvals fallback) is exact."""
    m = torch.tensor([[[1.0, 0.0], [0.0, 1e-9]]], dtype=torch.float64)
    exact = torch.linalg.svdvals(m)
    np.testing.assert_allclose(canonical_correlations_batched(m, method="auto"), exact, atol=1e-15)
    q = torch.linalg.qr(torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))[0]
    m2 = q @ m @ q.T
    np.testing.assert_allclose(canonical_correlations_batched(m2, method="auto"), exact, atol=1e-14)


@pytest.mark.parametrize("inner", ["correlation", "euclidean"])
@pytest.mark.parametrize("dup", [0, 30])
def test_rsa_null_equals_stats(inner: str, dup: int) -> None:
    a, b = paired(n=90, dup=dup, seed=1)
    ref = permutation_test(a, b, metric="rsa", n_permutations=40, seed=7, inner=inner, workers=1)
    dev = permutation_test_device(a, b, metric="rsa", n_permutations=40, seed=7, inner=inner, max_elements=3000)
    assert dev.observed == pytest.approx(ref.observed, abs=1e-12)
    np.testing.assert_allclose(dev.null, ref.null, atol=1e-10, rtol=0)
    assert dev.p_value == ref.p_value
    assert np.std(ref.null) > 1e-3


def test_doubled_ranks_equal_scipy_with_ties() -> None:
    rng = np.random.default_rng(2)
    v = rng.integers(0, 40, size=3000).astype(np.float64)  # heavy ties
    np.testing.assert_array_equal(doubled_average_ranks(torch.as_tensor(v)).numpy(), 2 * rankdata(v))
    r = doubled_average_ranks(torch.as_tensor(v))
    assert r.dtype == torch.int32
    # duplicated rows: similarities tie exactly, ranks equal scipy's on numpy's similarities
    a, _ = paired(n=70, dup=25, seed=3)
    c, _ = centred_doubled_ranks(torch.as_tensor(a), inner="correlation")
    sims = similarity_upper(a, inner="correlation")
    expected = 2 * rankdata(sims) - (sims.size + 1)
    np.testing.assert_array_equal(c.numpy(), expected)
    assert np.unique(expected).size < expected.size  # ties were present


def test_rsa_errors() -> None:
    a, b = paired(n=20)
    a[3] = 1.0  # constant row
    with pytest.raises(DegenerateInputError, match="constant"):
        rsa_null_device(a, b, n_permutations=2, seed=0)
    with pytest.raises(ConfigError, match="n_permutations and seed"):
        rsa_null_device(b, b)
    with pytest.raises(ConfigError, match="permutation of range"):
        rsa_null_device(b, b, perms=np.zeros((2, 20), dtype=np.int64))
    with pytest.raises(ConfigError, match="Unknown RSA options"):
        permutation_test_device(b, b, metric="rsa", n_permutations=2, seed=0, keep=1)


@pytest.mark.parametrize("setting", ["paper", "corrected"])
def test_size_matched_equals_stats(setting: str) -> None:
    a, b = paired(n=150, seed=5)
    n = 60
    opts = PAPER if setting == "paper" else corrected(n)

    def score_rows(idx: np.ndarray) -> float:
        try:
            return svcca(a[idx], b[idx], **opts).score
        except DegenerateInputError:
            return math.nan

    ref = size_matched_test(0.3, score_rows, n=n, n_superset=150, n_draws=25, seed=9)
    dev = size_matched_test_device(0.3, a, b, n=n, n_draws=25, seed=9, **opts)
    np.testing.assert_allclose(dev.draws, ref.draws, atol=1e-10, rtol=0)
    assert (dev.p_value, dev.holdout_p, dev.n, dev.n_superset) == (ref.p_value, ref.holdout_p, ref.n, ref.n_superset)


def test_svcca_subsets_nan_where_svcca_raises() -> None:
    a, b = paired(n=40, da=12, db=12, seed=6)
    idx = np.stack([np.arange(8), np.arange(10, 30)[:8]])
    out = svcca_subsets(a, b, idx, keep=7, max_k=None)
    assert np.isnan(out).all()  # k >= n - 1 at n = 8: trivially perfect, refused like svcca
    out1 = svcca_subsets(a, b, idx, keep=1, max_k=None)
    np.testing.assert_allclose(out1, [svcca(a[i], b[i], keep=1).score for i in idx], atol=1e-12)


@pytest.mark.parametrize("inner", ["correlation", "euclidean"])
def test_numpy_similarity_ties_duplicates_exactly(inner: str) -> None:
    """metrics.similarity_upper (edited in issue 12): a duplicated row has exactly the same
    similarities as its original, and the pair itself gets exactly 1 / distance 0."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(30, 7))
    x[29] = x[4]
    n = x.shape[0]
    full = np.zeros((n, n))
    full[np.triu_indices(n, k=1)] = similarity_upper(x, inner=inner)
    full += full.T
    others = [j for j in range(n) if j not in (4, 29)]
    np.testing.assert_array_equal(full[4, others], full[29, others])
    assert full[4, 29] == (1.0 if inner == "correlation" else 0.0)
    dev = similarity_matrix(torch.as_tensor(x), inner=inner).numpy()
    np.testing.assert_allclose(dev[np.triu_indices(n, k=1)], similarity_upper(x, inner=inner), atol=1e-12)


@pytest.mark.parametrize("procedure_name", ["paper", "corrected"])
def test_compare_spaces_same_record_with_device_nulls(procedure_name: str) -> None:
    """experiments.compare_spaces(null_device="cpu") == the default numpy nulls, every number."""
    from harness.config import get_procedure
    from harness.experiments.spaces import compare_spaces
    from harness.experiments.synthetic import synthetic_pair

    procedure = get_procedure(procedure_name)
    a, b = synthetic_pair()
    ref = compare_spaces(a, b, procedure, n_permutations=19, n_size_matched=9)
    dev = compare_spaces(a, b, procedure, n_permutations=19, n_size_matched=9, null_device="cpu")
    assert ref.keys() == dev.keys()
    checked = 0
    for key, rv in ref.items():
        if isinstance(rv, dict):
            assert rv.keys() == dev[key].keys(), key
            for k2, v in rv.items():
                if isinstance(v, float) and np.isfinite(v):
                    assert dev[key][k2] == pytest.approx(v, abs=1e-10), (key, k2)
                    checked += 1
                else:
                    assert dev[key][k2] == v or (isinstance(v, float) and math.isnan(dev[key][k2])), (key, k2)
        else:
            assert dev[key] == rv, key
    assert checked > 20
    assert "draws_mean" in ref["one_to_one_vs_many_to_one_size_matched"]
