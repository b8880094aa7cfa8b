"""What one kernel call is, and its nominal work (issue 20, "Cost is counted, not guessed").

A :class:`Kernel` is one call of one kernel with its shape: the unit both the cost model's
recipes (:mod:`harness.cost.recipes`) and the counter of a real run (:mod:`harness.cost.stage`)
produce, so the two can be compared call for call. Shapes:

- ``gemm``: (batch, m, k, n) -- (batch, m, k) @ (batch, k, n); a 2-D product has batch 1, a dot
  product of two (k,) vectors is (1, 1, k, 1).
- ``svd`` (thin, with U), ``svdvals``: (batch, m, n) of the decomposed matrices.
- ``eigh``, ``eigvalsh``: (batch, n, n).
- ``gather``: (elements,) int32 entries read through an index, widened, weighted and summed (the
  RSA null's draws); ``stream``: (bytes,) read and written by an elementwise pass (the
  pairing's fp32 -> fp64 Gram update); ``sort``: (elements,); ``topk``: (elements,) of codes an
  encoder pass reduces to its top-k entries and running top positions.
- ``h2d`` / ``d2h``: (bytes,) copied between host and device.
- ``python``: (iterations,) of a Python-level loop (per feature, per draw); its ``dtype`` names
  the loop body the throughput table timed (``filter``, ``concept_token``, ``concept_window``,
  ``concept_row``).
- ``sparse``: (positions, k_a, k_b) of the exact sparse co-activation product (scipy, host).

Nominal flops (:func:`nominal_work`) are the textbook operation counts (Golub & Van Loan):
they only need to grow the way the kernel's time does, since the throughput tables
(:mod:`harness.cost.throughput`) are measured in the same nominal units.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

KernelKind = Literal[
    "gemm", "svd", "svdvals", "eigh", "eigvalsh", "gather", "stream", "sort", "topk", "h2d", "d2h", "python", "sparse"
]
Lib = Literal["torch", "numpy", "scipy", "python"]

#: Decompositions the counter intercepts (torch.linalg.* and numpy.linalg.*).
DECOMPOSITIONS: tuple[str, ...] = ("svd", "svdvals", "eigh", "eigvalsh")

#: Bytes per element of the dtypes the model names.
DTYPE_BYTES: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "tf32": 4,
    "bfloat16": 2,
    "float16": 2,
    "int64": 8,
    "int32": 4,
    "bool": 1,
}


class Kernel(NamedTuple):
    """One kernel call: ``kind`` from library ``lib`` in ``dtype`` on a ``shape`` (module docstring).
    A tuple: hashed and compared by value (the recipes of a paper-scale run hold millions)."""

    kind: str
    lib: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def batch(self) -> int:
        """Matrices in the call (1 for non-batched kinds)."""
        if self.kind in ("gemm", "svd", "svdvals", "eigh", "eigvalsh"):
            return int(self.shape[0])
        return 1

    def label(self) -> str:
        return f"{self.lib}.{self.kind}[{self.dtype}]{'x'.join(map(str, self.shape))}"


def gemm(m: int, k: int, n: int, *, batch: int = 1, dtype: str = "float64", lib: str = "torch") -> Kernel:
    """(batch, m, k) @ (batch, k, n)."""
    return Kernel("gemm", lib, dtype, (int(batch), int(m), int(k), int(n)))


def decomposition(
    kind: str, m: int, n: int | None = None, *, batch: int = 1, dtype: str = "float64", lib: str = "torch"
) -> Kernel:
    """An svd / svdvals of (batch, m, n) matrices or an eigh / eigvalsh of (batch, m, m)."""
    if kind not in DECOMPOSITIONS:
        raise ValueError(f"kind={kind!r}: use one of {DECOMPOSITIONS}.")
    return Kernel(kind, lib, dtype, (int(batch), int(m), int(m if n is None else n)))


def per_matrix_work(k: Kernel) -> float:
    """Nominal flops (bytes for transfers and gathers, iterations for Python loops) of ONE matrix
    of the call: the size a throughput table is indexed by."""
    s = k.shape
    if k.kind == "gemm":
        return 2.0 * s[1] * s[2] * s[3]
    if k.kind in ("svd", "svdvals"):
        big, small = max(s[1], s[2]), min(s[1], s[2])
        return 4.0 * big * small * small + (8.0 * small**3 if k.kind == "svd" else 0.0)
    if k.kind == "eigh":
        return 9.0 * s[1] ** 3
    if k.kind == "eigvalsh":
        return 4.0 / 3.0 * s[1] ** 3
    if k.kind == "gather":
        return float(s[0]) * DTYPE_BYTES.get(k.dtype, 8)
    if k.kind == "sort":
        return float(s[0]) * max(1.0, math.log2(max(2, s[0])))
    if k.kind in ("h2d", "d2h", "python", "stream", "topk"):
        return float(s[0])
    if k.kind == "sparse":
        return float(s[0]) * s[1] * s[2]
    raise ValueError(f"Unknown kernel kind {k.kind!r}.")


def nominal_work(k: Kernel) -> float:
    """Nominal flops / bytes / iterations of the whole call (:func:`per_matrix_work` x batch)."""
    return per_matrix_work(k) * k.batch


def device_bytes(k: Kernel) -> int:
    """Bytes the call's operands and result hold (for peak-memory estimates)."""
    b = DTYPE_BYTES.get(k.dtype, 8)
    s = k.shape
    if k.kind == "gemm":
        return b * s[0] * (s[1] * s[2] + s[2] * s[3] + s[1] * s[3])
    if k.kind in DECOMPOSITIONS:
        return b * s[0] * s[1] * s[2] * (3 if k.kind in ("svd", "eigh") else 1)
    return 0  # gathers and streams run in bounded batches: their resident memory is the recipe's
