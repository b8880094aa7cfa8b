"""Command line: ``python -m harness.cli demo`` runs the engine on a synthetic world with
planted shared features and its negative control, under both procedures, and writes a
Markdown + JSON report."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.config import PROCEDURES
from harness.errors import ConfigError
from harness.experiments.spaces import compare_spaces
from harness.provenance import provenance
from harness.experiments.synthetic import synthetic_pair


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return "NaN" if math.isnan(x) else f"{x:.3f}"
    return str(x)


def run_demo(out_dir: Path, *, n_permutations: int = 200) -> dict[str, object]:
    """Planted pair vs shuffled-position control, paper and corrected procedures."""
    rows, records = [], []
    for control in (False, True):
        space_a, space_b = synthetic_pair(shuffle_b_positions=control)
        for name, proc in PROCEDURES.items():
            rec = compare_spaces(space_a, space_b, proc, n_permutations=n_permutations)
            records.append(rec)
            for variant in ("one_to_one", "many_to_one", "unfiltered"):
                v = rec[variant]
                rows.append([space_b.name, name, variant, v["n_pairs"], v["svcca"], v["svcca_null_mean"],
                             v["svcca_p"], v["rsa"], v["rsa_p"]])
    headers = ["B", "procedure", "pairs", "n", "SVCCA", "null mean", "p", "RSA", "p (RSA)"]
    table = tabulate([[_fmt(c) for c in r] for r in rows], headers=headers, tablefmt="github")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps({"provenance": provenance(), "records": records},
                                                     indent=1, default=float, allow_nan=True))
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
DOWNLOAD_MB = {"EleutherAI/pythia-70m": 166, "EleutherAI/pythia-160m": 375,
               "EleutherAI/sae-pythia-70m-32k": 134, "EleutherAI/sae-pythia-160m-32k": 201,
               "Skylion007/openwebtext": 300,
               "google/gemma-2b": 10_000, "google/gemma-2-2b": 10_500,
               "gemma-2b-res-jb": 2 * 16_384 * 2_048 * 4 // 2**20,
               "gemma-scope-2b-pt-res-canonical": 2 * 16_384 * 2_304 * 4 // 2**20}


def plan(profile_name: str) -> str:
    """What a run of ``profile_name`` would download and compute (no download, no model load)."""
    from harness.config import PROCEDURES
    from harness.profiles.registry import get_profile

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
        lines.append(f"  model {which.upper()}: {name}; SAEs {repo} at layers {list(layers)} "
                     f"(~{per_layer} MB each)")
    data = prof.data
    lines.append(f"  tokens: {data.n_samples} samples x {data.seq_len} = {data.n_samples * data.seq_len} positions "
                 f"from {data.source} (revision {getattr(data, 'revision', None)})")
    n_cells = len(la) * len(lb)
    for name, proc in PROCEDURES.items():
        lines.append(f"  procedure {name}: {n_cells} layer pairs x 3 variants, {prof.n_permutations(proc)} permutations "
                     f"(grid); semantic {len(prof.semantic_layers_a) * len(prof.semantic_layers_b)} layer pairs x 8 "
                     f"categories, {prof.n_permutations_semantic(proc)} permutations, "
                     f"{prof.n_random_subsets(proc)} Test-2 draws")
    lines.append(f"  estimated download: ~{disk / 1024:.1f} GB (hub cache)")
    lines.append("  estimated time: see README 'Paper tier' (per-stage CPU measurements, GPU extrapolation)")
    return "\n".join(lines)


#: Entry-point group of subcommands that live outside ``harness`` (``harness`` never imports
#: ``fixtures``; the rehearsal stages a hub with ``fixtures`` code, so it registers itself here
#: in pyproject.toml: ``rehearse = "fixtures.rehearse:main"``).
COMMAND_GROUP = "sae_claims.commands"


def external_command(name: str) -> Any:
    """The ``main(argv)`` registered as ``name`` in the :data:`COMMAND_GROUP` entry points."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=COMMAND_GROUP) if ep.name == name]
    if not found:
        raise ConfigError(f"No '{name}' command is installed (entry point group {COMMAND_GROUP!r}); reinstall the "
                          "package (pip install -e .) or run `python -m fixtures.rehearse` from the repository.")
    return found[0].load()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["rehearse"]:
        # its own process-level setup (hub environment before huggingface_hub is imported,
        # BLAS threads before numpy) happens in the command itself: hand over the raw arguments
        return int(external_command("rehearse")(argv[1:]) or 0)
    parser = argparse.ArgumentParser(prog="sae-claims", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="engine demo on synthetic data")
    demo.add_argument("--out", type=Path, default=Path("reports/demo"))
    demo.add_argument("--permutations", type=int, default=200)
    plan_cmd = sub.add_parser("plan", help="dry run: what a profile would download and compute")
    plan_cmd.add_argument("--profile", default="paper")
    sub.add_parser("rehearse", help="stage the real-shape hub and run the whole profile, writing benchmark.json "
                                    "(sae-claims rehearse --scale tiny|paper --device cpu|cuda --out DIR; "
                                    "see fixtures/rehearse.py)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        run_demo(args.out, n_permutations=args.permutations)
    elif args.command == "plan":
        print(plan(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
