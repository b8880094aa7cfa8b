"""The same numbers on every machine (issue 14, finding 5): harness.experiments.recompute.

- :func:`test_thread_settings_do_not_change_a_single_bit`: grid cells of the fixture world
  (both procedures, real grid and control grid) and the semantic table of the A2 x B3 pair
  (Test 1, Test 2) computed in two processes that differ in torch
  intra-op threads (1 vs 2), BLAS/OpenMP threads (1 vs 2) and ``PYTHONHASHSEED`` are identical,
  every float compared by exact value. Without the scoring stage's fixed threads
  (harness.threads.fixed_threads) SVCCA values and everything derived from them differ here in
  the 13th-15th digit.
- :func:`test_recomputed_cells_match_the_committed_report`: the cross-machine check. The same
  cells against the committed ``reports/smoke/results.json``: integers and strings (pair counts,
  filter histories, dead features, SVCCA's k, permutations) exactly; floats within
  ``CROSS_MACHINE_REL_TOL`` (1e-4 relative): other CPUs run other float32 kernels in the
  model's forward pass and the SAE encoder (measured by forcing torch's AVX2 kernels on this
  AVX-512 machine: ``mean_max_corr`` moved by ~1e-8 relative; SVCCA, RSA, p-values and counts
  did not move), and float64 GEMMs round in other orders (~1e-13). See the module docstring
  of harness.experiments.recompute and the README ("Same numbers on every machine?").
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.experiments.recompute import (
    CROSS_MACHINE_ABS_TOL,
    CROSS_MACHINE_REL_TOL,
    compare_records,
    grid_name,
    parse_cells,
    saved_cells,
    semantic_name,
)

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "reports" / "smoke" / "results.json"
#: A layer-0 cell (too few pairs: scores undefined, written as null), the semantic table's
#: layer pair, and the deepest pair.
CELLS = "0:0,2:3,3:5"
#: The semantic table's layer pair (every Table 4 category, Test 1 and Test 2), in the thread test.
SEMANTIC = "2:3"
#: (torch threads, BLAS/OpenMP threads, PYTHONHASHSEED) of the two processes.
SETTINGS = {"one": (1, 1, "0"), "two": (2, 2, "4321")}


# ----------------------------------------------------------------------------- the comparison


def test_bitwise_comparison_catches_one_ulp_and_changed_counts() -> None:
    base = {"grid paper": {"cells": [{"n_pairs": 240, "svcca": 0.5, "rsa": math.nan, "pairs_history": ["a: 3"]}]}}
    same = json.loads(json.dumps(base).replace("NaN", "null"))  # NaN and null both mean "no value"
    assert compare_records(base, same) == []
    nudged = json.loads(json.dumps(base))
    nudged["grid paper"]["cells"][0]["svcca"] = math.nextafter(0.5, 1.0)
    (m,) = compare_records(base, nudged)
    assert m.path == "grid paper.cells[0].svcca" and "tolerance 0" in m.why
    assert compare_records(base, nudged, rel_tol=1e-12) == []
    counted = json.loads(json.dumps(base))
    counted["grid paper"]["cells"][0]["n_pairs"] = 241
    assert [m.path for m in compare_records(base, counted, rel_tol=1.0)] == ["grid paper.cells[0].n_pairs"]
    as_float = json.loads(json.dumps(base))
    as_float["grid paper"]["cells"][0]["n_pairs"] = 240.0  # an integer field must stay an integer
    assert compare_records(base, as_float, rel_tol=1.0)
    gone = json.loads(json.dumps(base))
    gone["grid paper"]["cells"][0]["rsa"] = 0.1
    del gone["grid paper"]["cells"][0]["pairs_history"]
    whys = {m.path: m.why for m in compare_records(base, gone)}
    assert whys == {
        "grid paper.cells[0].rsa": "value vs missing",
        "grid paper.cells[0].pairs_history[0]": "present on one side only",
    }
    timed = {"elapsed_s": 1.0, "x": 1}
    assert compare_records(timed, {"elapsed_s": 2.0, "x": 1}) == []  # wall-clock times are not results


def test_cells_option() -> None:
    assert parse_cells("0:0, 2:3") == [(0, 0), (2, 3)]
    for bad in ("1", "a:b", "1:1,1:1", ""):
        with pytest.raises(ConfigError, match="--cells"):
            parse_cells(bad)


def test_saved_cells_names_what_is_missing() -> None:
    results = {"experiments": {grid_name("paper"): {"cells": [{"layer_a": 1, "layer_b": 1, "svcca": 0.1}]}}}
    assert saved_cells(results, [(1, 1)], [grid_name("paper")])[grid_name("paper")]["cells"][0]["svcca"] == 0.1
    with pytest.raises(ConfigError, match="no cells"):
        saved_cells(results, [(2, 2)], [grid_name("paper")])
    with pytest.raises(ConfigError, match="no experiment 'grid corrected'"):
        saved_cells(results, [(1, 1)], [grid_name("corrected")])


# ----------------------------------------------------------------------------- the fixture world


def _spawn(out: Path, cache: Path, torch_threads: int, blas_threads: int, hash_seed: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OPENBLAS_NUM_THREADS": str(blas_threads),
        "OMP_NUM_THREADS": str(blas_threads),
        "MKL_NUM_THREADS": str(blas_threads),
        "PYTHONHASHSEED": hash_seed,
    }
    cmd = [
        sys.executable,
        "-m",
        "harness.experiments.recompute",
        *("--profile", str(REPO / "fixtures" / "smoke.toml"), "--cells", CELLS, "--semantic", SEMANTIC),
        *("--torch-threads", str(torch_threads), "--cache-dir", str(cache), "--out", str(out)),
    ]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def recomputed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The cells of :data:`CELLS` from two processes (:data:`SETTINGS`), each with its own
    empty residual cache (so the forward passes run under each setting too)."""
    import fixtures

    fixtures.require_world()
    tmp = tmp_path_factory.mktemp("recompute")
    procs = {name: _spawn(tmp / f"{name}.json", tmp / f"cache-{name}", *s) for name, s in SETTINGS.items()}
    out = {}
    for name, proc in procs.items():
        log, _ = proc.communicate(timeout=1800)
        assert proc.returncode == 0, f"{name}: recompute failed (rc {proc.returncode}):\n{log[-4000:]}"
        out[name] = json.loads((tmp / f"{name}.json").read_text())
    return out


