"""Per-stage wall time and memory peaks of a run (issue 12: ``benchmark.json``).

:class:`StageMeter` times named stages and records, per stage, the peak resident host memory
of the process (sampled every ``interval_s`` from ``/proc/self/statm`` by a background thread;
where there is no ``/proc`` the process's lifetime peak from ``getrusage`` is used) and the peak
device memory allocated by torch (``torch.cuda.max_memory_allocated``, reset at each stage
start; 0 on cpu). :meth:`StageMeter.benchmark` returns the ``benchmark.json`` record::

    {"scale", "device", "total_seconds", "peak_host_bytes", "peak_device_bytes", "cache_bytes",
     "stages": [{"name", "seconds", "peak_host_bytes", "peak_device_bytes"}, ...]}

``device`` is the accelerator's name (``torch.cuda.get_device_name``) or the CPU's model name.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["STAGE_KEYS", "StageMeter", "StageRecord", "device_name", "host_rss_bytes", "tree_bytes"]

STAGE_KEYS: tuple[str, ...] = ("name", "seconds", "peak_host_bytes", "peak_device_bytes")


def host_rss_bytes() -> int:
    """Resident set size of this process now (bytes); the lifetime peak where /proc is absent."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def device_name(device: str) -> str:
    """The GPU's name for a cuda device, else the CPU's model name."""
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(torch.device(device)))
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def tree_bytes(path: str | os.PathLike[str]) -> int:
    """Total size of the files under ``path`` (0 if absent)."""
    root = Path(path)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


@dataclass
class StageRecord:
    name: str
    seconds: float
    peak_host_bytes: int
    peak_device_bytes: int
    in_total: bool = True


@dataclass
class StageMeter:
    """Stages of one run on ``device`` ("cpu" or "cuda[:i]")."""

    device: str = "cpu"
    interval_s: float = 0.02
    stages: list[StageRecord] = field(default_factory=list)
    _t0: float = field(default_factory=time.perf_counter)

    def _cuda(self) -> bool:
        import torch

        return str(self.device).startswith("cuda") and torch.cuda.is_available()

    @contextlib.contextmanager
    def stage(self, name: str, *, in_total: bool = True) -> Iterator[None]:
        """Time the ``with`` block as stage ``name``; ``in_total=False`` for work that stands in
        for something outside the measured run (staging the hub stands in for downloads)."""
        import torch

        if self._cuda():
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        peak = [host_rss_bytes()]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(self.interval_s):
                peak[0] = max(peak[0], host_rss_bytes())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self._cuda():
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - t0
            stop.set()
            sampler.join()
            peak[0] = max(peak[0], host_rss_bytes())
            dev_peak = int(torch.cuda.max_memory_allocated(self.device)) if self._cuda() else 0
            self.stages.append(
                StageRecord(
                    name=name,
                    seconds=round(seconds, 3),
                    peak_host_bytes=int(peak[0]),
                    peak_device_bytes=dev_peak,
                    in_total=in_total,
                )
            )
            # progress for long runs (the GPU script's log): one line per finished stage
            print(
                f"[stage] {name}: {seconds:.1f} s, host peak {peak[0] / 2**30:.2f} GiB, device peak "
                f"{dev_peak / 2**30:.2f} GiB",
                file=sys.stderr,
                flush=True,
            )

    def benchmark(self, *, scale: str, cache_bytes: int) -> dict[str, Any]:
        """The ``benchmark.json`` record (module docstring); totals over the ``in_total`` stages."""
        counted = [s for s in self.stages if s.in_total]
        return {
            "scale": scale,
            "device": device_name(self.device),
            "torch_device": str(self.device),
            "total_seconds": round(sum(s.seconds for s in counted), 3),
            "peak_host_bytes": max((s.peak_host_bytes for s in counted), default=0),
            "peak_device_bytes": max((s.peak_device_bytes for s in counted), default=0),
            "cache_bytes": int(cache_bytes),
            "stages": [asdict(s) for s in self.stages],
        }
