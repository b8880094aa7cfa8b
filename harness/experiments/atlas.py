"""The universality atlas (issue 25): the whole-space comparison of many model pairs in one report.

For each profile (one model pair, its SAE sets, layers and tokens) every layer pair is one cell
(:func:`atlas_cell`): the procedure's 1-1 pairs (Lan et al. Sec. 3), their SVCCA against the
shuffled-pairing null (Sec. 4.2; the same null draws as the grid's 1-1 set), the excess over
chance ``(svcca - null mean) / (1 - null mean)`` (:func:`harness.scoring.effects.excess_over_chance`)
and a 95% normal interval of that excess: excess +- 1.96 bootstrap standard errors (the pairs
resampled with replacement, seeded per cell; the null mean held fixed), as the semantic tables'
S2/S4 intervals. Not the bootstrap's percentiles: a resample repeats pairs, which raises SVCCA
(fewer distinct rows for the same directions), so the percentile interval sits above the
estimate -- measured on the fixture world's A2 x B3 cell: excess 0.10, percentile interval
[0.31, 0.38]. Only the cheapest meaningful statistic: no RSA, no
many-to-1 / unfiltered sets, no placebos -- the claims' grids (:func:`harness.experiments.grid.run_grid`)
have those.

The report (:func:`write_atlas`) is a matrix of model pairs (A models as rows, B models as columns);
each entry is the pair's best layer pair by excess, its interval and its layers, linked to the
pair's own grid. The best layer is chosen on the same data it reports (a maximum over cells:
biased upwards, most where the grid is large and the nulls small); the interval is that cell's.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.stats

from harness.config import Procedure

if TYPE_CHECKING:
    from harness.executor.cell import CellResult, CellSpec, Executor
    from harness.experiments.grid import LoadedPair
    from harness.profiles import Profile

__all__ = [
    "ATLAS_BOOTSTRAP",
    "ATLAS_DIR",
    "atlas_cell",
    "compute_atlas_cell",
    "atlas_profile",
    "atlas_profiles",
    "best_cell",
    "run_atlas",
    "run_atlas_pair",
    "write_atlas",
]

#: Bootstrap resamples of each atlas cell's excess interval.
ATLAS_BOOTSTRAP = 200

#: Two-sided level of the interval.
INTERVAL_LEVEL = 0.95

#: The atlas's profile files (data, one model pair each): ``sae-claims atlas --profiles NAME,...``.
ATLAS_DIR = Path(__file__).resolve().parents[1] / "profiles" / "atlas"

#: Sparsify SAE repositories whose names are checked (shared/reference/library-facts.md) -> the
#: model they were trained on.
SPARSIFY_REPOS = {
    "EleutherAI/sae-pythia-70m-32k": "EleutherAI/pythia-70m",
    "EleutherAI/sae-pythia-160m-32k": "EleutherAI/pythia-160m",
}


def atlas_profiles() -> list[str]:
    """Names of the atlas's profile files (harness/profiles/atlas/*.toml)."""
    return sorted(p.stem for p in ATLAS_DIR.glob("*.toml"))


def atlas_profile(name: str | Path) -> Profile:
    """An atlas profile by file name (``pythia-70m-160m``), else any profile
    :func:`harness.profiles.get_profile` resolves (a built-in name or a .toml path)."""
    from harness.profiles import get_profile, load_profile

    path = ATLAS_DIR / f"{name}.toml"
    return load_profile(path) if str(name) in atlas_profiles() else get_profile(name)


