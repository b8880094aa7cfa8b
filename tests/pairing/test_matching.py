"""Max-correlation pairing: dense == sparse == brute force; 1-1 rules on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.errors import ConfigError, ShapeError
from harness.pairing.matching import (
    Pairs,
    correlation_submatrix,
    many_to_one_pairs,
    max_correlation,
    one_to_many_pairs,
    one_to_one,
    pair_within,
    threshold_pairs,
)


def topk_codes(n: int, f: int, k: int, seed: int, dead: tuple[int, ...] = ()) -> sp.csr_matrix:
    """Random TopK-like non-negative codes, k non-zeros per token, some dead columns."""
    rng = np.random.default_rng(seed)
    alive = np.setdiff1d(np.arange(f), dead)
    p = rng.gamma(2.0, size=alive.size)
    p /= p.sum()
    rows = np.repeat(np.arange(n), k)
    cols = np.concatenate([rng.choice(alive, size=k, replace=False, p=p) for _ in range(n)])
    return sp.csr_matrix((rng.exponential(size=n * k), (rows, cols)), shape=(n, f))


def brute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    fa = a.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(a.T, b.T)[:fa, fa:]
    return c


@pytest.mark.parametrize("dead_policy", ["paper", "exclude"])
def test_dense_and_sparse_agree_with_brute_force(dead_policy: str) -> None:
    a = topk_codes(1500, 300, 8, seed=1, dead=(0, 7, 299))
    b = topk_codes(1500, 450, 12, seed=2, dead=(3,))
    dense = max_correlation(a, b, backend="dense", dtype="float64", dead=dead_policy, chunk_size=97)
    sparse = max_correlation(a, b, backend="sparse", dead=dead_policy)
    c = brute(a.toarray(), b.toarray())
    if dead_policy == "paper":
        c = np.nan_to_num(c, nan=0.0)
    else:
        c[np.isnan(c)] = -np.inf
    for res in (dense, sparse):
        np.testing.assert_array_equal(res.dead_a, a.getnnz(axis=0) == 0)
        np.testing.assert_array_equal(res.dead_b, b.getnnz(axis=0) == 0)
        assert res.dead_a[[0, 7, 299]].all() and res.dead_b[3]
        alive_b = ~res.dead_b
        np.testing.assert_allclose(res.corr_for_b[alive_b], c.max(0)[alive_b], atol=1e-10)
        np.testing.assert_array_equal(res.a_for_b[alive_b], c.argmax(0)[alive_b])
        alive_a = ~res.dead_a
        np.testing.assert_allclose(res.corr_for_a[alive_a], c.max(1)[alive_a], atol=1e-10)
        np.testing.assert_array_equal(res.b_for_a[alive_a], c.argmax(1)[alive_a])
        if dead_policy == "paper":  # dead features: correlation 0, partner index 0
            assert res.a_for_b[3] == 0 and res.corr_for_b[3] == 0
            assert res.b_for_a[7] == 0 and res.corr_for_a[7] == 0
        else:
            assert res.a_for_b[3] == -1 and np.isnan(res.corr_for_b[3])
            assert not np.isin(res.a_for_b, np.flatnonzero(res.dead_a)).any()


def test_sparse_path_exact_when_best_partner_never_coactivates() -> None:
    """A B feature whose best partner is in the zero-product region (anti-correlated world)."""
    n = 400
    a = np.zeros((n, 3))
    b = np.zeros((n, 2))
    a[:200, 0] = 1.0  # feature a0 on in the first half
    a[::2, 1] = 1.0  # a1 on every other token
    a[5, 2] = 3.0  # a2 rare
    b[200:, 0] = 1.0  # b0 on in the second half: never co-active with a0 or... (co-active with a1)
    b[:100, 1] = 2.0  # b1 overlaps a0
    dense = max_correlation(a, b, backend="dense", dtype="float64")
    sparse = max_correlation(sp.csr_matrix(a), sp.csr_matrix(b), backend="sparse")
    c = brute(a, b)
    for res in (dense, sparse):
        np.testing.assert_array_equal(res.a_for_b, c.argmax(0))
        np.testing.assert_allclose(res.corr_for_b, c.max(0), atol=1e-12)


def test_signed_dense_codes_and_torch_inputs() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((500, 40))
    b = a[:, :30] @ rng.standard_normal((30, 50)) + rng.standard_normal((500, 50))
    c = brute(a, b)
    res = max_correlation(torch.tensor(a), torch.tensor(b), backend="dense", dtype="float64", chunk_size=16)
    np.testing.assert_array_equal(res.a_for_b, c.argmax(0))
    sres = max_correlation(sp.csr_matrix(a), sp.csr_matrix(b), backend="sparse")
    np.testing.assert_array_equal(sres.a_for_b, c.argmax(0))
    np.testing.assert_array_equal(sres.b_for_a, c.argmax(1))
    assert res.mean_max_corr_b == pytest.approx(c.max(0).mean())


def test_auto_backend_and_errors() -> None:
    a = topk_codes(300, 400, 4, seed=4)  # density 1% -> sparse
    b = topk_codes(300, 500, 4, seed=5)
    assert max_correlation(a, b).backend == "sparse"
    assert max_correlation(a.toarray(), b.toarray()).backend == "dense"
    with pytest.raises(ShapeError, match="same tokens"):
        max_correlation(a, b[:299])
    bad = a.toarray()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        max_correlation(bad, b.toarray())


def pairs(a: list[int], b: list[int], c: list[float]) -> Pairs:
    return Pairs(np.array(a), np.array(b), np.array(c, dtype=float))


def test_first_seen_keeps_lowest_b_index_not_best_correlation() -> None:
    p = pairs([5, 5, 2, 5, 9], [0, 1, 2, 3, 4], [0.2, 0.9, 0.5, 0.95, 0.4])
    first = one_to_one(p, rule="first_seen")
    assert list(zip(first.a_idx, first.b_idx, strict=True)) == [(5, 0), (2, 2), (9, 4)]  # the paper's quirk
    best = one_to_one(p, rule="best")
    assert list(zip(best.a_idx, best.b_idx, strict=True)) == [(2, 2), (5, 3), (9, 4)]
    assert one_to_one(p, rule="none") is p
    assert "1-1 first_seen: 5 -> 3" in first.history[-1]


def test_first_seen_ordering_is_by_b_index_even_if_input_is_not() -> None:
    p = pairs([5, 5], [7, 3], [0.9, 0.1])
    assert one_to_one(p, rule="first_seen").b_idx.tolist() == [3]


def test_hungarian_rule_is_optimal_on_small_case() -> None:
    # A features 0,1; B features 0,1,2. Greedy best would give A0->B0 and A1->B1? brute check.
    corr = np.array([[0.9, 0.8, 0.1], [0.85, 0.2, 0.3]])
    p = pairs([0, 0, 1], [0, 1, 2], [0.9, 0.8, 0.3])  # many-to-1 candidates
    h = one_to_one(p, rule="hungarian", corr_matrix=corr)
    assert sorted(zip(h.a_idx.tolist(), h.b_idx.tolist(), strict=True)) == [(0, 1), (1, 0)]  # total 1.65 > 1.2
    with pytest.raises(ShapeError, match="corr_matrix"):
        one_to_one(p, rule="hungarian")


def test_threshold_and_directions() -> None:
    p = pairs([0, 1, 2], [0, 1, 2], [0.05, 0.1, 0.5])
    assert threshold_pairs(p, min_corr=0.1).b_idx.tolist() == [2]  # strictly above
    a = topk_codes(600, 40, 5, seed=6)
    b = topk_codes(600, 30, 5, seed=7)
    mc = max_correlation(a, b)
    m21, o2m = many_to_one_pairs(mc), one_to_many_pairs(mc)
    assert len(m21) == 30 - mc.dead_b.sum() and len(o2m) == 40 - mc.dead_a.sum()
    np.testing.assert_array_equal(m21.a_idx, mc.a_for_b)


def test_pair_within_and_submatrix() -> None:
    a = topk_codes(800, 50, 6, seed=8)
    b = topk_codes(800, 60, 6, seed=9)
    idx_a, idx_b = np.array([3, 10, 20, 40]), np.array([1, 2, 30])
    assert a[:, idx_a].getnnz(axis=0).all() and b[:, idx_b].getnnz(axis=0).all()
    sub = correlation_submatrix(a, b, idx_a, idx_b)
    full = brute(a.toarray(), b.toarray())
    np.testing.assert_allclose(sub, full[np.ix_(idx_a, idx_b)], atol=1e-12)
    p = pair_within(a, b, idx_a, idx_b, rule="best")
    assert set(p.a_idx) <= set(idx_a) and set(p.b_idx) <= set(idx_b)
    assert len(set(p.a_idx)) == len(p)
    h = pair_within(a, b, idx_a, idx_b, rule="hungarian")
    import itertools

    best_total = max(sum(sub[r, c] for c, r in enumerate(rows)) for rows in itertools.permutations(range(4), 3))
    assert len(h) == 3 and h.corr.sum() == pytest.approx(best_total)


def test_semantic_first_seen_walks_b_in_python_set_order() -> None:
    """The paper's semantic 1-1 rule keeps, for an A feature met more than once, the first
    pair met walking B's columns in list(set) order, not the lowest B index."""
    rng = np.random.default_rng(3)
    n = 400
    base5, base7 = rng.exponential(size=n), rng.exponential(size=n)
    a = np.zeros((n, 10))
    a[:, 5], a[:, 7] = base5, base7
    b = np.zeros((n, 1001))
    b[:, 40] = base5 + rng.normal(scale=0.8, size=n)  # weakest partner of A5
    b[:, 8] = base5 + rng.normal(scale=0.1, size=n)  # strongest partner of A5
    b[:, 1000] = base5 + rng.normal(scale=0.4, size=n)
    b[:, 33] = base7 + rng.normal(scale=0.1, size=n)
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    set_b: set[int] = set()
    for group in ([40], [8, 1000], [33]):  # keyword by keyword, ascending within a keyword
        set_b.update(group)
    idx_b = np.array(list(set_b))
    assert idx_b.tolist() == [40, 8, 1000, 33] != sorted(idx_b.tolist())
    idx_a = np.array([7, 5])
    paper = pair_within(a, b, idx_a, idx_b, rule="first_seen", order="given")
    assert list(zip(paper.a_idx.tolist(), paper.b_idx.tolist(), strict=True)) == [(5, 40), (7, 33)]
    lowest_b = pair_within(a, b, idx_a, idx_b, rule="first_seen", order="sorted")
    assert list(zip(lowest_b.a_idx.tolist(), lowest_b.b_idx.tolist(), strict=True)) == [(5, 8), (7, 33)]
    best = pair_within(a, b, idx_a, idx_b, rule="best", order="given")
    assert sorted(zip(best.a_idx.tolist(), best.b_idx.tolist(), strict=True)) == [(5, 8), (7, 33)]
    corr = correlation_submatrix(a, b, np.array([5]), np.array([40, 8, 1000]))[0]
    assert corr[0] < corr[2] < corr[1]  # the kept pair is the weakest: order, not correlation
    # the whole-space rule is unchanged: lowest B index first
    many = Pairs(np.array([5, 5, 5, 7]), np.array([40, 8, 1000, 33]), np.array([0.2, 0.9, 0.5, 0.9]))
    assert one_to_one(many, rule="first_seen").b_idx.tolist() == [8, 33]
    assert one_to_one(many, rule="first_seen", walk="given").b_idx.tolist() == [40, 33]
    with pytest.raises(ConfigError):
        pair_within(a, b, idx_a, np.array([40, 40, 8]), rule="first_seen", order="given")


