r"""Command line ``sae-claims`` (or ``python -m harness.cli``).

- ``demo``: the engine on a synthetic world with planted shared features and its negative
  control, under both procedures; writes a Markdown + JSON report.
- ``plan``: what a profile would download and compute (no download).
- ``judge results.json``: judges a saved run (or any file in the results schema, e.g.
  ``examples/paper-printed-numbers.json``) again with the current rules, without recomputation;
  schema problems first, then a table of verdicts and reasons (exit codes: ``judge --help``).
- ``rehearse``: stages a hub of real-shaped models and SAEs with random weights (offline) and runs
  a whole profile through the paper's code path, writing ``benchmark.json`` and a report
  (``sae-claims rehearse --help``).
- ``stability``: the seed sweep of the smoke claims (fixtures/stability.py): each verdict and its
  control's outcome over base seeds, written to ``reports/stability/``.
- ``cost``: the cost model (harness/cost): ``sae-claims cost --profile paper --device-spec h100
  [--json]`` projects each stage's counted work (GEMM flops, decompositions, transfers, Python
  loops) to seconds and peak bytes; ``--markdown`` prints the paper-tier table of docs/paper-tier.md;
  ``--calibrate --device cpu|cuda [--out FILE]`` measures a throughput table.
- ``atlas``: the whole-space comparison (1-1 SVCCA against its shuffled-pairing null) of every
  profile of ``--profiles`` (one model pair each), one report: a matrix of model pairs with each
  pair's best-layer excess over chance and its interval, linked to each pair's grid
  (harness/experiments/atlas.py; ``--executor ray`` runs the cells as Ray tasks).
- ``compare``: the matching-and-metrics pipeline on your own two (model, SAE set) pairs,
  under the chosen procedures, with negative controls; writes the same report
  (harness/experiments/compare.py). Example on the offline fixture world::

      sae-claims compare --model-a fixtures/world/models/model-a --saes-a sparsify:fixtures/world/saes/model-a \
          --model-b fixtures/world/models/model-b --saes-b sparsify:fixtures/world/saes/model-b \
          --layers-a 2 --layers-b 3 --data fixtures/world/corpus/documents.jsonl.gz --samples 50 --seq-len 64

  or on the (model, SAE set) pair of a profile file (models, SAEs, data, layers, null sizes from
  the file; ``--layers-a/-b`` narrow them)::

      sae-claims compare --profile fixtures/smoke.toml --layers-a 2 --layers-b 3 --out reports/compare

``--version`` prints the version and commit; ``-v`` / ``-vv`` show the library's logging
(INFO / DEBUG; warnings, such as a damaged cache file being recomputed, always show).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.config import PROCEDURES
from harness.errors import ConfigError
from harness.experiments.spaces import compare_spaces
from harness.provenance import provenance
from harness.report.schema import dumps
from harness.experiments.synthetic import synthetic_pair


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return "NaN" if math.isnan(x) else f"{x:.3f}"
    return str(x)


def run_demo(out_dir: Path, *, n_permutations: int = 200) -> dict[str, object]:
    """Planted pair vs shuffled-position control, paper and corrected procedures."""
    from harness.errors import ConfigError

    if isinstance(n_permutations, bool) or not isinstance(n_permutations, int) or n_permutations < 1:
        raise ConfigError(f"n_permutations={n_permutations!r}: use a positive number of permutations.")
    rows, records = [], []
    for control in (False, True):
        space_a, space_b = synthetic_pair(shuffle_b_positions=control)
        for name, proc in PROCEDURES.items():
            rec = compare_spaces(space_a, space_b, proc, n_permutations=n_permutations)
            records.append(rec)
            for variant in ("one_to_one", "many_to_one", "unfiltered"):
                v = rec[variant]
                rows.append(
                    [
                        space_b.name,
                        name,
                        variant,
                        v["n_pairs"],
                        v["svcca"],
                        v["svcca_null_mean"],
                        v["svcca_p"],
                        v["rsa"],
                        v["rsa_p"],
                    ]
                )
    headers = ["B", "procedure", "pairs", "n", "SVCCA", "null mean", "p", "RSA", "p (RSA)"]
    table = tabulate([[_fmt(c) for c in r] for r in rows], headers=headers, tablefmt="github")
    out_dir.mkdir(parents=True, exist_ok=True)
    # strict JSON like the reproduction report (NaN -> null); not the Results schema (a demo file)
    (out_dir / "results.json").write_text(dumps({"provenance": provenance(), "records": records}, indent=1))
    (out_dir / "REPORT.md").write_text(
        "# Engine demo on a synthetic world\n\n"
        "Planted shared features (rows `synthetic-B`) must beat the shuffled-pairing null; the "
        "negative control (`positions shuffled`) must not. This is not a reproduction of the "
        "papers; see `reports/smoke/` for the claims.\n\n" + table + "\n"
    )
    print(table)
    return {"records": records}


#: Download sizes of the paper tier (MB): Pythia and its SAEs from the hub listings
#: (library-facts.md); Gemma computed from shapes (no listing here): SAEs = encoder + decoder
#: of 16,384 x d_model in float32 per layer; models = parameter count x 4 bytes (an upper
#: bound: the hub may store them in 16-bit).
DOWNLOAD_MB = {
    "EleutherAI/pythia-70m": 166,
    "EleutherAI/pythia-160m": 375,
    "EleutherAI/sae-pythia-70m-32k": 134,
    "EleutherAI/sae-pythia-160m-32k": 201,
    "Skylion007/openwebtext": 300,
    "google/gemma-2b": 10_000,
    "google/gemma-2-2b": 10_500,
    "gemma-2b-res-jb": 2 * 16_384 * 2_048 * 4 // 2**20,
    "gemma-scope-2b-pt-res-canonical": 2 * 16_384 * 2_304 * 4 // 2**20,
}


def plan(profile_name: str) -> str:
    """What a run of ``profile_name`` would download and compute (no download, no model load)."""
    from harness.config import PROCEDURES
    from harness.profiles import get_profile

    prof = get_profile(profile_name)
    la, lb = prof.layers_a, prof.layers_b
    lines = [f"profile {prof.name}: {prof.model_name('a')} (A) x {prof.model_name('b')} (B)"]
    disk = 0.0
    for which, layers in (("a", la), ("b", lb)):
        name = prof.models[which]["name"]
        disk += DOWNLOAD_MB.get(name, 0)
        specs = [prof.sae_spec(which, layer) for layer in layers]
        repo = specs[0].repo_id or specs[0].release or specs[0].path
        per_layer = DOWNLOAD_MB.get(str(repo), 0)
        disk += per_layer * len(layers)
        lines.append(f"  model {which.upper()}: {name}; SAEs {repo} at layers {list(layers)} (~{per_layer} MB each)")
    data = prof.data
    lines.append(
        f"  tokens: {data.n_samples} samples x {data.seq_len} = {data.n_samples * data.seq_len} positions "
        f"from {data.source} (revision {getattr(data, 'revision', None)})"
    )
    n_cells = len(la) * len(lb)
    for name, proc in PROCEDURES.items():
        lines.append(
            f"  procedure {name}: {n_cells} layer pairs x 3 variants, {prof.n_permutations(proc)} permutations "
            f"(grid); semantic {len(prof.semantic_layers_a) * len(prof.semantic_layers_b)} layer pairs x 8 "
            f"categories, {prof.n_permutations_semantic(proc)} permutations, "
            f"{prof.n_random_subsets(proc)} Test-2 draws"
        )
    lines.append(f"  estimated download: ~{disk / 1024:.1f} GB (hub cache)")
    lines.append("  estimated time: sae-claims cost --profile NAME --device-spec h100 (counted kernels x throughputs)")
    return "\n".join(lines)


def judge_results(path: Path) -> list[dict[str, object]]:
    """Judge every claim row of a saved ``results.json`` again with the registered rules, from its
    recorded experiment records, without recomputing anything (:func:`harness.report.judge.judge_results`;
    rows as dicts: ``id``, ``procedure``, ``stored``, ``stored_control``, ``rejudged`` (None: the row
    names no inputs), ``control``, ``detail`` (the reason), ``error``)."""
    from harness.report.judge import judge_results as judge_rows

    return [r.as_dict() for r in judge_rows(path)]


#: ``sae-claims judge --help``: what it does and its exit codes.
JUDGE_HELP = """\
Judge a results file again with the current rules, without recomputing anything.

