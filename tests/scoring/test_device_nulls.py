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
    gram_route_ok,
    ks_of_spectra,
    doubled_average_ranks,
    permutation_test_device,
    permutations,
    rsa_null_device,
    similarity_matrix,
    size_matched_draws,
    size_matched_test_device,
    svcca_null_device,
    svcca_subsets,
    svcca_subsets_detailed,
)
from harness.errors import ConfigError, DegenerateInputError
from harness.scoring.effects import TIE_ATOL, count_at_or_above
from harness.scoring.metrics import similarity_upper, svcca
from harness.scoring.nulls import _permutations, permutation_test, size_matched_test

#: (keep, max_k) of the two procedures (config.PAPER / CORRECTED via experiments.svcca_max_k)
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


# ----------------------------------------------------------------------------- subset bases: Gram + eigh


def reference_subsets(a: np.ndarray, b: np.ndarray, idx: np.ndarray, **opts: object) -> tuple[np.ndarray, list]:
    """Per-draw numpy SVCCA (metrics.svcca: an SVD per side) and its (k_a, k_b); NaN / None where it raises."""
    scores, ks = [], []
    for i in idx:
        try:
            r = svcca(a[i], b[i], **opts)
            scores.append(r.score)
            ks.append((r.k_a, r.k_b))
        except DegenerateInputError:
            scores.append(math.nan)
            ks.append(None)
    return np.array(scores), ks


@pytest.mark.parametrize(
    ("n_superset", "n", "da", "db", "setting"),
    [
        (447, 262, 64, 96, "corrected"),
        (447, 262, 64, 96, "paper"),
        (700, 500, 128, 160, "corrected"),
        (300, 150, 40, 40, "uncapped"),
    ],
)
def test_subset_gram_route_equals_numpy_svd(n_superset: int, n: int, da: int, db: int, setting: str) -> None:
    """Subsets with n > d take the Gram + eigh route (every draw here), and equal the per-draw
    numpy SVD reference to 1e-10 relative, with the same k on both sides."""
    a, b = paired(n=n_superset, da=da, db=db, seed=11)
    opts = {"paper": PAPER, "corrected": corrected(n), "uncapped": {"keep": 0.99, "max_k": None}}[setting]
    idx = size_matched_draws(n, n_superset, 12, 4)
    got = svcca_subsets_detailed(a, b, idx, max_elements=40 * n * db, **opts)  # several batches
    ref, ks = reference_subsets(a, b, idx, **opts)
    assert got.gram_a.all() and got.gram_b.all()
    np.testing.assert_allclose(got.scores, ref, rtol=1e-10, atol=0)
    assert [(int(x), int(y)) for x, y in zip(got.k_a, got.k_b, strict=True)] == ks
    if setting != "paper":
        assert len(set(ks)) > 1 or ks[0][0] > 1  # k > 1: the eigh bases are exercised beyond the top direction
    svd = svcca_subsets_detailed(a, b, idx, route="svd", **opts)
    assert not svd.gram_a.any() and not svd.gram_b.any()
    np.testing.assert_allclose(got.scores, svd.scores, rtol=1e-10, atol=0)


