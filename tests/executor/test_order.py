"""Largest cells first (harness/executor/order.py)."""

from __future__ import annotations

from harness.config import get_procedure
from harness.executor.cell import CellSpec
from harness.executor.order import cell_weights, largest_first, projected_seconds


def test_the_cost_model_sizes_the_paper_profiles_cells() -> None:
    from harness.profiles import get_profile

    prof = get_profile("paper")
    proc = get_procedure("corrected")
    cells = [
        CellSpec(kind="grid", procedure=proc, layer_a=0, layer_b=0),
        CellSpec(kind="grid", procedure=proc, layer_a=0, layer_b=0, control=True, n_top=5),
        CellSpec(kind="semantic", procedure=proc, layer_a=3, layer_b=5, category="Time"),
    ]
    seconds = projected_seconds(prof, cells, "cuda")
    assert seconds is not None and all(s > 0 for s in seconds)
    # the real cell runs its controls (random partners, placebos, split halves): the larger one
    assert seconds[0] > seconds[1]
    assert largest_first(prof, cells, "cuda")[0] == 0


def test_without_a_projection_the_known_pair_counts_order_the_cells() -> None:
    from fixtures.profile import smoke_profile

    prof = smoke_profile()  # no printed pair counts or model shapes: the cost model cannot size it
    proc = get_procedure("paper")
    cells = [
        CellSpec(kind="grid", procedure=proc, layer_a=0, layer_b=lb, control=True, n_top=n)
        for lb, n in ((0, 5), (1, 50), (2, 5), (3, 20))
    ]
    assert projected_seconds(prof, cells, "cpu") is None
    assert cell_weights(prof, cells, "cpu") == [5.0, 50.0, 5.0, 20.0]
    assert largest_first(prof, cells, "cpu") == [1, 3, 0, 2]  # ties keep their order
