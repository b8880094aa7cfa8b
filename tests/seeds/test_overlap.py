"""Tests of harness.seeds.overlap: Paulo & Belrose 2025's shared-latent fraction."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.seeds.overlap as overlap
from harness.errors import ConfigError, DegenerateInputError, ResourceError, ShapeError
from harness.seeds.overlap import match_rows, seed_overlap


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def planted_pair(n: int, d: int, shared: float, *, noise: float = 0.05, seed: int = 0):  # type: ignore[no-untyped-def]
    """SAE A (enc, dec) and SAE B = A with a `shared` fraction of latents kept (permuted,
    slightly noised) and the rest replaced by random rows. Returns keep mask and perm:
    B row perm_inv[i] is A's latent i."""
    rng = np.random.default_rng(seed)
    dec_a = unit(rng.standard_normal((n, d)))
    enc_a = unit(dec_a + 0.5 * rng.standard_normal((n, d)) / np.sqrt(d))
    n_keep = int(round(shared * n))
    keep = np.zeros(n, dtype=bool)
    keep[rng.choice(n, n_keep, replace=False)] = True
    dec_b = unit(rng.standard_normal((n, d)))
    enc_b = unit(rng.standard_normal((n, d)))
    dec_b[keep] = unit(dec_a[keep] + noise * rng.standard_normal((n_keep, d)) / np.sqrt(d))
    enc_b[keep] = unit(enc_a[keep] + noise * rng.standard_normal((n_keep, d)) / np.sqrt(d))
    perm = rng.permutation(n)  # B's row r holds A's latent perm[r]
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)  # A's latent i sits at B row inv[i]
    return enc_a, dec_a, enc_b[perm], dec_b[perm], keep, inv


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_recovers_planted_shared_fraction(method: str) -> None:
    enc_a, dec_a, enc_b, dec_b, keep, inv = planted_pair(500, 128, 0.6)
    r = seed_overlap(enc_a, dec_a, enc_b, dec_b, method=method, candidates=16)
    assert r.method == method
    assert r.n_latents == 500 and r.n_shared == 300
    assert r.fraction_shared == pytest.approx(0.6)
    np.testing.assert_array_equal(r.shared, keep)
    np.testing.assert_array_equal(r.enc_partner[keep], inv[keep])
    np.testing.assert_array_equal(r.dec_partner[keep], inv[keep])
    assert (r.dec_cos[keep] > 0.95).all() and (r.dec_cos[~keep] < 0.7).all()
    if method == "sparse":
        assert r.certified is True and r.n_unmatched == 0
    else:
        assert r.certified is None and r.candidates is None


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_identical_saes_under_permutation(method: str) -> None:
    rng = np.random.default_rng(1)
    enc = rng.standard_normal((300, 32))
    dec = rng.standard_normal((300, 32)) * rng.uniform(0.1, 5.0, size=(300, 1))  # norms must not matter
    perm = rng.permutation(300)
    inv = np.argsort(perm)
    r = seed_overlap(torch.from_numpy(enc), dec, enc[perm], dec[perm], method=method, candidates=8)
    assert r.fraction_shared == 1.0 and r.fraction_same_partner == 1.0
    np.testing.assert_array_equal(r.enc_partner, inv)
    np.testing.assert_array_equal(r.dec_partner, inv)
    np.testing.assert_allclose(r.dec_cos, 1.0, atol=1e-12)
    assert r.mean_matched_decoder_cosine == pytest.approx(1.0, abs=1e-12)
    assert r.mean_matched_encoder_cosine == pytest.approx(1.0, abs=1e-12)


def test_sparse_equals_dense_at_moderate_width() -> None:
    """2048 latents, d_in 64 (random unshared rows reach cosines ~0.5, many near-ties)."""
    enc_a, dec_a, enc_b, dec_b, _, _ = planted_pair(2048, 64, 0.4, noise=0.8, seed=3)
    dense = seed_overlap(enc_a, dec_a, enc_b, dec_b, method="dense")
    sparse = seed_overlap(enc_a, dec_a, enc_b, dec_b, method="sparse", candidates=32)
    assert sparse.certified is True and sparse.n_unmatched == 0
    np.testing.assert_array_equal(sparse.enc_partner, dense.enc_partner)
    np.testing.assert_array_equal(sparse.dec_partner, dense.dec_partner)
    np.testing.assert_allclose(sparse.dec_cos, dense.dec_cos, atol=1e-12)
    assert sparse.fraction_shared == dense.fraction_shared
    assert sparse.mean_matched_decoder_cosine == pytest.approx(dense.mean_matched_decoder_cosine, abs=1e-12)
    assert 0.3 < dense.fraction_shared < 0.45  # noise pushes a few planted latents under 0.7


