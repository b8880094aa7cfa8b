"""SVCCA and RSA from first principles (constructed data, invariances, independent code)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group, pearsonr, spearmanr

from harness.errors import ConfigError, DegenerateInputError, ShapeError
from harness.scoring.metrics import rsa, svcca


def orthonormal_centred(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """(n, m) columns centred and orthonormal."""
    x = rng.standard_normal((n, m))
    x -= x.mean(axis=0)
    q, _ = np.linalg.qr(x)
    return q


def with_canonical_correlations(rhos: list[float], n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """a (n, d), b (n, d) whose canonical correlations are exactly ``rhos`` (d == len(rhos))."""
    rng = np.random.default_rng(seed)
    q = orthonormal_centred(n, 2 * d, rng)
    x, e = q[:, :d], q[:, d:]
    r = np.asarray(rhos)
    y = x * r + e * np.sqrt(1 - r**2)
    mix_a, mix_b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    return x @ mix_a + 3.0, y @ mix_b - 1.0


def plain_cca(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Textbook CCA: singular values of Saa^-1/2 Sab Sbb^-1/2 (independent of harness code)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    saa, sbb, sab = a.T @ a, b.T @ b, a.T @ b

    def inv_sqrt(m: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(m)
        return v @ np.diag(w**-0.5) @ v.T

    return np.linalg.svd(inv_sqrt(saa) @ sab @ inv_sqrt(sbb), compute_uv=False)


def test_svcca_recovers_constructed_canonical_correlations() -> None:
    a, b = with_canonical_correlations([0.9, 0.5, 0.1], n=500, d=3, seed=1)
    res = svcca(a, b, keep=3)
    np.testing.assert_allclose(res.canonical_correlations, [0.9, 0.5, 0.1], atol=1e-10)
    assert res.score == pytest.approx(0.5, abs=1e-10)
    assert (res.k_a, res.k_b, res.n) == (3, 3, 500)


def test_svcca_equals_plain_cca_when_all_directions_kept() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((300, 6))
    b = a[:, :4] @ rng.standard_normal((4, 5)) + rng.standard_normal((300, 5))
    res = svcca(a, b, keep=1.0)
    assert (res.k_a, res.k_b) == (6, 5)
    np.testing.assert_allclose(res.canonical_correlations, plain_cca(a, b), atol=1e-10)


@pytest.mark.parametrize("keep", [0.99, 0.9, 4, 1])
def test_svcca_invariant_to_rotation_scaling_and_common_permutation(keep: float | int) -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((200, 16)) @ np.diag(np.linspace(3, 0.1, 16))
    b = a[:, :12] @ rng.standard_normal((12, 20)) + 0.5 * rng.standard_normal((200, 20))
    base = svcca(a, b, keep=keep).score
    rot_a, rot_b = ortho_group.rvs(16, random_state=4), ortho_group.rvs(20, random_state=5)
    assert svcca(7.0 * a @ rot_a, b, keep=keep).score == pytest.approx(base, abs=1e-9)
    assert svcca(a, 0.01 * b @ rot_b, keep=keep).score == pytest.approx(base, abs=1e-9)
    perm = rng.permutation(200)
    assert svcca(a[perm], b[perm], keep=keep).score == pytest.approx(base, abs=1e-9)
    # a permutation of one side only (breaking the pairing) must change the score
    assert svcca(a, b[perm], keep=keep).score < base - 0.05


def test_svcca_keep_one_is_abs_correlation_of_first_pc_scores() -> None:
    rng = np.random.default_rng(6)
    a = rng.standard_normal((400, 10)) @ np.diag(np.linspace(4, 1, 10))
    b = np.c_[a[:, :3] @ rng.standard_normal((3, 3)), rng.standard_normal((400, 9))]

    def first_pc_scores(x: np.ndarray) -> np.ndarray:
        xc = x - x.mean(0)
        w, v = np.linalg.eigh(np.cov(xc.T))
        return xc @ v[:, -1]

    expected = abs(pearsonr(first_pc_scores(a), first_pc_scores(b))[0])
    res = svcca(a, b, keep=1)
    assert (res.k_a, res.k_b) == (1, 1)
    assert res.score == pytest.approx(expected, abs=1e-10)


def test_svcca_fraction_picks_smallest_k_reaching_variance() -> None:
    rng = np.random.default_rng(7)
    q = orthonormal_centred(100, 4, rng)
    a = q * np.sqrt([0.7, 0.2, 0.09, 0.01])  # variance fractions 0.7, 0.2, 0.09, 0.01
    b = q
    assert svcca(a, b, keep=0.7).k_a == 1
    assert svcca(a, b, keep=0.9).k_a == 2
    assert svcca(a, b, keep=0.95).k_a == 3
    assert svcca(a, b, keep=0.995).k_a == 4


def test_svcca_refuses_trivial_k_and_bad_input() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((10, 64)), rng.standard_normal((10, 64))
    with pytest.raises(DegenerateInputError, match="trivially 1"):
        svcca(a, b, keep=0.99, max_k=None)  # uncapped
    assert svcca(a, b, keep=0.99, max_k=3).k_a == 3  # capped k is fine
    assert svcca(a, b, keep=0.99).k_a == 2  # the default cap: floor(10 / 4)
    with pytest.raises(ShapeError, match="paired"):
        svcca(a, b[:9])
    bad = a.copy()
    bad[2, 5] = np.nan
    with pytest.raises(DegenerateInputError, match="NaN"):
        svcca(bad, b, keep=2)
    for keep in (0, 1.5, True, "all"):
        with pytest.raises(ConfigError):
            svcca(a, b, keep=keep)


def test_svcca_accepts_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    a, b = with_canonical_correlations([0.8, 0.3], n=100, d=2, seed=9)
    assert svcca(torch.tensor(a, dtype=torch.float32), torch.tensor(b), keep=2).score == pytest.approx(0.55, abs=1e-5)


def test_independent_data_svcca_grows_with_k_over_n() -> None:
    """Why every score needs a null: unrelated data scores high when k/n is large."""
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((64, 128)), rng.standard_normal((64, 128))
    low, high = svcca(a, b, keep=2).score, svcca(a, b, keep=32, max_k=None).score
    assert low < 0.35 < high


def test_svcca_default_caps_k_at_a_quarter_of_n_and_refuses_zero() -> None:
    """Issue 14, findings 7, 8: the bare svcca (max_k=None by default) gave 0.84 on random
    100-pair decoders; svcca(max_k=0) silently used k = 1."""
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((100, 512)), rng.standard_normal((100, 768))
    uncapped = svcca(a, b, keep=0.99, max_k=None)
    default = svcca(a, b, keep=0.99)
    assert uncapped.score > 0.8 and uncapped.k_a > 25
    assert default.k_a == default.k_b == 25 and default.score == svcca(a, b, keep=0.99, max_k=25).score
    assert default.score < uncapped.score - 0.2
    for bad in (0, -3, 2.5, True, "n/2"):
        with pytest.raises(ConfigError, match="max_k"):
            svcca(a, b, max_k=bad)


def test_rsa_euclidean_equals_scipy_spearman_of_pdist() -> None:
    rng = np.random.default_rng(11)
    a = rng.standard_normal((80, 12))
    b = a @ rng.standard_normal((12, 7)) + rng.standard_normal((80, 7))
    expected = spearmanr(pdist(a), pdist(b))[0]
    assert rsa(a, b, inner="euclidean") == pytest.approx(expected, abs=1e-12)


def test_rsa_correlation_matches_independent_implementation() -> None:
    rng = np.random.default_rng(12)
    a = rng.standard_normal((60, 10))
    b = np.tanh(a @ rng.standard_normal((10, 15))) + 0.3 * rng.standard_normal((60, 15))
    # scipy's correlation distance = 1 - Pearson between row-centred rows
    expected = spearmanr(1 - pdist(a, "correlation"), 1 - pdist(b, "correlation"))[0]
    assert rsa(a, b, inner="correlation") == pytest.approx(expected, abs=1e-12)


def test_rsa_identity_invariance_and_pairing_sensitivity() -> None:
    rng = np.random.default_rng(13)
    a = rng.standard_normal((50, 8))
    assert rsa(a, a @ ortho_group.rvs(8, random_state=1), inner="euclidean") == pytest.approx(1.0)
    perm = rng.permutation(50)
    assert rsa(a[perm], (2 * a)[perm]) == pytest.approx(1.0)
    assert abs(rsa(a, a[perm])) < 0.3
    with pytest.raises(ConfigError):
        rsa(a, a, inner="cosine")
    with pytest.raises(DegenerateInputError, match="constant"):
        rsa(np.ones((5, 3)), a[:5])