def spectrum_rows(n: int, s: np.ndarray, seed: int) -> np.ndarray:
    """(n, d) rows, centred over rows, with singular values exactly ``s`` (d,) up to rounding."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, s.size))
    x -= x.mean(axis=0)
    u = np.linalg.qr(x)[0]  # (n, d), columns orthogonal to the ones vector
    w = np.linalg.qr(rng.normal(size=(s.size, s.size)))[0]
    return (u * s) @ w.T


def test_gram_route_criterion_sends_ill_conditioned_draws_to_the_svd() -> None:
    """The stated criterion (device_nulls.gram_route_ok): n <= d, a rank below d, a tiny gap after
    the last kept direction with a large s_0 / s_k, or a variance fraction at the k threshold each
    send a draw to the SVD; the rest take the Gram route."""
    d = 12
    lam = np.linspace(10.0, 1.0, d)[None, :] ** 2
    ks = ks_of_spectra(lam, keep=3, max_k=None)
    assert gram_route_ok(lam, ks, n=50, d=d).all()
    assert not gram_route_ok(lam, ks, n=d, d=d).any()  # n <= d: the SVD
    deficient = lam.copy()
    deficient[0, -1] = 1e-14 * deficient[0, 0]
    assert not gram_route_ok(deficient, ks_of_spectra(deficient, keep=3, max_k=None), n=50, d=d).any()
    gap = np.array([[1e4, 1.0, 1.0, 1.0 - 1e-9, *np.linspace(0.5, 0.1, d - 4)]])  # s_0 / (s_2 + s_3) = 50
    assert not gram_route_ok(gap, ks_of_spectra(gap, keep=3, max_k=None), n=50, d=d).any()
    small_gap = np.array(
        [[4.0, 1.0, 1.0, 1.0 - 1e-9, *np.linspace(0.5, 0.1, d - 4)]]
    )  # ratio 1: as ill-posed for the SVD
    assert gram_route_ok(small_gap, ks_of_spectra(small_gap, keep=3, max_k=None), n=50, d=d).all()
    at_threshold = np.array([[0.5, 0.49, 0.01]])  # cumulative fractions 0.5, 0.99, 1.0 at keep 0.99
    assert ks_of_spectra(at_threshold, keep=0.99, max_k=None).near.all()
    assert not gram_route_ok(at_threshold, ks_of_spectra(at_threshold, keep=0.99, max_k=None), n=50, d=3).any()

    # end to end: a rank-deficient side and a 50x-ill-conditioned gap go to the SVD, equal to the reference
    n = 60
    s_def = np.array([5.0, 4.0, 3.0, 2.0, 1.0, *np.zeros(7)])
    s_gap = np.array([100.0, 1.0, 1.0 - 1e-9, *np.linspace(0.5, 0.1, 9)])
    rng = np.random.default_rng(3)
    for s in (s_def, s_gap):
        a = spectrum_rows(n, s, seed=1)
        b = a @ rng.normal(size=(d, d)) + 0.1 * rng.normal(size=(n, d))
        idx = np.arange(n)[None, :]
        got = svcca_subsets_detailed(a, b, idx, keep=2, max_k=None)
        assert not got.gram_a[0]
        ref, ks = reference_subsets(a, b, idx, keep=2, max_k=None)
        assert (int(got.k_a[0]), int(got.k_b[0])) == ks[0]
        if s is s_def:
            np.testing.assert_allclose(got.scores, ref, rtol=1e-10, atol=0)


def test_ks_of_spectra_is_svd_basis_k() -> None:
    """k and rank per row of a spectrum = metrics.svd_basis's on the matrix with that spectrum."""
    from harness.scoring.metrics import svd_basis

    rng = np.random.default_rng(5)
    rows, spectra = [], []
    for t in range(30):
        s = np.sort(rng.gamma(0.5 + t / 10, size=10))[::-1]
        if t % 3 == 0:
            s[7:] = 0.0  # rank 7
        x = spectrum_rows(40, s, seed=t)
        spectra.append(np.linalg.svd(x - x.mean(axis=0), compute_uv=False) ** 2)
        rows.append(x)
    for keep, max_k in ((0.99, None), (0.9, 4), (0.5, None), (1, None), (3, 2)):
        ks = ks_of_spectra(np.array(spectra), keep=keep, max_k=max_k)
        for x, k, rank in zip(rows, ks.k, ks.rank, strict=True):
            basis = svd_basis(x, keep=keep, max_k=max_k)
            assert (int(k), int(rank)) == (basis.k, basis.rank), (keep, max_k)


@pytest.mark.parametrize("setting", ["paper", "corrected"])
def test_size_matched_counts_do_not_move_with_the_gram_route(setting: str) -> None:
    """The Gram route changes draws by rounding only (<= 1e-10 relative): the same p-value counts as
    the SVD route for observed scores that are not tied with a draw (ties: see spaces.size_matched,
    which counts a draw of the observed set itself as a tie)."""
    a, b = paired(n=200, seed=12)
    n = 150
    opts = PAPER if setting == "paper" else corrected(n)
    idx = size_matched_draws(n, 200, 40, 2)
    gram = svcca_subsets_detailed(a, b, idx, **opts)
    svd = svcca_subsets_detailed(a, b, idx, route="svd", **opts)
    assert gram.gram_a.all()
    np.testing.assert_allclose(gram.scores, svd.scores, rtol=1e-10, atol=0)
    observed = np.concatenate([np.sort(svd.scores)[:-1] + np.diff(np.sort(svd.scores)) / 2, [0.0, 1.0]])
    for o in observed:  # between every two neighbouring draws, and beyond both ends
        assert np.sum(gram.scores >= o) == np.sum(svd.scores >= o)


@pytest.mark.parametrize("setting", ["paper", "corrected"])
def test_svcca_subsets_ragged_equals_per_draw(setting: str) -> None:
    """Draws of different sizes in one call (``lengths``, a k cap per draw): each equals the numpy
    SVCCA of its own rows to 1e-10 relative, with the same k; subsets with n <= d take the SVD, the
    others the Gram route, in the same batch."""
    a, b = paired(n=300, da=24, db=32, seed=13)
    rng = np.random.default_rng(1)
    sizes = np.array([3, 8, 20, 31, 33, 60, 60, 150, 290, 2])
    idx = np.zeros((sizes.size, sizes.max()), dtype=np.int64)
    for t, m in enumerate(sizes):
        idx[t, :m] = np.sort(rng.choice(300, size=m, replace=False))
    caps = np.array([corrected(int(m))["max_k"] for m in sizes]) if setting == "corrected" else None
    keep = 0.99 if setting == "corrected" else 1
    got = svcca_subsets_detailed(a, b, idx, keep=keep, max_k=caps, lengths=sizes, max_elements=4 * 290 * 32)
    for t, m in enumerate(sizes):
        opts = {"keep": keep, "max_k": None if caps is None else int(caps[t])}
        ref, ks = reference_subsets(a, b, idx[t : t + 1, :m], **opts)
        if np.isnan(ref[0]):
            assert np.isnan(got.scores[t]), m
            continue
        assert got.scores[t] == pytest.approx(ref[0], rel=1e-10, abs=0), m
        assert (got.k_a[t], got.k_b[t]) == ks[0], m
    assert got.gram_a[sizes > 24].all() and not got.gram_a[sizes <= 24].any()
    assert np.isfinite(got.scores).sum() >= 7


