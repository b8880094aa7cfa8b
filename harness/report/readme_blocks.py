"""README.md's generated blocks: every number the README states comes from committed data.

Each block sits between ``<!-- readme:NAME:start -->`` and ``<!-- readme:NAME:end -->`` and is the
output of one function here:

- ``outcomes``: the smoke verdict of every claim under each procedure with its one-line reason, read
  from the committed ``reports/smoke/results.json`` (:func:`outcomes_block`).
- ``cost``: the paper tier's projected totals from the cost model (:func:`cost_block`; the per-stage
  table is in ``docs/paper-tier.md``).
- ``calibration``: per claim and procedure, where its rule stands on the known-answer worlds --
  meets both targets on the 95% bounds, misses one (and which), or too few seeds -- from the committed
  ``reports/calibration/**/calibration.json`` (:func:`calibration_block`).
- ``timings``: how long the README's two commands took, read from ``docs/measured.json`` (a
  measurement with its machine named, written by whoever ran them; :func:`timings_block`).

``python -m harness.report.readme_blocks --write`` rewrites the blocks, ``--check`` exits 1 naming the
stale ones; ``tests/report/test_readme_blocks.py`` checks them and that the prose outside the
blocks states no measured number.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
SMOKE_RESULTS = REPO_ROOT / "reports" / "smoke" / "results.json"
MEASURED = REPO_ROOT / "docs" / "measured.json"
CALIBRATION = REPO_ROOT / "reports" / "calibration" / "calibration.json"

#: Claim ids in the order the README lists them (the papers' order: whole space, semantic, seeds).
CLAIM_ORDER = ("U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "S1", "S2", "S3", "S4", "S5", "W1", "W2", "X1")
SEED_CLAIMS = ("P1", "P2", "P3")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- readme:{name}:start -->", f"<!-- readme:{name}:end -->"


def _cell(row: dict[str, Any] | None) -> str:
    from harness.report.reason_lines import brief_reason

    if row is None:
        return "—"
    verdict = str(row.get("verdict", "—"))
    bold = f"**{verdict}**" if verdict in ("reproduced", "inconclusive") else verdict
    why = brief_reason(row).replace("|", "/").strip()
    return f"{bold}: {why}" if why else bold


def outcomes_block(results: Path = SMOKE_RESULTS) -> str:
    """A claim x procedure table of the committed smoke verdicts, each with its one-line reason."""
    rows = json.loads(results.read_text())["claims"]
    by: dict[tuple[str, str], dict[str, Any]] = {(r["id"], r["procedure"]): r for r in rows}
    out = [
        f"From `{results.relative_to(REPO_ROOT)}` (fixture world, CPU; golden outcomes with a reason each in "
        "`claims/expected/smoke.json`).",
        "",
        "| claim | `paper` procedure | `corrected` procedure |",
        "|---|---|---|",
    ]
    for cid in CLAIM_ORDER:
        if not any(k[0] == cid for k in by):
            continue
        out.append(f"| {cid} | {_cell(by.get((cid, 'paper')))} | {_cell(by.get((cid, 'corrected')))} |")
    seed_rows = [(cid, r) for (cid, proc), r in sorted(by.items()) if cid in SEED_CLAIMS]
    if seed_rows:
        out += ["", "| claim | PB method (Paulo & Belrose's criterion of the figure it quotes) |", "|---|---|"]
        out += [f"| {cid} | {_cell(r)} |" for cid, r in seed_rows]
    return "\n".join(out) + "\n"


def cost_block() -> str:
    """One line per projection of the README's cost set: the total and the peaks (details in docs)."""
    from harness.cost.project import project
    from harness.cost.render import README_PROJECTIONS, _gb, _minutes
    from harness.cost.device_specs import builtin_table
    from harness.cost.workload import workload_from_profile
    from harness.profiles import get_profile
    from harness.verdicts.reseed import DEFAULT_RESEEDS

    out = [
        "Projected by the cost model (`sae-claims cost --profile NAME --device-spec SPEC`: counted kernels x "
        "throughputs; GPU rates derived from datasheets, not measured):",
        "",
    ]
    for prof, spec in README_PROJECTIONS:
        p = project(workload_from_profile(get_profile(prof)), builtin_table(spec))
        out.append(
            f"- `{prof}` on {p.device}: {_minutes(p.total_seconds)}; peak host {_gb(p.memory['host'])}, "
            f"device {_gb(p.memory['device'])}, disk {_gb(p.memory['disk'])}; the default reseed check "
            f"(`--reseeds {DEFAULT_RESEEDS}`) adds {_minutes(DEFAULT_RESEEDS * p.reseed_seconds)}"
        )
    return "\n".join(out) + "\n"


def timings_block(measured: Path = MEASURED) -> str:
    """The README commands' measured wall time and peak memory, with the machine and commit they ran on."""
    m = json.loads(measured.read_text())
    out = [f"Measured on {m['machine']} at commit `{m['commit']}` ({m['date']}; {m['conditions']}):", ""]
    for c in m["commands"]:
        out.append(f"- `{c['name']}`: {c['wall_min']:.0f} min, peak memory {c['peak_rss_gb']:.1f} GB ({c['outcome']})")
    return "\n".join(out) + "\n"


