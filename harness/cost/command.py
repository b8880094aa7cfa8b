"""``sae-claims cost``: arguments and dispatch (projection, calibration, README block)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile", default="paper", help="a built-in profile name or a path to a profile .toml (default: %(default)s)"
    )
    p.add_argument(
        "--device-spec",
        default="h100",
        help="cpu (this repository's measured CPU table), a100 / h100 / h200 (datasheet-derived), "
        "or a throughput table file (e.g. a measured cuda table from --calibrate); default: %(default)s",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="a run's results.json: pair counts from its records (default: the paper's tables)",
    )
    p.add_argument(
        "--procedures",
        nargs="+",
        default=["paper", "corrected"],
        choices=["paper", "corrected"],
        help="procedures run (default: paper corrected)",
    )
    p.add_argument(
        "--variance-dims",
        type=float,
        default=1.0,
        help="corrected SVCCA: directions for 99%% variance as a fraction of the rank (default 1: the rank, "
        "an upper bound; real decoders' value is known only after a run)",
    )
    p.add_argument(
        "--reseeds",
        type=int,
        default=None,
        help="seeds of the gpu tier's reseed check to cost (pytest --reseeds; default: its default, 1)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the projection as JSON")
    out.add_argument(
        "--markdown", action="store_true", help="the paper-tier table of docs/paper-tier.md (paper, gemma)"
    )
    p.add_argument("--calibrate", action="store_true", help="measure this machine's kernel throughputs instead")
    p.add_argument("--device", default="cpu", help="with --calibrate: cpu or cuda (default: %(default)s)")
    p.add_argument(
        "--out", type=Path, default=None, help="with --calibrate: write the table here (JSON; default: print it)"
    )
    p.add_argument(
        "--keys",
        default=None,
        help="with --calibrate --out: measure only these comma-separated kernel keys and merge them into the "
        "table at --out (its other rates kept; meta.remeasured names them); default: every key",
    )


def run(args: argparse.Namespace) -> str:
    """The command's output text (the table, JSON, Markdown, or where the calibration went)."""
    from harness.cost.render import json_text, readme_block, text_table

    if args.calibrate:
        from harness.cost.calibrate import calibrate

        keys = None if args.keys is None else [k.strip() for k in args.keys.split(",") if k.strip()]
        if keys is not None and (args.out is None or not args.out.is_file()):
            raise ConfigError(
                "--keys merges into an existing table: give --out FILE of a table measured on this machine."
            )
        table = calibrate(args.device, log=lambda line: print(line, file=sys.stderr, flush=True), keys=keys)
        if keys is not None:
            from harness.cost.throughput import merge_tables, table_from_json

            table = merge_tables(table_from_json(json.loads(args.out.read_text()), origin=str(args.out)), table)
        text = json.dumps(table.to_json(), indent=1)
        if args.out is None:
            return text
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        return f"wrote {args.out} ({table.name}, {table.meta.get('calibration_seconds')} s)"
    if args.markdown:
        return readme_block()
    from harness.cost.project import project
    from harness.cost.device_specs import load_table
    from harness.cost.workload import workload_from_profile, workload_from_results
    from harness.profiles import get_profile

    if not 0.0 < args.variance_dims <= 1.0:
        raise ConfigError(f"--variance-dims {args.variance_dims}: use a fraction in (0, 1].")
    prof = get_profile(args.profile)
    table = load_table(args.device_spec)
    if args.results is not None:
        if not args.results.is_file():
            raise ConfigError(f"--results {args.results}: no such file; give the results.json of a report directory.")
        data = json.loads(args.results.read_text())
        wl = workload_from_results(prof, data.get("experiments", data), variance_dims=args.variance_dims)
    else:
        wl = workload_from_profile(prof, procedures=args.procedures, variance_dims=args.variance_dims)
    from harness.verdicts.reseed import DEFAULT_RESEEDS

    reseeds = DEFAULT_RESEEDS if args.reseeds is None else args.reseeds
    if reseeds < 0:
        raise ConfigError(f"--reseeds {reseeds}: use 0 (no reseed check) or a positive number of extra seeds.")
    proj = project(wl, table)
    return json_text(proj) if args.json else text_table(proj, n_reseeds=reseeds)
