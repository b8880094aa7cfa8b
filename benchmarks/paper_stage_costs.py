"""Per-stage cost of the Pythia paper tier measured on this CPU at the real shapes (issue 12),
with a reduced number of latents / rows where the full shape does not fit a shared CPU, scaled
by FLOPs (or by n^2 for RSA), plus the GPU estimate from the same FLOP counts.

    OPENBLAS_NUM_THREADS=1 python benchmarks/paper_stage_costs.py [--threads 1] [--out FILE.json]

Every number is a CPU measurement or an estimate derived from one; nothing here ran on a GPU.
GPU estimate = stage FLOPs / (peak rate of the precision the stage uses x EFFICIENCY), with H100
SXM / H200 peaks (dense, no sparsity): FP32 67 TFLOP/s, TF32 tensor 495 TFLOP/s, FP64 tensor
67 TFLOP/s; the RSA gathers are memory-bound: bytes / (HBM bandwidth x EFFICIENCY), H100 3.35
TB/s, H200 4.8 TB/s. The stage counts (how many encodes, pairings, null draws) follow the
pipeline as built (harness/experiments/grid.py) for the ``paper`` profile's sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

N = 30_000  # positions (100 x 300)
F = 32_768  # latents
D = {"a": 512, "b": 768}
LAYERS = {"a": 6, "b": 12}
CELLS = 72
EFFICIENCY = 0.5
GPU = {
    "H100": {"fp32": 67e12, "tf32": 495e12, "fp64": 67e12, "bw": 3.35e12},
    "H200": {"fp32": 67e12, "tf32": 495e12, "fp64": 67e12, "bw": 4.8e12},
}


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def measure_encode(f_sub: int) -> dict[str, float]:
    """One encode pass (pre-TopK codes + top-5 positions + column stats) of 30,000 x 768 at f_sub latents."""
    from harness.activations.encode import SaeWeights, encode_pass

    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D["b"], generator=g)
    w = SaeWeights(
        w_enc=torch.randn(D["b"], f_sub, generator=g) / 30,
        b_enc=torch.zeros(f_sub),
        b_dec=torch.zeros(D["b"]),
        activation="relu_pre_topk",
    )
    s = timed(lambda: encode_pass(x, w, top_k=5, chunk_size=1024))
    return {"seconds": s, "flops": 2.0 * N * D["b"] * f_sub}


def measure_pairing(f_sub: int) -> dict[str, float]:
    """Exact dense pairing (TF32 screen emulated + fp64 recheck) of two 30,000 x f_sub pre-TopK spaces,
    codes encoded on the fly (what the paper procedure does per layer pair)."""
    from harness.activations.encode import SaeCodes, SaeWeights
    from harness.pairing.exact import exact_max_correlation

    g = torch.Generator().manual_seed(1)
    shared = torch.randn(N, 64, generator=g)
    srcs = []
    for d in (D["a"], D["b"]):
        x = shared @ torch.randn(64, d, generator=g) + torch.randn(N, d, generator=g)
        w = SaeWeights(
            w_enc=torch.randn(d, f_sub, generator=g) / math.sqrt(d),
            b_enc=torch.zeros(f_sub) - 0.5,
            b_dec=torch.zeros(d),
            activation="relu_pre_topk",
        )
        srcs.append(SaeCodes(x, w).source())
    t0 = time.perf_counter()
    res = exact_max_correlation(srcs[0], srcs[1], screen="tf32", dead="paper")
    s = time.perf_counter() - t0
    return {
        "seconds": s,
        "flops": 2.0 * N * f_sub * f_sub,
        "max_candidates_per_b": res.max_candidates_per_b,
        "n_candidate_pairs": res.n_candidate_pairs,
    }


def measure_sparse_pairing() -> dict[str, float]:
    """Exact sparse pairing of two TopK spaces at the full shape (30,000 x 32,768, k = 16 / 32)."""
    import scipy.sparse as sp

    from harness.pairing.matching import max_correlation

    rng = np.random.default_rng(2)

    def topk(k: int) -> sp.csr_matrix:
        cols = np.stack([rng.choice(F, size=k, replace=False) for _ in range(N)])
        vals = rng.exponential(size=(N, k)).astype(np.float32)
        return sp.csr_matrix((vals.ravel(), (np.repeat(np.arange(N), k), cols.ravel())), shape=(N, F))

    a, b = topk(16), topk(32)
    t0 = time.perf_counter()
    max_correlation(a, b, backend="sparse", dead="exclude")
    return {"seconds": time.perf_counter() - t0, "flops": float(N * 16 * 32 * 2)}


def measure_svcca_null(n: int, n_perm: int) -> dict[str, float]:
    from harness.scoring.device_nulls import permutation_test_device

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((n, D["a"])), rng.standard_normal((n, D["b"]))
    t0 = time.perf_counter()
    permutation_test_device(
        a, b, metric="svcca", n_permutations=n_perm, seed=0, keep=0.99, max_k=n // 4, device="cpu", basis_on_device=True
    )
    s = time.perf_counter() - t0
    k = min(D["a"], n // 4)
    return {"seconds": s, "flops": float(n_perm) * (2.0 * n * k * k * 2 + 10.0 * k**3)}


def measure_rsa_null(n: int, n_perm: int) -> dict[str, float]:
    from harness.scoring.device_nulls import permutation_test_device

    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((n, D["a"])), rng.standard_normal((n, D["b"]))
    t0 = time.perf_counter()
    permutation_test_device(a, b, metric="rsa", n_permutations=n_perm, seed=0, inner="correlation", device="cpu")
    s = time.perf_counter() - t0
    return {"seconds": s, "bytes": float(n_perm) * n * n / 2 * 8 * 2}


def measure_test2_draw(m: int) -> dict[str, float]:
    """One semantic Test-2 draw at the full shape: encode m random latents of each side
    (pre-TopK, 30,000 positions), their m x m correlation, pair, SVCCA of the pairs."""
    from harness.activations.encode import SaeCodes, SaeWeights
    from harness.experiments.feature_space import FeatureSpace
    from harness.experiments.space_pairing import pair_subsets
    from harness.scoring.metrics import svcca

    g = torch.Generator().manual_seed(5)
    spaces = []
    for d in (D["a"], D["b"]):
        x = torch.randn(N, d, generator=g)
        w = SaeWeights(
            w_enc=torch.randn(d, F, generator=g) / math.sqrt(d),
            b_enc=torch.zeros(F) - 0.5,
            b_dec=torch.zeros(d),
            activation="relu_pre_topk",
        )
        spaces.append(
            FeatureSpace(
                name="x",
                codes=SaeCodes(x, w),
                decoder=np.random.default_rng(6).standard_normal((F, d)),
                tokens=np.zeros((100, 300), np.int64),
                sample_index=np.repeat(np.arange(100), 300),
                position_index=np.tile(np.arange(300), 100),
                vocab=["a"],
                junk_tokens=(),
            )
        )
    rng = np.random.default_rng(7)

    def draw() -> None:
        ia, ib = rng.choice(F, m, replace=False), rng.choice(F, m, replace=False)
        p = pair_subsets(spaces[0], spaces[1], ia, ib, rule="first_seen")
        svcca(spaces[0].decoder[p.a_idx], spaces[1].decoder[p.b_idx], keep=0.99, max_k=max(1, len(p) // 4))

    s = timed(draw, repeat=2)
    return {"seconds": s, "flops": 2.0 * N * (D["a"] + D["b"]) * m + 2.0 * N * m * m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    f_enc, f_pair = 1024, 1024
    enc = measure_encode(f_enc)
    full_enc_flops = 2.0 * N * F * (D["a"] + D["b"]) / 2  # an average space
    # encodes in the whole tier on cuda: every pairing (both procedures, grid + control) encodes
    # each side once (SaeCodes.source materialises the codes); every space's top-token pass (18
    # per procedure + 72 control B spaces); semantic tables rebuild their spaces (LRU misses)
    n_encodes = 2 * CELLS * 2 * 2 + 2 * (18 + CELLS) + 2 * 26 * 2  # codes materialised once per pairing side
    rows["encode (per pass, one space)"] = {
        "cpu_measured_s": enc["seconds"],
        "measured_at": f"{N} x 768 x {f_enc}",
        "cpu_full_s": enc["seconds"] * F / f_enc,
        "tier_flops": full_enc_flops * n_encodes,
        "precision": "fp32",
        "count": n_encodes,
    }
    pair = measure_pairing(f_pair)
    rows["pairing paper (dense, per layer pair)"] = {
        "cpu_measured_s": pair["seconds"],
        "measured_at": f"{N} x {f_pair} x {f_pair}",
        "cpu_full_s": pair["seconds"] * (F / f_pair) ** 2,
        "tier_flops": 2.0 * N * F * F * CELLS * 2 * 2,
        "precision": "tf32",
        "count": CELLS * 2 * 2,
        "max_candidates_per_b": pair["max_candidates_per_b"],
    }
    sparse = measure_sparse_pairing()
    rows["pairing corrected (sparse TopK, per layer pair)"] = {
        "cpu_measured_s": sparse["seconds"],
        "measured_at": f"{N} x {F} x {F}, k 16/32 (full shape)",
        "cpu_full_s": sparse["seconds"],
        "tier_cpu_s": sparse["seconds"] * CELLS * 2,
        "count": CELLS * 2,
    }
    sv = measure_svcca_null(2000, 20)
    n_svcca_draws = (
        CELLS * 2 * 2 * (3 * 100 + 2 * 99)
    )  # grid+control, procs, 3 variants x 100 perms + 2 x 99 size-matched
    rows["SVCCA nulls (per 20 draws at n = 2,000)"] = {
        "cpu_measured_s": sv["seconds"],
        "measured_at": "n = 2,000 pairs, 512 / 768 dims, 20 permutations",
        "cpu_full_s": sv["seconds"] * n_svcca_draws / 20,
        "tier_flops": sv["flops"] / 20 * n_svcca_draws,
        "precision": "fp64",
        "count": n_svcca_draws,
    }
    rs = measure_rsa_null(3000, 10)
    n_big = 26_600
    n_rsa = CELLS * 2 * 2 * 3 * 100
    scale = (n_big / 3000) ** 2  # worst case: every RSA at the many-to-1 size
    rows["RSA nulls (per 10 draws at n = 3,000)"] = {
        "cpu_measured_s": rs["seconds"],
        "measured_at": "n = 3,000, 10 permutations",
        "cpu_full_s": rs["seconds"] / 10 * n_rsa * scale / 3,  # a third of the RSAs at the many-to-1 size
        "tier_bytes": rs["bytes"] / 10 * n_rsa * scale / 3,
        "precision": "memory",
        "count": n_rsa,
    }
    t2 = measure_test2_draw(500)
    n_t2 = 2 * 25 * 8 * 101 + 2 * 8 * 101  # procs x tables x categories x (1 + 100 draws) + table-pair controls
    rows["semantic Test 2 (per draw, 500 x 500 latents)"] = {
        "cpu_measured_s": t2["seconds"],
        "measured_at": f"{N} positions, 500 + 500 latents (full shape)",
        "cpu_full_s": t2["seconds"] * n_t2,
        "tier_flops": t2["flops"] * n_t2,
        "precision": "fp64",
        "count": n_t2,
    }
    for row in rows.values():
        for gpu, r in GPU.items():
            if "tier_flops" in row:
                row[f"{gpu}_est_s"] = row["tier_flops"] / (r[row["precision"]] * EFFICIENCY)
            elif "tier_bytes" in row:
                row[f"{gpu}_est_s"] = row["tier_bytes"] / (r["bw"] * EFFICIENCY)
    out = {"threads": args.threads, "efficiency": EFFICIENCY, "gpu_peaks": GPU, "stages": rows}
    print(json.dumps(out, indent=1, default=float))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
