"""The reproduction report: ``REPORT.md`` + ``REPORT.html`` (self-contained: figures embedded)
+ ``results.json`` + ``figures/*.png`` (harness/report/figures.py).

The Markdown answers first, then explains: the verdicts with one-line reasons
(harness/report/reason_lines.py), a table of contents, one section per claim, the experiments
(harness/report/sections.py), a glossary and the provenance.

``results.json`` follows :class:`harness.report.schema.Results` (JSON Schema:
``harness/report/results.schema.json``). It is strict JSON: an undefined score (NaN) is
``null``, never NaN or -1. Claim rows carry ``verdict`` (reproduced / not reproduced /
inconclusive / not run), ``inconclusive`` (why the data cannot decide) and ``inputs`` (the
experiment records the rule read, so ``sae-claims judge`` can judge them again).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from harness.report.figures import seed_figures
from harness.report.html import write_html
from harness.report.reason_lines import ABSENT, brief_reason, reason, strip_dict_dumps
from harness.report.schema import SCHEMA_VERSION, dumps
from harness.report.sections import details, experiment_section, flatten, glossary_lines, md_table
from harness.verdicts.recorder import VERDICTS
from harness.verdicts.records import CLAIMS, HEADLINE_CRITERION


#: How the report words a claim whose rule holds but whose negative control comes out the same way
#: (verdict "not reproduced", control "same way"): the rule is not refuted; what fails is the
#: contrast with the control (e.g. U1: every cell significant, the real pairing not distinguished
#: from filter-only random partners).
CONTROL_NOT_DISTINGUISHED = "rule holds; control not distinguished"


def _rule_holds_control_same(r: dict[str, Any]) -> bool:
    return bool(r.get("rule_holds")) and r.get("verdict") == "not reproduced" and r.get("control_outcome") == "same way"


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return ABSENT if not math.isfinite(float(x)) else f"{float(x):.3f}"
    if x is None:
        return ABSENT
    if isinstance(x, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    return str(x)


def criterion_line(rec: Any, fractions: dict[str, Any] | None) -> str:
    """Paulo & Belrose claims: the shared fraction under the criterion the claim is judged
    with (its quoted figure's) and under the headline criterion, e.g. "shared fraction:
    `decoder_only` (architecture figure; judged) relu_l1=0.700, topk=0.200; `both`
    (headline) relu_l1=0.650, topk=0.210. " ("" when the record has none)."""
    if not fractions:
        return ""

    def fmt(v: Any) -> str:
        return "[" + ", ".join(_fmt(x) for x in v) + "]" if isinstance(v, list) else _fmt(v)

    judged = fractions.get("judged_with")
    parts = []
    for c, values in fractions.items():
        if c == "judged_with":
            continue
        tags = [*rec.figures_for(c)] if c == judged else []
        if c == HEADLINE_CRITERION:
            tags.append("headline")
        if c == judged:
            tags.append("judged")
        vals = ", ".join(f"{k}={fmt(v)}" for k, v in values.items())
        parts.append(f"`{c}` ({'; '.join(tags)}) {vals}")
    return "shared fraction: " + "; ".join(parts) + ". "


def _image(alt: str, rel: str) -> str:
    """A Markdown image; brackets in the alt text are escaped, the path is already safe."""
    return f"![{alt.replace('[', '(').replace(']', ')')}]({rel})"


#: Which figure of an experiment shows each claim's statistic: claim id -> (experiment kind, figure
#: file suffix; "" = the experiment's only figure). Seed claims use the seed figures.
CLAIM_FIGURES: dict[str, tuple[str, str]] = {
    "U1": ("grid", "-svcca-p.png"),
    "U2": ("grid", "-rsa-p.png"),
    "U3": ("grid", "-svcca-excess.png"),
    "U4": ("grid", "-svcca-excess.png"),
    "U5": ("grid", "-svcca-m21.png"),
    "U6": ("grid", "-svcca-m21.png"),
    "U7": ("grid", "-svcca-excess.png"),
    "U8": ("grid", "-svcca.png"),
    "S1": ("semantic", ""),
    "S2": ("semantic", ""),
    "S3": ("semantic", ""),
    "S4": ("semantic", ""),
    "S5": ("semantic", ""),
    "P3": ("seeds", "seeds-p3-"),
    "W1": ("seeds", "seeds-w1-"),
}

#: Order of the procedures in the report (others after these, alphabetically).
PROCEDURE_ORDER = {"paper": 0, "corrected": 1, "PB method": 2}

_SHORT = {
    "reproduced": "reproduced",
    "not reproduced": "NOT reproduced",
    "inconclusive": "inconclusive",
    "not run": "not run",
}


def anchor(claim_id: str) -> str:
    """The HTML anchor of a claim's section, e.g. ``claim-u1``."""
    return f"claim-{claim_id.lower()}"


def verdict_words(r: dict[str, Any]) -> str:
    """The verdict as the first screen shows it (``rule holds; control not distinguished`` where the
    rule held and only the contrast with the control failed)."""
    return CONTROL_NOT_DISTINGUISHED if _rule_holds_control_same(r) else _SHORT[r["verdict"]]


def _claim_order(ids: set[str]) -> list[str]:
    return sorted(ids, key=lambda c: (c[0], int("".join(ch for ch in c[1:] if ch.isdigit()) or 0)))


def _claim_figures(
    cid: str,
    procs: list[str],
    experiments: dict[str, Any],
    figs_by_exp: dict[str, list[tuple[str, str]]],
    seed: list[tuple[str, str]],
) -> list[tuple[str, str]]:
    kind, suffix = CLAIM_FIGURES.get(cid, ("", ""))
    out: list[tuple[str, str]] = []
    if kind == "seeds":
        return [(alt, rel) for alt, rel in seed if rel.rsplit("/", 1)[-1].startswith(suffix)]
    for name, exp in experiments.items():
        if exp.get("kind") != kind or exp.get("control") or exp.get("procedure") not in procs:
            continue
        out += [(alt, rel) for alt, rel in figs_by_exp.get(name, []) if rel.endswith(suffix or ".png")]
    return out


def write_report(
    out_dir: Path,
    *,
    profile: str,
    claim_results: list[dict[str, Any]],
    experiments: dict[str, Any],
    provenance: dict[str, Any],
    partial: list[str] | None = None,
    calibration: dict[tuple[str, str], str] | None = None,
    stability: dict[tuple[str, str], str] | None = None,
) -> Path:
    """Write REPORT.md, REPORT.html, results.json and figures under ``out_dir``; return the Markdown path.

    The report answers first: its first screen (:data:`FIRST_SCREEN_LINES` lines) holds, per
    procedure, every claim's verdict with a one-line reason in words
    (:func:`harness.report.reason_lines.reason`) linked to the claim's section. Then a table of
    contents, one section per claim (paper's numbers, rule, measured numbers per procedure,
    control, figure), the experiments (figures; numbers in collapsible tables), the glossary and
    the provenance. No raw JSON (the records are in ``results.json``); absent values are ``—``.

    ``partial``: why this run is not the complete report (None: complete); a partial report
    says so in its first line. Figures in ``out_dir/figures`` are replaced by this run's.
    ``calibration``: (claim id, procedure) -> status of its rule under that procedure on the
    known-answer worlds (:func:`harness.calibration.report.calibration_notes`; procedure ``"*"``: any);
    each verdict row shows its own procedure's, so a verdict from a rule that misses its power or
    false-positive target is read as such.
    ``stability``: (claim id, procedure) -> how the claim's outcome held over the committed seed
    sweep (:func:`harness.verdicts.stability.stability_notes`; ``(claim, "*")``: why a claim was not
    swept); shown per claim x procedure in the claim's section. Rows that carry their own
    ``seed_stability`` (a gpu-tier run's reseed check) are shown with it where ``stability`` has no line.
    """
    from harness.verdicts.stability import row_stability_notes

    stability = {**row_stability_notes(claim_results), **(stability or {})} or None
    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    for old in fig_dir.glob("*.png"):
        old.unlink()
    if partial:
        lines = [
            f"# PARTIAL reproduction report — profile `{profile}` (not the complete report)",
            "",
            "**Partial run**: " + "; ".join(partial) + ". Only the claims and cells this run computed are "
            "shown; the complete report is written only by a complete run.",
            "",
        ]
    else:
        lines = [f"# Reproduction report — profile `{profile}`", ""]
    lines += [
        f"Commit `{str(provenance.get('git_commit', ABSENT))[:12]}`, created {provenance.get('created_utc', ABSENT)} · "
        "[contents](#contents) · [glossary](#glossary) · [provenance](#provenance)",
        "",
    ]
    drift = provenance.get("lock_differences") or []
    if drift:
        lines += [
            f"**Warning: not the locked environment** ({len(drift)} package(s) differ from `constraints.txt`: "
            + ", ".join(drift[:10])
            + (", ..." if len(drift) > 10 else "")
            + "); numbers may differ from a run in the locked one (`pip install -c constraints.txt`).",
            "",
        ]
    by_claim: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in claim_results:
        by_claim[r["id"]][r["procedure"]] = r
    procs = sorted(
        {r["procedure"] for r in claim_results}, key=lambda p: (PROCEDURE_ORDER.get(p, len(PROCEDURE_ORDER)), p)
    )
    ran = set(by_claim)
    order = _claim_order(ran | set(CLAIMS))
    # first screen: each claim's verdict under each procedure, and why
    lines += [
        '## <a id="verdicts"></a>Verdicts',
        "",
    ]
    tallies = []
    for p in procs:
        counts: dict[str, int] = defaultdict(int)
        for c in order:
            if p in by_claim.get(c, {}):
                counts[by_claim[c][p]["verdict"]] += 1
        tallies.append(f"`{p}` " + ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v]))
    # the verdict matrix: one row per claim, one column per procedure (verdict and its core reason);
    # the terms it uses link to the glossary from here, their first use
    lines += [
        "Reproduced = the rule holds and the [negative control](#g-control) comes out the other way; "
        "[terms](#glossary): [excess over chance](#g-excess), [BH](#g-bh), [k/N](#g-kn), [placebo](#g-placebo), "
        "[PB method](#g-pb), [inconclusive](#g-inconclusive).",
        "",
    ]
    lines += ['<div class="verdicts">', "", "| id | " + " | ".join(f"`{p}`" for p in procs) + " |"]
    lines.append("|---" * (len(procs) + 1) + "|")
    for c in order:
        if c not in ran:
            continue
        cells = [
            f"**{verdict_words(by_claim[c][p])}** · {brief_reason(by_claim[c][p])}".replace("|", "/")
            if p in by_claim[c]
            else ABSENT
            for p in procs
        ]
        lines.append(f"| [{c}](#{anchor(c)}) | " + " | ".join(cells) + " |")
    lines += ["", "</div>", "", "Counts: " + "; ".join(tallies) + ".", ""]
    if profile == "smoke":
        lines += [
            "Smoke profile: small fixture models stand in for the paper's LLMs; each verdict is checked against a "
            "reviewed expected one (`claims/expected/`).",
            "",
        ]
    lines += [
        '### <a id="why"></a>Why: each verdict\'s rule statistic and its control',
        "",
        '<div class="verdicts">',
        "",
    ]
    # claims grouped by the procedures they ran under: one table per group, a column per procedure
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for c in order:
        if c in ran:
            groups[tuple(p for p in procs if p in by_claim[c])].append(c)
    for group, ids in sorted(groups.items(), key=lambda g: min(procs.index(p) for p in g[0])):
        lines += ["| id | " + " | ".join(f"`{p}`" for p in group) + " |", "|---" * (len(group) + 1) + "|"]
        for c in ids:
            cells = [f"**{verdict_words(by_claim[c][p])}** — {reason(by_claim[c][p])}".replace("|", "/") for p in group]
            lines.append(f"| [{c}](#{anchor(c)}) | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["</div>", ""]
    missing = [c for c in order if c not in ran]
    if missing:
        lines += [
            "Not in this run's tiers: "
            + ", ".join(f"[{c}](#{anchor(c)}) ({', '.join(CLAIMS[c].tiers)})" for c in missing)
            + ".",
            "",
        ]
    # figures of every experiment (made once; claim sections and the experiments section show them)
    exp_lines: dict[str, list[str]] = {}
    figs_by_exp: dict[str, list[tuple[str, str]]] = {}
    for name, exp in experiments.items():
        exp_lines[name], figs_by_exp[name] = experiment_section(name, exp, fig_dir)
    seed = seed_figures(claim_results, fig_dir)
    # contents
    lines += ['## <a id="contents"></a>Contents', ""]
    lines += ["- [Verdicts](#verdicts)", "- [Claims](#claims)"]
    lines += ["  - " + " · ".join(f"[{c}](#{anchor(c)})" for c in order)]
    lines += ["- [Experiments](#experiments)", "- [Glossary](#glossary)", "- [Provenance](#provenance)", ""]
    if calibration or stability:
        lines += [
            "Each claim's section gives its rule's calibration ('rule calibration': power and false-positive rate on "
            "known-answer worlds, `reports/calibration/`; a FLAGGED rule misses a target there, so its verdict is weak "
            "evidence either way) and its 'seed stability' (how many seeds give this verdict and control outcome: "
            "on the fixture world the committed sweep, `reports/stability/`, with >= 20 seeds, 5 for the grid "
            "claims; at paper scale the run's own reseed check, `--reseeds`, which recomputes each claim's records "
            "at more seeds; a claim is stable when >= 90% of its seeds agree, and one that is not is reported "
            "inconclusive).",
            "",
        ]
    # one section per claim
    lines += ['## <a id="claims"></a>Claims', ""]
    for cid in order:
        # a claim without a stability line: the smoke sweep leaves it out, a gpu run's reseed check does not recheck it
        unchecked = "not swept" if profile == "smoke" else "not rechecked"
        lines += _claim_section(cid, procs, by_claim[cid] if cid in ran else {}, calibration, stability, unchecked)
        figs = _claim_figures(cid, procs, experiments, figs_by_exp, seed) if cid in ran else []
        if figs:  # side by side in REPORT.html (one per procedure)
            lines += ['<div class="figs">', "", *[_image(alt, rel) for alt, rel in figs], "", "</div>", ""]
    not_run = [r for r in claim_results if r["verdict"] == "not run"]
    if not_run:
        lines += ["### Not run", ""] + [f"- {r['id']} ({r['procedure']}): {r['detail']}" for r in not_run] + [""]
    # experiments
    lines += ['## <a id="experiments"></a>Experiments', ""]
    for name, exp in experiments.items():
        lines += [f"### {'Pre-flight' if exp.get('kind') == 'preflight' else name}", "", *exp_lines[name], ""]
    if seed:
        lines += ["### Seed pairs", ""] + [_image(alt, rel) for alt, rel in seed] + [""]
    lines += glossary_lines()
    lines += ['## <a id="provenance"></a>Provenance', ""]
    prov_rows = [[k, v] for k, v in flatten({k: v for k, v in provenance.items() if k != "lock_differences"})]
    lines += details(f"Provenance ({len(prov_rows)} fields)", [md_table(prov_rows, ["field", "value"])])
    md = out_dir / "REPORT.md"
    md.write_text("\n".join(lines))
    write_html(md, out_dir / "REPORT.html")
    payload = {
        "schema_version": SCHEMA_VERSION,
        "profile": profile,
        "provenance": provenance,
        "claims": claim_results,
        "experiments": experiments,
    }
    (out_dir / "results.json").write_text(dumps(payload, indent=1))
    return md


FIRST_SCREEN_LINES = 60
"""The report's first screen: its first lines hold every claim's verdict with its reason."""


def _claim_section(
    cid: str,
    procs: list[str],
    rows: dict[str, dict[str, Any]],
    calibration: dict[tuple[str, str], str] | None,
    stability: dict[tuple[str, str], str] | None,
    unchecked: str = "not swept",
) -> list[str]:
    """One claim: statement, paper's numbers, rule, verdict per procedure, measured and control tables
    (``unchecked``: the seed-stability cell of a row without a stability line)."""
    rec = CLAIMS.get(cid)
    statement = rec.statement if rec else next(iter(rows.values()), {}).get("statement", "")
    out = [f'### <a id="{anchor(cid)}"></a>{cid}: {statement}', ""]
    if rec is not None:
        src = rec.source if rec.source.startswith(rec.paper) else f"{rec.paper}, {rec.source}"
        out += [f"- **Paper** ({src}): {rec.paper_values}", f"- **Rule**: {rec.rule}"]
        out += [f"- **Negative control**: {rec.negative_control}", ""]
    if not rows:
        tiers = ", ".join(rec.tiers) if rec else ABSENT
        out += [f"**Not run**: not in this run's tiers (tiers of {cid}: {tiers}).", ""]
        if stability and (cid, "*") in stability:
            out += [f"Seed stability: {stability[(cid, '*')]}.", ""]
        return out
    here = [p for p in procs if p in rows]
    vrows = []
    for p in here:
        r = rows[p]
        why = (r.get("expected") or {}).get("reason")
        vrow = [p, f"**{verdict_words(r)}**", reason(r), why or ABSENT]
        if calibration:
            vrow.append(calibration.get((cid, p)) or calibration.get((cid, "*")) or f"not calibrated under {p}")
        if stability:
            vrow.append(stability.get((cid, p), stability.get((cid, "*"), unchecked)))
        vrows.append(vrow)
    headers = ["procedure", "verdict", "why", "reviewed reason (expected verdict)"]
    headers += (["rule calibration"] if calibration else []) + (["seed stability"] if stability else [])
    out += [md_table(vrows, headers), ""]
    for p in here:
        detail = strip_dict_dumps(str(rows[p].get("detail") or ""))
        if detail and rows[p]["verdict"] != "not run" and not detail.startswith("inconclusive"):
            out += [f"*{p}*: {detail}", ""]
    measured = {p: dict(rows[p].get("measured") or {}) for p in here if rows[p]["verdict"] != "not run"}
    if measured:
        crit = {
            p: criterion_line(rec, m.pop("shared_fraction_by_criterion", None)) if rec else ""
            for p, m in measured.items()
        }
        for p, line in crit.items():
            if line:
                out += [f"*{p}*: {line.strip()}", ""]
        ctrl = {p: m.pop("control", None) for p, m in measured.items()}
        cols = list(measured)
        out += _collapsible("Measured", measured, cols)
        if any(isinstance(c, dict) and c for c in ctrl.values()):
            out += _collapsible("Control", {p: c or {} for p, c in ctrl.items()}, cols)
    return out


SHORT_TABLE = 12
"""Measured and control tables up to this many rows are shown open; longer ones are collapsed."""


def _collapsible(title: str, values: dict[str, dict[str, Any]], cols: list[str]) -> list[str]:
    table, n = _by_procedure(values, cols)
    if n <= SHORT_TABLE:
        return [f"**{title}**", "", table, ""]
    return details(f"<b>{title}</b> ({n} quantities)", [table])


def _by_procedure(values: dict[str, dict[str, Any]], cols: list[str]) -> tuple[str, int]:
    """Rows: the flattened quantities; columns: the procedures (``—`` where one lacks a quantity).
    Returns the table and its number of rows."""
    flat = {p: dict(flatten(values[p])) for p in cols}
    labels: list[str] = []
    for p in cols:
        labels += [k for k in flat[p] if k not in labels]
    return md_table([[k, *(flat[p].get(k) for p in cols)] for k in labels], ["quantity", *cols]), len(labels)


def write_report_from_results(
    results_path: Path,
    out_dir: Path,
    *,
    calibration: dict[tuple[str, str], str] | None = None,
    stability: dict[tuple[str, str], str] | None = None,
) -> Path:
    """Write the report of a ``results.json`` (e.g. the committed ``reports/smoke/results.json``)
    again under ``out_dir``, without recomputing anything; return the Markdown path."""
    import json

    data = json.loads(Path(results_path).read_text())
    return write_report(
        out_dir,
        profile=str(data.get("profile", "unknown")),
        claim_results=list(data["claims"]),
        experiments=dict(data.get("experiments", {})),
        provenance=dict(data.get("provenance", {})),
        calibration=calibration,
        stability=stability,
    )
