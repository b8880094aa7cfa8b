"""The same answer on every machine (issues 14 and 23): harness.experiments.recompute.

What is guaranteed (see the module docstring of harness.experiments.recompute): counts, pair
sets, filter histories and p-values (k/N) exactly; floats within a stated relative tolerance.

- :func:`test_thread_settings_change_no_count_and_floats_only_in_the_last_bits`: grid cells of the
  fixture world (both procedures, real grid and control grid) and the semantic table of the
  A2 x B3 pair (Test 1, Test 2) computed in two processes that differ in torch intra-op threads
  (1 vs 2), BLAS/OpenMP threads (1 vs 2) and ``PYTHONHASHSEED``: counts and p-values identical,
  floats within ``THREAD_REL_TOL`` (1e-12; measured ~4e-16: BLAS splits the semantic
  correlation GEMM across threads on an AMD EPYC with OpenBLAS SkylakeX kernels, which once made
  a bit-for-bit version of this test fail there).
- :func:`test_other_cpu_kernels_change_no_count`: the same cells under other CPU kernels, forced
  with environment variables (OpenBLAS core type Haswell / Prescott, torch's ATen AVX2 / default
  vector width, MKL's compatible code path, oneDNN's SSE4.1 path): counts and p-values identical,
  floats within ``CROSS_MACHINE_REL_TOL`` (measured <= 4e-13 in the float64 fixture world; in
  float32 the Haswell set flipped a TopK latent of B layer 0 and moved a random-partner p from
  16/99 to 6/99). Skipped, naming the kernels, on a CPU that cannot run a forced set.
- :func:`test_recomputed_cells_match_the_committed_report`: the cross-machine check. The same
  cells against the committed ``reports/smoke/results.json`` (computed on another machine):
  counts and p-values exactly, floats within ``CROSS_MACHINE_REL_TOL`` (1e-4 relative).
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
    THREAD_REL_TOL,
    compare_records,
    grid_name,
    parse_cells,
    saved_cells,
    semantic_name,
)

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "reports" / "smoke" / "results.json"
#: A layer-0 cell (few pairs; its control's top-correlated set of 6 pairs once had a permutation
#: null draw tied with the observed score), the semantic table's layer pair, and A3 x B0 (5 of 6
#: many-to-1 pairs kept: a sixth of its size-matched draws are the observed set itself, whose
#: p-value moved from 90/99 to 75/99 between two machines before ties were counted as ties).
CELLS = "0:4,2:3,3:0"
#: The semantic table's layer pair (every Table 4 category, Test 1 and Test 2), in the thread test.
SEMANTIC = "2:3"
#: Processes: (torch threads, BLAS/OpenMP threads, PYTHONHASHSEED, kernel-choosing variables).
#: "one" is the reference; "two" changes the thread counts; "haswell" and "prescott" emulate other
#: CPUs: OpenBLAS's Haswell (AVX2) / Prescott (SSE3) kernels, torch's ATen AVX2 / scalar-default
#: kernels, MKL's compatible (not CPU-dispatched) GEMMs, oneDNN limited to SSE4.1.
SETTINGS: dict[str, tuple[int, int, str, dict[str, str]]] = {
    "one": (1, 1, "0", {}),
    "two": (2, 2, "4321", {}),
    "haswell": (1, 1, "0", {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}),
    "prescott": (
        1,
        1,
        "0",
        {"OPENBLAS_CORETYPE": "Prescott", "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
    ),
}
#: What each forced setting must show in the process's recorded environment (that it was honoured):
#: OpenBLAS names Prescott's kernels "Katmai".
EXPECTED_KERNELS = {"haswell": ("Haswell", "AVX2"), "prescott": ("Katmai", "DEFAULT")}


# ----------------------------------------------------------------------------- the comparison


def test_comparison_catches_one_ulp_and_changed_counts() -> None:
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
    # a p-value is a count over N: exact whatever the float tolerance
    p = {"cells": [{"svcca_p": 90 / 99, "size_matched_m21_p_plus_one": 0.5, "svcca_null_mean": 0.4}]}
    moved = {"cells": [{"svcca_p": 75 / 99, "size_matched_m21_p_plus_one": 0.51, "svcca_null_mean": 0.41}]}
    whys = {m.path: m.why for m in compare_records(p, moved, rel_tol=1.0)}
    assert whys == {
        "cells[0].svcca_p": "p-value (a count over N) differs",
        "cells[0].size_matched_m21_p_plus_one": "p-value (a count over N) differs",
    }


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


def _spawn(
    out: Path, cache: Path, torch_threads: int, blas_threads: int, hash_seed: str, kernels: dict[str, str]
) -> subprocess.Popen[str]:
    from harness.threads import KERNEL_ENV_VARS

    env = {
        **{k: v for k, v in os.environ.items() if k not in KERNEL_ENV_VARS},
        **kernels,
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
    """The cells of :data:`CELLS` from one process per :data:`SETTINGS` entry, each with its own
    empty residual cache (so the forward passes run under each setting too), two at a time."""
    import fixtures

    fixtures.require_world()
    tmp = tmp_path_factory.mktemp("recompute")
    out = {}
    names = list(SETTINGS)
    for i in range(0, len(names), 2):
        procs = {n: _spawn(tmp / f"{n}.json", tmp / f"cache-{n}", *SETTINGS[n]) for n in names[i : i + 2]}
        for name, proc in procs.items():
            log, _ = proc.communicate(timeout=1800)
            assert proc.returncode == 0, f"{name}: recompute failed (rc {proc.returncode}):\n{log[-4000:]}"
            out[name] = json.loads((tmp / f"{name}.json").read_text())
    return out


@pytest.mark.smoke
def test_thread_settings_change_no_count_and_floats_only_in_the_last_bits(
    recomputed: dict[str, dict[str, Any]],
) -> None:
    one, two = recomputed["one"], recomputed["two"]
    assert one["environment"]["torch_threads"] == 1 and two["environment"]["torch_threads"] == 2
    assert {p["num_threads"] for p in two["environment"]["thread_pools"] if p["user_api"] == "blas"} == {2}
    names = [grid_name(p, control=c) for p in ("paper", "corrected") for c in (False, True)]
    names += [semantic_name(p, *parse_cells(SEMANTIC)[0]) for p in ("paper", "corrected")]
    assert sorted(one["experiments"]) == sorted(names)
    grids = [g for name, g in one["experiments"].items() if name.startswith("grid")]
    assert sum(len(g["cells"]) for g in grids) == 4 * len(parse_cells(CELLS))
    assert all(len(one["experiments"][n]["cells"]) == 8 for n in names if n.startswith("semantic"))
    bad = compare_records(one["experiments"], two["experiments"], rel_tol=THREAD_REL_TOL)
    assert not bad, "\n".join(map(str, bad[:30]))


@pytest.mark.smoke
@pytest.mark.parametrize("variant", sorted(EXPECTED_KERNELS))
def test_other_cpu_kernels_change_no_count(recomputed: dict[str, dict[str, Any]], variant: str) -> None:
    """Another CPU, emulated: counts and k/N p-values identical, floats within the cross-machine
    tolerance. The forced kernels must show in the process's environment (else the check would
    compare the reference with itself)."""
    ref, other = recomputed["one"], recomputed[variant]
    blas, aten = EXPECTED_KERNELS[variant]
    env = other["environment"]
    archs = {p["architecture"] for p in env["thread_pools"] if p["user_api"] == "blas"}
    if env["kernel_env"] != SETTINGS[variant][3] or archs != {blas} or env["torch_cpu_capability"] != aten:
        pytest.skip(f"this CPU cannot run the {variant} kernels (BLAS {archs}, ATen {env['torch_cpu_capability']})")
    ref_env = ref["environment"]
    assert ref_env["kernel_env"] == {}
    ref_archs = {p["architecture"] for p in ref_env["thread_pools"] if p["user_api"] == "blas"}
    assert (ref_archs, ref_env["torch_cpu_capability"]) != (archs, env["torch_cpu_capability"])
    assert sorted(other["experiments"]) == sorted(ref["experiments"])
    # the check has something to compare: pairs, defined scores and tie-prone p-values
    cells = other["experiments"][grid_name("paper")]["cells"]
    assert any(c["n_pairs"] >= 3 and c["size_matched_m21_n_draws"] > 0 for c in cells)
    bad = compare_records(
        ref["experiments"], other["experiments"], rel_tol=CROSS_MACHINE_REL_TOL, abs_tol=CROSS_MACHINE_ABS_TOL
    )
    assert not bad, f"{len(bad)} values differ under the {variant} kernels:\n" + "\n".join(map(str, bad[:30]))


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
