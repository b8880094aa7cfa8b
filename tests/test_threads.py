"""harness.threads: pinned thread counts and the recorded numeric environment (issue 14, finding 5)."""

from __future__ import annotations

import pytest
import torch

from harness.errors import ConfigError
from harness.provenance import provenance
from harness.threads import compute_environment, pin_threads


def test_pin_threads_limits_torch_and_blas() -> None:
    from threadpoolctl import threadpool_info

    old = torch.get_num_threads()
    try:
        env = pin_threads(1)
        assert torch.get_num_threads() == 1 and env["torch_threads"] == 1
        blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)
        assert env["thread_pools"] and {"internal_api", "architecture", "version"} <= set(env["thread_pools"][0])
    finally:
        torch.set_num_threads(old)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="threads"):
            pin_threads(bad)


def test_provenance_records_the_numeric_environment() -> None:
    comp = provenance()["compute"]
    assert comp == compute_environment() or comp.keys() == compute_environment().keys()
    assert "torch_threads" in comp and "thread_pools" in comp and comp["cpu"]


def test_fixed_threads_sets_one_thread_inside_and_restores_outside() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    from harness.scoring.metrics import svcca
    from harness.threads import fixed_threads, single_threaded

    def blas_threads() -> set[int]:
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with threadpool_limits(limits=2, user_api="blas"):
            with fixed_threads(1):
                assert torch.get_num_threads() == 1 and blas_threads() == {1}
                with fixed_threads(1):  # nested: keeps the outer setting
                    assert torch.get_num_threads() == 1
                assert torch.get_num_threads() == 1 and blas_threads() == {1}
            assert torch.get_num_threads() == 2 and blas_threads() == {2}
            seen: list[tuple[int, set[int]]] = []

            @single_threaded
            def probe() -> None:
                seen.append((torch.get_num_threads(), blas_threads()))

            probe()
            assert seen == [(1, {1})] and torch.get_num_threads() == 2
            with pytest.raises(ValueError):
                with fixed_threads(1):
                    raise ValueError("restored on errors too")
            assert torch.get_num_threads() == 2 and blas_threads() == {2}
        assert getattr(svcca, "__wrapped__", None) is not None  # the scoring entry points are wrapped
    finally:
        torch.set_num_threads(old)
