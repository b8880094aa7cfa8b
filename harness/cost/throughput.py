"""Per-kernel throughput tables: how long a :class:`harness.cost.kernels.Kernel` takes on a machine.

A table (JSON, ``harness/cost/tables/*.json``) names its machine and how its numbers were
obtained (``"source": "measured"`` by :mod:`harness.cost.calibrate`, or ``"datasheet"``: derived
from a vendor's peak rates with stated efficiency factors, never called measured) and holds,
per kernel key ``"<lib>.<kind>.<dtype>"`` (e.g. ``"torch.svd.float64"``):

- ``points``: [[work per matrix, seconds per matrix], ...] at the sizes measured (work: the
  nominal flops / bytes / iterations of :func:`harness.cost.kernels.per_matrix_work`); between
  points the rate (work / s) is interpolated in log-log, outside them it is held at the nearest
  point's rate;
- ``per_matrix_s`` (optional): a fixed cost per matrix (a decomposition's latency);
- ``per_call_s``: a fixed cost per call (dispatch, launch).

A kernel's seconds: ``per_call_s + batch * (per_matrix_s + work / rate(work))``. Keys missing
from a table fall back along :data:`FALLBACKS` (e.g. ``tf32`` GEMMs on a CPU run at the fp32
rate), and host kernels (``numpy.*``, ``scipy.*``, ``python.*``) of a device table come from its
``host`` table (the machine that drives the GPU; by default this repository's CPU table).

A measured cuda table (``sae-claims cost --calibrate --device cuda``) has the same format and
replaces the datasheet spec of its GPU wherever it is given as ``--device-spec FILE``.
"""

from __future__ import annotations

import time

import bisect
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cost.kernels import Kernel, per_matrix_work
from harness.errors import ConfigError

#: Built-in tables: "cpu" measured (harness/cost/tables/cpu.json), the GPUs datasheet-derived
#: (harness.cost.datasheets).
BUILTIN_TABLES: tuple[str, ...] = ("cpu", "a100", "h100", "h200")

#: key -> keys tried next when a table lacks it.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "torch.gemm.tf32": ("torch.gemm.float32",),
    "torch.gemm.int64": ("torch.gemm.float64",),
    "numpy.gemm.float64": ("torch.gemm.float64",),
    "numpy.svdvals.float64": ("torch.svdvals.float64",),
    "numpy.svd.float64": ("torch.svd.float64",),
    "torch.svdvals.float64": ("torch.svd.float64",),
    "torch.eigh.float64": ("torch.eigvalsh.float64",),
    "torch.gather.int32": ("torch.gather.float64",),
    # transfers are counted in bytes whatever the dtype
    "torch.d2h.int64": ("torch.d2h.float64",),
    "torch.d2h.bool": ("torch.d2h.float64",),
    "torch.d2h.float32": ("torch.d2h.float64",),
    "torch.h2d.float64": ("torch.h2d.float32",),
}


@dataclass(frozen=True)
class KernelRate:
    """Measured (or derived) time of one kernel key as a function of its per-matrix work."""

    points: tuple[tuple[float, float], ...]
    """(work per matrix, seconds per matrix), ascending in work."""
    per_call_s: float = 0.0
    per_matrix_s: float = 0.0

    def seconds(self, work: float, batch: int) -> float:
        """Seconds of one call of ``batch`` matrices of ``work`` each."""
        if not self.points or work <= 0:
            return self.per_call_s + batch * self.per_matrix_s
        works = [p[0] for p in self.points]
        rates = [p[0] / p[1] for p in self.points]
        i = bisect.bisect_left(works, work)
        if i == 0:
            rate = rates[0]
        elif i >= len(works):
            rate = rates[-1]
        else:
            w0, w1, r0, r1 = works[i - 1], works[i], rates[i - 1], rates[i]
            t = (math.log(work) - math.log(w0)) / (math.log(w1) - math.log(w0))
            rate = math.exp(math.log(r0) + t * (math.log(r1) - math.log(r0)))
        return self.per_call_s + batch * (self.per_matrix_s + work / rate)