The file may be a report's results.json or any file in the documented schema
(harness/report/results.schema.json), e.g. examples/paper-printed-numbers.json. It is first
checked against the schema: every problem is named (file, JSON path, what is missing or wrong,
which claim rows read the record) and nothing is judged. A field the source does not give is
marked missing with null. Then every claim row is judged and printed (claim, procedure, verdict,
control, reason): a record the claim needs that is absent -> "not run: needs X"; a missing
control -> "control not run", and a rule that holds without its control is inconclusive, never
reproduced; a rule that fails on one row does not stop the others."""

JUDGE_EXIT_CODES = """\
exit codes:
  0  every row judged (outcomes that differ from the stored ones are listed)
  1  --check and some re-judged outcome differs from the stored one
  2  invalid input: no such file, not JSON, or schema problems (listed on stderr; nothing judged)
  3  judged, but a rule failed on some row (that row says "not run: the rule failed ..."; a bug)"""


def run_judge(path: Path, *, check: bool = False, validate_schema: bool = True) -> int:
    """``sae-claims judge``: validate, judge, print the table; returns the exit code (JUDGE_EXIT_CODES)."""
    import textwrap

    from harness.report.judge import judge_results as judge_rows
    from harness.report.judge import grouped, load_results, validate

    data = load_results(path)  # ResultsFileError (a HarnessError): exit 2 with its message
    if validate_schema:
        problems = grouped(validate(data))
        if problems:
            print(
                f"sae-claims judge: {path} does not match the results schema ({len(problems)} problem(s)):",
                file=sys.stderr,
            )
            for pr in problems:
                print("  " + pr.describe(path), file=sys.stderr)
            print(
                "Fix them (a field the source does not give is marked null), or pass --no-validate to judge anyway.",
                file=sys.stderr,
            )
            return 2
    rows = judge_rows(path, data)
    table = [
        [r.id, r.profile, r.procedure, r.verdict, r.control or "-", textwrap.fill(r.reason, 80) or "-"] for r in rows
    ]
    headers = ["claim", "profile", "procedure", "verdict", "control", "reason"]
    print(tabulate(table, headers=headers, tablefmt="grid"))
    changed = [r for r in rows if r.changed]
    if changed:
        print(f"{len(changed)} outcome(s) differ from the stored ones:")
        for r in changed:
            print(
                f"  {r.id}/{r.procedure}: stored {r.stored} (control {r.stored_control}), now {r.verdict} (control {r.control})"
            )
    failed = [r for r in rows if r.error]
    if failed:
        print(
            f"{len(failed)} rule(s) failed on their records (a bug; please report): "
            + ", ".join(f"{r.id}/{r.procedure} ({r.error})" for r in failed),
            file=sys.stderr,
        )
        return 3
    return 1 if (check and changed) else 0


#: ``compare`` options that name a side or the data; a profile file gives them instead.
_SIDE_OPTIONS = ("model_a", "saes_a", "model_b", "saes_b", "data", "data_files")


def compare(args: argparse.Namespace) -> Path:
    """``sae-claims compare``: parse the options (errors before any compute) and run.

    Either ``--profile path/to/pair.toml`` (models, SAE sets, data, layers and null sizes from
    the file; ``--layers-a/-b``, ``--samples``, ``--seq-len``, ``--permutations`` narrow or
    override them), or both sides given as ``--model-a/--saes-a/--layers-a``,
    ``--model-b/--saes-b/--layers-b`` and ``--data``."""
    from harness.experiments.compare import CompareSide, run_compare, run_compare_profile
    from harness.report.run import check_device, parse_layers_option

    from harness.executor import make_executor

    check_device(args.device)
    executor = make_executor(
        args.executor,
        cell_cache=None if str(args.cell_cache) == "none" else args.cell_cache,
        ray_address=args.ray_address,
    )
    procedures = ("paper", "corrected") if args.procedure == "both" else (args.procedure,)
    layers = {s: parse_layers_option(getattr(args, f"layers_{s}"), option=f"--layers-{s}") for s in ("a", "b")}
    given = ["--" + o.replace("_", "-") for o in _SIDE_OPTIONS if getattr(args, o) is not None]
    if args.profile is not None:
        if given:
            raise ConfigError(
                f"compare --profile {args.profile}: the profile file gives the models, SAE sets and data; "
                f"drop {', '.join(given)} (or drop --profile and give both sides)."
            )
        if args.batch_size is not None:
            raise ConfigError(
                f"compare --profile {args.profile}: the batch size comes from the file; drop --batch-size."
            )
        return run_compare_profile(
            args.profile,
            out=args.out,
            procedures=procedures,
            layers_a=layers["a"],
            layers_b=layers["b"],
            n_permutations=args.permutations,
            n_samples=args.samples,
            seq_len=args.seq_len,
            device=args.device,
            cache_dir=args.cache_dir,
            control=not args.no_control,
            executor=executor,
        )
    missing = [
        "--" + o.replace("_", "-")
        for o in ("model_a", "saes_a", "layers_a", "model_b", "saes_b", "layers_b", "data")
        if getattr(args, o) is None
    ]
    if missing:
        raise ConfigError(
            f"compare: missing {', '.join(missing)}; give both sides (--model-a/--saes-a/--layers-a, "
            "--model-b/--saes-b/--layers-b) and --data, or a profile file with --profile path/to/pair.toml."
        )
    sides = [
        CompareSide(model=getattr(args, f"model_{s}"), saes=getattr(args, f"saes_{s}"), layers=layers[s] or ())
        for s in ("a", "b")
    ]
    return run_compare(
        sides[0],
        sides[1],
        out=args.out,
        data=args.data,
        data_files=args.data_files,
        n_samples=100 if args.samples is None else args.samples,
        seq_len=128 if args.seq_len is None else args.seq_len,
        procedures=procedures,
        n_permutations=args.permutations,
        device=args.device,
        cache_dir=args.cache_dir,
        batch_size=8 if args.batch_size is None else args.batch_size,
        control=not args.no_control,
        executor=executor,
    )


def atlas(args: argparse.Namespace) -> Path:
    """``sae-claims atlas``: every profile of ``--profiles`` read and checked, then the atlas
    (harness/experiments/atlas.py)."""
    from harness.executor import make_executor
    from harness.experiments.atlas import ATLAS_BOOTSTRAP, atlas_profile, atlas_summary, run_atlas
    from harness.report.run import check_device

    check_device(args.device)
    names = [n.strip() for n in str(args.profiles).split(",") if n.strip()]
    if not names:
        raise ConfigError("atlas --profiles: give one or more profiles, comma-separated.")
    profiles = [atlas_profile(n) for n in names]  # every file read and checked before any compute
    executor = make_executor(
        args.executor,
        cell_cache=None if str(args.cell_cache) == "none" else args.cell_cache,
        ray_address=args.ray_address,
    )
    out = run_atlas(
        profiles,
        out=args.out,
        procedure=args.procedure,
        device=args.device,
        cache_dir=args.cache_dir,
        n_bootstrap=ATLAS_BOOTSTRAP if args.bootstrap is None else args.bootstrap,
        executor=executor,
    )
    print(atlas_summary(out))
    return out


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number (at least 1 is needed for a p-value)")
    return value


def version_string() -> str:
    """``sae-claims <version> (commit <hash>)``."""
    from harness import __version__
    from harness.provenance import git_commit

    return f"sae-claims {__version__} (commit {git_commit()})"


def setup_logging(verbosity: int) -> None:
    """WARNING by default, INFO with ``-v``, DEBUG with ``-vv``, on stderr."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)


