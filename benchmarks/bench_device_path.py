"""Device-path benchmarks (issue 12): each new torch stage against today's numpy path, same
inputs and permutations, on this CPU; identical partners / nulls equal to 1e-10 asserted, the
ratio (today / device path) printed and stored in ``extra_info``.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m pytest benchmarks/bench_device_path.py -s``
(finishes in well under a minute with the default ``--benchmark-disable``; add
``--benchmark-enable`` for pytest-benchmark's statistics). On a GPU pass ``--device cuda``-like
changes by editing ``DEVICE`` (the same code runs there).

Physical floor at paper scale (Pythia tier, 30,000 positions, 32,768 x 32,768 latents, 72 layer
pairs, one A100; shared/reference/paper-scale-costs.md): pairing 9.3 PFLOP = ~475 s in fp32,
~60 s with the TF32 screen (+ the fp64 recheck of a few candidates per feature); SVCCA + nulls
+ size-matched ~110 s of fp64 GEMMs and eigensolves; RSA + nulls ~26 s of gathers; top tokens
milliseconds (in the encode pass); forward + encode ~3 s. The CPU ratios below are *not* the
GPU gains: the screen is emulated (rounding on the bit pattern + an fp32 GEMM), and on a CPU
the RSA gathers are memory-bound either way.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from harness.pairing.concepts import top_positions
from harness.activations.encode import TopPositions
from harness.scoring.device_nulls import permutation_test_device, size_matched_test_device
from harness.pairing.exact import exact_max_correlation
from harness.pairing.matching import max_correlation
from harness.scoring.metrics import svcca
from tests.scoring.reference_nulls import permutation_test, size_matched_test

DEVICE = "cpu"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():  # type: ignore[no-untyped-def]
    """Same footing as numpy under OPENBLAS_NUM_THREADS=1 (and the CPU here is shared)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def report(benchmark, name: str, reference_s: float, fast_s: float) -> float:  # type: ignore[no-untyped-def]
    ratio = reference_s / fast_s
    benchmark.extra_info.update(reference_s=reference_s, fast_s=fast_s, ratio=ratio)
    print(f"\n[{name}] numpy path {reference_s:.3f} s, device path ({DEVICE}) {fast_s:.3f} s, ratio {ratio:.2f}x")
    return ratio


def timed(benchmark, fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = benchmark.pedantic(fn, rounds=1, iterations=1)
    return out, time.perf_counter() - t0


def relu_codes(n: int, f: int, seed: int, shared: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, f)) - 0.5
    if shared is not None:
        x += 0.6 * shared[:, rng.integers(0, shared.shape[1], f)]
    return np.maximum(x, 0.0).astype(np.float32)


@pytest.mark.parametrize("screen", [None, "tf32"])
def test_pairing(benchmark, screen) -> None:  # type: ignore[no-untyped-def]
    """4,000 positions, 1,024 x 1,024 dense pre-TopK-like codes."""
    a = relu_codes(4000, 1024, 1)
    b = relu_codes(4000, 1024, 2, shared=a)
    t0 = time.perf_counter()
    ref = max_correlation(a, b, backend="dense", dtype="float64")
    reference_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref32 = max_correlation(a, b, backend="dense", dtype="float32")  # today's default dtype
    ref32_s = time.perf_counter() - t0
    out, fast_s = timed(benchmark, lambda: exact_max_correlation(a, b, screen=screen, device=DEVICE))
    mc = out.max_correlation
    np.testing.assert_array_equal(mc.a_for_b, ref.a_for_b)
    np.testing.assert_array_equal(mc.b_for_a, ref.b_for_a)
    np.testing.assert_allclose(mc.corr_for_b, ref.corr_for_b, atol=1e-12, rtol=0)
    flips32 = int(np.sum(ref32.a_for_b != ref.a_for_b))
    benchmark.extra_info.update(
        fp32_reference_s=ref32_s, fp32_partner_flips=flips32, candidate_pairs=out.n_candidate_pairs
    )
    print(
        f"\n  today's fp32 dense path {ref32_s:.3f} s ({flips32} partners differ from fp64); "
        f"candidates rechecked: {out.n_candidate_pairs}"
    )
    report(benchmark, f"pairing fp64 reference vs exact ({screen or 'fp64'})", reference_s, fast_s)


