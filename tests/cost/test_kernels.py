"""Kernel records and their nominal work (issue 20)."""

from __future__ import annotations

import pytest

from harness.cost.kernels import Kernel, decomposition, device_bytes, gemm, nominal_work, per_matrix_work


def test_nominal_work_is_the_textbook_count() -> None:
    assert nominal_work(gemm(3, 5, 7, batch=2)) == 2 * 2 * 3 * 5 * 7
    assert per_matrix_work(decomposition("svd", 1000, 100)) == 4 * 1000 * 100**2 + 8 * 100**3
    assert per_matrix_work(decomposition("svdvals", 100, 1000)) == 4 * 1000 * 100**2  # wide = tall
    assert per_matrix_work(decomposition("eigh", 10)) == 9 * 10**3
    assert nominal_work(decomposition("eigvalsh", 30, batch=4)) == pytest.approx(4 * 4 / 3 * 30**3)
    assert per_matrix_work(Kernel("gather", "torch", "int32", (100,))) == 400  # bytes
    assert per_matrix_work(Kernel("python", "python", "filter", (7,))) == 7


def test_kernels_compare_by_value_and_know_their_batch() -> None:
    a, b = gemm(4, 5, 6, batch=3), gemm(4, 5, 6, batch=3)
    assert a == b and hash(a) == hash(b) and a.batch == 3
    assert decomposition("eigh", 8, batch=5).shape == (5, 8, 8)
    assert Kernel("sort", "torch", "float64", (10,)).batch == 1
    assert device_bytes(gemm(2, 3, 4)) == 8 * (2 * 3 + 3 * 4 + 2 * 4)
    with pytest.raises(ValueError, match="use one of"):
        decomposition("qr", 3)
