"""Seed robustness of the smoke verdicts (issue 13, item 5).

Every random draw of a run derives from :attr:`harness.config.Procedure.seed` (nulls, the
shuffled-positions control, the filter-aware random partners, Test 2's random subsets; per
cell through :func:`harness.scoring.effects.cell_seed`). The claims run at one seed
(:data:`REFERENCE_SEED`, the procedures' default), so a smoke expectation pinned from that run
could be a lucky draw. :func:`run_sweep` recomputes, for base seeds ``s = 0, 1, ...``, exactly the
records each claim's rule reads (the layer grid and its control grid with ``match_pairs``, the
semantic table pair and its control, the semantic grid and its control, W1/X1's seed-pair
records) with ``dataclasses.replace(procedure, seed=s)``, judges every claim with its registered
rule (:func:`harness.verdicts.rules.judge`), and collects (verdict, control outcome) per claim x
procedure x seed. The fixture models and SAEs stay fixed: only the seeded parts recompute (the
LoadedPair's residuals and FeatureSpaces are seed-free and reused across seeds).

**Stable** (:func:`summarize`): at least :data:`STABLE_FRACTION` (90 %) of the swept seeds give
the outcome (verdict AND control outcome) of the reference seed, and at least the claim's
minimum number of seeds was swept (:data:`MIN_SEEDS`). Why 90 %: the smoke expectation pins one
outcome; a pinned outcome that another seed contradicts more than one time in ten says more
about the draw than about the fixture world, and with 20 seeds 90 % tolerates two contrary
seeds (so a one-in-twenty flip is not over-read as instability); with 5 seeds (expensive
claims) it needs all 5. A claim that is not stable is **inconclusive** ("unstable over seeds"):
:func:`apply_stability` turns the reference run's conclusion into that, and
:func:`check_expectations` requires the reviewed expectation to say so.

Not swept: P1-P3 (their seed pairs are the claim's own replication; see the P rules), and the
claims the smoke profile does not run (S2, W2).

Shapes: a grid record holds ``len(layers_a) * len(layers_b)`` cells (4 x 6 in the fixture world);
the semantic grid 3 x 3 tables of 8 categories each (Lan et al. Sec. 4.2-4.3, App. A).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.verdicts.outcome import INCONCLUSIVE, Conclusion, check_control_outcome, check_verdict

__all__ = [
    "CLAIM_GROUPS",
    "DEFAULT_STABILITY_FILE",
    "MIN_SEEDS",
    "NOT_SWEPT",
    "REFERENCE_SEED",
    "STABLE_FRACTION",
    "UNSTABLE_REASON",
    "ClaimStability",
    "apply_stability",
    "check_expectations",
    "load_stability",
    "row_stability_notes",
    "row_summary",
    "run_sweep",
    "rewrite_stability",
    "seeds_for",
    "stability_markdown",
    "stability_notes",
    "summarize",
    "write_stability",
]

#: A claim is stable when at least this fraction of the swept seeds reproduce the reference
#: seed's (verdict, control outcome); see the module docstring for why 90 %.
STABLE_FRACTION = 0.9
#: The seed the claims run at (``Procedure.seed``'s default): the outcome the smoke expectation pins.
REFERENCE_SEED = 0
#: The words an unstable claim's verdict reason and reviewed expectation start with.
UNSTABLE_REASON = "unstable over seeds"

#: Record groups a sweep computes per (procedure, seed), and the claims each group's records feed
#: (the roles of :data:`harness.verdicts.rules.ROLES`).
CLAIM_GROUPS: dict[str, tuple[str, ...]] = {
    "grid": ("U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8"),
    "semantic_table": ("S1", "S4"),
    "semantic_grid": ("S3", "S5"),
    "seed_pair": ("W1", "X1"),
}
#: Minimum seeds per group for a stability statement (issue 13: >= 20 for cheap claims, >= 5
#: for expensive ones). Measured per (procedure, seed) on the shared 2-core machine: the layer grid
#: with its control grid ~1-2 min, the semantic grid with its control ~1 min (expensive); the
#: table pair with its control and the seed pair's records a few seconds (cheap).
MIN_SEEDS: dict[str, int] = {"grid": 5, "semantic_table": 20, "semantic_grid": 5, "seed_pair": 20}
#: Claims a sweep leaves out, with the reason the report shows.
NOT_SWEPT: dict[str, str] = {
    **{c: "not swept: seed pairs are the claim's own replication, see P rules" for c in ("P1", "P2", "P3")},
    "S2": "not swept: not run in the smoke profile (gemma tier)",
    "W2": "not swept: not run in the smoke profile (large tier)",
}

DEFAULT_STABILITY_FILE = Path(__file__).resolve().parents[2] / "reports" / "stability" / "stability.json"

Outcome = tuple[str, str | None]
"""(verdict, control outcome) of one claim at one seed."""


# ----------------------------------------------------------------------------- sweep


def group_records(
    world: Any,
    procedure: Any,
    group: str,
    seed_pair_records: Callable[[Any], dict[str, Any]] | None = None,
    *,
    executor: Any = None,
    layers_a: Sequence[int] | None = None,
    layers_b: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The records (role -> record) of ``group`` at ``procedure`` (its seed included), computed as
    the claims' fixtures compute them (claims/conftest.py ``grids``, ``semantic``, ``semantic_grid``;
    ``executor``, ``layers_a``, ``layers_b``: the run's ``--executor``/``--cell-cache`` and layer options)."""
    from harness.experiments.grid import pair_counts, run_grid, run_semantic

    prof = world.profile
    run_kw: dict[str, Any] = {} if executor is None else {"executor": executor}
    if group == "grid":
        layers: dict[str, Any] = {
            "layers_a": None if layers_a is None else list(layers_a),
            "layers_b": None if layers_b is None else list(layers_b),
        }
        grid = run_grid(world, procedure, **layers, **run_kw)
        control_grid = run_grid(world, procedure, control=True, match_pairs=pair_counts(grid), **layers, **run_kw)
        return {"grid": grid, "control_grid": control_grid}
    if group == "semantic_table":
        la, lb = prof.semantic_table
        from harness.experiments.semantic_subspaces import SEMANTIC_BOOTSTRAP

        boot = SEMANTIC_BOOTSTRAP  # as the claims' table (claims/conftest.py): S2/S4's intervals
        return {
            "table": run_semantic(
                world, procedure, la, lb, paper_table=prof.paper_semantic_table, n_bootstrap=boot, **run_kw
            ),
            "control_table": run_semantic(world, procedure, la, lb, control=True, n_bootstrap=boot, **run_kw),
        }
    if group == "semantic_grid":
        out: dict[str, Any] = {}
        for control, role in ((False, "semantic_grid"), (True, "control_semantic_grid")):
            tables = [
                run_semantic(world, procedure, la, lb, control=control, **run_kw)
                for la in prof.semantic_layers_a
                for lb in prof.semantic_layers_b
            ]
            out[role] = {"kind": "semantic_grid", "procedure": procedure.name, "control": control, "tables": tables}
        return out
    if group == "seed_pair":
        if seed_pair_records is None:
            raise ValueError(
                "the seed_pair group needs seed_pair_records(procedure) -> {lan, control_lan, overlap, lan_relu_l1, "
                "control_lan_relu_l1}"
            )
        return seed_pair_records(procedure)
    raise ValueError(f"Unknown record group {group!r}; use one of {', '.join(CLAIM_GROUPS)}.")


