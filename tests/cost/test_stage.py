"""The kernel counter: torch and numpy decompositions and torch products, by marked stage (issue 20)."""

from __future__ import annotations

import numpy as np
import torch

import harness.experiments.spaces as spaces
from harness.cost.kernels import Kernel
from harness.cost.stage import counting


def test_counter_sees_shapes_and_restores_everything() -> None:
    original_svd, original_score = np.linalg.svd, spaces.score_pairs
    x = torch.randn(3, 10, 4, dtype=torch.float64)
    with counting() as counted:
        torch.linalg.svd(x, full_matrices=False)
        torch.linalg.eigvalsh(torch.eye(5, dtype=torch.float64))
        _ = x @ x.transpose(1, 2)
        _ = torch.ones(7) @ torch.ones(7)
        np.linalg.svd(np.ones((6, 2)), compute_uv=False)
    calls = {k: n for (stage, k), n in counted.calls.items() if stage == "other"}
    assert calls == {
        Kernel("svd", "torch", "float64", (3, 10, 4)): 1,
        Kernel("eigvalsh", "torch", "float64", (1, 5, 5)): 1,
        Kernel("gemm", "torch", "float64", (3, 10, 4, 10)): 1,
        Kernel("gemm", "torch", "float32", (1, 1, 7, 1)): 1,
        Kernel("svdvals", "numpy", "float64", (1, 6, 2)): 1,
    }
    assert np.linalg.svd is original_svd and spaces.score_pairs is original_score