@dataclass
class ThroughputTable:
    """One machine's kernel rates (module docstring)."""

    name: str
    device: str
    """"cpu" or "cuda"."""
    source: str
    """"measured" or "datasheet"."""
    rates: dict[str, KernelRate]
    meta: dict[str, Any] = field(default_factory=dict)
    host: ThroughputTable | None = None
    """Rates of the host CPU for numpy / scipy / python kernels of a device table."""
    memory: dict[str, float] = field(default_factory=dict)
    """"device_bytes" / "host_bytes": memory of the machine (for the peak-memory check)."""

    def rate(self, key: str) -> KernelRate | None:
        seen = [key]
        while seen:
            k = seen.pop(0)
            if k in self.rates:
                return self.rates[k]
            seen.extend(FALLBACKS.get(k, ()))
        return None

    def seconds(self, kernel: Kernel) -> float:
        """Projected seconds of one call of ``kernel``.

        Raises:
            ConfigError: the table (and its host table) has no rate for the kernel's key.
        """
        key = f"{kernel.lib}.{kernel.kind}.{kernel.dtype}"
        table: ThroughputTable = self
        if kernel.lib in ("numpy", "scipy", "python") and self.host is not None and key not in self.rates:
            table = self.host  # host kernels of a device table that did not time them itself
        if kernel.kind in ("h2d", "d2h") and self.device == "cpu":
            return 0.0
        r = table.rate(key)
        if r is None:
            raise ConfigError(
                f"Throughput table {table.name!r} has no rate for {key}; recalibrate it "
                "(`sae-claims cost --calibrate`) or add the key."
            )
        return r.seconds(per_matrix_work(kernel), kernel.batch)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "device": self.device,
            "source": self.source,
            **self.meta,
            "memory": self.memory,
            "kernels": {
                k: {
                    "points": [list(p) for p in r.points],
                    "per_call_s": r.per_call_s,
                    "per_matrix_s": r.per_matrix_s,
                }
                for k, r in sorted(self.rates.items())
            },
        }


def table_from_json(data: dict[str, Any], *, origin: str = "<json>") -> ThroughputTable:
    """A :class:`ThroughputTable` from its JSON form (a measured table or a datasheet spec)."""
    try:
        rates = {
            k: KernelRate(
                points=tuple(sorted((float(w), float(s)) for w, s in v.get("points", []))),
                per_call_s=float(v.get("per_call_s", 0.0)),
                per_matrix_s=float(v.get("per_matrix_s", 0.0)),
            )
            for k, v in data["kernels"].items()
        }
        source = str(data["source"])
        device = str(data["device"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"Throughput table {origin}: malformed ({type(exc).__name__}: {exc}); it needs name, device, "
            "source and kernels {key: {points, per_call_s}} (see harness.cost.throughput)."
        ) from None
    if source not in ("measured", "datasheet"):
        raise ConfigError(f"Throughput table {origin}: source={source!r}; use 'measured' or 'datasheet'.")
    meta = {k: v for k, v in data.items() if k not in ("name", "device", "source", "kernels", "memory")}
    return ThroughputTable(
        name=str(data.get("name", origin)),
        device=device,
        source=source,
        rates=rates,
        meta=meta,
        memory={k: float(v) for k, v in data.get("memory", {}).items()},
    )


def merge_tables(base: ThroughputTable, new: ThroughputTable) -> ThroughputTable:
    """``base`` with ``new``'s rates added or replaced (a kernel key measured later on the same
    machine); ``meta.remeasured`` lists every key so merged, with the time of its measurement."""
    if (base.device, base.name, base.source) != (new.device, new.name, new.source):
        raise ConfigError(
            f"Cannot merge a table of {new.name!r} ({new.device}, {new.source}) into {base.name!r} "
            f"({base.device}, {base.source}): measure the keys on the machine of the table."
        )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    remeasured = {**base.meta.get("remeasured", {}), **{k: when for k in new.rates}}
    return ThroughputTable(
        name=base.name,
        device=base.device,
        source=base.source,
        rates={**base.rates, **new.rates},
        meta={**base.meta, "remeasured": remeasured},
        memory=base.memory,
    )


def read_table_json(path: Path | str, text: str) -> dict[str, Any]:
    """The JSON object of a throughput table file (``path`` names it in errors)."""
    try:
        out = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"Throughput table {path}: not valid JSON ({exc}).") from None
    if not isinstance(out, dict):
        raise ConfigError(f"Throughput table {path}: expected a JSON object.")
    return out