def run_sweep(
    world: Any,
    procedures: Sequence[Any],
    seeds: Mapping[str, Sequence[int]],
    *,
    seed_pair_records: Callable[[Any], dict[str, Any]] | None = None,
    checkpoint: Callable[[dict[str, Any]], object] | None = None,
    log: Callable[[str], None] | None = None,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Judge every swept claim at every seed; the sweep record (see :func:`write_stability`).

    ``seeds``: record group (:data:`CLAIM_GROUPS`) -> base seeds to sweep (groups left out are not
    swept). Seeds run in ascending order across groups, so an interrupted sweep has swept every
    group up to about the same seed. ``seed_pair_records(procedure)`` returns W1/X1's records
    (roles ``lan``, ``control_lan``, ``overlap``, and W1's ``lan_relu_l1``, ``control_lan_relu_l1``;
    built by the caller, which owns the seed-pair setup). ``checkpoint(record)`` is called after every (seed, procedure, group) step with the
    sweep so far (``complete`` False until the end). ``previous``: a saved sweep of the same
    profile to extend (its outcomes are kept and its (seed, procedure, group) steps not rerun).
    """
    from harness.verdicts.rules import judge

    profile = str(world.profile.name)
    data: dict[str, Any] = {
        "kind": "seed_stability",
        "profile": profile,
        "reference_seed": REFERENCE_SEED,
        "stable_fraction": STABLE_FRACTION,
        "min_seeds": {g: MIN_SEEDS[g] for g in seeds},
        "seeds_requested": {g: sorted(int(s) for s in v) for g, v in seeds.items()},
        "procedures": [p.name for p in procedures],
        "not_swept": dict(NOT_SWEPT),
        "outcomes": {},
        "cost_s": {},
        "complete": False,
    }
    for g in seeds:
        if g not in CLAIM_GROUPS:
            raise ValueError(f"Unknown record group {g!r}; use one of {', '.join(CLAIM_GROUPS)}.")
    done: set[tuple[int, str, str]] = set()
    if previous is not None:
        if previous.get("profile") != profile or previous.get("reference_seed", REFERENCE_SEED) != REFERENCE_SEED:
            raise ValueError("previous: a sweep of another profile or reference seed cannot be extended")
        data["outcomes"] = json.loads(json.dumps(previous.get("outcomes") or {}))
        data["cost_s"] = json.loads(json.dumps(previous.get("cost_s") or {}))
        for group, claims in CLAIM_GROUPS.items():
            for proc in data["procedures"]:
                have = [{int(r["seed"]) for r in data["outcomes"].get(c, {}).get(proc, [])} for c in claims]
                done |= {(s, proc, group) for s in set.intersection(*have)} if have else set()
        for g, v in (previous.get("seeds_requested") or {}).items():  # what the file holds stays requested
            data["seeds_requested"][g] = sorted(set(data["seeds_requested"].get(g, [])) | set(v))
            data["min_seeds"].setdefault(g, MIN_SEEDS[g])
    t_start = time.perf_counter() - float((previous or {}).get("wall_s", 0.0))
    all_seeds = sorted({int(s) for v in seeds.values() for s in v})
    for seed in all_seeds:
        for base in procedures:
            procedure = replace(base, seed=seed)
            for group, claims in CLAIM_GROUPS.items():
                if seed not in {int(s) for s in seeds.get(group, ())} or (seed, base.name, group) in done:
                    continue
                t0 = time.perf_counter()
                records = group_records(world, procedure, group, seed_pair_records)
                for cid in claims:
                    c = judge(cid, records, procedure, profile=profile).conclusion()
                    per = data["outcomes"].setdefault(cid, {}).setdefault(base.name, [])
                    per.append({"seed": seed, "verdict": c.verdict, "control": c.control_outcome})
                dt = time.perf_counter() - t0
                data["cost_s"].setdefault(group, {}).setdefault(base.name, []).append(round(dt, 2))
                if log is not None:
                    log(f"seed {seed} {base.name} {group}: {dt:.1f} s ({time.perf_counter() - t_start:.0f} s so far)")
                data["wall_s"] = round(time.perf_counter() - t_start, 1)
                if checkpoint is not None:
                    checkpoint(data)
    data["complete"] = True
    data["wall_s"] = round(time.perf_counter() - t_start, 1)
    if checkpoint is not None:
        checkpoint(data)
    return data


# ----------------------------------------------------------------------------- stability logic


def group_of(claim_id: str, groups: Mapping[str, Sequence[str]] = CLAIM_GROUPS) -> str | None:
    """The record group of ``groups`` whose claims include ``claim_id``, or None."""
    return next((g for g, cs in groups.items() if claim_id in cs), None)


#: A stability statement in one word: stable, not stable, or too few seeds to say.
_STATUS = {True: "stable", False: "UNSTABLE", None: "too few seeds"}


def _note_line(stable: bool | None, fraction: str, reference_seed: int) -> str:
    """The report's one line for a claim's stability (the committed sweep's or a row's own)."""
    return f"{_STATUS[stable]}: {fraction} seeds give seed {reference_seed}'s outcome"


@dataclass(frozen=True)
class ClaimStability:
    """Stability of one (claim, procedure) over the swept seeds."""

    claim_id: str
    procedure: str
    n_seeds: int
    min_seeds: int
    reference: Outcome | None
    """(verdict, control) at :data:`REFERENCE_SEED` (None: that seed was not swept)."""
    agreeing: int
    """Seeds whose (verdict, control) equals the reference's."""
    verdict_agreeing: int
    """Seeds whose verdict alone equals the reference's."""
    counts: tuple[tuple[Outcome, int], ...]
    """Every (verdict, control) seen, with its number of seeds (most frequent first)."""

    @property
    def fraction(self) -> float:
        return self.agreeing / self.n_seeds if self.n_seeds else math.nan

    @property
    def verdict_fraction(self) -> float:
        return self.verdict_agreeing / self.n_seeds if self.n_seeds else math.nan

    @property
    def enough_seeds(self) -> bool:
        return self.reference is not None and self.n_seeds >= self.min_seeds

    @property
    def stable(self) -> bool | None:
        """True/False once enough seeds were swept; None: too few seeds to say."""
        if not self.enough_seeds:
            return None
        return self.agreeing >= STABLE_FRACTION * self.n_seeds

    def describe(self) -> str:
        """One line for the report and the inconclusive reason."""
        if self.reference is None:
            return f"reference seed {REFERENCE_SEED} not swept ({self.n_seeds} seeds)"
        v, c = self.reference
        head = f"{v} (control {c}) in {self.agreeing}/{self.n_seeds} seeds"
        if self.verdict_agreeing != self.agreeing:
            head += f" (verdict alone {self.verdict_agreeing}/{self.n_seeds})"
        others = [f"{ov} (control {oc}) x{n}" for (ov, oc), n in self.counts if (ov, oc) != self.reference]
        if others:
            head += "; other seeds: " + ", ".join(others)
        if not self.enough_seeds:
            head += f"; below the {self.min_seeds} seeds a stability statement needs"
        return head


def summarize(data: Mapping[str, Any]) -> dict[tuple[str, str], ClaimStability]:
    """(claim, procedure) -> :class:`ClaimStability` of a sweep record (:func:`run_sweep`)."""
    ref_seed = int(data.get("reference_seed", REFERENCE_SEED))
    mins = dict(data.get("min_seeds") or {})
    out = {}
    for cid, per in (data.get("outcomes") or {}).items():
        group = group_of(cid)
        need = int(mins.get(group, MIN_SEEDS.get(group or "", 1)))
        for proc, rows in per.items():
            by_seed: dict[int, Outcome] = {}
            for r in rows:
                by_seed[int(r["seed"])] = (check_verdict(r["verdict"]), check_control_outcome(r.get("control")))
            out[(cid, proc)] = claim_stability(cid, proc, by_seed, min_seeds=need, reference_seed=ref_seed)
    return out


def claim_stability(
    claim_id: str, procedure: str, by_seed: Mapping[int, Outcome], *, min_seeds: int, reference_seed: int
) -> ClaimStability:
    """The :class:`ClaimStability` of one (claim, procedure) from its outcome at each seed."""
    counts = Counter(by_seed.values())
    ref = by_seed.get(reference_seed)
    return ClaimStability(
        claim_id=claim_id,
        procedure=procedure,
        n_seeds=len(by_seed),
        min_seeds=min_seeds,
        reference=ref,
        agreeing=0 if ref is None else counts[ref],
        verdict_agreeing=0 if ref is None else sum(n for (v, _), n in counts.items() if v == ref[0]),
        counts=tuple(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))),
    )