@pytest.mark.parametrize("setting", ["paper", "corrected"])
def test_svcca_null(benchmark, setting) -> None:  # type: ignore[no-untyped-def]
    """n = 2,000 paired rows, d = 256 / 384, 200 permutations."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=(2000, 8))
    a = z @ rng.normal(size=(8, 256)) + rng.normal(size=(2000, 256))
    b = z @ rng.normal(size=(8, 384)) + rng.normal(size=(2000, 384))
    opts = {"keep": 1, "max_k": None} if setting == "paper" else {"keep": 0.99, "max_k": 500}
    t0 = time.perf_counter()
    ref = permutation_test(a, b, metric="svcca", n_permutations=200, seed=1, workers=1, **opts)
    reference_s = time.perf_counter() - t0
    out, fast_s = timed(
        benchmark,
        lambda: permutation_test_device(a, b, metric="svcca", n_permutations=200, seed=1, device=DEVICE, **opts),
    )
    np.testing.assert_allclose(out.null, ref.null, atol=1e-10, rtol=0)
    assert out.observed == ref.observed
    report(
        benchmark, f"SVCCA null ({setting}, k_a={ref.details['k_a']}, k_b={ref.details['k_b']})", reference_s, fast_s
    )


def test_rsa_null(benchmark) -> None:  # type: ignore[no-untyped-def]
    """n = 600 paired rows (100 of them duplicated), 100 permutations."""
    rng = np.random.default_rng(4)
    a = rng.normal(size=(600, 64))
    a[500:] = a[rng.integers(0, 500, 100)]
    b = a[:, :48] + rng.normal(size=(600, 48))
    t0 = time.perf_counter()
    ref = permutation_test(a, b, metric="rsa", n_permutations=100, seed=2, workers=1)
    reference_s = time.perf_counter() - t0
    out, fast_s = timed(
        benchmark, lambda: permutation_test_device(a, b, metric="rsa", n_permutations=100, seed=2, device=DEVICE)
    )
    np.testing.assert_allclose(out.null, ref.null, atol=1e-10, rtol=0)
    assert out.observed == pytest.approx(ref.observed, abs=1e-12)
    report(benchmark, "RSA null", reference_s, fast_s)


def test_size_matched(benchmark) -> None:  # type: ignore[no-untyped-def]
    """Superset of 1,500 pairs, draws of 600, 40 draws, corrected SVCCA settings."""
    rng = np.random.default_rng(5)
    z = rng.normal(size=(1500, 6))
    a = z @ rng.normal(size=(6, 128)) + rng.normal(size=(1500, 128))
    b = z @ rng.normal(size=(6, 192)) + rng.normal(size=(1500, 192))
    n, max_k = 600, int(math.floor(0.25 * 600))

    def score_rows(idx: np.ndarray) -> float:
        return svcca(a[idx], b[idx], keep=0.99, max_k=max_k).score

    t0 = time.perf_counter()
    ref = size_matched_test(0.5, score_rows, n=n, n_superset=1500, n_draws=40, seed=3)
    reference_s = time.perf_counter() - t0
    out, fast_s = timed(
        benchmark,
        lambda: size_matched_test_device(0.5, a, b, n=n, n_draws=40, seed=3, keep=0.99, max_k=max_k, device=DEVICE),
    )
    np.testing.assert_allclose(out.draws, ref.draws, atol=1e-10, rtol=0)
    report(benchmark, "size-matched SVCCA draws", reference_s, fast_s)


@pytest.mark.parametrize("density", [0.02, 0.5])
def test_top_positions(benchmark, density) -> None:  # type: ignore[no-untyped-def]
    """4,000 positions x 4,096 features, top 5 per feature; density 0.02 (TopK-like) and 0.5
    (the pre-TopK codes of the paper procedure)."""
    rng = np.random.default_rng(6)
    dense = (rng.exponential(size=(4000, 4096)) * (rng.random((4000, 4096)) < density)).astype(np.float32)
    codes = sp.csr_matrix(dense)
    t0 = time.perf_counter()
    ref = top_positions(codes, k=5, require_active=True)
    reference_s = time.perf_counter() - t0
    chunks = [torch.as_tensor(dense[s : s + 1024]) for s in range(0, 4000, 1024)]

    def run() -> np.ndarray:
        t = TopPositions(4096, k=5, device=DEVICE)
        for i, c in enumerate(chunks):
            t.update(c, 1024 * i)
        return t.result()

    out, fast_s = timed(benchmark, run)
    np.testing.assert_array_equal(out, ref)
    report(benchmark, f"top-5 positions, density {density} (in-pass merge vs per-feature loop)", reference_s, fast_s)