def atlas_cell(
    world: LoadedPair, procedure: Procedure, layer_a: int, layer_b: int, *, n_bootstrap: int = ATLAS_BOOTSTRAP
) -> dict[str, Any]:
    """One atlas cell (module docstring): ``layer_a``, ``layer_b``, ``n_pairs``, ``svcca``,
    ``svcca_null_mean``, ``svcca_p_plus_one``, ``svcca_p_paper`` ("k/N"), ``svcca_excess`` and its
    interval ``excess_lo`` / ``excess_hi`` (NaN where fewer than 2 resamples score), ``excess_se``,
    ``n_bootstrap`` (resamples scored)."""
    from harness.experiments.pair_scores import score_pairs, svcca_of_sets
    from harness.experiments.space_pairing import pair_spaces, space_max_correlation
    from harness.scoring.effects import cell_seed

    prof = world.profile
    sa = world.space("a", layer_a, procedure)
    sb = world.space("b", layer_b, procedure)
    mc = space_max_correlation(sa, sb, procedure, device=world.device)
    pairs, _ = pair_spaces(sa, sb, procedure, mc=mc)
    rec = score_pairs(
        sa,
        sb,
        pairs,
        procedure,
        n_permutations=prof.n_permutations(procedure),
        identity=("whole space", "one_to_one"),  # the grid's 1-1 null: the same draws
        null_device=world.device,
        paper_permutations=prof.paper_permutations(procedure),
        rsa=False,
    )
    out = {
        "layer_a": int(layer_a),
        "layer_b": int(layer_b),
        "n_pairs": int(rec["n_pairs"]),
        "mean_max_corr": float(mc.mean_max_corr_b),
        "svcca": float(rec["svcca"]),
        "svcca_null_mean": float(rec["svcca_null_mean"]),
        "svcca_p_plus_one": float(rec.get("svcca_p_plus_one", math.nan)),
        "svcca_p_paper": rec.get("svcca_p_paper", ""),
        "svcca_excess": float(rec.get("svcca_excess", math.nan)),
        "excess_lo": math.nan,
        "excess_hi": math.nan,
        "excess_se": math.nan,
        "n_bootstrap": 0,
    }
    n = len(pairs)
    if n_bootstrap > 0 and math.isfinite(out["svcca"]):
        rng = np.random.default_rng(cell_seed(procedure.seed, "atlas bootstrap", sa.name, sb.name))
        idx = rng.integers(0, n, size=(int(n_bootstrap), n))
        a_idx, b_idx = np.asarray(pairs.a_idx), np.asarray(pairs.b_idx)
        boot = svcca_of_sets(sa, sb, [(a_idx[i], b_idx[i]) for i in idx], procedure, device=world.device)
        ok = boot[np.isfinite(boot)]
        out["n_bootstrap"] = int(ok.size)
        if ok.size > 1 and math.isfinite(out["svcca_excess"]):
            # the excess is linear in the score: its se is the score's over (1 - null mean)
            se = float(ok.std(ddof=1)) / (1.0 - out["svcca_null_mean"])
            z = float(scipy.stats.norm.ppf(0.5 + INTERVAL_LEVEL / 2))
            out.update(excess_se=se, excess_lo=out["svcca_excess"] - z * se, excess_hi=out["svcca_excess"] + z * se)
    return out


def compute_atlas_cell(world: LoadedPair, spec: CellSpec) -> CellResult:
    """The atlas cell of ``spec`` (kind "atlas") on ``world``, as the executors take it."""
    from harness.errors import ConfigError
    from harness.executor.work import cell_result

    if spec.kind != "atlas":
        raise ConfigError(f"{spec.label}: compute_atlas_cell runs atlas cells only.")
    n_positions = int(world.space("a", spec.layer_a, spec.procedure).n_positions)
    value = atlas_cell(world, spec.procedure, spec.layer_a, spec.layer_b, n_bootstrap=spec.n_bootstrap)
    return cell_result(world, spec, value, n_positions)


