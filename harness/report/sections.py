"""Building blocks of the report's Markdown: tables, flattened measurements, collapsible detail,
the glossary, and one section per experiment kind (layer grid, semantic table, semantic grid,
pre-flight, seed pair, seed overlaps). No section prints raw JSON: every record becomes a table
(the records themselves are in ``results.json``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.report.figures import grid_figures, semantic_figure
from harness.report.reason_lines import ABSENT, fmt_number, fmt_value

__all__ = [
    "GLOSSARY",
    "details",
    "experiment_section",
    "flatten",
    "glossary_lines",
    "md_table",
    "p_text",
]

#: (anchor, term, definition) of every term the report uses without explaining it in place.
GLOSSARY: tuple[tuple[str, str, str], ...] = (
    (
        "g-excess",
        "excess over chance",
        "a score minus the mean of its null distribution, scaled: (s - null mean) / (1 - null mean). "
        "0 is chance, 1 a perfect score; raw scores near chance are never judged.",
    ),
    (
        "g-bh",
        "BH",
        "Benjamini-Hochberg: a count of significant cells is the number of BH discoveries at false-discovery "
        "rate alpha = 0.05 over the family of cells, so many tests do not inflate it.",
    ),
    (
        "g-kn",
        "k/N",
        "the paper's own p-value rule: k of N null draws at or above the observed score. Judging uses "
        "(1 + k) / (1 + N), never 0; a p is never reported as 0 (k/N, or '< 1/N').",
    ),
    (
        "g-control",
        "negative control",
        "the same measurement where the claim must not hold (shuffled positions, random partners, rotated SAEs). "
        "A claim is reproduced only when its rule holds and the control comes out the other way.",
    ),
    (
        "g-placebo",
        "placebo",
        "a set or filter chosen like the real one but without its meaning (e.g. random siblings of the same size, "
        "a filter on unrelated tokens): what the real choice must beat.",
    ),
    (
        "g-pb",
        "PB method",
        "Paulo & Belrose 2025's procedure for seed overlap: latents matched by encoder and decoder cosine "
        "(> 0.7), the shared fraction over seed pairs; P claims run only under it.",
    ),
    (
        "g-inconclusive",
        "inconclusive",
        "the data cannot decide: too few pairs or permutations, an interval that straddles the bound, a control "
        "that cannot be judged, or an outcome that changes over seeds.",
    ),
    (
        "g-notdist",
        "rule holds; control not distinguished",
        "the claim's rule holds, but its negative control satisfies it too, so the data do not show the claim "
        "(verdict: not reproduced).",
    ),
)


def glossary_lines() -> list[str]:
    """The glossary section: one anchored entry per term of :data:`GLOSSARY`."""
    out = ['## <a id="glossary"></a>Glossary', ""]
    for anchor, term, text in GLOSSARY:
        out.append(f'- <a id="{anchor}"></a>**{term}**: {text}')
    return [*out, ""]


def _cell(x: Any) -> str:
    text = x if isinstance(x, str) else fmt_value(x)
    return " ".join(text.split()).replace("|", "\\|") or ABSENT


def md_table(rows: list[list[Any]], headers: list[str]) -> str:
    """A GitHub/CommonMark table; values through :func:`fmt_value` (``—`` for absent), pipes escaped."""
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def details(summary: str, body: list[str], *, open_: bool = False) -> list[str]:
    """``body`` (Markdown lines) inside a collapsible ``<details>`` block."""
    return [f"<details{' open' if open_ else ''}><summary>{summary}</summary>", "", *body, "", "</details>", ""]


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested measurements as ``(label, leaf)`` rows: dict keys joined by `` · ``, underscores as
    spaces; a list of records by its index. Leaves are numbers, strings, short lists."""
    out: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            label = f"{prefix} · {k}" if prefix else str(k)
            out += flatten(v, label.replace("_", " "))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            out += flatten(v, f"{prefix} [{i + 1}]")
    else:
        out.append((prefix, value))
    return out


