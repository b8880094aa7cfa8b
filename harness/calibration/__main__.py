"""``python -m harness.calibration``: run or re-judge the calibration tier from the command line.

- ``run``: calibrate the named claims (default: every plan) over ``--seeds`` seeds, under one or
  both procedures, on a world shape (``--shape``; ``--paper-pairs`` scales the latent count to
  the paper's pair counts), with ``--workers`` processes and every cell cached under its full key
  in ``--cache`` (an interrupted run continues); writes ``calibration.json`` / ``.md`` / figures to
  ``--out`` with how it was run -- with ``--batch N`` after every N seeds (all claims and
  procedures of those seeds first), so a run stopped part-way leaves every row with the same seeds.
  ``--false-worlds none`` leaves out the claim-false worlds besides the null twin (a cheaper run
  whose rows bound the null twin's false passes and the power only).
- ``recompute [FILE]``: rates, 95% intervals and flags re-derived from a written
  ``calibration.json``'s stored trials (no world rebuilt), report rewritten next to it.
- ``readme``: rewrite docs/calibration.md's calibration block from the committed data
  (:func:`harness.calibration.report.readme_summary`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from harness.calibration.cells import DEFAULT_CELL_CACHE, REPO_ROOT
from harness.calibration.run import PAPER_PAIRS, PLANS, WORLD_SHAPES, ClaimCalibration, calibrate
from harness.calibration.report import (
    DEFAULT_CALIBRATION_FILE,
    README_BEGIN,
    README_END,
    readme_summary,
    recompute,
    write_calibration,
)
from harness.calibration.worlds import SeedKnobs, WorldKnobs
from harness.config import CORRECTED, PAPER
from harness.provenance import git_commit


def _run(args: argparse.Namespace) -> int:
    from claims.calibration_rules import EVALUATORS

    claims = [c.strip() for c in args.claims.split(",")] if args.claims else list(PLANS)
    bad = [c for c in claims if c not in PLANS]
    if bad:
        print(f"error: no calibration plan for {bad}; planned: {', '.join(PLANS)}.", file=sys.stderr)
        return 2
    procs = {"corrected": CORRECTED, "paper": PAPER}
    names = [p.strip() for p in args.procedure.split(",")]
    if any(n not in procs for n in names):
        print(f"error: --procedure takes corrected and/or paper, got {args.procedure!r}.", file=sys.stderr)
        return 2
    world = WorldKnobs().replace(**WORLD_SHAPES[args.shape], **(PAPER_PAIRS if args.paper_pairs else {}))
    seed_world = SeedKnobs()
    if args.seed_latents:  # a wider seed world: room in the token stream for every trigger
        n_samples = max(
            seed_world.n_samples, -(-args.seed_latents * seed_world.occurrences // (0.8 * seed_world.seq_len))
        )
        seed_world = seed_world.replace(n_latents=args.seed_latents, n_samples=int(n_samples))
    strengths = None
    if args.strengths == "ends":  # the null twin and the paper-like strength only
        strengths = {c: tuple(s for s in PLANS[c].strengths if s in (0.0, PLANS[c].paper_strength)) for c in claims}
    plans = dict(PLANS)
    if args.false_worlds == "none":  # the null twin only (a plan whose null twin is not claim-false keeps its worlds)
        plans = {c: dataclasses.replace(p, false_worlds={}) if p.null_twin_false else p for c, p in PLANS.items()}
    if args.batch < 0:
        print(f"error: --batch takes 0 (every seed at once) or a seed count, got {args.batch}.", file=sys.stderr)
        return 2
    t0 = time.time()
    step = args.batch or args.seeds
    ends = sorted({*range(step, args.seeds, step), args.seeds})
    for i, n_done in enumerate(ends):
        # seeds 0 .. n_done - 1, every claim and procedure (earlier batches read back from the cache): an
        # interrupted run leaves the file of the last finished batch, every row with the same seeds
        if len(ends) > 1:
            print(f"calibration: batch {i + 1}/{len(ends)}, seeds 0-{n_done - 1} of {args.seeds}", flush=True)
        results: list[ClaimCalibration] = []
        for name in names:
            results += calibrate(
                EVALUATORS,
                claims=claims,
                seeds=range(n_done),
                procedure=procs[name],
                world=world,
                seed_world=seed_world,
                strengths=strengths,
                plans=plans,
                n_permutations=args.n_permutations,
                n_permutations_semantic=args.n_permutations,
                n_random_subsets=args.n_random_subsets,
                progress=lambda line: print(line, flush=True),
                cache_dir=None if args.no_cache else args.cache,
                workers=args.workers,
            )
        meta = {
            "command": "python -m harness.calibration " + shlex.join(sys.argv[1:] if args.argv is None else args.argv),
            "procedures": names,
            "seeds": n_done,
            "seeds_asked": args.seeds,
            "strengths": "null twin and paper-like only" if strengths else "every planned strength",
            "false_worlds": "every planned claim-false world"
            if args.false_worlds == "all"
            else "none besides the null twin (U7: its own, its null twin is not claim-false)",
            "n_permutations": args.n_permutations,
            "n_permutations_semantic": args.n_permutations,
            "n_random_subsets": args.n_random_subsets,
            "shape": args.shape,
            "paper_pairs": args.paper_pairs,
            "world": dataclasses.asdict(world),
            "seed_world": dataclasses.asdict(seed_world),
            "workers": args.workers,
            "wall_s": round(time.time() - t0, 1),
            "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.machine()})",
            "commit": git_commit(),
        }
        last = n_done == args.seeds
        print(write_calibration(args.out, results, meta=meta, figures=last or not args.batch), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.calibration", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="calibrate claims' rules on known-answer worlds")
    run.add_argument("--claims", help="comma-separated plan ids (default: all), e.g. 'W1,X1,U1 token'")
    run.add_argument("--seeds", type=int, default=50, help="world seeds per strength and world (default 50)")
    run.add_argument("--procedure", default="corrected,paper", help="corrected, paper or both (default)")
    run.add_argument("--shape", choices=sorted(WORLD_SHAPES), default="pythia", help="world shape (default pythia)")
    run.add_argument("--paper-pairs", action="store_true", help="latent counts of the paper's pair counts")
    run.add_argument(
        "--strengths", choices=("all", "ends"), default="all", help="'ends': null twin and paper-like strength only"
    )
    run.add_argument(
        "--false-worlds",
        choices=("all", "none"),
        default="all",
        help="'none': no claim-false world besides the null twin (plans whose null twin is not claim-false keep "
        "theirs); the cells' keys are the same, so a later 'all' run reuses them",
    )
    run.add_argument("--seed-latents", type=int, help="latents per SAE of the seed worlds (default 256)")
    run.add_argument("--n-permutations", type=int, default=99)
    run.add_argument("--n-random-subsets", type=int, default=30)
    run.add_argument("--workers", type=int, default=1)
    run.add_argument(
        "--batch",
        type=int,
        default=0,
        help="write the report after every BATCH seeds (every claim and procedure; figures at the end), so an "
        "interrupted run leaves a consistent file (default 0: once, after every seed)",
    )
    run.add_argument("--cache", type=Path, default=DEFAULT_CELL_CACHE, help="cell cache (default .cache/calibration)")
    run.add_argument("--no-cache", action="store_true")
    run.add_argument("--out", type=Path, default=DEFAULT_CALIBRATION_FILE.parent)
    rc = sub.add_parser("recompute", help="re-judge a written calibration.json from its stored trials")
    rc.add_argument("file", nargs="?", type=Path, default=DEFAULT_CALIBRATION_FILE)
    rc.add_argument("--no-figures", action="store_true", help="rewrite the JSON and Markdown only")
    sub.add_parser("readme", help="rewrite docs/calibration.md's calibration block from reports/calibration/")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.verb == "run":
        return _run(args)
    if args.verb == "readme":
        readme = REPO_ROOT / "docs" / "calibration.md"
        text = readme.read_text()
        if README_BEGIN in text:
            text = (
                text[: text.index(README_BEGIN)]
                + "CALIBRATION_BLOCK"
                + text[text.index(README_END) + len(README_END) :]
            )
        if "CALIBRATION_BLOCK" not in text:
            print(f"error: {readme} has no calibration block ({README_BEGIN!r}).", file=sys.stderr)
            return 2
        readme.write_text(text.replace("CALIBRATION_BLOCK", readme_summary()))
        print(readme)
        return 0
    if not args.file.exists():
        print(f"error: {args.file} does not exist; run the calibration tier first.", file=sys.stderr)
        return 2
    print(recompute(args.file, figures=not args.no_figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
