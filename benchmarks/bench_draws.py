"""Subset draws and a grid cell, shaped for the GPU (issue 20), against the previous choices in the
same run on this CPU: equal numbers asserted (1e-10 relative), the ratio printed and stored in
``extra_info``.

- subset SVCCAs (size-matched, placebo, Test 2): the Gram + eigh route against a batched SVD of
  every subset (``route="svd"``, the previous route), at a smoke-cell shape and a paper-like one;
- one smoke grid cell (A1 x B1 of the fixture world, the grid's settings): the grid as it runs now
  (RSA only for the sets a cell reads, Gram route) against every set's RSA and the SVD route.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m pytest benchmarks/bench_draws.py -s`` (about a
minute; add ``--benchmark-enable`` for pytest-benchmark's statistics). The CPU ratios are not the
GPU's: a batched fp64 eigh of 512-768 x 512-768 matrices and GEMMs are what the GPU runs instead.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
import torch

from harness.scoring.device_nulls import size_matched_draws, svcca_subsets_detailed


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():  # type: ignore[no-untyped-def]
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def report(benchmark, name: str, reference_s: float, fast_s: float) -> float:  # type: ignore[no-untyped-def]
    ratio = reference_s / fast_s
    benchmark.extra_info.update(reference_s=reference_s, fast_s=fast_s, ratio=ratio)
    print(f"\n[{name}] previous {reference_s:.3f} s, now {fast_s:.3f} s, ratio {ratio:.2f}x")
    return ratio


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def paired(n: int, da: int, db: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 8))
    return (
        z @ rng.normal(size=(8, da)) + 0.7 * rng.normal(size=(n, da)),
        z @ rng.normal(size=(8, db)) + 0.7 * rng.normal(size=(n, db)),
    )


@pytest.mark.parametrize(
    ("n_superset", "n", "da", "db", "n_draws"),
    [(447, 262, 64, 96, 99), (1500, 1000, 512, 512, 8)],
    ids=["smoke-cell", "paper-like"],
)
def test_subset_svcca_gram_vs_svd(benchmark, n_superset, n, da, db, n_draws) -> None:  # type: ignore[no-untyped-def]
    """Size-matched draws (corrected: keep 0.99, k <= n/4): Gram + eigh vs an SVD per subset."""
    a, b = paired(n_superset, da, db, seed=1)
    idx = size_matched_draws(n, n_superset, n_draws, seed=2)
    opts = {"keep": 0.99, "max_k": n // 4}
    ref, reference_s = timed(lambda: svcca_subsets_detailed(a, b, idx, route="svd", **opts))
    got, fast_s = timed(lambda: benchmark.pedantic(lambda: svcca_subsets_detailed(a, b, idx, **opts), rounds=1))
    np.testing.assert_allclose(got.scores, ref.scores, rtol=1e-10, atol=0)
    assert (got.k_a == ref.k_a).all() and (got.k_b == ref.k_b).all()
    benchmark.extra_info.update(gram_share=float((got.gram_a.mean() + got.gram_b.mean()) / 2))
    share = benchmark.extra_info["gram_share"]
    report(
        benchmark,
        f"subset SVCCA {n} of {n_superset} rows, d {da}/{db}, {n_draws} draws, Gram {share:.0%}",
        reference_s,
        fast_s,
    )


def test_smoke_grid_cell(benchmark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One smoke grid cell (corrected, A1 x B1, the grid's controls): now vs every set's RSA null
    and the SVD route for the subset draws (the previous choices), same spaces, same run."""
    import harness.scoring.device_nulls as device_nulls
    from fixtures.profile import smoke_profile
    from harness.config import CORRECTED
    from harness.experiments.grid import RSA_VARIANTS, LoadedPair, _cell
    from harness.experiments.placebos import PLACEBO_FILTER_RUNS
    from harness.experiments.size_matched import SIZE_MATCHED_DRAWS
    from harness.experiments.spaces import compare_spaces

    world = LoadedPair(smoke_profile(), device="cpu")
    prof = world.profile
    sa, sb = world.space("a", 1, CORRECTED), world.space("b", 1, CORRECTED)
    sa.top, sb.top, sa.strings, sb.strings  # noqa: B018  # warm the token caches outside the timing

    def cell(rsa_variants: Any) -> dict[str, Any]:
        rec = compare_spaces(
            sa,
            sb,
            CORRECTED,
            n_permutations=prof.n_permutations(CORRECTED),
            null_device="cpu",
            split_halves=True,
            random_partners=True,
            placebos=True,
            paper_permutations=prof.paper_permutations(CORRECTED),
            n_size_matched=prof.size_matched_draws or SIZE_MATCHED_DRAWS,
            placebo_filter_runs=prof.placebo_filter_runs or PLACEBO_FILTER_RUNS,
            rsa_variants=rsa_variants,
        )
        return _cell(rec, 1, 1)

    now, fast_s = timed(lambda: benchmark.pedantic(lambda: cell(RSA_VARIANTS), rounds=1))
    original = device_nulls.subset_bases

    def svd_bases(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **{**kwargs, "route": "svd"})

    monkeypatch.setattr(device_nulls, "subset_bases", svd_bases)
    before, reference_s = timed(lambda: cell(None))
    assert now.keys() == before.keys()
    for key, value in before.items():
        if isinstance(value, float) and math.isfinite(value):
            assert now[key] == pytest.approx(value, rel=1e-10, abs=1e-12), key
        else:
            assert now[key] == value or (isinstance(value, float) and math.isnan(now[key])), key
    report(benchmark, "smoke grid cell A1 x B1 corrected", reference_s, fast_s)