def p_text(cell: dict[str, Any], metric: str) -> str:
    """A cell's judging p with the paper's own count, e.g. ``0.010 (0/99)``; never ``0``."""
    p = cell.get(f"{metric}_p_plus_one", cell.get(f"{metric}_p"))
    kn = cell.get(f"{metric}_p_paper")
    if isinstance(p, (int, float)) and not isinstance(p, bool) and p == 0:
        n = cell.get("n_permutations")
        text = f"< 1/{n}" if n else "< 1/N"
    else:
        text = fmt_number(p)
    return text + (f" ({kn})" if isinstance(kn, str) else "")


def _mean(values: list[Any]) -> float:
    v = [float(x) for x in values if isinstance(x, (int, float)) and math.isfinite(float(x))]
    return float(np.mean(v)) if v else math.nan


def _image(alt: str, rel: str) -> str:
    return f"![{alt.replace('[', '(').replace(']', ')')}]({rel})"


def _grid(name: str, exp: dict[str, Any], fig_dir: Path) -> tuple[list[str], list[tuple[str, str]]]:
    figs = grid_figures(exp, name, fig_dir)
    n = exp.get("n_permutations")
    rows = [
        [
            f"A{c['layer_a']} x B{c['layer_b']}",
            c.get("n_pairs_m21"),
            c.get("n_pairs"),
            c.get("mean_max_corr"),
            c.get("svcca"),
            c.get("svcca_excess"),
            p_text({**c, "n_permutations": n}, "svcca"),
            c.get("rsa"),
            c.get("rsa_excess"),
            p_text({**c, "n_permutations": n}, "rsa"),
            c.get("svcca_m21_excess"),
            c.get("size_matched_m21_p"),
        ]
        for c in exp["cells"]
    ]
    headers = [
        "cell",
        "pairs m-1",
        "pairs 1-1",
        "mean max corr",
        "SVCCA",
        "SVCCA excess",
        "p (k/N)",
        "RSA",
        "RSA excess",
        "p RSA (k/N)",
        "excess m-1",
        "p vs same-size m-1",
    ]
    lines = [
        f"{exp.get('model_a', 'A')} x {exp.get('model_b', 'B')}, {len(exp['cells'])} layer pairs, "
        f"{ABSENT if n is None else n} permutations per null.",
        "",
        *details(f"Figures ({len(figs)})", [_image(alt, rel) for alt, rel in figs]),
        *details(f"Per-cell numbers ({len(rows)} cells)", [md_table(rows, headers)]),
    ]
    return lines, figs


def _semantic(name: str, exp: dict[str, Any], fig_dir: Path) -> tuple[list[str], list[tuple[str, str]]]:
    figs = semantic_figure(exp, name, fig_dir)
    rows = [
        [
            c["category"],
            c.get("paper_n"),
            c.get("n_pairs"),
            c.get("paper_svcca"),
            c.get("svcca"),
            c.get("svcca_excess"),
            p_text(c, "svcca"),
            c.get("rsa_excess"),
            p_text(c, "rsa"),
            c.get("test2_excess"),
            p_text(c, "test2"),
            c.get("skipped", ""),
        ]
        for c in exp["cells"]
    ]
    headers = [
        "category",
        "paper n",
        "n",
        "paper SVCCA",
        "SVCCA",
        "SVCCA excess",
        "p (k/N)",
        "RSA excess",
        "p RSA (k/N)",
        "excess over Test 2",
        "p Test 2",
        "note",
    ]
    lines = [
        f"Layers A{exp['layer_a']} x B{exp['layer_b']}.",
        "",
        *details(f"Figure ({len(figs)})", [_image(alt, rel) for alt, rel in figs]),
        *details(f"Per-category numbers ({len(rows)} categories)", [md_table(rows, headers)]),
    ]
    return lines, figs


def _semantic_grid(exp: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"A{t['layer_a']} x B{t['layer_b']}",
            sum("skipped" not in c for c in t["cells"]),
            _mean([c.get("svcca_excess") for c in t["cells"]]),
            _mean([c.get("rsa_excess") for c in t["cells"]]),
        ]
        for t in exp["tables"]
    ]
    return details(
        f"Per-layer-pair means ({len(rows)} layer pairs)",
        [md_table(rows, ["layer pair", "categories scored", "mean SVCCA excess", "mean RSA excess"])],
    )


