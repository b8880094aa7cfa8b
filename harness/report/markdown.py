"""The reproduction report: ``REPORT.md`` + ``results.json`` + ``figures/*.png``.

Schema of ``results.json`` (version 1):
    {"schema_version": 1, "profile": str, "provenance": {...},
     "claims": [{"id", "statement", "source", "paper_values", "rule", "procedure", "profile",
                 "verdict": "reproduced"|"not reproduced"|"not run",
                 "rule_holds": bool, "control_outcome": "other way"|"same way"|"empty"|null,
                 "measured": {... "control": {...}}, "detail": str,
                 "expected": {"verdict", "control", "reason"}|null (smoke: the reviewed expectation)}],
     "experiments": {name: record}}
NaN stays NaN (JSON ``NaN``), never -1.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from harness.verdicts.records import CLAIMS

SCHEMA_VERSION = 1


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return "NaN" if math.isnan(float(x)) else f"{float(x):.3f}"
    if isinstance(x, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in x.items())
    return str(x)


def heatmap(grid: dict[str, Any], value: str, path: Path, *, title: str) -> None:
    """Layer x layer heatmap (rows B layers, columns A layers), as Figs. 2, 3, 5-14."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    la, lb = grid["layers_a"], grid["layers_b"]
    m = np.full((len(lb), len(la)), np.nan)
    for cell in grid["cells"]:
        m[lb.index(cell["layer_b"]), la.index(cell["layer_a"])] = cell.get(value, np.nan)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(la), 1.0 + 0.45 * len(lb)))
    im = ax.imshow(m, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(la)), [str(x) for x in la])
    ax.set_yticks(range(len(lb)), [str(x) for x in lb])
    ax.set_xlabel(f"{grid['model_a']} layer")
    ax.set_ylabel(f"{grid['model_b']} layer")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(out_dir: Path, *, profile: str, claim_results: list[dict[str, Any]],
                 experiments: dict[str, Any], provenance: dict[str, Any],
                 calibration: dict[str, str] | None = None) -> Path:
    """Write REPORT.md, results.json and figures under ``out_dir``; return the Markdown path.

    ``calibration``: claim id -> status of its rule on the known-answer worlds
    (:func:`harness.calibration.run.calibration_notes`); shown next to the verdicts, so a
    verdict from a rule that misses its power or false-positive target is read as such."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(exist_ok=True)
    for old in (out_dir / "figures").glob("*.png"):
        old.unlink()
    lines = [f"# Reproduction report — profile `{profile}`", ""]
    lines += [f"Commit `{provenance.get('git_commit')}`, created {provenance.get('created_utc')}; "
              f"libraries: {_fmt(provenance.get('library_versions', {}))}.", ""]
    # summary
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in claim_results:
        counts[r["procedure"]][r["verdict"]] += 1
    lines += ["## Summary", ""]
    summary_rows = [[p, c.get("reproduced", 0), c.get("not reproduced", 0), c.get("not run", 0)]
                    for p, c in sorted(counts.items())]
    lines += [tabulate(summary_rows, headers=["procedure", "reproduced", "not reproduced", "not run"],
                       tablefmt="github"), ""]
    if profile == "smoke":
        lines += ["Smoke profile: small fixture models stand in for the paper's LLMs. A verdict here says "
                  "whether the claim's rule holds *on the fixture world*; the test checks it against the "
                  "reviewed expected verdict (`claims/expected/`), so any change of outcome fails CI.", ""]
    # claims table
    by_claim: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in claim_results:
        by_claim[r["id"]][r["procedure"]] = r
    procs = sorted({r["procedure"] for r in claim_results})
    order = sorted(by_claim, key=lambda c: (c[0], int("".join(ch for ch in c[1:] if ch.isdigit()) or 0)))
    short = {"reproduced": "reproduced", "not reproduced": "NOT reproduced", "not run": "not run"}
    glance = []
    for cid in order:
        row = [cid, CLAIMS[cid].statement]
        for p in procs:
            r = by_claim[cid].get(p)
            ctrl = "" if r is None or r.get("control_outcome") in (None, "other way") else f" (control: {r['control_outcome']})"
            row.append("—" if r is None else short[r["verdict"]] + ctrl)
        if calibration:
            row.append(calibration.get(cid, "not calibrated"))
        glance.append(row)
    lines += ["## Verdicts at a glance", "",
              tabulate(glance, headers=["id", "claim", *procs, *(["rule calibration"] if calibration else [])],
                       tablefmt="github"), "",
              "A claim is reproduced only when its rule holds and its negative control does not; "
              "'control: same way' marks a rule that could not discriminate on this data; 'control: empty' "
              "a control that had nothing to score (e.g. no misaligned pair survived the filters), so the "
              "rule's power is untested and the claim is not counted as reproduced. Details, "
              "numbers and the reviewed reason for each smoke verdict follow.", ""]
    if calibration:
        lines += ["'rule calibration': the rule's power and false-positive rate on known-answer worlds "
                  "(`reports/calibration/`); a FLAGGED rule misses a target there, so its verdict here is weak "
                  "evidence either way.", ""]
    lines += ["## Claims", ""]
    rows = []
    for cid in order:
        rec = CLAIMS[cid]
        row = [cid, rec.statement, rec.source, rec.paper_values, rec.rule]
        for p in procs:
            r = by_claim[cid].get(p)
            if r is None:
                row.append("—")
                continue
            ctrl = r.get("control_outcome")
            note = "" if ctrl is None else f" (negative control: {ctrl})"
            why = (r.get("expected") or {}).get("reason")
            if r["verdict"] == "not run":
                row.append(f"**not run**: {r.get('detail', '')}")
                continue
            row.append(f"**{r['verdict']}**{note}: {_fmt(r['measured'])}" + (f" — *{why}*" if why else ""))
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
            for value, title in (("svcca", "1-1 SVCCA"), ("svcca_p", "SVCCA p-value"), ("rsa", "1-1 RSA"),
                                 ("rsa_p", "RSA p-value"), ("svcca_m21", "many-to-1 SVCCA")):
                fig = f"figures/{name}-{value}.png".replace("/", "/", 1)
                heatmap(exp, value, out_dir / fig, title=f"{name}: {title}")
                lines.append(f"![{name} {title}]({fig})")
            lines.append("")
            cell_rows = [[c["layer_a"], c["layer_b"], c.get("n_pairs_m21"), c.get("n_pairs"), c.get("mean_max_corr"),
                          c.get("svcca"), c.get("svcca_null_mean"), c.get("svcca_p"), c.get("svcca_k"),
                          c.get("rsa"), c.get("rsa_p"), c.get("svcca_m21"), c.get("size_matched_m21_p"),
                          c.get("svcca_unfiltered"), c.get("size_matched_unfiltered_p")]
                         for c in exp["cells"]]
            lines += [tabulate([[_fmt(v) for v in r] for r in cell_rows],
                               headers=["A", "B", "pairs m-1", "pairs 1-1", "mean max corr", "SVCCA", "null", "p",
                                        "k (a,b)", "RSA", "p (RSA)", "SVCCA m-1", "p vs same-size m-1",
                                        "SVCCA unfilt.", "p vs same-size unfilt."],
                               tablefmt="github"), ""]
        elif exp.get("kind") == "semantic":
            sem_rows = [[c["category"], c.get("paper_n"), c.get("n_pairs"), c.get("paper_svcca"), c.get("svcca"),
                         c.get("svcca_null_mean"), c.get("svcca_p"), c.get("rsa"), c.get("rsa_p"), c.get("test2_p"),
                         c.get("skipped", "")] for c in exp["cells"]]
            lines += [f"Layers A{exp['layer_a']} x B{exp['layer_b']}.", "",
                      tabulate([[_fmt(v) for v in r] for r in sem_rows],
                               headers=["category", "paper n", "n", "paper SVCCA", "SVCCA", "null mean", "p (T1)",
                                        "RSA", "p (RSA)", "p (T2)", "note"], tablefmt="github"), ""]
        else:
            lines += ["```", json.dumps(exp, indent=1, default=str, allow_nan=True)[:4000], "```", ""]
    md = out_dir / "REPORT.md"
    md.write_text("\n".join(lines))
    payload = {"schema_version": SCHEMA_VERSION, "profile": profile, "provenance": provenance,
               "claims": claim_results, "experiments": experiments}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1, default=_json_default, allow_nan=True))
    return md


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
