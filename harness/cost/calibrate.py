"""The microbenchmark behind a measured throughput table (``sae-claims cost --calibrate``).

Times every kernel key the recipes (:mod:`harness.cost.recipes`) use at a few sizes on one
device, with the code's own call patterns (batched torch decompositions, numpy LAPACK, the RSA
null's gather, scipy's sparse pairing, a Python loop over feature strings), and writes a
:class:`harness.cost.throughput.ThroughputTable` with ``source = "measured"``, the machine's name,
torch / CUDA versions and thread count. Each point is the best of :data:`REPEATS` timed runs after
one warm-up; the whole CPU calibration stays under ~2 minutes on one core (sizes in :data:`SIZES`).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import torch

from harness.cost.kernels import Kernel, per_matrix_work
from harness.cost.throughput import KernelRate, ThroughputTable
from harness.errors import ConfigError

REPEATS = 3

#: key -> shapes measured (the Kernel shape of that key's kind, see harness.cost.kernels).
SIZES: dict[str, list[tuple[int, ...]]] = {
    "torch.gemm.float64": [
        (1, 32, 32, 32),
        (1, 128, 128, 128),
        (4, 137, 137, 137),
        (1, 137, 551, 411),
        (1, 512, 2048, 512),
    ],
    "torch.gemm.float32": [(1, 128, 128, 128), (1, 124, 512, 4096), (1, 1024, 768, 8192)],
    "numpy.gemm.float64": [(1, 64, 64, 64), (1, 137, 551, 137), (1, 512, 2048, 512)],
    "torch.svd.float64": [(4, 16, 16), (4, 40, 512), (2, 275, 512), (2, 551, 768)],
    "numpy.svd.float64": [(1, 16, 16), (1, 64, 512), (1, 275, 768)],
    "torch.svdvals.float64": [(4, 4, 4), (4, 68, 68), (2, 256, 256)],
    "numpy.svdvals.float64": [(1, 2, 2), (1, 68, 68), (1, 256, 256)],
    "torch.eigvalsh.float64": [(8, 4, 4), (8, 32, 32), (4, 137, 137), (2, 400, 400)],
    "torch.eigh.float64": [(4, 64, 64), (2, 256, 256), (1, 768, 768)],
    "torch.gather.int32": [(3 * 400 * 400,), (20 * 600 * 600,)],
    "torch.sort.float64": [(10_000,), (1_000_000,)],
    "torch.stream.float64": [(1 << 20,), (1 << 24,)],
    "scipy.sparse.float64": [(124, 16, 32), (1024, 16, 32)],
    "python.python.filter": [(32768,), (131072,)],
    "python.python.concept_token": [(8192,), (50000,)],
    "python.python.concept_window": [(8192,), (50000,)],
    "python.python.concept_row": [(32768,), (131072,)],
    "python.python.incidence": [(32768,), (131072,)],
    "python.python.partner_step": [(1024,), (4096,)],
    "torch.topk.float32": [(1024 * 4096,), (1024 * 32768,)],
}

#: Extra keys timed on cuda only.
CUDA_SIZES: dict[str, list[tuple[int, ...]]] = {
    "torch.gemm.tf32": [(1, 1024, 1024, 1024), (1, 8192, 1024, 8192)],
    "torch.d2h.float64": [(8,), (8 * 4096,), (8 * (1 << 20),)],
    "torch.h2d.float32": [(4 * (1 << 20),), (4 * (1 << 26),)],
}

#: SAE latents of the sparse-pairing and Python-loop calibration (the Pythia SAEs' width).
LATENTS = 32768


def _timer(device: torch.device) -> Callable[[], float]:
    def now() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    return now


def _case(key: str, shape: tuple[int, ...], dev: torch.device) -> Callable[[], Any]:
    """A zero-argument function running one call of ``key`` at ``shape`` (inputs built once)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    lib, kind, dtype = key.split(".")
    if kind == "gemm":
        b, m, k, n = shape
        if lib == "numpy":
            x, y = np.random.default_rng(0).standard_normal((m, k)), np.random.default_rng(1).standard_normal((k, n))
            return lambda: x @ y
        tdt = torch.float64 if dtype == "float64" else torch.float32
        a = torch.randn(b, m, k, generator=gen, dtype=tdt).to(dev)
        c = torch.randn(b, k, n, generator=gen, dtype=tdt).to(dev)
        if dtype == "tf32":

            def tf32() -> Any:
                old = torch.backends.cuda.matmul.allow_tf32
                torch.backends.cuda.matmul.allow_tf32 = True
                try:
                    return a @ c
                finally:
                    torch.backends.cuda.matmul.allow_tf32 = old

            return tf32
        return lambda: a @ c
    if kind in ("svd", "svdvals", "eigvalsh", "eigh"):
        b, m, n = shape
        mats = torch.randn(b, m, n, generator=gen, dtype=torch.float64)
        if kind in ("eigvalsh", "eigh"):
            mats = mats @ mats.transpose(1, 2)
        if lib == "numpy":
            xs = [mats[i].numpy() for i in range(b)]
            fn = {
                "svd": lambda t: np.linalg.svd(t, full_matrices=False),
                "svdvals": lambda t: np.linalg.svd(t, compute_uv=False),
            }[kind]
            return lambda: [fn(t) for t in xs]
        xd = mats.to(dev)
        tfn = {
            "svd": lambda t: torch.linalg.svd(t, full_matrices=False),
            "svdvals": torch.linalg.svdvals,
            "eigvalsh": torch.linalg.eigvalsh,
            "eigh": torch.linalg.eigh,
        }[kind]
        return lambda: tfn(xd)
    if kind == "gather":  # the RSA null's step: (B, rows, n) int32 gathered, widened, weighted, summed
        (elements,) = shape
        n = 400 if elements < 20 * 600 * 600 else 600
        draws = max(1, elements // (n * n))
        rb = torch.randint(-(10**6), 10**6, (n, n), generator=gen, dtype=torch.int32).to(dev)
        ca = torch.randn(n, n, generator=gen, dtype=torch.float64).to(dev)
        p = torch.stack([torch.randperm(n, generator=gen) for _ in range(draws)]).to(dev)
        return lambda: (rb[p[:, :, None], p[:, None, :]].to(torch.float64) * ca).sum(dim=(1, 2))
    if kind == "sort":
        v = torch.randn(shape[0], generator=gen, dtype=torch.float64).to(dev)
        return lambda: torch.sort(v, stable=True)
    if kind == "stream":  # the pairing's per-block fp32 -> fp64 widening and Gram update
        n = shape[0] // 8
        g = torch.zeros(n // 4, dtype=torch.float64, device=dev)
        x32 = torch.randn(n // 4, generator=gen, dtype=torch.float32).to(dev)
        return lambda: g.add_(x32.double())
    if kind in ("d2h", "h2d"):
        elems = shape[0] // (8 if dtype == "float64" else 4)
        tdt = torch.float64 if dtype == "float64" else torch.float32
        if kind == "d2h":
            t = torch.zeros(elems, dtype=tdt, device=dev)
            return lambda: t.cpu()
        h = torch.zeros(elems, dtype=tdt).pin_memory() if dev.type == "cuda" else torch.zeros(elems, dtype=tdt)
        return lambda: h.to(dev)
    if kind == "sparse":
        import scipy.sparse as sp

        from harness.pairing.matching import max_correlation

        n, ka, kb = shape
        rng = np.random.default_rng(0)

        def topk_csr(k: int) -> Any:
            cols = np.stack([rng.choice(LATENTS, size=k, replace=False) for _ in range(n)]).reshape(-1)
            rows = np.repeat(np.arange(n), k)
            return sp.csr_matrix((rng.random(n * k) + 0.1, (rows, cols)), shape=(n, LATENTS))

        a, b = topk_csr(ka), topk_csr(kb)
        return lambda: max_correlation(a, b, backend="sparse", dead="exclude")
    if kind == "python" and dtype == "filter":  # the token filters: one test per feature's top strings
        from harness.pairing.concepts import nonconcept_mask

        strings = [(f" w{i % 977}", f" x{i % 331}", f" y{i}", ",", " the") for i in range(shape[0])]
        junk = [f" j{i}" for i in range(40)]
        return lambda: nonconcept_mask(strings, junk)
    if kind == "python" and dtype == "incidence":  # a space's StringIncidence: one row per feature
        from harness.pairing.concepts import StringIncidence

        strings = [(f" w{i % 977}", f" x{i % 331}", f" y{i}", ",", " the") for i in range(shape[0])]
        return lambda: StringIncidence(strings)
    if kind == "python" and dtype == "partner_step":  # one vectorized step of the 99 random-partner sets
        from harness.experiments.random_partners import RANDOM_PARTNER_SETS, one_to_one_partner_draws

        n, n_b, per_a = shape[0], 32768, 64
        rng = np.random.default_rng(0)
        lens = np.full(n, per_a, dtype=np.int64)
        flat = np.sort(rng.integers(0, n_b, size=(n, per_a)), axis=1).reshape(-1)
        offs = np.arange(n, dtype=np.int64) * per_a
        real = flat[offs]
        return lambda: one_to_one_partner_draws(flat, offs, lens, real, n_b, seed=0, n_sets=RANDOM_PARTNER_SETS)
    if kind == "python" and dtype.startswith("concept"):  # concept membership (pairing.concepts.ConceptIndex)
        from harness.pairing.concepts import CONCEPT_KEYWORDS, ConceptIndex

        n, seq = shape[0], 32
        keywords = [w for words in CONCEPT_KEYWORDS.values() for w in words]
        rng = np.random.default_rng(0)
        if dtype == "concept_token":  # the index's build: one distinct token word per iteration
            vocab = [f" tok{i}" for i in range(n)]
            tokens = rng.permutation(n).reshape(1, n)
        else:  # each position's token is a keyword: one window per iteration, or one row per iteration
            vocab = [f" {w}" for w in keywords] + [f" tok{i}" for i in range(64)]
            tokens = rng.integers(0, len(vocab), size=(1, max(n, 5 * seq)))
        n_pos = tokens.size
        positions = np.arange(n_pos, dtype=np.int64)
        rows = n if dtype == "concept_row" else n // 5
        top = (
            rng.integers(0, n_pos, size=(rows, 5)) if dtype == "concept_row" else positions[: rows * 5].reshape(rows, 5)
        )
        seq_tokens = tokens.reshape(-1, seq) if n_pos % seq == 0 else tokens
        s_idx, p_idx = np.divmod(positions, seq_tokens.shape[1])

        def build() -> ConceptIndex:
            return ConceptIndex(top, tokens=seq_tokens, sample_index=s_idx, position_index=p_idx, vocab=vocab)

        if dtype == "concept_token":
            return build
        if dtype == "concept_window":
            return lambda: build().features(keywords)
        index = build()
        index.features(keywords)  # windows decoded once, outside the timed calls
        return lambda: index.features(CONCEPT_KEYWORDS["Time"])
    if kind == "topk":  # an encoder chunk's top-k codes and the running top positions
        from harness.activations.encode import TopPositions

        f = shape[0] // 1024
        codes = torch.randn(1024, f, generator=gen, dtype=torch.float32).to(dev)
        tops = TopPositions(f, k=5, device=dev)

        def step() -> Any:
            vals, idx = torch.topk(codes, k=32, dim=-1, sorted=False)
            tops.next_start = 0
            tops.update(torch.zeros_like(codes).scatter_(1, idx, vals), 0)
            return tops.keys

        return step
    raise ConfigError(f"No calibration case for {key}.")


def _kernel(key: str, shape: tuple[int, ...]) -> Kernel:
    lib, kind, dtype = key.split(".")
    return Kernel(kind, lib, dtype, shape)


def calibrate(
    device: str = "cpu", *, log: Callable[[str], None] | None = None, keys: Collection[str] | None = None
) -> ThroughputTable:
    """Measure every key of :data:`SIZES` (and :data:`CUDA_SIZES` on cuda) on ``device``; ``keys``:
    only those (e.g. a key a new recipe uses, merged into a committed table: see ``--keys``).

    Raises:
        ConfigError: ``device`` is cuda and CUDA is not available (before any timing).
    """
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda: this torch has no CUDA device (torch.cuda.is_available() is False); "
            "calibrate on a GPU machine, or use --device cpu."
        )
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {device!r}: use cpu or cuda.")
    now = _timer(dev)
    sizes = dict(SIZES)
    if dev.type == "cuda":
        sizes.update(CUDA_SIZES)
    if keys is not None:
        unknown = sorted(set(keys) - set(sizes))
        if unknown:
            raise ConfigError(f"--keys {unknown}: no calibration case; known keys: {', '.join(sorted(sizes))}.")
        sizes = {k: v for k, v in sizes.items() if k in set(keys)}
    rates: dict[str, KernelRate] = {}
    t_all = time.perf_counter()
    for key, shapes in sizes.items():
        points = []
        for shape in shapes:
            fn = _case(key, shape, dev)
            fn()  # warm-up
            best = float("inf")
            for _ in range(REPEATS):
                t0 = now()
                fn()
                best = min(best, now() - t0)
            k = _kernel(key, shape)
            points.append((per_matrix_work(k), best / k.batch))
            if log is not None:
                log(f"{key} {shape}: {best * 1e3:.3f} ms")
        rates[key] = KernelRate(points=tuple(sorted(points)))
    meta: dict[str, Any] = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "calibration_seconds": round(time.perf_counter() - t_all, 1),
    }
    if dev.type == "cuda":
        from harness.experiments.benchmark import device_name

        name = device_name("cuda")
        meta["cuda"] = torch.version.cuda
        memory = {"device_bytes": float(torch.cuda.get_device_properties(dev).total_memory)}
    else:
        from harness.experiments.benchmark import device_name

        name = device_name("cpu")
        memory = {}
    return ThroughputTable(name=name, device=dev.type, source="measured", rates=rates, meta=meta, memory=memory)
