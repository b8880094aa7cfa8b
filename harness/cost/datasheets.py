"""GPU throughput specs DERIVED FROM DATASHEETS (not measured): A100, H100, H200 (SXM, 80/80/141 GB).

No GPU has run the calibration yet; until one does (``sae-claims cost --calibrate --device cuda
--out FILE``, then ``--device-spec FILE``), the device projections use the vendors' dense peak
rates (no structured sparsity) scaled by the efficiency factors below. Every number here is an
assumption, printed with the projection:

- GEMM: :data:`GEMM_EFFICIENCY` of the peak (fp64: the FP64 tensor-core peak; fp32: the plain
  FP32 peak, the encoder runs with TF32 off; tf32: the TF32 tensor-core peak).
- Memory-bound passes (the RSA null's gathers, the pairing's Gram updates, sorts):
  :data:`BANDWIDTH_EFFICIENCY` of the HBM bandwidth; a gathered int32 entry costs
  :data:`GATHER_BYTES_PER_ENTRY` bytes of traffic (index, entry, fp64 weight), a sort element
  :data:`SORT_BYTES_PER_ELEMENT` (a radix sort's passes over key + index), an encoder code
  :data:`TOPK_BYTES_PER_ELEMENT` (the top-k selection and the running top positions).
- Decompositions (cuSOLVER SVD / eigh / eigvalsh of 4-2,000-dim fp64 matrices): latency- and
  memory-bound, far from the GEMM peak: :data:`DECOMPOSITION_EFFICIENCY` of the FP64 tensor peak
  plus :data:`DECOMPOSITION_LATENCY_S` per matrix (batched calls are looped per matrix for
  n > 32).
- Host <-> device copies: PCIe (Gen4 x16 A100, Gen5 x16 H100 / H200) at
  :data:`BANDWIDTH_EFFICIENCY`, plus :data:`TRANSFER_LATENCY_S` per copy (a synchronisation).
- Every torch call: :data:`LAUNCH_S` (kernel launch / dispatch).

Host kernels (numpy, scipy, Python loops) use the host table: this repository's measured CPU
table unless a measured cuda table carries its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.cost.throughput import KernelRate, ThroughputTable

GEMM_EFFICIENCY = 0.7
BANDWIDTH_EFFICIENCY = 0.7
DECOMPOSITION_EFFICIENCY = 0.02
DECOMPOSITION_LATENCY_S = 3e-4
TRANSFER_LATENCY_S = 2e-5
LAUNCH_S = 1e-5
GATHER_BYTES_PER_ENTRY = 20.0
SORT_BYTES_PER_ELEMENT = 64.0
TOPK_BYTES_PER_ELEMENT = 16.0


@dataclass(frozen=True)
class Datasheet:
    """Dense peak rates (FLOP/s) and bandwidths (bytes/s) of one GPU, from its vendor datasheet."""

    name: str
    fp64_tensor: float
    fp32: float
    tf32_tensor: float
    hbm_bytes_s: float
    pcie_bytes_s: float
    memory_bytes: float


#: NVIDIA A100 / H100 / H200 SXM datasheets (dense, without sparsity).
DATASHEETS: dict[str, Datasheet] = {
    "a100": Datasheet("NVIDIA A100-SXM4-80GB", 19.5e12, 19.5e12, 156e12, 2.039e12, 32e9, 80e9),
    "h100": Datasheet("NVIDIA H100 SXM5 80GB", 67e12, 67e12, 494.7e12, 3.35e12, 64e9, 80e9),
    "h200": Datasheet("NVIDIA H200 SXM 141GB", 67e12, 67e12, 494.7e12, 4.8e12, 64e9, 141e9),
}


def _flat(rate: float, *, per_call: float = LAUNCH_S, per_matrix: float = 0.0) -> KernelRate:
    """A constant rate (work/s) as a table entry (one point: held at every size)."""
    return KernelRate(points=((1.0, 1.0 / rate),), per_call_s=per_call, per_matrix_s=per_matrix)


def datasheet_table(key: str) -> ThroughputTable:
    """The datasheet-derived table of GPU ``key`` (``a100``, ``h100``, ``h200``)."""
    d = DATASHEETS[key]
    bw = d.hbm_bytes_s * BANDWIDTH_EFFICIENCY
    dec = _flat(d.fp64_tensor * DECOMPOSITION_EFFICIENCY, per_matrix=DECOMPOSITION_LATENCY_S)
    rates = {
        "torch.gemm.float64": _flat(d.fp64_tensor * GEMM_EFFICIENCY),
        "torch.gemm.float32": _flat(d.fp32 * GEMM_EFFICIENCY),
        "torch.gemm.tf32": _flat(d.tf32_tensor * GEMM_EFFICIENCY),
        "torch.svd.float64": dec,
        "torch.svdvals.float64": dec,
        "torch.eigh.float64": dec,
        "torch.eigvalsh.float64": dec,
        # work of a gather is 4 bytes per int32 entry; traffic GATHER_BYTES_PER_ENTRY per entry
        "torch.gather.int32": _flat(bw * 4.0 / GATHER_BYTES_PER_ENTRY),
        "torch.stream.float64": _flat(bw),
        # work of a top-k pass is one element; ~TOPK_BYTES_PER_ELEMENT of traffic each
        "torch.topk.float32": _flat(bw / TOPK_BYTES_PER_ELEMENT),
        # work of a sort is n log2 n; ~SORT_BYTES_PER_ELEMENT of traffic per element, log2 n ~ 25
        "torch.sort.float64": _flat(bw / SORT_BYTES_PER_ELEMENT * 25.0),
        "torch.d2h.float64": _flat(d.pcie_bytes_s * BANDWIDTH_EFFICIENCY, per_call=TRANSFER_LATENCY_S),
        "torch.h2d.float32": _flat(d.pcie_bytes_s * BANDWIDTH_EFFICIENCY, per_call=TRANSFER_LATENCY_S),
    }
    meta = {
        "note": "DERIVED FROM THE DATASHEET, NOT MEASURED (harness/cost/datasheets.py)",
        "efficiency": {
            "gemm": GEMM_EFFICIENCY,
            "bandwidth": BANDWIDTH_EFFICIENCY,
            "decomposition": DECOMPOSITION_EFFICIENCY,
            "decomposition_latency_s": DECOMPOSITION_LATENCY_S,
            "transfer_latency_s": TRANSFER_LATENCY_S,
            "launch_s": LAUNCH_S,
        },
        "peaks": {
            "fp64_tensor_flops": d.fp64_tensor,
            "fp32_flops": d.fp32,
            "tf32_tensor_flops": d.tf32_tensor,
            "hbm_bytes_s": d.hbm_bytes_s,
            "pcie_bytes_s": d.pcie_bytes_s,
        },
    }
    return ThroughputTable(
        name=f"{d.name} (datasheet-derived)",
        device="cuda",
        source="datasheet",
        rates=rates,
        meta=meta,
        memory={"device_bytes": d.memory_bytes},
    )