#: Entry-point group of subcommands that live outside ``harness`` (``harness`` never imports
#: ``fixtures``; the rehearsal stages a hub with ``fixtures`` code, so it registers itself here
#: in pyproject.toml: ``rehearse = "fixtures.rehearse:main"``).
COMMAND_GROUP = "sae_claims.commands"


def external_command(name: str) -> Any:
    """The ``main(argv)`` registered as ``name`` in the :data:`COMMAND_GROUP` entry points."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=COMMAND_GROUP) if ep.name == name]
    if not found:
        raise ConfigError(
            f"No '{name}' command is installed (entry point group {COMMAND_GROUP!r}); reinstall the "
            f"package (pip install -e .) or run `python -m fixtures.{name}` from the repository."
        )
    return found[0].load()


def add_executor_arguments(cmd: argparse.ArgumentParser) -> None:
    """``--executor``, ``--ray-address`` and ``--cell-cache`` (harness/executor)."""
    cmd.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="who computes the cells: local (this process) or ray (Ray tasks, one GPU each on cuda; "
        "pip install .[distributed]) (default: %(default)s)",
    )
    cmd.add_argument(
        "--ray-address",
        default=None,
        help="with --executor ray: the cluster to join (auto, or ray://HOST:10001; default: start a local one)",
    )
    cmd.add_argument(
        "--cell-cache",
        type=Path,
        default=Path(".cache/cells"),
        help="cell results keyed by everything they depend on, so an interrupted run resumes "
        "('none': keep nothing; default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``sae-claims`` parser: every option with its help and default (``rehearse`` and
    ``stability`` parse their own arguments: ``sae-claims rehearse --help``)."""
    parser = argparse.ArgumentParser(
        prog="sae-claims", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=version_string())
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="show progress logging (-v: INFO, -vv: DEBUG)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="engine demo on synthetic data")
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("reports/demo"),
        help="folder for REPORT.md and results.json (default: %(default)s)",
    )
    demo.add_argument(
        "--permutations", type=_positive_int, default=200, help="permutations of each null (positive; default 200)"
    )
    plan_cmd = sub.add_parser("plan", help="dry run: what a profile would download and compute")
    plan_cmd.add_argument(
        "--profile", default="paper", help="a built-in profile name or a path to a profile .toml (default: %(default)s)"
    )
    judge_cmd = sub.add_parser(
        "judge",
        help="judge a results file again with the current rules (no compute); exit codes in its --help",
        description=JUDGE_HELP,
        epilog=JUDGE_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    judge_cmd.add_argument(
        "results",
        type=Path,
        help="a results.json (of a report, e.g. reports/smoke/results.json, or any file in the schema)",
    )
    judge_cmd.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a re-judged outcome differs from the stored one (default: off)",
    )
    judge_cmd.add_argument(
        "--no-validate",
        action="store_true",
        help="judge without checking the file against the schema first (default: validate)",
    )
    cmp_cmd = sub.add_parser(
        "compare",
        help="the pipeline on your own two (model, SAE set) pairs, or on the pair of a profile file",
    )
    cmp_cmd.add_argument(
        "--profile",
        default=None,
        help="a profile .toml (or built-in name) giving both models, SAE sets, data and layers; "
        "replaces --model-*/--saes-*/--data (default: none; then those are required)",
    )
    for side in ("a", "b"):
        cmp_cmd.add_argument(
            f"--model-{side}",
            default=None,
            help="hub name or local save_pretrained folder (required without --profile)",
        )
        cmp_cmd.add_argument(
            f"--saes-{side}",
            default=None,
            help="sparsify:<repo|folder> | release:<release>:<id with {layer}> | disk:<folder with {layer}> "
            "(required without --profile)",
        )
        cmp_cmd.add_argument(
            f"--layers-{side}",
            default=None,
            help="comma-separated layers, e.g. 1,3 (required without --profile; with it: a subset, default all)",
        )
    cmp_cmd.add_argument(
        "--data",
        default=None,
        help="hub dataset id or local text/json/parquet file or folder (required without --profile)",
    )
    cmp_cmd.add_argument(
        "--data-files",
        default=None,
        help="one file inside a hub dataset (e.g. a parquet shard; default: the whole dataset)",
    )
    cmp_cmd.add_argument(
        "--samples", type=_positive_int, default=None, help="documents (default 100, or the profile's)"
    )
    cmp_cmd.add_argument(
        "--seq-len", type=_positive_int, default=None, help="tokens per document (default 128, or the profile's)"
    )
    cmp_cmd.add_argument(
        "--procedure",
        default="both",
        choices=["both", "paper", "corrected"],
        help="the method choices to run under (docs: harness/config.py; default: %(default)s)",
    )
    cmp_cmd.add_argument(
        "--permutations",
        type=_positive_int,
        default=None,
        help="permutations per null (default: the profile's, else the procedure's)",
    )
    cmp_cmd.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1 (default: %(default)s)")
    cmp_cmd.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="forward-pass batch (default 8; with --profile: the file's)",
    )
    cmp_cmd.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".cache/activations"),
        help="residual-stream cache, keyed by model, layer, site and tokens (default: %(default)s)",
    )
    add_executor_arguments(cmp_cmd)
    cmp_cmd.add_argument(
        "--no-control", action="store_true", help="skip the shuffled-positions negative controls (default: run them)"
    )
    cmp_cmd.add_argument(
        "--out", type=Path, default=Path("reports/compare"), help="folder for the report (default: %(default)s)"
    )
    atlas = sub.add_parser(
        "atlas",
        help="the whole-space comparison (1-1 SVCCA against its null) of many model pairs, one report: "
        "a matrix of pairs with each one's best-layer excess over chance and its interval",
    )
    atlas.add_argument(
        "--profiles",
        required=True,
        help="comma-separated profiles, one model pair each: atlas profiles (harness/profiles/atlas, e.g. "
        "pythia-70m-160m,pythia-70m-shuffled), built-in names or .toml paths (required, no default)",
    )
    atlas.add_argument(
        "--procedure",
        default="corrected",
        choices=["paper", "corrected"],
        help="the method choices to run under (default: %(default)s)",
    )
    atlas.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda (default: %(default)s)")
    atlas.add_argument(
        "--bootstrap",
        type=int,
        default=None,
        help="bootstrap resamples of each cell's excess interval (default: harness.experiments.atlas.ATLAS_BOOTSTRAP)",
    )
    atlas.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".cache/activations"),
        help="residual-stream cache (default: %(default)s)",
    )
    atlas.add_argument(
        "--out", type=Path, default=Path("reports/atlas-local"), help="folder for the report (default: %(default)s)"
    )
    add_executor_arguments(atlas)
    sub.add_parser(
        "rehearse",
        help="stage the real-shape hub and run the whole profile, writing benchmark.json "
        "(sae-claims rehearse --scale tiny|paper --device cpu|cuda --out DIR; "
        "see fixtures/rehearse.py)",
    )
    sub.add_parser(
        "stability",
        help="seed sweep of the smoke claims: each verdict and control outcome over base seeds "
        "(sae-claims stability --seeds N --seeds-expensive M --out reports/stability; see fixtures/stability.py)",
    )
    from harness.cost.command import add_arguments as add_cost_arguments

    add_cost_arguments(
        sub.add_parser(
            "cost",
            help="the cost model: a profile's counted work per stage and its projected time and memory "
            "on a device spec; --calibrate measures this machine's kernel throughputs",
        )
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from harness.errors import HarnessError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["rehearse"], ["stability"]):
        # its own process-level setup (hub environment before huggingface_hub is imported,
        # BLAS threads before numpy) happens in the command itself: hand over the raw arguments
        return int(external_command(argv[0])(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    log = logging.getLogger("harness.cli")
    try:
        if args.command == "demo":
            log.info("demo: %d permutations per null, report to %s", args.permutations, args.out)
            run_demo(args.out, n_permutations=args.permutations)
        elif args.command == "plan":
            print(plan(args.profile))
        elif args.command == "compare":
            print(f"report: {compare(args) / 'REPORT.md'}")
        elif args.command == "atlas":
            print(f"report: {atlas(args) / 'ATLAS.md'}")
        elif args.command == "cost":
            from harness.cost.command import run as run_cost

            print(run_cost(args))
        elif args.command == "judge":
            return run_judge(args.results, check=args.check, validate_schema=not args.no_validate)
    except HarnessError as exc:  # bad input: the message says what to do; no traceback
        print(f"sae-claims {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