@pytest.mark.smoke
def test_thread_settings_do_not_change_a_single_bit(recomputed: dict[str, dict[str, Any]]) -> None:
    one, two = recomputed["one"], recomputed["two"]
    assert one["environment"]["torch_threads"] == 1 and two["environment"]["torch_threads"] == 2
    assert {p["num_threads"] for p in two["environment"]["thread_pools"] if p["user_api"] == "blas"} == {2}
    names = [grid_name(p, control=c) for p in ("paper", "corrected") for c in (False, True)]
    names += [semantic_name(p, *parse_cells(SEMANTIC)[0]) for p in ("paper", "corrected")]
    assert sorted(one["experiments"]) == sorted(names)
    grids = [g for name, g in one["experiments"].items() if name.startswith("grid")]
    assert sum(len(g["cells"]) for g in grids) == 4 * len(parse_cells(CELLS))
    assert all(len(one["experiments"][n]["cells"]) == 8 for n in names if n.startswith("semantic"))
    assert compare_records(one["experiments"], two["experiments"]) == []


@pytest.mark.smoke
def test_recomputed_cells_match_the_committed_report(recomputed: dict[str, dict[str, Any]]) -> None:
    ours = {name: g for name, g in recomputed["one"]["experiments"].items() if name.startswith("grid")}
    committed = json.loads(COMMITTED.read_text())
    theirs = saved_cells(committed, parse_cells(CELLS), ours)
    # the check has something to compare: defined scores and pairs in the non-zero cells
    assert any(c["n_pairs"] > 100 and c["svcca"] is not None for c in theirs[grid_name("corrected")]["cells"])
    bad = compare_records(ours, theirs, rel_tol=CROSS_MACHINE_REL_TOL, abs_tol=CROSS_MACHINE_ABS_TOL)
    assert not bad, (
        f"{len(bad)} recomputed values differ from {COMMITTED.relative_to(REPO)} (committed on "
        f"{committed['provenance'].get('compute', {}).get('cpu')} at {committed['provenance']['git_commit'][:9]}):\n"
        + "\n".join(map(str, bad[:30]))
    )