def _standing_cell(c: dict[str, Any] | None) -> str:
    """One rule's calibration in a few words: where it stands, then power and the worst false-pass count."""
    from harness.calibration.rates import FALSE_POSITIVE_TARGET, POWER_TARGET
    from harness.calibration.report import false_worlds_missing, power_and_worst_false, undecided_text

    if c is None:
        return "—"
    power, worst = power_and_worst_false(c)
    if c.get("calibrated"):
        head = "**meets both**" + (" on the null twin" if false_worlds_missing(c) else "")
    else:
        misses = []
        if power.high < POWER_TARGET:
            misses.append("power")
        if worst is not None and worst.low > FALSE_POSITIVE_TARGET:
            misses.append("false passes")
        head = f"misses {' and '.join(misses)}" if misses else "too few seeds"
    fp = f", false {worst.k}/{worst.n} (≤ {worst.high:.2f})" if worst is not None else ""
    tail = "" if c.get("calibrated") else false_worlds_missing(c)
    return f"{head}: power {power.k}/{power.n} (≥ {power.low:.2f}{undecided_text(c)}){fp}{tail}"


def calibration_block(path: Path = CALIBRATION) -> str:
    """Per claim x procedure, its rule's standing on the known-answer worlds (the run with the most seeds
    of ``reports/calibration/`` and its sub-runs; :func:`harness.calibration.report.readme_summary` has
    every run): power at the paper-like strength with its 95% lower bound, the worst false-pass count
    with its 95% upper bound, and whether both targets are met on the bounds."""
    from harness.calibration.rates import FALSE_POSITIVE_TARGET, POWER_TARGET
    from harness.calibration.report import _best_entries, _note_procedure

    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for c in _best_entries(path):
        entries[(c["claim_id"], _note_procedure(c))] = dict(c)
    order = CLAIM_ORDER + SEED_CLAIMS
    plans = sorted(
        {k[0] for k in entries}, key=lambda c: (order.index(c.split()[0]) if c.split()[0] in order else 99, c)
    )
    out = [
        f"From `{path.parent.relative_to(REPO_ROOT)}/` (targets on the 95% Clopper-Pearson bounds: power's lower "
        f"bound ≥ {POWER_TARGET} at the paper-like strength, every false-pass rate's upper bound ≤ "
        f"{FALSE_POSITIVE_TARGET}; per row the run with the most seeds; 'false' is the worst false-pass count of "
        "the null twin and the claim-false worlds that run measured):",
        "",
        "| rule | `paper` procedure | `corrected` procedure |",
        "|---|---|---|",
    ]
    for plan in plans:
        if plan.split()[0] in SEED_CLAIMS:
            continue
        out.append(
            f"| {plan} | {_standing_cell(entries.get((plan, 'paper')))} | "
            f"{_standing_cell(entries.get((plan, 'corrected')))} |"
        )
    seed = [p for p in plans if p in SEED_CLAIMS]
    if seed:
        out += ["", "| rule | PB method |", "|---|---|"]
        out += [f"| {p} | {_standing_cell(next((v for k, v in entries.items() if k[0] == p), None))} |" for p in seed]
    return "\n".join(out) + "\n"


BLOCKS: dict[str, Callable[[], str]] = {
    "timings": timings_block,
    "outcomes": outcomes_block,
    "calibration": calibration_block,
    "cost": cost_block,
}


def block_text(text: str, name: str) -> str:
    start, end = markers(name)
    if text.count(start) != 1 or text.count(end) != 1:
        raise ValueError(f"README.md needs exactly one {start} ... {end} block")
    return text.split(start, 1)[1].split(end, 1)[0]


def render(text: str) -> str:
    """``text`` with every block replaced by its generated content."""
    for name, make in BLOCKS.items():
        start, end = markers(name)
        old = block_text(text, name)
        text = text.replace(start + old + end, start + "\n" + make() + end)
    return text


def prose_outside_blocks(text: str) -> str:
    """README without its generated blocks (what a person wrote)."""
    for name in BLOCKS:
        start, end = markers(name)
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), "", text, flags=re.S)
    return text


def main(argv: list[str] | None = None, *, readme: Path = README) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.report.readme_blocks", description="Rewrite or check README.md's generated blocks."
    )
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help="rewrite the blocks in README.md")
    g.add_argument("--check", action="store_true", help="exit 1 naming each stale block")
    args = parser.parse_args(argv)
    text = readme.read_text()
    new = render(text)
    if args.write:
        readme.write_text(new)
        print(readme)
        return 0
    stale = [n for n in BLOCKS if block_text(text, n) != block_text(new, n)]
    for n in stale:
        print(f"README.md block {n!r} is stale: run python -m harness.report.readme_blocks --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
