"""The measuring process of ``benchmarks/gpu/run``: stage the hub, load, then run the paper
tier's work as small steps, most important first, until the deadline (issue 20, part 4).

Steps, in order (``--scale paper``: the ``paper`` profile at full size on random weights at the
real shapes, :mod:`fixtures.rehearsal_hub`; ``--scale tiny``: the ``rehearsal`` profile):

1. ``stage_hub`` (stands in for the downloads: listed, not in ``total_seconds``), ``load``
   (both models and the tokens), ``forward_residuals`` (one forward pass per model);
2. one full-size grid cell and the semantic table at the profile's table pair
   (``semantic_table``; 70m L3 x 160m L5 for Pythia) under ``paper``, then the same under
   ``corrected``;
3. every other grid cell (``paper``, then ``corrected``), the control cells of the cells
   measured, the other semantic tables and the semantic controls.

Before a step, its time is estimated as the mean of the steps of its kind already measured
(kind = what x procedure); a step that would end past the deadline is skipped (recorded with the
reason), one of a kind not measured yet is tried. After every step ``results.json`` (each step's
seconds and record) and ``benchmark.json`` (:class:`harness.experiments.benchmark.StageMeter`:
seconds, host and device peaks per step) are rewritten in ``--out`` by write-then-rename, so a
run killed at any moment leaves whole files holding everything measured up to the last step.

Run it through ``benchmarks/gpu/run`` (which checks the device, installs the wheels and enforces
the deadline); directly: ``python -m benchmarks.gpu.stages --scale tiny --device cpu --work DIR
--out DIR --deadline EPOCH_SECONDS``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_NAME = "results.json"
BENCHMARK_NAME = "benchmark.json"

#: --scale -> (profile, staged documents)
SCALES: dict[str, tuple[str, int]] = {"tiny": ("rehearsal", 8), "paper": ("paper", 100)}


@dataclass
class Step:
    """One unit of measured work: ``kind`` groups steps whose times estimate each other."""

    name: str
    kind: str
    run: Callable[[], Any]


def write_json_atomic(path: Path, payload: Any) -> None:
    """:func:`harness.experiments.rehearsal.write_json` (strict JSON, write-then-rename)."""
    from harness.experiments.rehearsal import write_json

    write_json(path, payload)


def plan_steps(world: Any, procedures: Sequence[str]) -> list[Step]:
    """Every step after loading, most important first (module docstring)."""
    from harness.config import get_procedure
    from harness.experiments.grid import pair_counts, run_grid, run_semantic

    prof = world.profile
    la, lb = prof.semantic_table
    real_pairs: dict[tuple[str, int, int], int] = {}

    def cell(pname: str, a: int, b: int) -> Step:
        def go() -> Any:
            grid = run_grid(world, get_procedure(pname), layers_a=[a], layers_b=[b])
            real_pairs[(pname, a, b)] = pair_counts(grid)[(a, b)]
            return grid

        return Step(f"cell_{pname}_A{a}_B{b}", f"cell:{pname}", go)

    def control(pname: str, a: int, b: int) -> Step:
        def go() -> Any:
            match = {(a, b): real_pairs[(pname, a, b)]} if (pname, a, b) in real_pairs else None
            return run_grid(world, get_procedure(pname), control=True, layers_a=[a], layers_b=[b], match_pairs=match)

        return Step(f"control_{pname}_A{a}_B{b}", f"control:{pname}", go)

    def semantic(pname: str, a: int, b: int, *, is_control: bool = False) -> Step:
        def go() -> Any:
            table = prof.paper_semantic_table if (a, b) == (la, lb) and not is_control else None
            return run_semantic(world, get_procedure(pname), a, b, control=is_control, paper_table=table)

        label = "semantic_control" if is_control else "semantic"
        return Step(f"{label}_{pname}_A{a}_B{b}", f"{label}:{pname}", go)

    steps: list[Step] = []
    for pname in procedures:  # the headline: one full-size cell and one semantic table
        steps += [cell(pname, la, lb), semantic(pname, la, lb)]
    cells = [(a, b) for a in prof.layers_a for b in prof.layers_b if (a, b) != (la, lb)]
    for pname in procedures:
        steps += [cell(pname, a, b) for a, b in cells]
    for pname in procedures:
        steps += [control(pname, la, lb)] + [control(pname, a, b) for a, b in cells]
    tables = sorted({(a, b) for a in prof.semantic_layers_a for b in prof.semantic_layers_b} - {(la, lb)})
    for pname in procedures:
        steps += [semantic(pname, a, b) for a, b in tables] + [semantic(pname, la, lb, is_control=True)]
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu.stages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="paper")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--work", type=Path, required=True, help="hub and residual cache (large; not returned)")
    parser.add_argument("--out", type=Path, required=True, help="results.json and benchmark.json (returned)")
    parser.add_argument("--deadline", type=float, required=True, help="time.time() by which the last step must end")
    parser.add_argument("--procedures", nargs="+", default=["paper", "corrected"], choices=["paper", "corrected"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    profile, n_docs = SCALES[args.scale]
    hub = args.work / "hub"
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)

    from fixtures.stage_hub import MANIFEST_NAME, hub_env

    os.environ.update(hub_env(hub))  # before anything imports huggingface_hub (it reads them then)
    import torch

    from harness.errors import ConfigError
    from harness.report.run import check_device

    try:
        check_device(args.device)  # before staging the hub (3.7 GB at paper size)
    except ConfigError as exc:
        print(f"benchmarks.gpu.stages: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.getLogger("harness").addHandler(handler)
    logging.getLogger("harness").setLevel(logging.INFO)

    from harness.experiments.benchmark import StageMeter, tree_bytes

    meter = StageMeter(device=args.device)
    results: dict[str, Any] = {
        "scale": args.scale,
        "profile": profile,
        "device": args.device,
        "procedures": list(args.procedures),
        "deadline": args.deadline,
        "status": "running",
        "steps": [],
        "skipped": [],
    }

    def save() -> None:
        write_json_atomic(args.out / RESULTS_NAME, results)
        bench = meter.benchmark(scale=args.scale, cache_bytes=tree_bytes(args.work / "cache"))
        write_json_atomic(args.out / BENCHMARK_NAME, bench)

    def measured(name: str, kind: str, run: Callable[[], Any], *, in_total: bool = True) -> Any:
        print(f"[step] {name} ({kind}): start, {args.deadline - time.time():.0f} s left", flush=True)
        t0 = time.perf_counter()
        with meter.stage(name, in_total=in_total):
            value = run()
        seconds = time.perf_counter() - t0
        results["steps"].append({"name": name, "kind": kind, "seconds": round(seconds, 3), "record": value})
        save()
        print(f"[step] {name}: {seconds:.1f} s", flush=True)
        return value

    save()
    if not (hub / MANIFEST_NAME).is_file():
        from fixtures.rehearsal_hub import stage

        measured("stage_hub", "setup", lambda: {"hub": str(stage(hub, profile=profile, n_docs=n_docs))}, in_total=False)

    from harness.config import get_procedure
    from harness.experiments.grid import LoadedPair
    from harness.profiles import get_profile

    world = LoadedPair(get_profile(profile), cache_dir=args.work / "cache", device=args.device)

    def load() -> dict[str, Any]:
        models = {w: world.model(w) for w in ("a", "b")}
        tok = world.tokens
        return {
            "models": {w: {"d_model": int(m.cfg.d_model), "n_layers": int(m.cfg.n_layers)} for w, m in models.items()},
            "tokens": list(tok.tokens.shape),
            "data_file": tok.manifest.get("data_file"),
        }

    measured("load", "setup", load)
    site = get_procedure(args.procedures[0]).activation_site
    measured("forward_residuals", "setup", lambda: [world.warm_residuals(w, site) for w in ("a", "b")] and None)

    times: dict[str, list[float]] = {}
    for step in plan_steps(world, args.procedures):
        left = args.deadline - time.time()
        done = times.get(step.kind, [])
        estimate = sum(done) / len(done) if done else 0.0
        if left <= 0 or estimate > left:
            results["skipped"].append(
                {"name": step.name, "kind": step.kind, "estimate_s": round(estimate, 1), "left_s": round(left, 1)}
            )
            continue
        t0 = time.perf_counter()
        measured(step.name, step.kind, step.run)
        times.setdefault(step.kind, []).append(time.perf_counter() - t0)
    results["status"] = "complete" if not results["skipped"] else "budget"
    save()
    print(f"[done] {len(results['steps'])} steps measured, {len(results['skipped'])} skipped for time", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