@pytest.mark.parametrize("shape", [(700, 1000), (1000, 700)])
def test_sparse_equals_dense_rectangular(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(4)
    n_a, n_b = shape
    a = rng.standard_normal((n_a, 48))
    b = rng.standard_normal((n_b, 48))
    m = min(n_a, n_b)
    b[:m // 2] = a[:m // 2] + 0.3 * rng.standard_normal((m // 2, 48))
    dense = match_rows(a, b, method="dense")
    sparse = match_rows(a, b, method="sparse", candidates=16)
    assert sparse.certified is True
    np.testing.assert_array_equal(sparse.partner, dense.partner)
    assert (dense.partner >= 0).sum() == m
    assert np.nansum(sparse.cos) == pytest.approx(np.nansum(dense.cos), abs=1e-9)


def test_refinement_makes_tiny_candidate_sets_exact() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((400, 16)), rng.standard_normal((400, 16))
    dense = match_rows(a, b, method="dense")
    rough = match_rows(a, b, method="sparse", candidates=2, max_refine_rounds=0)
    assert rough.certified is False
    assert np.nansum(rough.cos) <= np.nansum(dense.cos) + 1e-9
    exact = match_rows(a, b, method="sparse", candidates=2, max_refine_rounds=100)
    assert exact.certified is True and exact.refine_rounds > 0
    np.testing.assert_array_equal(exact.partner, dense.partner)
    off = match_rows(a, b, method="sparse", candidates=2, certify=False)
    assert off.certified is None and off.refine_rounds == 0


def test_rows_without_a_full_candidate_matching_are_unmatched() -> None:
    """All four rows of A point at B0 (e1), so with one candidate per row only one of them
    can be matched within candidates; the other three stay unmatched unless refined."""
    eye = np.eye(8)
    a = np.stack([eye[0] + 0.3 * eye[1] + 0.31 * eye[2] + 0.32 * eye[3],
                  eye[0] + 0.01 * eye[4], eye[0] + 0.02 * eye[5], eye[0] + 0.03 * eye[6]])
    b = eye[:4]
    r = seed_overlap(a, a, b, b, method="sparse", candidates=1, max_refine_rounds=0)
    assert r.n_unmatched == 3 and r.certified is False
    assert (r.enc_partner < 0).sum() == 3 and np.isnan(r.enc_cos).sum() == 3
    assert not r.shared[r.enc_partner < 0].any() and r.n_shared == 1
    dense = seed_overlap(a, a, b, b, method="dense")
    assert (dense.enc_partner >= 0).all() and dense.n_unmatched == 0
    # Refinement widens the unmatched rows' candidate lists until they are matched.
    refined = seed_overlap(a, a, b, b, method="sparse", candidates=1)
    assert refined.n_unmatched == 0 and refined.certified is True
    # A1..A3 are orthogonal to B1..B3, so the optimum has ties: compare total cosine.
    assert refined.enc_cos.sum() == pytest.approx(dense.enc_cos.sum(), abs=1e-12)


def test_decoder_only_agreement_is_not_shared() -> None:
    rng = np.random.default_rng(6)
    enc_a, dec_a = rng.standard_normal((200, 64)), rng.standard_normal((200, 64))
    perm = rng.permutation(200)
    r = seed_overlap(enc_a, dec_a, rng.standard_normal((200, 64)), dec_a[perm])
    assert r.mean_matched_decoder_cosine == pytest.approx(1.0)
    assert r.mean_matched_encoder_cosine < 0.5
    assert r.n_shared == 0 and r.fraction_shared == 0.0
    # Encoder-only agreement is not shared either.
    r2 = seed_overlap(enc_a, dec_a, enc_a[perm], rng.standard_normal((200, 64)))
    assert r2.n_shared == 0 and r2.mean_matched_encoder_cosine == pytest.approx(1.0)


def test_shared_needs_both_cosines_not_the_same_partner() -> None:
    """The paper's rule: both matched cosines > threshold; partners may differ. The looser
    same-partner variant sees the difference."""
    rng = np.random.default_rng(7)
    enc, dec = rng.standard_normal((100, 32)), rng.standard_normal((100, 32))
    p1, p2 = rng.permutation(100), rng.permutation(100)
    r = seed_overlap(enc, dec, enc[p1], dec[p2])
    assert r.fraction_shared == 1.0
    assert r.fraction_same_partner == pytest.approx(np.mean(p1 == p2))
    assert r.fraction_same_partner < 0.1


def test_threshold_is_strict() -> None:
    rng = np.random.default_rng(8)
    enc = rng.standard_normal((50, 16))
    dec = rng.standard_normal((50, 16))
    enc_b = enc + 0.4 * rng.standard_normal((50, 16))
    dec_b = dec + 0.4 * rng.standard_normal((50, 16))
    base = seed_overlap(enc, dec, enc_b, dec_b, threshold=-1.0)
    assert base.fraction_shared == 1.0  # every matched pair has cos > -1
    worst = np.minimum(base.enc_cos, base.dec_cos)
    i = int(np.argmin(worst))
    t = float(worst[i])
    at = seed_overlap(enc, dec, enc_b, dec_b, threshold=t)
    assert not at.shared[i] and at.n_shared == 49
    below = seed_overlap(enc, dec, enc_b, dec_b, threshold=float(np.nextafter(t, -np.inf)))
    assert below.shared[i] and below.n_shared == 50
    assert seed_overlap(enc, dec, enc_b, dec_b, threshold=1.0).n_shared == 0
    s = seed_overlap(enc, dec, enc_b, dec_b)
    assert s.n_shared == int(((s.enc_cos > 0.7) & (s.dec_cos > 0.7)).sum())


def test_different_widths_fraction_over_a() -> None:
    rng = np.random.default_rng(9)
    a = rng.standard_normal((300, 32))
    b = a[rng.permutation(300)[:200]]  # B holds 200 of A's latents
    r = seed_overlap(a, a, b, b)
    assert (r.n_latents, r.n_latents_b) == (300, 200)
    assert r.n_shared == 200 and r.fraction_shared == pytest.approx(200 / 300)
    assert (r.enc_partner < 0).sum() == 100 and np.isnan(r.dec_cos).sum() == 100
    back = seed_overlap(b, b, a, a)
    assert back.fraction_shared == 1.0
    sparse = seed_overlap(a, a, b, b, method="sparse", candidates=8)
    np.testing.assert_array_equal(sparse.enc_partner, r.enc_partner)
    assert sparse.n_unmatched == 0 and sparse.certified is True


def test_auto_method_switches_to_sparse(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(10)
    a = rng.standard_normal((64, 8))
    assert seed_overlap(a, a, a, a).method == "dense"
    monkeypatch.setattr(overlap, "DENSE_AUTO_MAX_PAIRS", 100)
    r = seed_overlap(a, a, a, a)
    assert r.method == "sparse" and r.candidates == 64 and r.fraction_shared == 1.0
    monkeypatch.setattr(overlap, "DENSE_MAX_PAIRS", 100)
    with pytest.raises(ResourceError, match="method='sparse'"):
        seed_overlap(a, a, a, a, method="dense")


def test_scalars_are_json_ready() -> None:
    rng = np.random.default_rng(11)
    a = rng.standard_normal((20, 8))
    s = seed_overlap(a, a, a, a).scalars()
    assert s["fraction_shared"] == 1.0 and s["method"] == "dense"
    assert not any(isinstance(v, np.ndarray) for v in s.values())


def test_bad_inputs() -> None:
    rng = np.random.default_rng(12)
    a = rng.standard_normal((10, 8))
    with pytest.raises(ShapeError, match="d_in"):
        seed_overlap(a, a, a[:, :7], a[:, :7])
    with pytest.raises(ShapeError, match="same shape"):
        seed_overlap(a, a[:9], a, a)
    with pytest.raises(ShapeError, match="2-D"):
        seed_overlap(a[0], a, a, a)
    with pytest.raises(ShapeError, match="empty"):
        seed_overlap(a[:0], a[:0], a, a)
    nan = a.copy()
    nan[3, 2] = np.nan
    with pytest.raises(DegenerateInputError, match=r"NaN.*\[3\]"):
        seed_overlap(a, a, nan, a)
    zero = a.copy()
    zero[4] = 0.0
    with pytest.raises(DegenerateInputError, match=r"all-zero.*\[4\]"):
        seed_overlap(a, zero, a, a)
    for bad in (1.5, -1.01, float("nan"), True):
        with pytest.raises(ConfigError, match="threshold"):
            seed_overlap(a, a, a, a, threshold=bad)
    with pytest.raises(ConfigError, match="method"):
        seed_overlap(a, a, a, a, method="greedy")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="candidates"):
        seed_overlap(a, a, a, a, method="sparse", candidates=0)
    with pytest.raises(ConfigError, match="max_refine_rounds"):
        match_rows(a, a, max_refine_rounds=-1)


@settings(max_examples=40, deadline=None)
@given(
    n_a=st.integers(1, 40), n_b=st.integers(1, 40), d=st.integers(2, 8),
    candidates=st.integers(1, 6), seed=st.integers(0, 2**31 - 1),
)
def test_certified_sparse_optimum_equals_dense(n_a: int, n_b: int, d: int, candidates: int, seed: int) -> None:
    """Property: with refinement the sparse solver is certified and its total cosine is the
    dense optimum (partners may differ only on exact ties)."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n_a, d)), rng.standard_normal((n_b, d))
    dense = match_rows(a, b, method="dense")
    sparse = match_rows(a, b, method="sparse", candidates=candidates, max_refine_rounds=1000)
    assert sparse.certified is True and sparse.n_unmatched == 0
    assert (sparse.partner >= 0).sum() == min(n_a, n_b)
    matched = sparse.partner[sparse.partner >= 0]
    assert np.unique(matched).size == matched.size  # one-to-one
    assert np.nansum(sparse.cos) == pytest.approx(np.nansum(dense.cos), abs=1e-9)