def test_sparse_blocks_reach_the_device_as_the_same_dense_matrix() -> None:
    """The accelerator path of the dense pairing ships CSC arrays and densifies there."""
    import scipy.sparse as sp
    import torch

    from harness.pairing.matching import _to_device_dense

    x = sp.random(50, 30, density=0.3, format="csr", random_state=0)
    got = _to_device_dense(x[:, 3:17], device="cpu", dtype=torch.float32)
    assert tuple(got.shape) == (50, 14)
    np.testing.assert_allclose(got.numpy(), x[:, 3:17].toarray(), atol=1e-6)
    np.testing.assert_array_equal(_to_device_dense(x, device="cpu", dtype=torch.float64).numpy(), x.toarray())
    dense = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(_to_device_dense(dense, device="cpu", dtype=torch.float64).numpy(), dense)


def test_both_standardisation_routes_give_the_same_block() -> None:
    """The accelerator route (densify on the device) and the CPU route (densify in numpy) of the
    dense pairing z-score a block identically, dead columns included."""
    import scipy.sparse as sp
    import torch

    from harness.pairing.matching import _zscore_block

    x = sp.random(40, 12, density=0.4, format="csr", random_state=1)
    x = sp.csr_matrix(x.toarray() * (np.arange(12) != 5))  # column 5 dead
    dense = x.toarray()
    mean, std = dense.mean(0), dense.std(0)
    kw = dict(n_tokens=40, device="cpu", dtype=torch.float64)
    cpu = _zscore_block(x, mean, std, densify_on_device=False, **kw).numpy()
    dev = _zscore_block(x, mean, std, densify_on_device=True, **kw).numpy()
    np.testing.assert_allclose(dev, cpu, rtol=0, atol=1e-15)
    assert np.all(cpu[:, 5] == 0)
    np.testing.assert_allclose((cpu**2).sum(0)[std > 0], 1.0)  # unit norm: z @ z = correlation


