"""The microbenchmark writes a measured table of every key it times (issue 20)."""

from __future__ import annotations

import pytest
import torch

import harness.cost.calibrate as calibrate
from harness.cost.kernels import decomposition, gemm
from harness.errors import ConfigError


def test_a_small_calibration_gives_a_measured_table(monkeypatch: pytest.MonkeyPatch) -> None:
    small = {
        "torch.gemm.float64": [(1, 16, 16, 16), (1, 64, 64, 64)],
        "torch.eigvalsh.float64": [(2, 8, 8)],
        "numpy.svd.float64": [(1, 12, 6)],
        "python.python.filter": [(256,)],
    }
    monkeypatch.setattr(calibrate, "SIZES", small)
    table = calibrate.calibrate("cpu")
    assert table.source == "measured" and table.device == "cpu"
    assert set(table.rates) == set(small) and table.meta["torch"] == torch.__version__
    assert len(table.rates["torch.gemm.float64"].points) == 2
    for kernel in (gemm(32, 32, 32), decomposition("eigvalsh", 8, batch=3), decomposition("svd", 12, 6, lib="numpy")):
        assert table.seconds(kernel) > 0


def test_every_recipe_key_has_a_calibration_case() -> None:
    for key, shapes in {**calibrate.SIZES, **calibrate.CUDA_SIZES}.items():
        if key.startswith(("torch.gemm.tf32", "torch.d2h", "torch.h2d")):
            continue  # cuda only
        for shape in shapes[:1]:
            assert callable(calibrate._case(key, shape, torch.device("cpu")))


def test_cuda_without_cuda_fails_before_timing() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="no CUDA"):
        calibrate.calibrate("cuda")
