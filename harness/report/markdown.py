"""The reproduction report: ``REPORT.md`` + ``REPORT.html`` (self-contained: figures embedded)
+ ``results.json`` + ``figures/*.png`` (harness/report/figures.py).

``results.json`` follows :class:`harness.report.schema.Results` (JSON Schema:
``harness/report/results.schema.json``). It is strict JSON: an undefined score (NaN) is
``null``, never NaN or -1. Claim rows carry ``verdict`` (reproduced / not reproduced /
inconclusive / not run), ``inconclusive`` (why the data cannot decide) and ``inputs`` (the
experiment records the rule read, so ``sae-claims judge`` can judge them again).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from harness.report.figures import grid_figures, seed_figures, semantic_figure
from harness.report.html import write_html
from harness.report.schema import SCHEMA_VERSION, dumps
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
        return "NaN" if math.isnan(float(x)) else f"{float(x):.3f}"
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


def _mean(values: list[Any]) -> float:
    v = [float(x) for x in values if isinstance(x, (int, float)) and math.isfinite(float(x))]
    return float(np.mean(v)) if v else math.nan


def _p(cell: dict[str, Any], metric: str) -> str:
    """The judging p (+1 rule) with the paper's own rule as ``k/N`` next to it, e.g.
    ``0.010 (0/99)``; older records without them show the stored p."""
    p = cell.get(f"{metric}_p_plus_one", cell.get(f"{metric}_p"))
    kn = cell.get(f"{metric}_p_paper")
    return _fmt(p) + (f" ({kn})" if isinstance(kn, str) else "")


def _image(alt: str, rel: str) -> str:
    """A Markdown image; brackets in the alt text are escaped, the path is already safe."""
    return f"![{alt.replace('[', '(').replace(']', ')')}]({rel})"


def write_report(
    out_dir: Path,
    *,
    profile: str,
    claim_results: list[dict[str, Any]],
    experiments: dict[str, Any],
    provenance: dict[str, Any],
    partial: list[str] | None = None,
    calibration: dict[str, str] | None = None,
    stability: dict[tuple[str, str], str] | None = None,
) -> Path:
    """Write REPORT.md, results.json and figures under ``out_dir``; return the Markdown path.

    ``partial``: why this run is not the complete report (None: complete); a partial report
    says so in its first line. Figures in ``out_dir/figures`` are replaced by this run's.
    ``calibration``: claim id -> status of its rule on the known-answer worlds
    (:func:`harness.calibration.run.calibration_notes`); shown next to the verdicts, so a
    verdict from a rule that misses its power or false-positive target is read as such.
    ``stability``: (claim id, procedure) -> how the claim's outcome held over the committed seed
    sweep (:func:`harness.verdicts.stability.stability_notes`; ``(claim, "*")``: why a claim was not
    swept); shown per claim x procedure next to the verdicts.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(exist_ok=True)
    for old in (out_dir / "figures").glob("*.png"):
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
        f"Commit `{provenance.get('git_commit')}`, created {provenance.get('created_utc')}; "
        f"libraries: {_fmt(provenance.get('library_versions', {}))}.",
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
    # summary
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    r: dict[str, Any] | None  # a claim row; None where a claim lacks a procedure
    for r in claim_results:
        counts[r["procedure"]][r["verdict"]] += 1
    lines += ["## Summary", ""]
    summary_rows = [[p, *(c.get(v, 0) for v in VERDICTS)] for p, c in sorted(counts.items())]
    lines += [tabulate(summary_rows, headers=["procedure", *VERDICTS], tablefmt="github"), ""]
    if profile == "smoke":
        lines += [
            "Smoke profile: small fixture models stand in for the paper's LLMs. A verdict here says "
            "whether the claim's rule holds *on the fixture world*; the test checks it against the "
            "reviewed expected verdict (`claims/expected/`), so any change of outcome fails CI.",
            "",
        ]
    # claims table
    by_claim: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in claim_results:
        by_claim[r["id"]][r["procedure"]] = r
    procs = sorted({r["procedure"] for r in claim_results})
    # every claim of the inventory appears, also those this run did not reach (e.g. W2 and S2 in smoke)
    ran = set(by_claim)  # claims with at least one row (by_claim is a defaultdict: look-ups add keys)
    order = sorted(ran | set(CLAIMS), key=lambda c: (c[0], int("".join(ch for ch in c[1:] if ch.isdigit()) or 0)))
    short = {
        "reproduced": "reproduced",
        "not reproduced": "NOT reproduced",
        "inconclusive": "inconclusive",
        "not run": "not run",
    }
    glance = []
    for cid in order:
        row = [cid, CLAIMS[cid].statement]
        for p in procs:
            r = by_claim[cid].get(p)
            ctrl = (
                ""
                if r is None or r.get("control_outcome") in (None, "other way")
                else f" (control: {r['control_outcome']})"
            )
            # "—": the claim ran under other procedures (e.g. P1-P3 under "PB method")
            row.append(
                ("—" if cid in ran else "not run (not in this run's tiers)")
                if r is None
                else (CONTROL_NOT_DISTINGUISHED if _rule_holds_control_same(r) else short[r["verdict"]] + ctrl)
            )
        if calibration:
            row.append(calibration.get(cid, "not calibrated"))
        if stability:
            notes = [f"{p}: {stability[(cid, p)]}" for p in procs if (cid, p) in stability]
            row.append("; ".join(notes) or stability.get((cid, "*"), "not swept"))
        glance.append(row)
    lines += [
        "## Verdicts at a glance",
        "",
        tabulate(
            glance,
            headers=[
                "id",
                "claim",
                *procs,
                *(["rule calibration"] if calibration else []),
                *(["seed stability"] if stability else []),
            ],
            tablefmt="github",
        ),
        "",
        "A claim is reproduced only when its rule holds and its negative control does not; "
        "'control: same way' marks a rule that could not discriminate on this data; 'control: not run' "
        "a control that was not run or had nothing to score (e.g. no misaligned pair survived the filters), so "
        "the rule's power is untested and a claim whose rule holds is inconclusive, never reproduced; "
        "'inconclusive' a claim whose data "
        "cannot decide (too few pairs, too few permutations for alpha, a control that cannot be judged). Details, "
        "numbers and the reviewed reason for each smoke verdict follow.",
        "",
    ]
    if calibration:
        lines += [
            "'rule calibration': the rule's power and false-positive rate on known-answer worlds "
            "(`reports/calibration/`); a FLAGGED rule misses a target there, so its verdict here is weak "
            "evidence either way.",
            "",
        ]
    if stability:
        lines += [
            "'seed stability': over the committed seed sweep (`reports/stability/`; base seeds 0, 1, ... of every "
            "null, control shuffle, random partner and Test-2 draw), the number of seeds giving seed 0's verdict "
            "and control outcome (the outcome this run reports); a claim is stable when at least 90% of at least "
            "20 seeds (5 for the expensive grid claims) agree, and one that is not is reported inconclusive "
            "('unstable over seeds').",
            "",
        ]
    lines += ["## Claims", ""]
    rows = []
    for cid in order:
        rec = CLAIMS[cid]
        row = [cid, rec.statement, rec.source, rec.paper_values, rec.rule]
        for p in procs:
            r = by_claim[cid].get(p)
            if r is None:
                row.append(
                    "—"
                    if cid in ran
                    else f"**not run**: not in this run's tiers (tiers of {cid}: {', '.join(rec.tiers)})"
                )
                continue
            outcome = r.get("control_outcome")
            note = "" if outcome is None else f" (negative control: {outcome})"
            if _rule_holds_control_same(r):  # the rule held; what failed is the contrast with its control
                note = f" ({CONTROL_NOT_DISTINGUISHED}{'; ' + r['detail'] if r.get('detail') else ''})"
            why = (r.get("expected") or {}).get("reason")
            if r["verdict"] == "not run":
                row.append(f"**not run**: {r.get('detail', '')}")
                continue
            measured = dict(r["measured"])
            crit = criterion_line(rec, measured.pop("shared_fraction_by_criterion", None))
            row.append(f"**{r['verdict']}**{note}: {crit}{_fmt(measured)}" + (f" — *{why}*" if why else ""))
        rows.append(row)
    lines += [tabulate(rows, headers=["id", "claim", "source", "paper", "rule", *procs], tablefmt="github"), ""]
    not_run = [r for r in claim_results if r["verdict"] == "not run"]
    if not_run:
        lines += ["### Not run", ""] + [f"- {r['id']} ({r['procedure']}): {r['detail']}" for r in not_run] + [""]
    # experiments
    lines += ["## Experiments", ""]
    for name, exp in experiments.items():
        lines += [f"### {name}", ""]
        if exp.get("kind") == "grid":
            lines += [_image(alt, rel) for alt, rel in grid_figures(exp, name, out_dir / "figures")]
            lines.append("")
            # raw score next to its effect over chance (excess = (s - null mean) / (1 - null mean), z);
            # p = the judging +1 rule, with the paper's own rule as k/N
            cell_rows = [
                [
                    c["layer_a"],
                    c["layer_b"],
                    c.get("n_pairs_m21"),
                    c.get("n_pairs"),
                    c.get("mean_max_corr"),
                    c.get("svcca"),
                    c.get("svcca_null_mean"),
                    c.get("svcca_excess"),
                    c.get("svcca_z"),
                    _p(c, "svcca"),
                    c.get("svcca_k"),
                    c.get("rsa"),
                    c.get("rsa_excess"),
                    _p(c, "rsa"),
                    c.get("svcca_m21"),
                    c.get("svcca_m21_excess"),
                    c.get("size_matched_m21_p"),
                    c.get("svcca_unfiltered"),
                    c.get("svcca_unfiltered_excess"),
                    c.get("size_matched_unfiltered_p"),
                ]
                for c in exp["cells"]
            ]
            lines += [
                tabulate(
                    [[_fmt(v) for v in r] for r in cell_rows],
                    headers=[
                        "A",
                        "B",
                        "pairs m-1",
                        "pairs 1-1",
                        "mean max corr",
                        "SVCCA",
                        "null",
                        "SVCCA excess",
                        "z",
                        "p (k/N)",
                        "k (a,b)",
                        "RSA",
                        "RSA excess",
                        "p (RSA) (k/N)",
                        "SVCCA m-1",
                        "excess m-1",
                        "p vs same-size m-1",
                        "SVCCA unfilt.",
                        "excess unfilt.",
                        "p vs same-size unfilt.",
                    ],
                    tablefmt="github",
                ),
                "",
            ]
        elif exp.get("kind") == "semantic":
            sem_rows = [
                [
                    c["category"],
                    c.get("paper_n"),
                    c.get("n_pairs"),
                    c.get("paper_svcca"),
                    c.get("svcca"),
                    c.get("svcca_null_mean"),
                    c.get("svcca_excess"),
                    c.get("svcca_z"),
                    _p(c, "svcca"),
                    c.get("rsa"),
                    c.get("rsa_excess"),
                    _p(c, "rsa"),
                    c.get("test2_excess"),
                    c.get("test2_p_plus_one", c.get("test2_p")),
                    c.get("skipped", ""),
                ]
                for c in exp["cells"]
            ]
            lines += [f"Layers A{exp['layer_a']} x B{exp['layer_b']}.", ""]
            lines += [_image(alt, rel) for alt, rel in semantic_figure(exp, name, out_dir / "figures")] + [""]
            lines += [
                tabulate(
                    [[_fmt(v) for v in r] for r in sem_rows],
                    headers=[
                        "category",
                        "paper n",
                        "n",
                        "paper SVCCA",
                        "SVCCA",
                        "null mean",
                        "SVCCA excess",
                        "z",
                        "p (T1) (k/N)",
                        "RSA",
                        "RSA excess",
                        "p (RSA) (k/N)",
                        "excess over T2",
                        "p (T2)",
                        "note",
                    ],
                    tablefmt="github",
                ),
                "",
            ]
        elif exp.get("kind") == "semantic_grid":  # the tables themselves are listed above or in results.json
            sg_rows = [
                [
                    t["layer_a"],
                    t["layer_b"],
                    sum("skipped" not in c for c in t["cells"]),
                    _mean([c.get("svcca_excess") for c in t["cells"]]),
                    _mean([c.get("rsa_excess") for c in t["cells"]]),
                ]
                for t in exp["tables"]
            ]
            lines += [
                tabulate(
                    [[_fmt(v) for v in r] for r in sg_rows],
                    headers=["A", "B", "categories scored", "mean SVCCA excess", "mean RSA excess"],
                    tablefmt="github",
                ),
                "",
            ]
        else:
            lines += ["```", json.dumps(exp, indent=1, default=str, allow_nan=True)[:4000], "```", ""]
    seed = seed_figures(claim_results, out_dir / "figures")
    if seed:
        lines += ["### Seed pairs", ""] + [_image(alt, rel) for alt, rel in seed] + [""]
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
