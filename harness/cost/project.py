"""Counts x throughputs: projected seconds per stage and peak host / device / disk bytes.

:func:`project` sums, per stage, the seconds of every kernel of the recipes
(:func:`harness.cost.recipes.run_kernels`) under a throughput table
(:class:`harness.cost.throughput.ThroughputTable`), and reports each stage's counts: calls,
GEMM flops by dtype, decompositions by kind and size, host <-> device bytes, Python iterations.

Memory (:func:`memory_bytes`): host = the residual cache held in memory (every profile layer at
every procedure's site, fp32) + the decoder rows of the spaces the LRU holds (fp64); device = the
spaces' residuals on the device + the largest working set: the largest kernel's operands, the exact
pairing's fp64 Gram and fp32 block product, or the RSA null's n x n rank matrices of the largest
scored set (whichever is larger); disk = the residual cache files (cpu runs; a cuda run keeps
its residuals in memory) + the hub downloads
(SAE weights: encoder and decoder in fp32; model weights at 4 bytes per parameter).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.cost.kernels import DECOMPOSITIONS, Kernel, device_bytes, nominal_work
from harness.cost.recipes import DEFAULT_DEVICE_BYTES, MAX_ELEMENTS, rsa_sets, run_kernels
from harness.cost.throughput import ThroughputTable
from harness.cost.workload import MODEL_SIZES, Workload


#: Stages whose work does not depend on the procedure's seed (a reseed does not redo them).
SEED_FREE_STAGE_PREFIX = "shared."
#: Issue 20's targets for the whole tier on one H100: Pythia (``paper``) 15 min, Gemma 45 min.
TARGET_SECONDS: dict[str, float] = {"paper": 15 * 60.0, "gemma": 45 * 60.0}


@dataclass
class StageCost:
    """One stage's counted work and projected seconds (summed over procedures)."""

    stage: str
    seconds: float = 0.0
    seconds_by_procedure: dict[str, float] = field(default_factory=dict)
    calls: int = 0
    gemm_flops: dict[str, float] = field(default_factory=dict)
    """dtype -> nominal GEMM flops."""
    decompositions: Counter[str] = field(default_factory=Counter)
    """"<lib>.<kind> <m>x<n>" -> matrices decomposed."""
    transfer_bytes: float = 0.0
    python_iterations: int = 0
    peak_kernel_bytes: int = 0

    def add(self, procedure: str, kernel: Kernel, seconds: float, count: int = 1) -> None:
        """``count`` calls of ``kernel`` taking ``seconds`` each."""
        self.seconds += seconds * count
        self.seconds_by_procedure[procedure] = self.seconds_by_procedure.get(procedure, 0.0) + seconds * count
        self.calls += count
        if kernel.kind == "gemm":
            self.gemm_flops[kernel.dtype] = self.gemm_flops.get(kernel.dtype, 0.0) + nominal_work(kernel) * count
        elif kernel.kind in DECOMPOSITIONS:
            self.decompositions[f"{kernel.lib}.{kernel.kind} {kernel.shape[1]}x{kernel.shape[2]}"] += (
                kernel.batch * count
            )
        elif kernel.kind in ("h2d", "d2h"):
            self.transfer_bytes += nominal_work(kernel) * count
        elif kernel.kind == "python":
            self.python_iterations += int(kernel.shape[0]) * count
        if kernel.lib == "torch" and self.stage != "shared.forward":  # the forward pass is one GEMM-equivalent
            self.peak_kernel_bytes = max(self.peak_kernel_bytes, device_bytes(kernel))

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "seconds": self.seconds,
            "seconds_by_procedure": self.seconds_by_procedure,
            "calls": self.calls,
            "gemm_flops": self.gemm_flops,
            "decompositions": dict(sorted(self.decompositions.items())),
            "transfer_bytes": self.transfer_bytes,
            "python_iterations": self.python_iterations,
            "peak_kernel_bytes": self.peak_kernel_bytes,
        }


@dataclass
class Projection:
    """The projected cost of a workload on one throughput table."""

    profile: str
    device: str
    device_source: str
    stages: dict[str, StageCost]
    memory: dict[str, int]
    workload_source: str
    assumptions: tuple[str, ...]
    table_meta: dict[str, Any]

    by_kind: dict[str, float] = field(default_factory=dict)
    """Kernel kind ("gemm", "eigh", "python", ...) -> projected seconds over the whole run."""

    @property
    def total_seconds(self) -> float:
        return sum(s.seconds for s in self.stages.values())

    @property
    def reseed_seconds(self) -> float:
        """Seconds each further seed of the gpu tier's reseed check (harness/verdicts/reseed.py,
        ``--reseeds``) adds: every stage again but the seed-free shared ones (forward passes,
        spaces), since a cell at another seed is another cell (its pairing included)."""
        return sum(s.seconds for s in self.stages.values() if not s.stage.startswith(SEED_FREE_STAGE_PREFIX))

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "device": self.device,
            "device_source": self.device_source,
            "total_seconds": self.total_seconds,
            "reseed_seconds_per_seed": self.reseed_seconds,
            "target_seconds": TARGET_SECONDS.get(self.profile),
            "seconds_by_kernel": dict(sorted(self.by_kind.items(), key=lambda kv: -kv[1])),
            "memory_bytes": self.memory,
            "workload_source": self.workload_source,
            "assumptions": list(self.assumptions),
            "device_table": self.table_meta,
            "stages": [s.to_json() for s in sorted(self.stages.values(), key=lambda s: -s.seconds)],
        }


