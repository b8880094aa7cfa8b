"""No per-draw host round trip in the device path: the host transfers of a batch of draws do not
grow with the number of draws in it (issue 20).

A transfer is counted at every torch call that moves data between the host and the tensor's
device or synchronises on a device value: ``Tensor.cpu / numpy / tolist / item``, ``to(device)``,
Python conversions (``bool / float / int / index`` of a tensor), and ``torch.as_tensor /
tensor / from_numpy`` (host -> device). On the cpu these are the calls that would be transfers on
cuda, so counting them here is the check the GPU needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from harness.config import CORRECTED, PAPER
from harness.scoring.device_nulls import (
    rsa_null_device,
    size_matched_draws,
    svcca_null_device,
    svcca_subsets_detailed,
)

TRANSFERS = {
    "cpu",
    "numpy",
    "tolist",
    "item",
    "to",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "as_tensor",
    "tensor",
    "from_numpy",
}


class CountTransfers(TorchFunctionMode):
    """Counts the torch calls in :data:`TRANSFERS` made inside the ``with`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        moves = name != "to" or "device" in (kwargs or {}) or any(isinstance(x, (str, torch.device)) for x in args[1:])
        if name in TRANSFERS and moves:  # .to(dtype) stays where it is
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def transfers(fn: Callable[[], object]) -> Counter[str]:
    with CountTransfers() as mode:
        fn()
    return mode.counts


def paired(n: int, da: int = 12, db: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    return (
        z @ rng.normal(size=(3, da)) + 0.5 * rng.normal(size=(n, da)),
        z @ rng.normal(size=(3, db)) + 0.5 * rng.normal(size=(n, db)),
    )


def test_counter_sees_transfers() -> None:
    """The counter is live: a per-draw .cpu() loop is counted once per draw; .to(dtype) is not a transfer."""
    x = torch.zeros(10)
    counts = transfers(lambda: [x[i].cpu() for i in range(7)] + [x.to(torch.float64), x.to("cpu")])
    assert counts == {"cpu": 7, "to": 1}


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("keep", [1, 0.99])
def test_subset_draws_have_no_per_draw_transfer(keep: float, ragged: bool) -> None:
    """Size-matched / placebo / Test-2 SVCCAs: one batch of 8 draws and one of 32 make the same transfers."""
    a, b = paired(200)
    big = 1 << 30  # one batch

    def run(n_draws: int) -> Counter[str]:
        idx = size_matched_draws(60, 200, n_draws, 1)
        lengths = np.where(np.arange(n_draws) % 2 == 0, 60, 45) if ragged else None
        return transfers(
            lambda: svcca_subsets_detailed(a, b, idx, keep=keep, max_k=15, lengths=lengths, max_elements=big)
        )

    few, many = run(8), run(32)
    assert few == many
    assert sum(few.values()) <= 20, few  # a constant per batch: index tensors in, spectra and scores out


@pytest.mark.parametrize("metric", ["svcca", "rsa"])
def test_permutation_nulls_have_no_per_draw_transfer(metric: str) -> None:
    """Shuffled-pairing nulls (grid, Test 1, split-half): 10 and 40 draws, one batch each, same transfers."""
    a, b = paired(80)
    null: Callable[..., object] = svcca_null_device if metric == "svcca" else rsa_null_device
    opts: dict[str, object] = {"keep": 0.99, "max_k": 20, "basis_on_device": True} if metric == "svcca" else {}

    def run(n: int) -> Counter[str]:
        return transfers(lambda: null(a, b, n_permutations=n, seed=3, max_elements=1 << 30, **opts))

    assert run(10) == run(40)


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_test2_draws_have_no_per_draw_transfer(procedure) -> None:  # type: ignore[no-untyped-def]
    """Test 2 (correlations, 1-1 pairing, SVCCAs): a batch of 6 draws and one of 24, same transfers."""
    from harness.experiments.subset_pairing import score_test2_draws
    from harness.experiments.synthetic import synthetic_pair
    from harness.scoring.nulls import random_subset_draws

    a, b = synthetic_pair(seed=4)
    live_a, live_b = np.flatnonzero(a.live), np.flatnonzero(b.live)
    a.zscored_rows(live_a[:1])  # the space's one-off z-scoring, outside the counted batch
    b.zscored_rows(live_b[:1])

    def run(n_draws: int) -> tuple[Counter[str], np.ndarray]:
        draws = random_subset_draws(size_a=30, size_b=40, pool_a=live_a, pool_b=live_b, n_draws=n_draws, seed=2)
        out: list[np.ndarray] = []
        counts = transfers(
            lambda: out.append(
                score_test2_draws(a, b, procedure, draws, rule=procedure.one_to_one, device="cpu", max_elements=1 << 30)
            )
        )
        return counts, out[0]

    (few, s_few), (many, s_many) = run(6), run(24)
    assert np.isfinite(s_few).sum() >= 4 and np.isfinite(s_many).sum() >= 16
    assert few == many
