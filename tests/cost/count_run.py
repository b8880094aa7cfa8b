"""Run the tiny rehearsal configuration with every kernel counted (a subprocess of
``tests/cost/test_recipes.py``: huggingface_hub must be imported under the staged hub).

``python tests/cost/count_run.py --hub DIR --out FILE [--stage]`` writes FILE (JSON): counted
kernel calls by stage, the facts of the marked calls, wall seconds per stage and in all, the
grid / semantic records (the run's ``experiments``) and this machine's throughput table
(:func:`harness.cost.calibrate.calibrate`, measured right after the run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any
from pathlib import Path

PROFILE = Path(__file__).with_name("tiny_cost.toml")
RUNS = (
    ("corrected", "grid"),
    ("corrected", "grid_control"),
    ("corrected", "semantic"),
    ("corrected", "semantic_control"),
    ("paper", "semantic"),
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stage", action="store_true")
    args = parser.parse_args()
    from fixtures.stage_hub import hub_env

    os.environ.update(hub_env(args.hub))
    import torch

    torch.set_num_threads(1)
    if args.stage:
        from fixtures.rehearsal_hub import stage

        stage(args.hub, profile=str(PROFILE), n_docs=8)
    import harness.experiments.grid as grid
    from harness.config import get_procedure
    from harness.cost.stage import counting
    from harness.experiments.rehearsal import write_json
    from harness.profiles import get_profile

    prof = get_profile(PROFILE)
    # room for both procedures' spaces: every space is built (encoded) once, before the counted region
    world = grid.LoadedPair(prof, cache_dir=args.out.parent / "cache", device="cpu", max_spaces=8)
    la, lb = prof.semantic_table
    for pname in ("corrected", "paper"):  # encode passes outside the counted region
        for which, layer in (("a", la), ("b", lb)):
            world.space(which, layer, get_procedure(pname)).top  # noqa: B018
    experiments: dict[str, object] = {}
    t0 = time.perf_counter()
    with counting() as counted:
        real: dict[str, Any] = {}
        for pname, what in RUNS:
            proc = get_procedure(pname)
            if what == "grid":
                real[pname] = experiments[f"grid {pname}"] = grid.run_grid(world, proc)
            elif what == "grid_control":
                match = grid.pair_counts(real[pname])
                experiments[f"grid {pname} (control)"] = grid.run_grid(world, proc, control=True, match_pairs=match)
            else:
                control = what == "semantic_control"
                experiments[f"{what} {pname}"] = grid.run_semantic(world, proc, la, lb, control=control)
    wall = time.perf_counter() - t0
    from harness.cost.calibrate import calibrate

    table = calibrate("cpu")  # this machine's throughputs, measured under the same conditions
    write_json(
        args.out,
        {
            "wall_seconds": wall,
            "stage_seconds": counted.seconds,
            "calls": [
                {"stage": s, "kind": k.kind, "lib": k.lib, "dtype": k.dtype, "shape": list(k.shape), "count": n}
                for (s, k), n in sorted(counted.calls.items())
            ],
            "facts": [
                {"stage": f.stage, "function": f.function, "size": f.size, "detail": list(f.detail)}
                for f in counted.facts
            ],
            "experiments": experiments,
            "throughputs": table.to_json(),
            "n_positions": {p: int(world.space("a", la, get_procedure(p)).n_positions) for p in ("paper", "corrected")},
        },
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
