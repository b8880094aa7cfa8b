"""Exact pairing on the device: screened partners == fp64 partners == matching.max_correlation."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from harness.errors import ConfigError, ShapeError
from harness.pairing.exact import (
    MAX_BLOCK_POSITIONS,
    CodeSource,
    exact_max_correlation,
    round_mantissa,
    screen_eps,
    unit_roundoff,
)
from harness.pairing.matching import max_correlation

# ----------------------------------------------------------------------------- rounding helper


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bits", [7, 10])
@pytest.mark.parametrize("rounding", ["nearest", "truncate"])
def test_round_mantissa_first_principles(dtype: torch.dtype, bits: int, rounding: str) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4000, generator=g, dtype=torch.float64) * torch.exp(
        3 * torch.randn(4000, generator=g, dtype=torch.float64)
    )
    x = x.to(dtype)
    r = round_mantissa(x, bits=bits, rounding=rounding)
    assert r.dtype == dtype
    xd, rd = x.double(), r.double()
    _, e = np.frexp(np.abs(xd.numpy()))  # |x| = m 2^e, m in [0.5, 1)
    ulp = np.ldexp(1.0, e - 1 - bits)  # spacing of (bits + 1)-bit significands in x's binade
    err = np.abs(rd.numpy() - xd.numpy())
    # representable with `bits` explicit bits: r / ulp(r) is an integer
    mr, _ = np.frexp(np.abs(rd.numpy()))
    assert np.all(np.ldexp(mr, bits + 1) == np.round(np.ldexp(mr, bits + 1)))
    if rounding == "nearest":
        assert np.all(err <= ulp / 2)
    else:
        assert np.all(err < ulp) and np.all(np.abs(rd.numpy()) <= np.abs(xd.numpy()))
    assert np.all(np.sign(rd.numpy()) == np.sign(xd.numpy()))
    u = unit_roundoff(bits=bits, rounding=rounding)
    assert np.all(err <= u * np.abs(xd.numpy()))


def test_round_mantissa_ties_to_even_specials_and_bf16() -> None:
    one = 1.0
    half_ulp = 2.0**-11  # TF32 (10 bits): ulp at 1 is 2^-10
    x = torch.tensor(
        [one + half_ulp, one + 3 * half_ulp, -(one + half_ulp), -(one + 3 * half_ulp)], dtype=torch.float64
    )
    # 1 + 2^-11 lies half-way between 1 (even) and 1 + 2^-10 (odd); 1 + 3 2^-11 half-way
    # between 1 + 2^-10 (odd) and 1 + 2^-9 (even)
    assert round_mantissa(x, bits=10).tolist() == [1.0, 1.0 + 2**-9, -1.0, -(1.0 + 2**-9)]
    assert round_mantissa(x, bits=10, rounding="truncate").tolist() == [1.0, 1.0 + 2**-10, -1.0, -(1.0 + 2**-10)]
    sp = torch.tensor([math.inf, -math.inf, math.nan, 0.0, -0.0])
    out = round_mantissa(sp, bits=10)
    assert out[0] == math.inf and out[1] == -math.inf and math.isnan(out[2]) and out[3] == 0
    # bf16 round to nearest even is torch's own conversion
    y = torch.randn(20000, generator=torch.Generator().manual_seed(2)) * 100
    assert torch.equal(round_mantissa(y, bits=7), y.to(torch.bfloat16).float())
    # fp64 and fp32 paths agree on fp32 inputs
    assert torch.equal(round_mantissa(y.double(), bits=10), round_mantissa(y, bits=10).double())
    with pytest.raises(ConfigError, match="float32 or float64"):
        round_mantissa(y.half(), bits=7)


# ----------------------------------------------------------------------------- worlds


def random_world(n: int = 400, fa: int = 60, fb: int = 70, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ReLU codes with shared structure, a dead A column (3), a constant B column (5), an exact
    duplicate pair of A columns (10 == 11) and a B column that is a copy of both (7)."""
    rng = np.random.default_rng(seed)
    a = np.maximum(rng.normal(size=(n, fa)), 0)
    b = np.maximum(rng.normal(size=(n, fb)) + 0.5 * a[:, rng.integers(0, fa, fb)], 0)
    a[:, 3] = 0.0
    b[:, 5] = 2.0
    a[:, 11] = a[:, 10]
    b[:, 7] = a[:, 10]
    return a, b


