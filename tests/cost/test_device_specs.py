"""Device specs: the built-in tables by name (the measured CPU table, the datasheet-derived GPU
tables) and table files, with their host tables (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cost.device_specs import builtin_table, load_table
from harness.cost.kernels import Kernel, decomposition, gemm, per_matrix_work
from harness.cost.throughput import KernelRate, ThroughputTable, table_from_json
from harness.errors import ConfigError


def test_the_cpu_table_is_measured_and_names_its_machine() -> None:
    t = builtin_table("cpu")
    assert t.source == "measured" and t.device == "cpu"
    assert t.name and t.meta["torch"] and t.meta["threads"] == 1
    for key in ("torch.svd.float64", "torch.eigvalsh.float64", "torch.gemm.float64", "numpy.svd.float64"):
        assert key in t.rates
    # tf32 GEMMs on the cpu run at the fp32 rate (fallback), host transfers cost nothing there
    assert t.seconds(gemm(64, 64, 64, dtype="tf32")) == t.seconds(gemm(64, 64, 64, dtype="float32"))
    assert t.seconds(Kernel("d2h", "torch", "float64", (8,))) == 0.0


def test_a_measured_cuda_table_file_is_accepted(tmp_path: Path) -> None:
    table = ThroughputTable(
        name="NVIDIA H100 80GB HBM3",
        device="cuda",
        source="measured",
        rates={"torch.svd.float64": KernelRate(points=((1e9, 0.01),))},
        meta={"torch": "2.5.0", "cuda": "12.4"},
    )
    path = tmp_path / "h100.json"
    path.write_text(json.dumps(table.to_json()))
    loaded = load_table(str(path))
    assert loaded.source == "measured" and loaded.meta["cuda"] == "12.4"
    svd = decomposition("svd", 1000, 250, batch=2)
    assert loaded.seconds(svd) == pytest.approx(2 * per_matrix_work(svd) / 1e11)  # 1e9 work in 0.01 s
    assert loaded.host is not None  # host kernels from the repository's CPU table
    with pytest.raises(ConfigError, match="no rate"):
        loaded.seconds(gemm(8, 8, 8))


def test_bad_specs_fail_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a built-in"):
        load_table("tpu")
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "device": "cuda", "source": "guessed", "kernels": {}}')
    with pytest.raises(ConfigError, match="measured' or 'datasheet"):
        load_table(str(bad))
    with pytest.raises(ConfigError, match="malformed"):
        table_from_json({"name": "x"})


def test_a_device_table_that_timed_host_kernels_uses_its_own(tmp_path: Path) -> None:
    own = KernelRate(points=((1.0, 1.0),))  # 1 work unit per second: unmistakable
    table = ThroughputTable(name="gpu box", device="cuda", source="measured", rates={"numpy.svd.float64": own})
    path = tmp_path / "box.json"
    path.write_text(json.dumps(table.to_json()))
    loaded = load_table(str(path))
    svd = decomposition("svd", 20, 10, lib="numpy")
    assert loaded.seconds(svd) == pytest.approx(per_matrix_work(svd))
    py = Kernel("python", "python", "filter", (1000,))
    assert loaded.seconds(py) == builtin_table("cpu").seconds(py)  # not timed there: the repository's CPU table
