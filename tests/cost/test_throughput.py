"""Throughput tables: lookup, fallbacks, measured vs datasheet labels, file round trip (issue 20)."""

from __future__ import annotations


import pytest

from harness.cost.throughput import KernelRate, ThroughputTable
from harness.errors import ConfigError


def test_rate_interpolates_in_log_log_and_holds_outside() -> None:
    r = KernelRate(points=((1e3, 1e-6), (1e9, 1e-1)))  # 1e9 and 1e10 work/s
    assert r.seconds(1e3, 1) == pytest.approx(1e-6)
    assert r.seconds(1e9, 2) == pytest.approx(0.2)
    assert r.seconds(1e12, 1) == pytest.approx(1e12 / 1e10)  # held at the last rate
    assert r.seconds(1.0, 1) == pytest.approx(1.0 / 1e9)  # held at the first rate
    mid = r.seconds(1e6, 1)
    assert 1e6 / 1e10 < mid < 1e6 / 1e9


def test_merge_adds_measured_keys_and_names_them() -> None:
    """merge_tables: a key measured later on the same machine is added (or replaces the old rate),
    the others are kept, and meta.remeasured names it; a table of another machine is refused."""
    from harness.cost.throughput import merge_tables

    base = ThroughputTable("m", "cpu", "measured", {"torch.gemm.float64": KernelRate(((1.0, 1.0),))}, meta={"x": 1})
    new = ThroughputTable("m", "cpu", "measured", {"python.python.partner_step": KernelRate(((2.0, 3.0),))})
    merged = merge_tables(base, new)
    assert set(merged.rates) == {"torch.gemm.float64", "python.python.partner_step"}
    assert merged.meta["x"] == 1 and set(merged.meta["remeasured"]) == {"python.python.partner_step"}
    with pytest.raises(ConfigError, match="machine of the table"):
        merge_tables(base, ThroughputTable("other", "cpu", "measured", {}))