def near_tie_world(n: int = 512, fb: int = 48, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each B column j, A columns 2j and 2j+1 correlate with it within gap_j of each other,
    gap_j from 1e-7 to 1e-2 (below the TF32 / bf16 screen error for most j)."""
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(n, fb))
    a = np.empty((n, 2 * fb))
    gaps = np.logspace(-7, -2, fb)
    for j in range(fb):
        base = b[:, j] + 0.8 * rng.normal(size=n)
        other = rng.normal(size=n)
        a[:, 2 * j] = base
        # move a little towards / away from b: corr changes by ~ gap
        a[:, 2 * j + 1] = base + gaps[j] * 40 * (rng.choice([-1, 1]) * b[:, j] + other)
    return a, b, gaps


def plain_screen_partners(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """Argmax of the rounded-input Gram, no recheck (what a plain low-precision matmul does)."""
    za = (a - a.mean(0)) / (a.std(0) * math.sqrt(a.shape[0]))
    zb = (b - b.mean(0)) / (b.std(0) * math.sqrt(b.shape[0]))
    ra = round_mantissa(torch.as_tensor(za), bits=bits).float()
    rb = round_mantissa(torch.as_tensor(zb), bits=bits).float()
    return (ra.T @ rb).argmax(0).numpy()


def assert_same(mc, ref) -> None:
    np.testing.assert_array_equal(mc.a_for_b, ref.a_for_b)
    np.testing.assert_array_equal(mc.b_for_a, ref.b_for_a)
    np.testing.assert_allclose(mc.corr_for_b, ref.corr_for_b, atol=1e-12, rtol=0)
    np.testing.assert_allclose(mc.corr_for_a, ref.corr_for_a, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(mc.dead_a, ref.dead_a)
    np.testing.assert_array_equal(mc.dead_b, ref.dead_b)


# ----------------------------------------------------------------------------- pairing


@pytest.mark.parametrize("dead", ["paper", "exclude"])
@pytest.mark.parametrize(
    "screen,rounding", [(None, "nearest"), ("tf32", "nearest"), ("tf32", "truncate"), ("bf16", "nearest")]
)
def test_partners_equal_matching_fp64(dead: str, screen: str | None, rounding: str) -> None:
    a, b = random_world()
    ref = max_correlation(a, b, backend="dense", dtype="float64", dead=dead)
    out = exact_max_correlation(
        a,
        b,
        screen=screen,
        rounding=rounding,
        dead=dead,
        block_positions=128,
        b_group=32,
    )
    assert_same(out.max_correlation, ref)
    mc = out.max_correlation
    # duplicated A columns 10 == 11: the tie goes to the lowest index, as in matching
    assert mc.a_for_b[7] == 10
    assert mc.corr_for_b[7] == pytest.approx(1.0, abs=1e-12)
    if dead == "paper":
        assert mc.a_for_b[5] == 0 and mc.corr_for_b[5] == 0.0 and mc.b_for_a[3] == 0
    else:
        assert mc.a_for_b[5] == -1 and math.isnan(mc.corr_for_b[5]) and mc.b_for_a[3] == -1
        assert not np.any(mc.a_for_b == 3)


@pytest.mark.parametrize(
    "screen,bits,rounding", [("tf32", 10, "nearest"), ("tf32", 10, "truncate"), ("bf16", 7, "nearest")]
)
def test_adversarial_near_ties(screen: str, bits: int, rounding: str) -> None:
    a, b, _ = near_tie_world()
    ref = max_correlation(a, b, backend="dense", dtype="float64", dead="paper")
    eps = screen_eps(screen=screen, rounding=rounding, block_positions=128, n_positions=a.shape[0])
    # the construction really is adversarial: most gaps lie below the screen's error bound, and
    # a plain low-precision argmax picks the wrong partner for some columns
    true_gap = np.array(
        [
            abs(np.corrcoef(a[:, 2 * j], b[:, j])[0, 1] - np.corrcoef(a[:, 2 * j + 1], b[:, j])[0, 1])
            for j in range(b.shape[1])
        ]
    )
    assert np.mean(true_gap < eps) > 0.5
    if rounding == "nearest":
        assert np.any(plain_screen_partners(a, b, bits) != ref.a_for_b)
    exact = exact_max_correlation(
        a,
        b,
        screen=screen,
        rounding=rounding,
        dead="paper",
        block_positions=128,
    )
    assert_same(exact.max_correlation, ref)
    fp64 = exact_max_correlation(a, b, screen=None, dead="paper", block_positions=128)
    np.testing.assert_array_equal(exact.max_correlation.a_for_b, fp64.max_correlation.a_for_b)
    assert exact.max_candidates_per_b >= 2  # the near-tied partner was rechecked


def test_encoder_source_and_blocks() -> None:
    """A callable encoder as the code source; it is asked for the same blocks in every pass."""
    a, b = random_world(n=300, fa=40, fb=50, seed=5)
    w = np.random.default_rng(9).normal(size=(a.shape[1], 64))
    calls: list[tuple[int, int]] = []

    def encode(s: int, e: int) -> torch.Tensor:
        calls.append((s, e))
        return torch.relu(torch.as_tensor(a[s:e]) @ torch.as_tensor(w))

    codes = np.maximum(a @ w, 0)
    src = CodeSource(block=encode, n_positions=a.shape[0], n_features=64)
    out = exact_max_correlation(src, b, screen="tf32", block_positions=64, b_group=20)
    ref = max_correlation(codes, b, backend="dense", dtype="float64", dead="exclude")
    assert_same(out.max_correlation, ref)
    blocks = sorted(set(calls))
    assert blocks == [(s, min(s + 64, 300)) for s in range(0, 300, 64)]


def test_bad_input_messages() -> None:
    a, b = random_world(n=50, fa=16, fb=12)
    with pytest.raises(ShapeError, match="same tokens"):
        exact_max_correlation(a, b[:40])
    with pytest.raises(ConfigError, match="screen="):
        exact_max_correlation(a, b, screen="fp8")
    with pytest.raises(ConfigError, match="block_positions"):
        exact_max_correlation(a, b, block_positions=8192)
    with pytest.raises(ConfigError, match="CodeSource"):
        exact_max_correlation(lambda s, e: a[s:e], b)
    bad = CodeSource(block=lambda s, e: torch.zeros(e - s, 3), n_positions=50, n_features=16)
    with pytest.raises(ShapeError, match="positions, features"):
        exact_max_correlation(bad, b)


def test_scipy_sparse_codes_like_feature_spaces() -> None:
    """FeatureSpace.codes is a CSR matrix: it is a valid source, blocks densified one at a time."""
    import scipy.sparse as sp

    a, b = random_world(n=200, fa=30, fb=40, seed=11)
    a[a < 0.8] = 0.0
    b[b < 0.8] = 0.0
    out = exact_max_correlation(sp.csr_matrix(a), sp.csr_matrix(b), screen="tf32", block_positions=64)
    ref = max_correlation(sp.csr_matrix(a), sp.csr_matrix(b), backend="sparse", dead="exclude")
    np.testing.assert_array_equal(out.max_correlation.a_for_b, ref.a_for_b)
    np.testing.assert_array_equal(out.max_correlation.b_for_a, ref.b_for_a)


@pytest.mark.parametrize("screen,rounding", [("tf32", "nearest"), ("tf32", "truncate"), ("bf16", "nearest")])
@pytest.mark.parametrize(("n", "m"), [(1000, 256), (9000, MAX_BLOCK_POSITIONS)])
def test_screen_error_within_bound(screen: str, rounding: str, n: int, m: int) -> None:
    """The screened Gram (rounded inputs, fp32 block products, fp64 across blocks) stays within
    eps |z~_a||z~_b| of the fp64 Gram: the premise of the candidate window; also with the default
    (largest) block of 4,096 positions, over several blocks."""
    a, b = random_world(n=n, fa=50, fb=60, seed=12)
    a, b = a[:, [j for j in range(50) if j != 3]], b[:, [j for j in range(60) if j != 5]]  # no dead columns
    za = torch.as_tensor((a - a.mean(0)) / (a.std(0) * math.sqrt(a.shape[0])))
    zb = torch.as_tensor((b - b.mean(0)) / (b.std(0) * math.sqrt(b.shape[0])))
    bits = {"tf32": 10, "bf16": 7}[screen]
    ra = round_mantissa(za, bits=bits, rounding=rounding).float()
    rb = round_mantissa(zb, bits=bits, rounding=rounding).float()
    screened = sum((ra[s : s + m].T @ rb[s : s + m]).double() for s in range(0, a.shape[0], m))
    exact = za.T @ zb
    eps = screen_eps(screen=screen, rounding=rounding, block_positions=m, n_positions=a.shape[0])
    norms = torch.linalg.vector_norm(ra.double(), dim=0)[:, None] * torch.linalg.vector_norm(rb.double(), dim=0)[None]
    ratio = float(((screened - exact).abs() / (eps * norms)).max())
    assert 0.01 < ratio <= 1.0  # within the bound, and the bound is not vacuous (within 100x)


def test_default_block_is_the_largest_the_bound_allows() -> None:
    """Default and ceiling are MAX_BLOCK_POSITIONS (4,096); partners over 4,096-position blocks equal
    the fp64 reference (matching) across several blocks, with the screen and without."""
    assert inspect.signature(exact_max_correlation).parameters["block_positions"].default == MAX_BLOCK_POSITIONS == 4096
    with pytest.raises(ConfigError, match="block_positions"):
        exact_max_correlation(np.ones((10, 2)), np.ones((10, 2)), block_positions=MAX_BLOCK_POSITIONS + 1)
    a, b = random_world(n=9000, fa=40, fb=50, seed=4)
    ref = max_correlation(a, b, backend="dense", dtype="float64", dead="paper")
    for screen in (None, "tf32"):
        out = exact_max_correlation(a, b, screen=screen, dead="paper").max_correlation
        np.testing.assert_array_equal(out.a_for_b, ref.a_for_b)
        np.testing.assert_array_equal(out.b_for_a, ref.b_for_a)
        np.testing.assert_allclose(out.corr_for_b, ref.corr_for_b, atol=1e-12)