def row_summary(entry: ClaimStability) -> dict[str, Any]:
    """What a claim row of results.json keeps of its stability (``seed_stability``; the schema's
    ``SeedStability``): enough for ``sae-claims judge`` to apply :func:`apply_stability` again."""
    return {
        "n_seeds": entry.n_seeds,
        "min_seeds": entry.min_seeds,
        "same_outcome": entry.agreeing,
        "same_verdict": entry.verdict_agreeing,
        "fraction": None if math.isnan(entry.fraction) else round(entry.fraction, 4),
        "stable": entry.stable,
        "note": entry.describe(),
    }


def apply_stability(conclusion: Conclusion, entry: ClaimStability | Mapping[str, Any] | None) -> Conclusion:
    """``conclusion`` of the reference run, made **inconclusive** when the sweep shows the claim's
    outcome is not stable over seeds (``entry.stable`` False); unchanged otherwise (stable, not
    swept, or too few seeds to say). The control outcome is kept: it is the reference run's; a
    conclusion already inconclusive keeps its own reason after the seed one.
    ``entry``: a :class:`ClaimStability` or its :func:`row_summary` (from a saved results.json)."""
    if entry is None:
        return conclusion
    stable, note = (
        (entry.stable, entry.describe())
        if isinstance(entry, ClaimStability)
        else (entry.get("stable"), str(entry.get("note", "")))
    )
    if stable is not False:
        return conclusion
    reason = f"{UNSTABLE_REASON}: {note}"
    detail = conclusion.detail
    if conclusion.inconclusive is not None:  # already inconclusive at seed 0: say both reasons
        reason = f"{reason}; {conclusion.inconclusive}"
        detail = detail.removeprefix(f"inconclusive: {conclusion.inconclusive}").lstrip("; ")
    return Conclusion(
        INCONCLUSIVE, conclusion.control_outcome, (f"inconclusive: {reason}; " + detail).rstrip("; "), reason
    )