def test_top_pairs_keeps_the_most_correlated_in_order() -> None:
    from harness.errors import ConfigError
    from harness.pairing.matching import Pairs, top_pairs

    p = Pairs(np.arange(5), np.arange(5) + 10, np.array([0.1, 0.9, -0.2, 0.9, 0.5]))
    t = top_pairs(p, n=3)
    assert t.a_idx.tolist() == [1, 3, 4] and t.b_idx.tolist() == [11, 13, 14]  # original order kept
    assert len(top_pairs(p, n=10)) == 5 and len(top_pairs(p, n=0)) == 0
    assert t.history[-1] == "top 3 by correlation: 5 -> 3"
    with pytest.raises(ConfigError, match="n=-1"):
        top_pairs(p, n=-1)


def test_zero_features_is_a_clear_error() -> None:
    """Issue 14, finding 8: zero features raised a raw IndexError."""
    from harness.errors import DegenerateInputError

    x = np.random.default_rng(0).standard_normal((50, 4))
    for a, b, side in ((np.zeros((50, 0)), x, "acts_a"), (x, sp.csr_matrix((50, 0)), "acts_b")):
        for backend in ("dense", "sparse", "auto"):
            with pytest.raises(DegenerateInputError, match=f"{side} has 0 features"):
                max_correlation(a, b, backend=backend)


