"""Pairing at the Pythia paper shapes on a GPU (issue 5's performance plan; ``gpu``).

30,000 positions (100 x 300 tokens) x 32,768 latents on each side: the paper procedure's
pre-TopK ReLU codes are dense (~50 % non-zero), so each layer pair is a 2 N F_A F_B = 64 TFLOP
correlation; ``harness.pairing.matching.max_correlation(..., backend="dense", device="cuda")`` runs
it in column chunks. The reference in the same run is the same code on the CPU for one
chunk of B's columns, extrapolated to all of them. The corrected procedure's TopK codes
(k = 32) go through the exact sparse CPU path at the same shape.

Run (on a CUDA machine): ``python -m pytest benchmarks/bench_gpu_pairing.py --benchmark-enable -s``
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks.bench_engine import report, topk_codes
from harness.pairing.matching import max_correlation

pytestmark = pytest.mark.gpu

N, F, CHUNK = 30_000, 32_768, 2_048


def relu_codes(n: int, f: int, seed: int) -> sp.csr_matrix:
    """(n, f) float32 ReLU of a Gaussian as CSR (~50 % non-zero, like pre-TopK latents and
    like the activation cache hands them to the pairing)."""
    x = np.random.default_rng(seed).standard_normal((n, f), dtype=np.float32)
    return sp.csr_matrix(np.maximum(x, 0, out=x))


def test_dense_pairing_gpu_vs_cpu_at_paper_shape(benchmark) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    a, b = relu_codes(N, F, 1), relu_codes(N, F, 2)
    t0 = time.perf_counter()
    cpu = max_correlation(a, b[:, :CHUNK], backend="dense", dtype="float32", chunk_size=CHUNK, device="cpu")
    reference_s = (time.perf_counter() - t0) * F / CHUNK  # all of B's columns, extrapolated
    gpu = benchmark.pedantic(
        lambda: max_correlation(a, b, backend="dense", dtype="float32", chunk_size=CHUNK, device="cuda"),
        rounds=1,
        iterations=1,
    )
    assert np.mean(gpu.a_for_b[:CHUNK] == cpu.a_for_b) > 0.99  # float32 near-ties aside
    np.testing.assert_allclose(gpu.corr_for_b[:CHUNK], cpu.corr_for_b, atol=1e-4)
    benchmark.extra_info.update(
        n=N,
        f_a=F,
        f_b=F,
        reference="cpu, one chunk extrapolated",
        threads=torch.get_num_threads(),
        device=torch.cuda.get_device_name(0),
    )
    report(benchmark, f"dense pairing {N} x {F} x {F} (paper codes), cuda vs cpu", reference_s, 1)


def test_sparse_pairing_at_paper_shape(benchmark) -> None:  # type: ignore[no-untyped-def]
    """The corrected procedure's TopK codes: exact sparse path on the CPU, same shape."""
    a, b = topk_codes(N, F, 32, seed=1), topk_codes(N, F, 32, seed=2)
    mc = benchmark.pedantic(lambda: max_correlation(a, b, backend="sparse"), rounds=1, iterations=1)
    # features never drawn by the generator are dead and get no partner (-1); all others do
    assert np.all((mc.a_for_b >= 0) == ~mc.dead_b)
    print(f"\n[sparse pairing {N} x {F} x {F} (TopK k=32)] {benchmark.stats.stats.mean:.2f} s")