@pytest.mark.parametrize("setting", ["paper", "corrected"])
def test_svcca_subsets_shared_side_a_equals_per_draw(monkeypatch, setting: str) -> None:
    """``same_a``: draws with the same side-a rows (random partners of one set of A features, and a
    group of ragged ones) reuse one side-a basis: the scores, k and routes equal the per-draw
    computation to 1e-12, across batch boundaries, with one side-a decomposition per label."""
    import torch

    a, b = paired(n=300, da=24, db=32, seed=17)
    rng = np.random.default_rng(2)
    base = np.sort(rng.choice(300, size=120, replace=False))
    sizes = np.array([120] * 9 + [60, 60, 40])
    idx = np.zeros((sizes.size, 120), dtype=np.int64)
    labels = np.zeros(sizes.size, dtype=np.int64)
    for t, m in enumerate(sizes):
        idx[t, :m] = base[:m]  # side a: the first m rows of one set, labelled by m
        labels[t] = m
    b_rows = np.stack([rng.permutation(300)[:120] for _ in sizes])  # side b: its own rows per draw
    caps = np.array([corrected(int(m))["max_k"] for m in sizes]) if setting == "corrected" else None
    keep = 0.99 if setting == "corrected" else 1
    # pair side a's rows idx[t] with side b's rows b_rows[t]: one stacked superset, index by position
    big_a = np.concatenate([a[idx[t]] for t in range(sizes.size)])
    big_b = np.concatenate([b[b_rows[t]] for t in range(sizes.size)])
    pos = np.arange(sizes.size)[:, None] * 120 + np.arange(120)[None, :]
    plain = svcca_subsets_detailed(big_a, big_b, pos, keep=keep, max_k=caps, lengths=sizes, max_elements=4 * 120 * 32)
    calls: list[int] = []
    original = torch.linalg.eigh

    def counted(x, *args, **kwargs):
        calls.append(int(x.shape[0]) if x.ndim == 3 else 1)
        return original(x, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eigh", counted)
    shared = svcca_subsets_detailed(
        big_a, big_b, pos, keep=keep, max_k=caps, lengths=sizes, max_elements=4 * 120 * 32, same_a=labels
    )
    assert np.isfinite(plain.scores).all()
    np.testing.assert_allclose(shared.scores, plain.scores, rtol=1e-12, atol=0)
    assert (shared.k_a == plain.k_a).all() and (shared.k_b == plain.k_b).all()
    assert (shared.gram_a == plain.gram_a).all() and (shared.gram_b == plain.gram_b).all()
    # side b: one Gram eigh per draw; side a: one per label (3 labels), not one per draw (12)
    assert sum(calls) == sizes.size + len(set(labels.tolist()))


@pytest.mark.parametrize("device_path", [False, True])
def test_size_matched_draw_of_the_observed_set_is_a_tie(device_path: bool) -> None:
    """Design: ties decide p-values. 7 of 8 pairs: 1 in 8 draws is the observed set itself; each
    counts as at or above the observed score whatever its rounding (the observed score comes from
    another code path); without observed_idx only the rounding decides."""
    a, b = paired(n=8, da=6, db=6, seed=21)
    obs_rows = np.array([0, 1, 2, 4, 5, 6, 7])
    observed = svcca(a[obs_rows], b[obs_rows], keep=1).score
    idx = size_matched_draws(7, 8, 40, 3)
    same = np.all(idx == obs_rows[None, :], axis=1)
    assert same.sum() >= 2

    def run(observed_idx: np.ndarray | None, shift: float) -> object:
        if device_path:
            return size_matched_test_device(
                observed + shift, a, b, n=7, n_draws=40, seed=3, keep=1, max_k=None, observed_idx=observed_idx
            )

        def score_rows(i: np.ndarray) -> float:
            return svcca(a[i], b[i], keep=1).score

        return size_matched_test(
            observed + shift, score_rows, n=7, n_superset=8, n_draws=40, seed=3, observed_idx=observed_idx
        )

    # the observed score nudged above its draws beyond the tie tolerance (TIE_ATOL): ties still
    # count, only via observed_idx
    nudged = 10 * TIE_ATOL
    tied = run(obs_rows[::-1].copy(), nudged)  # order of the observed rows does not matter
    untied = run(None, nudged)
    others_above = count_at_or_above(untied.draws, observed + nudged)
    assert tied.n_at_or_above(tied.observed) == others_above + int(same.sum())
    assert tied.p_value == pytest.approx((1 + others_above + int(same.sum())) / 41)
    assert untied.p_value == pytest.approx((1 + others_above) / 41)
