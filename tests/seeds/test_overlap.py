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


def planted_pair(n: int, d: int, shared: float, *, noise: float = 0.05, seed: int = 0):
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
    b[: m // 2] = a[: m // 2] + 0.3 * rng.standard_normal((m // 2, 48))
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
    a = np.stack(
        [
            eye[0] + 0.3 * eye[1] + 0.31 * eye[2] + 0.32 * eye[3],
            eye[0] + 0.01 * eye[4],
            eye[0] + 0.02 * eye[5],
            eye[0] + 0.03 * eye[6],
        ]
    )
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
        seed_overlap(a, a, a, a, method="greedy")
    with pytest.raises(ConfigError, match="candidates"):
        seed_overlap(a, a, a, a, method="sparse", candidates=0)
    with pytest.raises(ConfigError, match="max_refine_rounds"):
        match_rows(a, a, max_refine_rounds=-1)


@settings(max_examples=40, deadline=None)
@given(
    n_a=st.integers(1, 40),
    n_b=st.integers(1, 40),
    d=st.integers(2, 8),
    candidates=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
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


# ----------------------------------------------------------------- criteria and conventions


def basis(d: int = 24) -> np.ndarray:
    return np.eye(d)


def three_criteria_pair() -> tuple[np.ndarray, ...]:
    """Four latents per SAE, built from orthonormal directions so every cosine is exact.

    decoder cosines (identity matching): [1, .9, .9, .3]
    encoder cosine matrix (rows A, cols B): [[1,0,0,0],[0,.5,0,0],[0,0,.2,.8],[0,0,.1,0]]
      -> encoder matching 0-0, 1-1, 2-3, 3-2 (0.9 beats 0.2): cosines [1, .5, .8, .1].
    latent 0: shared under every criterion;
    latent 1: decoder match 0.9 but encoder cosine 0.5 -> decoder_only only;
    latent 2: decoder partner B2 (0.9), encoder partner B3 (0.8), encoder cos with B2 = 0.2
              -> both and decoder_only, not decoder_partner_both;
    latent 3: nothing.
    """
    e = basis()
    dec_a = e[[0, 1, 2, 3]]
    dec_b = np.stack(
        [e[0], 0.9 * e[1] + np.sqrt(0.19) * e[4], 0.9 * e[2] + np.sqrt(0.19) * e[5], 0.3 * e[3] + np.sqrt(0.91) * e[6]]
    )
    f = e[8:12]  # encoder directions of A
    g = e[12:16]  # private directions of B's encoders
    enc_a = f.copy()
    enc_b = np.stack(
        [
            f[0],
            0.5 * f[1] + np.sqrt(0.75) * g[1],
            0.2 * f[2] + 0.1 * f[3] + np.sqrt(0.95) * g[2],
            0.8 * f[2] + 0.6 * g[3],
        ]
    )
    return enc_a, dec_a, enc_b, dec_b


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_three_criteria_give_three_fractions(method: str) -> None:
    enc_a, dec_a, enc_b, dec_b = three_criteria_pair()
    want = {
        "both": [True, False, True, False],
        "decoder_only": [True, True, True, False],
        "decoder_partner_both": [True, False, False, False],
    }
    for criterion, mask in want.items():
        r = seed_overlap(enc_a, dec_a, enc_b, dec_b, criterion=criterion, method=method, candidates=2)
        assert r.criterion == criterion and r.convention == "corrected" and r.denominator == 4
        np.testing.assert_array_equal(r.shared, mask)
        assert r.fraction_shared == pytest.approx(sum(mask) / 4)
        assert r.fraction_by_criterion == pytest.approx(
            {"both": 0.5, "decoder_only": 0.75, "decoder_partner_both": 0.25}
        )
    np.testing.assert_array_equal(r.enc_partner, [0, 1, 3, 2])
    np.testing.assert_array_equal(r.dec_partner, [0, 1, 2, 3])
    np.testing.assert_allclose(r.enc_cos, [1, 0.5, 0.8, 0.1], atol=1e-12)
    assert r.fraction_same_partner == 0.5
    # the authors' float32 computation agrees on this equal-width pair (no cosine near 0.7)
    p = seed_overlap(enc_a, dec_a, enc_b, dec_b, criterion="decoder_partner_both", convention="paper")
    assert p.fraction_by_criterion == pytest.approx(r.fraction_by_criterion) and p.denominator == 4
    np.testing.assert_array_equal(p.shared, want["decoder_partner_both"])


def test_default_criterion_is_the_headline_rule() -> None:
    enc_a, dec_a, enc_b, dec_b = three_criteria_pair()
    r = seed_overlap(enc_a, dec_a, enc_b, dec_b)
    assert r.criterion == "both" and r.convention == "corrected"
    assert r.fraction_shared == r.fraction_by_criterion["both"] == 0.5


def unequal_width_pair() -> tuple[np.ndarray, ...]:
    """n_a = 3, n_b = 2. Encoder matching covers A0, A1 (A0-B0, A1-B1, cos .9); decoder
    matching covers A1, A2 (A1-B0, A2-B1, cos .9). Per latent only A1 passes both; by
    assignment position (A0's encoder with A1's decoder, A1's encoder with A2's decoder)
    both positions pass."""
    e = basis()
    enc_a = e[[0, 1, 2]]
    enc_b = np.stack([0.9 * e[0] + 0.1 * e[2] + np.sqrt(0.18) * e[3], 0.9 * e[1] + np.sqrt(0.19) * e[4]])
    dec_a = e[[8, 9, 10]]
    dec_b = np.stack([0.9 * e[9] + 0.1 * e[8] + np.sqrt(0.18) * e[11], 0.9 * e[10] + np.sqrt(0.19) * e[12]])
    return enc_a, dec_a, enc_b, dec_b


def test_unequal_widths_suite_denominator_n_a_paper_min_and_position() -> None:
    enc_a, dec_a, enc_b, dec_b = unequal_width_pair()
    suite = seed_overlap(enc_a, dec_a, enc_b, dec_b)
    np.testing.assert_array_equal(suite.enc_partner, [0, 1, -1])
    np.testing.assert_array_equal(suite.dec_partner, [-1, 0, 1])
    assert suite.denominator == 3 and suite.n_shared == 1
    np.testing.assert_array_equal(suite.shared, [False, True, False])
    assert suite.fraction_by_criterion == pytest.approx(
        {"both": 1 / 3, "decoder_only": 2 / 3, "decoder_partner_both": 0.0}
    )
    paper = seed_overlap(enc_a, dec_a, enc_b, dec_b, convention="paper")
    assert paper.convention == "paper" and paper.denominator == 2  # min(n_a, n_b)
    assert paper.n_shared == 2 and paper.fraction_shared == 1.0  # positions combine A0/A1 and A1/A2
    np.testing.assert_array_equal(paper.shared, [False, True, True])  # the decoder rows of those positions
    # decoder_only: the same two latents, only the denominator differs (2/3 vs 2/2)
    assert paper.fraction_by_criterion == pytest.approx({"both": 1.0, "decoder_only": 1.0, "decoder_partner_both": 0.0})
    # n_a <= n_b: positions are latents, denominators agree, the conventions agree
    back = seed_overlap(enc_b, dec_b, enc_a, dec_a)
    back_paper = seed_overlap(enc_b, dec_b, enc_a, dec_a, convention="paper")
    assert back.denominator == back_paper.denominator == 2
    assert back.fraction_by_criterion == pytest.approx(back_paper.fraction_by_criterion)


def test_paper_float32_differs_only_at_a_cosine_within_1e7_of_threshold() -> None:
    """Latent 0's true cosine is 0.7 + 5e-9: > 0.7 in float64, but float32 rounds it to
    float32(0.7) (= 0.69999999), which is not > the float32 threshold."""
    c = 0.7 + 5e-9
    e = basis(8)
    a = e[[0, 2, 3, 5]]
    b = np.stack(
        [
            c * e[0] + np.sqrt(1 - c * c) * e[1],
            e[2],
            0.3 * e[3] + np.sqrt(0.91) * e[4],
            0.95 * e[5] + np.sqrt(1 - 0.95**2) * e[6],
        ]
    )
    for criterion in ("both", "decoder_only", "decoder_partner_both"):
        f64 = seed_overlap(a, a, b, b, criterion=criterion)
        f32 = seed_overlap(a, a, b, b, criterion=criterion, convention="paper")
        assert 0 < f64.dec_cos[0] - 0.7 < 1e-7
        assert f32.dec_cos[0] <= np.float32(0.7)
        np.testing.assert_array_equal(f64.shared, [True, True, False, True])
        np.testing.assert_array_equal(f32.shared, [False, True, False, True])  # only latent 0 differs
        np.testing.assert_array_equal(f32.dec_partner, f64.dec_partner)
        assert (f64.fraction_shared, f32.fraction_shared) == (0.75, 0.5)
    # float32 only stricter: a latent comfortably above 0.7 (latent 3) agrees
    np.testing.assert_allclose(f32.dec_cos[1:], f64.dec_cos[1:], atol=1e-6)


@pytest.mark.parametrize("criterion", ["both", "decoder_only", "decoder_partner_both"])
def test_paper_convention_matches_corrected_on_equal_widths(criterion: str) -> None:
    enc_a, dec_a, enc_b, dec_b, _, _ = planted_pair(400, 64, 0.5, noise=0.6, seed=13)
    r = seed_overlap(enc_a, dec_a, enc_b, dec_b, criterion=criterion)
    p = seed_overlap(
        torch.from_numpy(enc_a).float(),
        dec_a,
        enc_b,
        dec_b,
        criterion=criterion,
        convention="paper",
    )
    assert p.denominator == r.denominator == 400 and p.method == "dense"
    near = (np.abs(r.enc_cos - 0.7) < 1e-5) | (np.abs(r.dec_cos - 0.7) < 1e-5)
    assert not near.any()
    assert p.fraction_by_criterion == r.fraction_by_criterion
    np.testing.assert_array_equal(p.shared, r.shared)
    # always nested in decoder_only (decoder_partner_both is not nested in both in general)
    assert (
        max(r.fraction_by_criterion["decoder_partner_both"], r.fraction_by_criterion["both"])
        <= r.fraction_by_criterion["decoder_only"]
    )


def test_criterion_and_convention_vocabularies() -> None:
    from typing import get_args

    assert overlap.CRITERIA == get_args(overlap.Criterion) == ("both", "decoder_only", "decoder_partner_both")
    assert overlap.CONVENTIONS == get_args(overlap.Convention) == ("corrected", "paper")
    a = np.eye(4)
    for bad in ("decoder", "Both", None, 1):
        with pytest.raises(ConfigError, match="criterion"):
            seed_overlap(a, a, a, a, criterion=bad)
    with pytest.raises(ConfigError, match="convention"):
        seed_overlap(a, a, a, a, convention="authors")
    with pytest.raises(ConfigError, match="dense"):
        seed_overlap(a, a, a, a, convention="paper", method="sparse")
    with pytest.raises(TypeError):
        seed_overlap(a, a, a, a, 0.7, "both")
    assert overlap.check_criterion("decoder_only") == "decoder_only"


def test_decoder_partner_both_is_not_nested_in_both() -> None:
    """Encoder cosines [[.72, .1], [.69, 0]]: the encoder Hungarian swaps (0.1 + 0.69 > 0.72),
    so under ``both`` latent 0 fails (encoder partner cos 0.1), while its decoder partner B0
    passes in both spaces (0.9 and 0.72) -> decoder_partner_both counts it."""
    e = basis(8)
    enc_a = e[[0, 1]]
    enc_b = np.stack(
        [0.72 * e[0] + 0.69 * e[1] + np.sqrt(1 - 0.72**2 - 0.69**2) * e[2], 0.1 * e[0] + np.sqrt(0.99) * e[3]]
    )
    dec_a = e[[4, 5]]
    dec_b = np.stack([0.9 * e[4] + np.sqrt(0.19) * e[6], 0.9 * e[5] + np.sqrt(0.19) * e[7]])
    r = seed_overlap(enc_a, dec_a, enc_b, dec_b)
    np.testing.assert_array_equal(r.enc_partner, [1, 0])
    assert r.fraction_by_criterion == pytest.approx({"both": 0.0, "decoder_only": 1.0, "decoder_partner_both": 0.5})


def test_paper_convention_is_dense_only(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(14)
    a = rng.standard_normal((64, 8))
    monkeypatch.setattr(overlap, "DENSE_AUTO_MAX_PAIRS", 100)  # auto would go sparse under corrected
    assert seed_overlap(a, a, a, a, convention="paper").method == "dense"
    assert seed_overlap(a, a, a, a, convention="paper", method="dense").fraction_shared == 1.0
    monkeypatch.setattr(overlap, "DENSE_MAX_PAIRS", 100)
    with pytest.raises(ResourceError, match="convention='corrected'"):
        seed_overlap(a, a, a, a, convention="paper")
