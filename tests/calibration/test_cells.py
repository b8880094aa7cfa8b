"""Calibration cells: full keys, a resumable disk cache, parallel workers, a progress line."""

from __future__ import annotations

import dataclasses

import pytest

from claims.calibration_rules import EVALUATORS
from harness.calibration.cells import Cell, CellStore, cell_key, run_cells
from harness.calibration.run import PLANS, calibrate
from harness.calibration.worlds import SeedKnobs
from harness.config import CORRECTED

TINY_SEEDS = SeedKnobs(n_latents=96, n_samples=16, occurrences=6)


def _cells(n: int, group_size: int) -> list[Cell]:
    return [Cell("U1", "planted", {}, 0.7, i, i // group_size, cell_key({"i": i})) for i in range(n)]


def _runner(calls: list[int]):
    def run(group, cells):
        calls.append(group)
        return [{"seed": c.seed, "group": group} for c in cells]

    return run


def test_cell_key_changes_with_every_field() -> None:
    base = {"claim": "U1", "knobs": {"strength": 0.7}, "procedure": {"seed": 0}, "seed": 1}
    keys = {cell_key(base)}
    for change in ({"claim": "U2"}, {"knobs": {"strength": 0.5}}, {"procedure": {"seed": 1}}, {"seed": 2}):
        keys.add(cell_key({**base, **change}))
    assert len(keys) == 5
    assert cell_key(dict(reversed(list(base.items())))) == cell_key(base)  # order-free


def test_stored_cells_are_not_recomputed_and_a_cut_run_continues(tmp_path) -> None:
    cells = _cells(6, 2)
    store = CellStore(tmp_path)
    calls: list[int] = []
    # an interrupted run: only the first two groups got stored
    run_cells(cells[:4], _runner(calls), store=store)
    assert calls == [0, 1] and store.written == 4
    (tmp_path / cells[0].key[:2] / f"{cells[0].key}.json").write_text("{truncated")  # a cut write
    lines: list[str] = []
    calls.clear()
    again = CellStore(tmp_path)
    out = run_cells(cells, _runner(calls), store=again, progress=lines.append)
    assert calls == [0, 2]  # the broken cell's group and the missing group only
    assert [out[c.key]["seed"] for c in cells] == list(range(6))
    assert lines[0] == "calibration: 6 cells, 3 from cache, 2 record groups to run"
    assert lines[-1].startswith("calibration: 6/6 cells (100%), 3 from cache")


def test_workers_give_the_same_results_as_one_process(tmp_path) -> None:
    cells = _cells(8, 2)
    one = run_cells(cells, _runner([]), store=CellStore(None))
    two = run_cells(cells, _runner([]), store=CellStore(tmp_path), workers=2)
    assert one == two
    with pytest.raises(ValueError, match="workers=0"):
        run_cells(cells, _runner([]), store=CellStore(None), workers=0)


def test_calibrate_resumes_from_its_cells(tmp_path) -> None:
    """A real (small) calibration: the second run reads every cell back and agrees."""
    plans = {"W1": dataclasses.replace(PLANS["W1"], false_worlds={})}
    kw = dict(
        claims=["W1"],
        seeds=range(2),
        seed_world=TINY_SEEDS,
        strengths={"W1": (0.0, 0.8)},
        plans=plans,
        n_permutations=19,
        cache_dir=tmp_path,
        procedure=CORRECTED,
    )
    lines: list[str] = []
    (first,) = calibrate(EVALUATORS, progress=lines.append, **kw)
    assert lines[0] == "calibration: 4 cells, 0 from cache, 4 record groups to run"
    lines.clear()
    (second,) = calibrate(EVALUATORS, progress=lines.append, workers=2, **kw)
    assert lines == ["calibration: 4 cells, 4 from cache, 0 record groups to run"]
    assert first.trials == second.trials and first.flags == second.flags
    # another procedure is another cell
    lines.clear()
    calibrate(EVALUATORS, progress=lines.append, **{**kw, "procedure": CORRECTED.replace(seed=5)})
    assert lines[0].startswith("calibration: 4 cells, 0 from cache")