_PREFLIGHT = (
    ("model", "model"),
    ("layer", "layer"),
    ("site", "site"),
    ("fvu", "FVU"),
    ("l0", "L0"),
    ("neighbour_site", "other site"),
    ("neighbour_fvu", "other FVU"),
    ("better_site", "better site"),
    ("n_positions", "positions"),
)


def _preflight(exp: dict[str, Any]) -> list[str]:
    sites = exp.get("sites", [])
    rows = [[s.get(k) for k, _ in _PREFLIGHT] + ["; ".join(s.get("warnings") or []) or "none"] for s in sites]
    warned = sum(bool(s.get("warnings")) for s in sites)
    return [
        f"Each SAE's reconstruction at its hook and at the neighbouring site (FVU: fraction of variance "
        f"unexplained; lower is better). {len(sites)} sites, {warned} with warnings.",
        "",
        *details(f"Pre-flight table ({len(rows)} sites)", [md_table(rows, [h for _, h in _PREFLIGHT] + ["warnings"])]),
    ]


def _seed_pair(exp: dict[str, Any]) -> list[str]:
    scal = [(k.replace("_", " "), v) for k, v in exp.items() if k != "kind" and not isinstance(v, (dict, list))]
    rows = [
        [
            k.replace("_", " "),
            v.get("n_pairs"),
            v.get("svcca"),
            v.get("svcca_excess"),
            p_text(v, "svcca"),
            v.get("rsa"),
            v.get("rsa_excess"),
            p_text(v, "rsa"),
        ]
        for k, v in exp.items()
        if isinstance(v, dict) and "svcca" in v
    ]
    head = ", ".join(f"{k} {fmt_value(v)}" for k, v in scal)
    return [
        f"{head}." if head else "",
        "",
        md_table(rows, ["pairing", "pairs", "SVCCA", "excess", "p (k/N)", "RSA", "RSA excess", "p RSA (k/N)"]),
        "",
    ]


def _records(exp: dict[str, Any]) -> list[str]:
    """seed_overlap(s) and sweeps: one row per SAE pair, columns the flattened fields."""
    if exp.get("kind") == "seed_overlap_sweep":
        pairs = [
            (f"{exp.get('axis')} {lvl} · pair {i + 1}", p)
            for lvl, g in zip(exp["levels"], exp["groups"], strict=False)
            for i, p in enumerate(g.get("pairs", []))
        ]
    elif exp.get("kind") == "seed_overlaps":
        pairs = [(f"pair {i + 1}", p) for i, p in enumerate(exp.get("pairs", []))]
    else:
        pairs = [("pair", {k: v for k, v in exp.items() if k != "kind"})]
    flat = [(label, dict(flatten({k: v for k, v in p.items() if k != "condition"}))) for label, p in pairs]
    cols: list[str] = []
    for _, f in flat:
        cols += [c for c in f if c not in cols and "paper float32" not in c]
    rows = [[label, *(f.get(c) for c in cols)] for label, f in flat]
    cond = exp.get("condition") or (exp.get("groups") or [{}])[0].get("condition")
    lines = []
    if isinstance(cond, dict):
        lines += [
            "Condition: "
            + "; ".join(f"{k} {fmt_value(v)}" for k, v in flatten({k: v for k, v in cond.items() if k != "training"}))
            + ".",
            "",
        ]
    return lines + details(f"Per-pair numbers ({len(rows)} pairs)", [md_table(rows, ["SAE pair", *cols])])


def experiment_section(name: str, exp: dict[str, Any], fig_dir: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Markdown lines of one experiment (no heading) and its figures ``[(alt, rel path)]``."""
    kind = exp.get("kind")
    if kind == "grid":
        return _grid(name, exp, fig_dir)
    if kind == "semantic":
        return _semantic(name, exp, fig_dir)
    if kind == "semantic_grid":
        return _semantic_grid(exp), []
    if kind == "preflight":
        return _preflight(exp), []
    if kind == "seed_pair":
        return _seed_pair(exp), []
    if kind in ("seed_overlap", "seed_overlaps", "seed_overlap_sweep"):
        return _records(exp), []
    rows = [[k, v] for k, v in flatten({k: v for k, v in exp.items() if k != "kind"})]
    return details(f"Numbers ({len(rows)} fields)", [md_table(rows, ["field", "value"])]), []