def stage_kernels(
    wl: Workload, device: str, *, include_forward: bool = True, device_bytes: float = DEFAULT_DEVICE_BYTES
) -> dict[tuple[str, str], list[Kernel]]:
    """(procedure or "shared", stage) -> kernels of the whole run."""
    out: dict[tuple[str, str], list[Kernel]] = {}
    for proc, stages in run_kernels(wl, device, include_forward=include_forward, device_bytes=device_bytes).items():
        for stage, kernels in stages.items():
            out.setdefault((proc, stage), []).extend(kernels)
    return out


def memory_bytes(wl: Workload, table: ThroughputTable, peak_kernel: int) -> dict[str, int]:
    """Peak host, device and disk bytes (module docstring)."""
    from harness.config import get_procedure
    from harness.experiments.grid import default_space_capacity

    sites = len({get_procedure(pw.procedure.name).activation_site for pw in wl.procedures})
    tokens = max(pw.n_positions for pw in wl.procedures)
    residuals = 4 * tokens * sites * (len(wl.layers_a) * wl.d_a + len(wl.layers_b) * wl.d_b)
    capacity = default_space_capacity(len(wl.layers_a), len(wl.layers_b))
    decoders = 8 * capacity * max(wl.f_a * wl.d_a, wl.f_b * wl.d_b)
    space_residuals = 4 * tokens * capacity * max(wl.d_a, wl.d_b)
    on_device = table.device != "cpu"
    gram = (8 + 4) * wl.f_a * wl.f_b if on_device else 0
    # the RSA null of the largest set: n x n int32 ranks of B + fp64 c_a, and one gathered batch
    rsa_n = max(
        (s.n for pw in wl.procedures for c in (*pw.grid, *pw.control_grid) for s in rsa_sets(c)),
        default=0,
    )
    rsa = 12 * rsa_n * rsa_n + 12 * MAX_ELEMENTS
    working = max(peak_kernel, rsa, gram)
    host = residuals + decoders + (0 if on_device else space_residuals + working)
    device = (space_residuals + working) if on_device else 0
    sae_bytes = 8 * (len(wl.layers_a) * wl.f_a * wl.d_a + len(wl.layers_b) * wl.f_b * wl.d_b)
    model_bytes = 4 * sum(MODEL_SIZES.get(m, (0, 0))[1] for m in (wl.model_a, wl.model_b))
    # the residual cache is written by cpu runs only (claims/conftest.py: on cuda the residuals stay
    # in memory unless --cache-dir asks for it; the forward passes take seconds there)
    cached = 0 if on_device else residuals
    return {"host": int(host), "device": int(device), "disk": int(cached + sae_bytes + model_bytes)}


def project(wl: Workload, table: ThroughputTable, *, include_forward: bool = True) -> Projection:
    """Seconds per stage and peak bytes of ``wl`` on ``table``'s machine."""
    device = "cpu" if table.device == "cpu" else "cuda"
    stages: dict[str, StageCost] = {}
    seconds: dict[Kernel, float] = {}
    by_kind: dict[str, float] = {}
    device_bytes = table.memory.get("device_bytes", DEFAULT_DEVICE_BYTES)
    for (proc, stage), kernels in stage_kernels(
        wl, device, include_forward=include_forward, device_bytes=device_bytes
    ).items():
        cost = stages.setdefault(stage, StageCost(stage))
        for k, n in Counter(kernels).items():
            if k not in seconds:
                seconds[k] = table.seconds(k)
            cost.add(proc, k, seconds[k], n)
            kind = f"{k.lib}.{k.kind}" if k.lib in ("numpy", "python", "scipy") else k.kind
            by_kind[kind] = by_kind.get(kind, 0.0) + seconds[k] * n
    peak_kernel = max((s.peak_kernel_bytes for s in stages.values()), default=0)
    return Projection(
        profile=wl.profile,
        device=table.name,
        device_source=table.source,
        stages=stages,
        memory=memory_bytes(wl, table, peak_kernel),
        workload_source=wl.source,
        assumptions=wl.assumptions,
        table_meta={"name": table.name, "source": table.source, **table.meta},
        by_kind=by_kind,
    )