def test_correlations_never_exceed_one() -> None:
    """Issue 14, finding 8: float32 rounding gave correlations of 1.0000018; identical,
    widely scaled columns overshoot 1 in float32 unless clipped."""
    x = np.random.default_rng(0).standard_normal((3000, 64)) * np.random.default_rng(1).uniform(0.1, 100, 64)
    mc = max_correlation(x, x, backend="dense", dtype="float32")
    assert np.nanmax(mc.corr_for_b) <= 1.0 and np.nanmax(mc.corr_for_a) <= 1.0
    np.testing.assert_array_equal(mc.a_for_b, np.arange(64))  # the partners are unchanged: itself
    sub = correlation_submatrix(x, -x, np.arange(64), np.arange(64))
    assert sub.min() >= -1.0 and sub.max() <= 1.0


def test_cpu_default_pairs_near_ties_as_the_exact_reference() -> None:
    """Issue 14, finding 5: on the CPU the dense path multiplied in float32 (~3e-6 error), so
    near-tied partners were chosen by rounding and could differ across machines. Each B column
    here has two A candidates whose correlations differ by ~1e-9."""
    rng = np.random.default_rng(0)
    n, f = 4000, 200
    b = rng.standard_normal((n, f))
    a1 = b + 0.5 * rng.standard_normal((n, f))
    a = np.concatenate([a1, a1 + 2e-5 * rng.standard_normal((n, f))], axis=1)
    exact = max_correlation(sp.csr_matrix(a), sp.csr_matrix(b), backend="sparse")  # float64, no matmul
    dense = max_correlation(a, b, backend="dense")  # the default dtype on the CPU
    np.testing.assert_array_equal(dense.a_for_b, exact.a_for_b)
    np.testing.assert_array_equal(dense.b_for_a, exact.b_for_a)


