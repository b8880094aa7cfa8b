"""Thread counts and the numeric environment: what makes CPU numbers differ across machines.

Same commit, same data, different machine: float results can differ in the last bits,
because

- BLAS (OpenBLAS/MKL behind numpy/scipy) and torch split reductions (matrix products, sums)
  differently for different thread counts, and pick different kernels for different CPUs
  (``architecture`` below: Haswell vs SkylakeX vs Zen ...), so the order of floating-point
  additions differs;
- a float32 matrix product (the dense pairing path) then moves correlations by ~1e-7, which
  can flip a near-tie between two candidate partners and so change a pair set, and every
  score computed from it.

:func:`pin_threads` fixes the thread counts (torch intra-op and every BLAS/OpenMP pool, via
threadpoolctl), which makes one machine reproducible whatever its core count;
:func:`compute_environment` records what remains machine-specific (BLAS library, version
and kernel architecture, CPU, torch threads) in every report's provenance, so a difference
between two reports can be traced to it. Across CPU architectures the stated tolerance is
float rounding (relative ~1e-12 in float64 stages, ~1e-6 in float32 ones) for a fixed pair
set; a pair set that changes through a near-tie changes the scores beyond that.

:func:`fixed_threads` goes further for the scoring stage: SVCCA's SVDs (LAPACK in numpy, and
torch's on the cpu) split their inner products across threads, so 2 threads instead of 1 moved
SVCCA values, their nulls and everything derived from them in the 13th-15th digit (measured on
the fixture world; RSA, p-values, pair counts and partners did not move). Every scoring entry
point (:mod:`harness.scoring.metrics` ``svcca`` / ``rsa``, the numpy and device nulls, the
size-matched and Test 2 draws) runs with one torch and one BLAS thread, whatever the session's
``--threads``, so the scores are the same bits for any thread setting on one machine
(``tests/experiments/test_recompute.py``). The pairing keeps the session's threads: it is
float64 along a fixed chunk grid, which no thread count changes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

__all__ = ["KERNEL_ENV_VARS", "compute_environment", "fixed_threads", "pin_threads", "single_threaded"]

#: Environment variables that choose CPU kernels (and so the rounding of float reductions):
#: OpenBLAS's core type, torch's ATen vector width, MKL's code path, oneDNN's instruction set.
#: Those that are set are recorded in :func:`compute_environment`; the cross-kernel test
#: (tests/experiments/test_recompute.py) sets them to emulate other CPUs.
KERNEL_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
)

_LIMITER: Any = None  # keeps threadpoolctl's limits alive for the process
_CONTROLLER: Any = None  # threadpoolctl's view of the loaded BLAS/OpenMP libraries (built once)
_STATE = threading.local()  # nesting depth of fixed_threads in this thread
F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def fixed_threads(n: int = 1) -> Iterator[None]:
    """Run the body with ``n`` torch intra-op threads and ``n`` threads in every BLAS pool,
    then restore both: the reduction order of the body's linear algebra is then the same
    whatever the process's thread settings. Nested uses keep the outermost setting (cheap)."""
    global _CONTROLLER
    depth = getattr(_STATE, "depth", 0)
    if depth:
        _STATE.depth = depth + 1
        try:
            yield
        finally:
            _STATE.depth -= 1
        return
    import torch

    if _CONTROLLER is None:
        import numpy  # noqa: F401  (load numpy's and scipy's BLAS before listing the pools)
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    old = torch.get_num_threads()
    _STATE.depth = 1
    try:
        if old != n:
            torch.set_num_threads(n)
        with _CONTROLLER.limit(limits=n, user_api="blas"):
            yield
    finally:
        _STATE.depth = 0
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def single_threaded(fn: F) -> F:
    """Decorator: ``fn`` runs inside :func:`fixed_threads` (one thread)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with fixed_threads(1):
            return fn(*args, **kwargs)

    return cast(F, wrapper)


def pin_threads(n: int = 1) -> dict[str, Any]:
    """Use ``n`` threads in torch (intra-op) and in every BLAS/OpenMP thread pool loaded so
    far (numpy's and scipy's OpenBLAS, torch's MKL/OpenMP); return :func:`compute_environment`.
    """
    global _LIMITER
    from threadpoolctl import threadpool_limits

    from harness.errors import ConfigError

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"threads={n!r}: use a positive number of threads.")
    import numpy  # noqa: F401  (load the BLAS pools before limiting them)
    import scipy.linalg  # noqa: F401
    import torch

    torch.set_num_threads(n)
    _LIMITER = threadpool_limits(limits=n)
    return compute_environment()


def compute_environment() -> dict[str, Any]:
    """Machine-specific numeric settings: CPU, torch threads and ATen kernel width
    (``torch_cpu_capability``), BLAS pools (library, version, kernel architecture, threads),
    CUDA device, and the kernel-choosing variables of :data:`KERNEL_ENV_VARS` that are set."""
    env: dict[str, Any] = {"cpu": platform.processor() or platform.machine()}
    try:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        env["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        env["torch_deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
        if torch.cuda.is_available():
            env["cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    try:
        from threadpoolctl import threadpool_info

        env["thread_pools"] = [
            {
                k: p.get(k)
                for k in ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer")
            }
            for p in threadpool_info()
        ]
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        env["thread_pools"] = None
    env["kernel_env"] = {k: os.environ[k] for k in KERNEL_ENV_VARS if k in os.environ}
    return env
