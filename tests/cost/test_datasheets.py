"""Datasheet-derived GPU specs: labelled as such, ordered as their datasheets (issue 20)."""

from __future__ import annotations

import pytest

from harness.cost.datasheets import DATASHEETS, GEMM_EFFICIENCY, datasheet_table
from harness.cost.kernels import Kernel, decomposition, gemm
from harness.cost.device_specs import builtin_table


@pytest.mark.parametrize("name", ["a100", "h100", "h200"])
def test_gpu_specs_are_labelled_datasheet_derived(name: str) -> None:
    t = builtin_table(name)
    assert t.source == "datasheet" and "datasheet" in t.name
    assert "NOT MEASURED" in t.meta["note"] and t.meta["efficiency"]["gemm"] == GEMM_EFFICIENCY
    assert t.host is not None and t.host.source == "measured"  # numpy / python kernels run on the host
    host_kernel = decomposition("svd", 275, 512, lib="numpy")
    assert t.seconds(host_kernel) == t.host.seconds(host_kernel)


def test_gemm_rate_is_peak_times_efficiency() -> None:
    t = datasheet_table("h100")
    k = gemm(8192, 8192, 8192)
    rate = 2 * 8192**3 / (t.seconds(k) - t.rates["torch.gemm.float64"].per_call_s)
    assert rate == pytest.approx(DATASHEETS["h100"].fp64_tensor * GEMM_EFFICIENCY)


def test_h200_bandwidth_beats_h100_and_h100_beats_a100() -> None:
    gather = Kernel("gather", "torch", "int32", (10**9,))
    fp64 = gemm(4096, 4096, 4096)
    a, h, h2 = (builtin_table(n) for n in ("a100", "h100", "h200"))
    assert h2.seconds(gather) < h.seconds(gather) < a.seconds(gather)
    assert h.seconds(fp64) < a.seconds(fp64)
    assert h.seconds(decomposition("eigh", 768, batch=100)) < builtin_table("cpu").seconds(
        decomposition("eigh", 768, batch=100)
    )