def test_subset_pairing_resolves_rounding_ties_the_same_way_on_every_machine() -> None:
    """Issue 14, finding 5: tied correlations that differ only by float64 rounding (which
    another CPU's kernels round the other way) pair the same features; a real difference wins."""
    from harness.pairing.matching import SUBSET_TIE_TOL, argmax_first, pair_from_correlation

    tie = -0.0123456789
    here = np.array([[tie, 0.2], [np.nextafter(tie, 1.0), 0.1], [-0.5, 0.2 + 1e-6]])
    there = here.copy()
    there[0, 0], there[1, 0] = np.nextafter(tie, 1.0), tie  # the other rounding of the same tie
    assert argmax_first(here).tolist() == [1, 2] and argmax_first(there).tolist() == [0, 2]  # plain argmax
    assert argmax_first(here, tol=SUBSET_TIE_TOL).tolist() == argmax_first(there, tol=SUBSET_TIE_TOL).tolist() == [0, 2]
    idx_a, idx_b = np.array([10, 11, 12]), np.array([20, 21])
    for rule in ("best", "first_seen"):
        p_here = pair_from_correlation(here, idx_a, idx_b, rule=rule)
        p_there = pair_from_correlation(there, idx_a, idx_b, rule=rule)
        assert p_here.a_idx.tolist() == p_there.a_idx.tolist() == [10, 12]  # 0.2 + 1e-6 beats 0.2: a real gap
        assert p_here.b_idx.tolist() == p_there.b_idx.tolist() == [20, 21]


def test_best_rule_tie_tolerance_keeps_the_lowest_b() -> None:
    from harness.pairing.matching import Pairs

    c = 0.3
    pairs = Pairs(np.array([1, 1, 2]), np.array([7, 5, 6]), np.array([c, np.nextafter(c, 0.0), 0.9]))
    exact = one_to_one(pairs, rule="best")
    tolerant = one_to_one(pairs, rule="best", tie_tol=1e-10)
    assert sorted(zip(exact.a_idx.tolist(), exact.b_idx.tolist(), strict=True)) == [(1, 7), (2, 6)]  # rounding decides
    assert sorted(zip(tolerant.a_idx.tolist(), tolerant.b_idx.tolist(), strict=True)) == [(1, 5), (2, 6)]  # lowest b
    gap = Pairs(np.array([1, 1]), np.array([7, 5]), np.array([c, c - 1e-6]))
    assert one_to_one(gap, rule="best", tie_tol=1e-10).b_idx.tolist() == [7]  # a real difference still wins