def check_expectations(data: Mapping[str, Any], expected: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """Problems of the reviewed expectations (``claims/expected/smoke.json`` as loaded) against a
    sweep record; empty when they agree.

    - a stable claim's expectation must be the reference seed's (verdict, control);
    - an unstable claim's expectation must be ``inconclusive`` with a reason starting
      "unstable over seeds", and the reference seed's control outcome;
    - every expected claim must be swept (or listed in ``not_swept``), every swept claim expected,
      and a complete sweep must reach each claim's minimum number of seeds.
    """
    problems = []
    table = summarize(data)
    not_swept = dict(data.get("not_swept") or {})
    for cid, per in expected.items():
        if cid.startswith("_"):
            continue
        for proc, want in per.items():
            s = table.get((cid, proc))
            if s is None:
                if cid not in not_swept:
                    problems.append(f"{cid}/{proc}: expected in smoke.json but missing from the seed sweep")
                continue
            got = (want.get("verdict"), want.get("control"))
            if s.stable is None:
                if data.get("complete"):
                    problems.append(f"{cid}/{proc}: too few seeds for a stability statement ({s.describe()})")
                continue
            assert s.reference is not None  # stable is None without a reference
            if s.stable and got != s.reference:
                problems.append(
                    f"{cid}/{proc}: stable over seeds ({s.describe()}), but smoke.json pins {got[0]} (control {got[1]})"
                )
            if not s.stable:
                reason = str(want.get("reason", ""))
                if got != (INCONCLUSIVE, s.reference[1]) or not reason.startswith(UNSTABLE_REASON):
                    problems.append(
                        f"{cid}/{proc}: not stable over seeds ({s.describe()}); smoke.json must pin "
                        f"'inconclusive' (control {s.reference[1]}) with a reason starting "
                        f"'{UNSTABLE_REASON}', not {got[0]} (control {got[1]})"
                    )
    for cid, proc in table:
        if proc not in (expected.get(cid) or {}):
            problems.append(f"{cid}/{proc}: swept, but smoke.json has no expectation for it")
    return problems


# ----------------------------------------------------------------------------- files


def load_stability(
    path: Path = DEFAULT_STABILITY_FILE, *, profile: str = "smoke"
) -> dict[tuple[str, str], ClaimStability]:
    """The committed sweep's :func:`summarize` for ``profile``; empty when there is none."""
    path = Path(path)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return summarize(data) if data.get("profile") == profile else {}


def stability_notes(path: Path = DEFAULT_STABILITY_FILE, *, profile: str = "smoke") -> dict[tuple[str, str], str]:
    """(claim, procedure) -> one line for the report (fraction of seeds giving the reference
    outcome, stable or not); ``not_swept`` claims under every procedure key ``"*"``."""
    path = Path(path)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if data.get("profile") != profile:
        return {}
    notes = {}
    for key, s in summarize(data).items():
        frac = "—" if s.reference is None else f"{s.agreeing}/{s.n_seeds}"
        notes[key] = _note_line(s.stable, frac, int(data.get("reference_seed", REFERENCE_SEED)))
    for cid, why in (data.get("not_swept") or {}).items():
        notes[(cid, "*")] = why
    if not data.get("complete"):
        notes = {k: v + " (partial sweep)" for k, v in notes.items()}
    return notes


def row_stability_notes(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(claim, procedure) -> the report's one line for claim rows that carry a ``seed_stability``
    (:func:`row_summary`; a gpu-tier run's own reseed check, or a re-judged saved run), worded as
    :func:`stability_notes` words the committed sweep's."""
    notes = {}
    for r in rows:
        st = r.get("seed_stability")
        if not st:
            continue
        frac = f"{st.get('same_outcome')}/{st.get('n_seeds')}"
        notes[(str(r["id"]), str(r["procedure"]))] = _note_line(st.get("stable"), frac, REFERENCE_SEED)
    return notes


def stability_markdown(data: Mapping[str, Any]) -> str:
    """``stability.md``: one row per claim x procedure."""
    from tabulate import tabulate

    rows = []
    for (cid, proc), s in sorted(summarize(data).items()):
        status = {True: "stable", False: "**UNSTABLE**", None: "too few seeds"}[s.stable]
        ref = "—" if s.reference is None else f"{s.reference[0]} (control {s.reference[1]})"
        frac = "—" if s.reference is None else f"{s.agreeing}/{s.n_seeds} = {s.fraction:.2f}"
        vfrac = "—" if s.reference is None else f"{s.verdict_agreeing}/{s.n_seeds}"
        others = "; ".join(f"{v} (control {c}) x{n}" for (v, c), n in s.counts if (v, c) != s.reference) or "—"
        rows.append([cid, proc, ref, frac, vfrac, others, status])
    costs = []
    for group, per in (data.get("cost_s") or {}).items():
        for proc, xs in per.items():
            costs.append([group, proc, len(xs), f"{sum(xs) / len(xs):.1f}" if xs else "—"])
    partial = not data.get("complete")
    seeds_done = {
        g: sorted({r["seed"] for c in cs for rows_ in (data.get("outcomes", {}).get(c) or {}).values() for r in rows_})
        for g, cs in CLAIM_GROUPS.items()
    }
    lines = [
        f"# Seed stability of the smoke verdicts{' (PARTIAL sweep)' if partial else ''}",
        "",
        *(
            [
                "**Partial**: not every requested seed has run (the sweep was still running or was stopped); seeds done per record "
                "group: " + "; ".join(f"{g} {len(v)} ({min(v)}-{max(v)})" for g, v in seeds_done.items() if v) + ".",
                "",
            ]
            if partial
            else []
        ),
        f"Each claim's verdict and negative-control outcome at base seeds 0, 1, ... (`Procedure.seed`; every "
        f"null, shuffled-positions control, random partner and Test-2 draw derives from it); the fixture "
        f"models and SAEs are fixed. The reference outcome is seed {data.get('reference_seed', REFERENCE_SEED)}'s "
        f"(the claims' run). **Stable**: at least {STABLE_FRACTION:.0%} of the seeds give the reference "
        "(verdict, control) and the claim's minimum number of seeds ran (20 cheap / 5 expensive); an "
        "unstable claim is inconclusive ('unstable over seeds') in the smoke report and expectations. "
        "Written by `sae-claims stability` (harness/verdicts/stability.py).",
        "",
        tabulate(
            rows,
            headers=[
                "claim",
                "procedure",
                "reference outcome (seed 0)",
                "same outcome",
                "same verdict",
                "other seeds",
                "status",
            ],
            tablefmt="github",
        ),
        "",
        "Not swept: " + "; ".join(f"{c}: {w}" for c, w in sorted((data.get("not_swept") or {}).items())) + ".",
        "",
        "Cost per (seed, procedure) step, seconds (mean over the steps run; shared 2-core machine):",
        "",
        tabulate(costs, headers=["record group", "procedure", "steps", "mean s"], tablefmt="github"),
        "",
        f"Wall time {data.get('wall_s', math.nan):.0f} s.",
        "",
    ]
    return "\n".join(lines)


def write_stability(out_dir: Path, data: Mapping[str, Any], *, provenance: Mapping[str, Any] | None = None) -> Path:
    """Write ``stability.json`` (the sweep record with its summary) and ``stability.md`` under
    ``out_dir``; return the JSON path. Files are replaced atomically (a reader never sees half a file)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        f"{c}/{p}": {
            "n_seeds": s.n_seeds,
            "min_seeds": s.min_seeds,
            "reference": None if s.reference is None else {"verdict": s.reference[0], "control": s.reference[1]},
            "same_outcome": s.agreeing,
            "same_verdict": s.verdict_agreeing,
            "fraction": None if math.isnan(s.fraction) else round(s.fraction, 4),
            "stable": s.stable,
        }
        for (c, p), s in sorted(summarize(data).items())
    }
    record = {**data, "summary": summary, **({"provenance": dict(provenance)} if provenance else {})}
    path = out_dir / "stability.json"
    for target, text in (
        (path, json.dumps(record, indent=1, sort_keys=True)),
        (out_dir / "stability.md", stability_markdown(data)),
    ):
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(target)
    return path


def rewrite_stability(path: Path) -> Path:
    """Rewrite a saved ``stability.json``'s summary and ``stability.md`` from its outcomes with the
    current code (no recomputation); the JSON path."""
    path = Path(path)
    data = json.loads(path.read_text())
    prov = data.pop("provenance", None)
    data.pop("summary", None)
    return write_stability(path.parent, data, provenance=prov)


def seeds_for(n_cheap: int, n_expensive: int, groups: Iterable[str] = CLAIM_GROUPS) -> dict[str, list[int]]:
    """Seeds per group: ``0 .. n-1`` with ``n`` the cheap or expensive count by :data:`MIN_SEEDS`
    (a group whose minimum is the expensive one gets ``n_expensive``)."""
    expensive = min(MIN_SEEDS.values())
    return {g: list(range(n_expensive if MIN_SEEDS[g] == expensive else n_cheap)) for g in groups}