def best_cell(cells: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The cell of largest finite excess (the first of equals), or None when no cell scores."""
    scored = [c for c in cells if math.isfinite(c["svcca_excess"])]
    return max(scored, key=lambda c: c["svcca_excess"]) if scored else None


def run_atlas_pair(
    world: LoadedPair,
    procedure: Procedure,
    *,
    n_bootstrap: int = ATLAS_BOOTSTRAP,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """The atlas grid of ``world``'s profile: one :func:`atlas_cell` per (layer_a, layer_b), run
    by ``executor`` (harness/executor; default: in this process), and its best cell."""
    from harness.executor.cell import CellSpec
    from harness.executor.local import LocalExecutor

    t0 = time.perf_counter()
    prof = world.profile
    specs = [
        CellSpec(kind="atlas", procedure=procedure, layer_a=la, layer_b=lb, n_bootstrap=int(n_bootstrap))
        for la in prof.layers_a
        for lb in prof.layers_b
    ]
    what = f"{prof.name}: atlas {procedure.name}"
    results = (executor or LocalExecutor()).run(world, specs, compute=compute_atlas_cell, what=what)
    cells = [r.value for r in results]
    return {
        "kind": "atlas_grid",
        "profile": prof.name,
        "model_a": prof.model_name("a"),
        "model_b": prof.model_name("b"),
        "layers_a": list(prof.layers_a),
        "layers_b": list(prof.layers_b),
        "procedure": procedure.name,
        "n_permutations": prof.n_permutations(procedure),
        "n_tokens": results[0].n_positions_a if results else 0,
        "cells": cells,
        "best": best_cell(cells),
        "elapsed_s": round(time.perf_counter() - t0, 2),
    }


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)


def _pair_markdown(grid: dict[str, Any]) -> str:
    head = (
        f"# Atlas grid: {grid['model_a']} (A) x {grid['model_b']} (B)\n\n"
        f"Profile `{grid['profile']}`, procedure `{grid['procedure']}`, {grid['n_tokens']} token positions, "
        f"{grid['n_permutations']} shuffled pairings per null. Excess over chance = (SVCCA - null mean) / "
        f"(1 - null mean); interval: {INTERVAL_LEVEL:.0%}, excess +- z bootstrap standard errors (pairs resampled).\n\n"
        "| A layer | B layer | 1-1 pairs | SVCCA | null mean | excess | interval | p (+1) | k/N |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = [
        f"| {c['layer_a']} | {c['layer_b']} | {c['n_pairs']} | {_fmt(c['svcca'], 3)} | {_fmt(c['svcca_null_mean'], 3)} "
        f"| {_fmt(c['svcca_excess'])} | [{_fmt(c['excess_lo'])}, {_fmt(c['excess_hi'])}] "
        f"| {_fmt(c['svcca_p_plus_one'], 3)} | {c['svcca_p_paper']} |"
        for c in grid["cells"]
    ]
    return head + "\n".join(rows) + "\n"


def _entry(grid: dict[str, Any], link: str) -> str:
    best = grid["best"]
    if best is None:
        return f"[no scored cell]({link})"
    return (
        f"[{_fmt(best['svcca_excess'])} [{_fmt(best['excess_lo'])}, {_fmt(best['excess_hi'])}]]({link}) "
        f"(A{best['layer_a']} x B{best['layer_b']})"
    )


def atlas_markdown(grids: Sequence[dict[str, Any]], links: Sequence[str]) -> str:
    """The matrix of model pairs (module docstring) with a line per pair below it."""
    rows = list(dict.fromkeys(g["model_a"] for g in grids))
    cols = list(dict.fromkeys(g["model_b"] for g in grids))
    at = {(g["model_a"], g["model_b"]): _entry(g, link) for g, link in zip(grids, links, strict=True)}
    lines = [
        "# Universality atlas\n",
        "Each entry: the model pair's best layer pair by SVCCA excess over chance (1-1 pairs against the "
        f"shuffled-pairing null), its {INTERVAL_LEVEL:.0%} interval (bootstrap standard errors) and the layers; the link opens "
        "the pair's whole grid. The best layer is picked on the data it reports (a maximum over cells: "
        "read it with its grid). Rows: model A; columns: model B; blank: not run.\n",
        "| A \\ B | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for r in rows:
        lines.append(f"| {r} | " + " | ".join(at.get((r, c), "") for c in cols) + " |")
    lines.append("\n| profile | A | B | procedure | layer pairs | best excess | interval | p (+1) | seconds |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for g, link in zip(grids, links, strict=True):
        b = g["best"] or {"svcca_excess": math.nan, "excess_lo": math.nan, "excess_hi": math.nan}
        lines.append(
            f"| [{g['profile']}]({link}) | {g['model_a']} | {g['model_b']} | {g['procedure']} | {len(g['cells'])} "
            f"| {_fmt(b['svcca_excess'])} | [{_fmt(b['excess_lo'])}, {_fmt(b['excess_hi'])}] "
            f"| {_fmt(b.get('svcca_p_plus_one', math.nan), 3)} | {g['elapsed_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_atlas(out: Path, grids: Sequence[dict[str, Any]], *, provenance: dict[str, Any]) -> Path:
    """``out``/ATLAS.md, ``out``/atlas.json and one ``pairs/<profile>.md`` / ``.json`` per pair,
    swapped into place whole (:func:`harness.report.run.replace_dir`); returns ``out``."""
    from harness.report.run import replace_dir
    from harness.report.schema import dumps

    names = [_slug(g["profile"]) for g in grids]
    if len(set(names)) != len(names):
        from harness.errors import ConfigError

        raise ConfigError(f"atlas: two profiles share a name ({names}); give each profile its own name.")
    links = [f"pairs/{n}.md" for n in names]

    def write(tmp: Path) -> None:
        (tmp / "pairs").mkdir()
        for g, n in zip(grids, names, strict=True):
            (tmp / "pairs" / f"{n}.md").write_text(_pair_markdown(g))
            (tmp / "pairs" / f"{n}.json").write_text(dumps(g, indent=1))
        (tmp / "ATLAS.md").write_text(atlas_markdown(grids, links))
        doc = {
            "provenance": provenance,
            "pairs": [{**g, "grid_file": f"pairs/{n}.json"} for g, n in zip(grids, names, strict=True)],
        }
        (tmp / "atlas.json").write_text(dumps(doc, indent=1))

    replace_dir(Path(out), write)
    return Path(out)


def run_atlas(
    profiles: Sequence[Profile],
    *,
    out: Path,
    procedure: str = "corrected",
    device: str = "cpu",
    cache_dir: Path | None = None,
    n_bootstrap: int = ATLAS_BOOTSTRAP,
    executor: Executor | None = None,
) -> Path:
    """The atlas of ``profiles`` (each one model pair) under ``procedure``, written to ``out``
    (:func:`write_atlas`). Inputs are checked before any model is loaded."""
    from harness.config import get_procedure
    from harness.errors import ConfigError
    from harness.experiments.grid import LoadedPair
    from harness.provenance import provenance
    from harness.report.run import check_writable_dir

    t0 = time.time()
    proc = get_procedure(procedure)
    if not profiles:
        raise ConfigError("atlas: give at least one profile (--profiles A,B,...).")
    if isinstance(n_bootstrap, bool) or int(n_bootstrap) < 0:
        raise ConfigError(f"n_bootstrap={n_bootstrap!r}: use 0 or more resamples.")
    for prof in profiles:
        prof.check_layers()
    check_writable_dir(Path(out).absolute().parent, what=f"--out {out}: its folder")
    if cache_dir is not None:
        check_writable_dir(cache_dir, what="--cache-dir")
    grids = []
    for prof in profiles:
        world = LoadedPair(prof, cache_dir=cache_dir, device=device)
        grids.append(run_atlas_pair(world, proc, n_bootstrap=n_bootstrap, executor=executor))
    prov = provenance()
    prov.update(
        kind="atlas",
        procedure=proc.name,
        device=device,
        n_bootstrap=int(n_bootstrap),
        profiles=[p.name for p in profiles],
        session_wall_s=round(time.time() - t0, 1),
    )
    return write_atlas(Path(out), grids, provenance=prov)


def atlas_summary(out: Path) -> str:
    """One line per pair of a written atlas (for the command line)."""
    doc = json.loads((Path(out) / "atlas.json").read_text())
    lines = []
    for g in doc["pairs"]:
        b = g.get("best") or {}
        lines.append(
            f"{g['profile']}: {g['model_a']} x {g['model_b']}: best excess {b.get('svcca_excess')} "
            f"[{b.get('excess_lo')}, {b.get('excess_hi')}] at A{b.get('layer_a')} x B{b.get('layer_b')}"
        )
    return "\n".join(lines)
