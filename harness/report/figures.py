"""Figures of the report: layer x layer heatmaps, semantic bars, seed-pair plots.

Rules every figure follows (issue 14, finding 4):

- file names are safe in every Markdown renderer: lower-case letters, digits, ``-`` and ``.``
  only (:func:`safe_name`), so image links resolve without escaping;
- colour scales are fixed, so figures compare across cells, runs and procedures: SVCCA, RSA
  and many-to-1 SVCCA on [0, 1] with the chance level (median of the cells' null means) marked
  on the colour bar; excess over chance (value minus the cell's null mean) on [-0.5, 0.5],
  white at chance; p-values on a log scale [1e-4, 1] with alpha marked;
- readable size (at least ~700 x 500 px), titles wrapped and never clipped (tight bounding box);
- a negative control's grid shows the statistic its verdict used: each cell's top-correlated
  misaligned 1-1 set (``*_top`` fields), not the filtered set, which is empty there.

Each function returns ``[(alt text, path relative to the report folder), ...]``.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ALPHA", "grid_figures", "p_label", "safe_name", "seed_figures", "semantic_figure"]

ALPHA = 0.05
"""Significance level marked on p-value figures (the claims' alpha)."""

P_FLOOR = 1e-4
"""Lower end of the p-value colour scale (below 1 / (N + 1) for every null size used)."""

DPI = 120


def safe_name(text: str) -> str:
    """``"grid paper (control: B positions shuffled)"`` -> ``"grid-paper-control-b-positions-shuffled"``."""
    s = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return s or "figure"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(ax: Any, text: str) -> None:
    ax.set_title(textwrap.fill(text, 60), fontsize=10)


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    _plt().close(fig)


def _num(x: Any) -> float:
    """``x`` as a float; None, strings and other non-numbers as NaN."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def p_label(p: float, k_of_n: Any = None, n_permutations: Any = None) -> str:
    """How a figure prints a p-value: the paper's count ``k/N`` when given (e.g. ``"0/99"``), else p
    to 3 decimals; never ``0``: a zero p without a count reads ``"<1/N"`` (``"<1/99"`` with N known).
    NaN: ``"n/a"``."""
    if isinstance(k_of_n, str) and k_of_n:
        return k_of_n
    if not math.isfinite(p):
        return "n/a"
    if p <= 0:
        return f"<1/{n_permutations}" if n_permutations else "<1/N"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _nanmedian(values: list[float]) -> float:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


#: (field, title, kind) of each grid figure; kind picks the fixed scale.
GRID_PANELS: tuple[tuple[str, str, str], ...] = (
    ("svcca", "1-1 SVCCA", "score"),
    ("svcca_excess", "1-1 SVCCA minus null mean (excess over chance)", "excess"),
    ("svcca_p", "1-1 SVCCA p-value", "p"),
    ("rsa", "1-1 RSA", "score"),
    ("rsa_p", "1-1 RSA p-value", "p"),
    ("svcca_m21", "many-to-1 SVCCA", "score"),
)


def _cell_value(cell: dict[str, Any], field: str, *, control: bool) -> float:
    """The cell's ``field``; for a control with top-correlated sets, the ``*_top`` value that its
    verdict used. ``svcca_excess`` = SVCCA minus the cell's null mean."""

    def get(name: str) -> float:
        if control and f"{name}_top" in cell:
            name = f"{name}_top"
        return _num(cell.get(name))

    if field == "svcca_excess":
        return get("svcca") - get("svcca_null_mean")
    return get(field)


def _heatmap(grid: dict[str, Any], field: str, kind: str, path: Path, title: str, *, control: bool) -> None:
    from matplotlib.colors import LogNorm, Normalize

    plt = _plt()
    la, lb = list(grid["layers_a"]), list(grid["layers_b"])
    m = np.full((len(lb), len(la)), np.nan)
    texts: dict[tuple[int, int], str] = {}  # p panels: each cell's k/N (the paper's rule), never "0"
    nulls = []
    for cell in grid["cells"]:
        i, j = lb.index(cell["layer_b"]), la.index(cell["layer_a"])
        if kind == "p" and f"{field}_plus_one" in cell:  # judging p: (1 + k) / (1 + N), never 0
            m[i, j] = _cell_value(cell, f"{field}_plus_one", control=control)
        else:
            m[i, j] = _cell_value(cell, field, control=control)
        if kind == "p":
            kn = cell.get(f"{field}_paper_top" if control and f"{field}_paper_top" in cell else f"{field}_paper")
            texts[i, j] = p_label(m[i, j], kn, cell.get("n_permutations") or grid.get("n_permutations"))
        if kind == "score":
            null_field = {"svcca": "svcca_null_mean", "rsa": "rsa_null_mean", "svcca_m21": "svcca_m21_null_mean"}[field]
            nulls.append(_cell_value(cell, null_field, control=control and field != "svcca_m21"))
    w = max(6.5, 1.6 + 0.75 * len(la))
    h = max(4.5, 1.6 + 0.5 * len(lb))
    fig, ax = plt.subplots(figsize=(w, h))
    if kind == "p":
        cmap = plt.get_cmap("viridis_r")
        norm: Any = LogNorm(vmin=P_FLOOR, vmax=1.0)
        shown = np.clip(m, P_FLOOR, 1.0)
    elif kind == "excess":
        cmap = plt.get_cmap("RdBu_r")
        norm = Normalize(vmin=-0.5, vmax=0.5)
        shown = m
    else:
        cmap = plt.get_cmap("viridis")
        norm = Normalize(vmin=0.0, vmax=1.0)
        shown = m
    cmap = cmap.with_extremes(bad="#dddddd")  # NaN: nothing to score (e.g. no pair passed the filters)
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, norm=norm, aspect="auto")
    ax.set_xticks(range(len(la)), [str(x) for x in la])
    ax.set_yticks(range(len(lb)), [str(x) for x in lb])
    ax.set_xlabel(f"{grid.get('model_a', 'A')} layer")
    ax.set_ylabel(f"{grid.get('model_b', 'B')} layer")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            v = m[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="#555555")
                continue
            label = texts[i, j] if kind == "p" else f"{v:.2f}"
            bold = kind == "p" and v < ALPHA
            r, g, b_, _ = cmap(norm(np.clip(v, P_FLOOR, 1.0) if kind == "p" else v))
            color = "black" if 0.299 * r + 0.587 * g + 0.114 * b_ > 0.5 else "white"  # readable on the cell
            ax.text(
                j,
                i,
                label + ("*" if bold else ""),
                ha="center",
                va="center",
                fontsize=8,
                color=color,
                fontweight="bold" if bold else "normal",
            )
    cbar = fig.colorbar(im, ax=ax)
    if kind == "p":
        cbar.ax.axhline(ALPHA, color="red", lw=2)
        cbar.set_label(f"p = (1 + k) / (1 + N), log scale; text: k/N; red line: alpha = {ALPHA}; * = p < alpha")
    elif kind == "excess":
        cbar.set_label("value - null mean, fixed [-0.5, 0.5]; 0 = chance")
    else:
        chance = _nanmedian(nulls)
        label = "fixed scale [0, 1]"
        if math.isfinite(chance):
            cbar.ax.axhline(chance, color="red", lw=2)
            label += f"; red line: chance {chance:.2f} (median null mean)"
        cbar.set_label(label)
    _title(ax, title)
    _save(fig, path)


def grid_figures(grid: dict[str, Any], name: str, fig_dir: Path, *, rel: str = "figures") -> list[tuple[str, str]]:
    """The heatmaps of one layer grid (Figs. 2, 3, 5-14 of Lan et al.) into ``fig_dir``."""
    control = bool(grid.get("control")) and any("svcca_top" in c for c in grid["cells"])
    out = []
    for field, title, kind in GRID_PANELS:
        if control and field == "svcca_m21":
            continue  # the control's verdicts use only the top-correlated 1-1 set
        what = f"{name}: {title}"
        if control:
            what += " — top-correlated misaligned 1-1 set of the real cell's size (what the verdict used)"
        fname = f"{safe_name(name)}-{safe_name(field)}.png"
        _heatmap(grid, field, kind, fig_dir / fname, what, control=control)
        out.append((f"{name}: {title}", f"{rel}/{fname}"))
    return out


def semantic_figure(exp: dict[str, Any], name: str, fig_dir: Path, *, rel: str = "figures") -> list[tuple[str, str]]:
    """Per-category SVCCA next to its null mean (Table 1/9 as bars), p on top, fixed [0, 1]."""
    plt = _plt()
    cells = exp["cells"]
    cats = [c["category"] for c in cells]
    sv = np.array([_num(c.get("svcca")) for c in cells], dtype=float)
    null = np.array([_num(c.get("svcca_null_mean")) for c in cells], dtype=float)
    rsa = np.array([_num(c.get("rsa")) for c in cells], dtype=float)
    x = np.arange(len(cats))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.2 + 0.9 * len(cats)), 4.5))
    ax.bar(x - 0.2, np.nan_to_num(sv), 0.4, label="SVCCA", color="#3b75af")
    ax.bar(x + 0.2, np.nan_to_num(rsa), 0.4, label="RSA", color="#9ecae1")
    ax.scatter(x - 0.2, null, marker="_", s=400, color="red", zorder=3, label="SVCCA null mean (chance)")
    for i, c in enumerate(cells):
        p = _num(c.get("svcca_p_plus_one", c.get("svcca_p")))
        n = c.get("n_pairs")
        kn = c.get("svcca_p_paper")
        note = (
            "n/a"
            if not np.isfinite(sv[i])
            else (f"p {p_label(p, kn, c.get('n_permutations'))}" + ("*" if p < ALPHA else ""))
        )
        ax.text(
            x[i] - 0.2, np.nanmax([sv[i], null[i], 0.0]) + 0.02, f"{note}\nn={n}", ha="center", va="bottom", fontsize=7
        )
    ax.set_xticks(x, cats, rotation=30, ha="right")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score (fixed scale)")
    ax.legend(fontsize=8, loc="upper right")
    _title(ax, f"{name}: per-category 1-1 SVCCA and RSA (* = p < {ALPHA}; red = chance)")
    fname = f"{safe_name(name)}.png"
    _save(fig, fig_dir / fname)
    return [(f"{name}: per-category scores", f"{rel}/{fname}")]


def seed_figures(claim_results: list[dict[str, Any]], fig_dir: Path, *, rel: str = "figures") -> list[tuple[str, str]]:
    """Seed-pair figures from the seed claims' measurements: shared fraction over widths
    (P3, with its control), and W1's SVCCA per pairing against its null mean per procedure."""
    plt = _plt()
    out = []
    p3 = next((r for r in claim_results if r["id"] == "P3" and r.get("measured", {}).get("by_level")), None)
    if p3 is not None:
        m = p3["measured"]
        levels = [float(w) for w in m["levels"]]
        fig, ax = plt.subplots(figsize=(6.5, 4.5))

        def draw(view: dict[str, Any], shift: float, **style: Any) -> None:
            means = np.array([_num(b["mean"]) for b in view["by_level"]], dtype=np.float64)
            ci = np.array([[_num(x) for x in b["ci"]] for b in view["by_level"]], dtype=np.float64)
            x = np.array(levels) * shift
            ax.errorbar(x, means, yerr=np.abs(ci.T - means), capsize=4, **style)
            for lv, b in zip(x, view["by_level"], strict=True):
                ax.scatter([lv] * len(b["fractions"]), b["fractions"], s=10, color=style.get("color"), alpha=0.5)

        draw(m, 1.0, fmt="o-", color="#3b75af", label=f"mean over seed pairs, {1 - ALPHA:.0%} CI")
        ctrl = (m.get("control") or {}).get("shuffled_width_labels")
        if ctrl and ctrl.get("by_level"):
            draw(ctrl, 1.06, fmt="s--", color="grey", label="control: one width, labels shuffled")
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(int(w)) for w in levels])
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("SAE width (latents)")
        ax.set_ylabel(f"fraction of latents shared ({m.get('criterion', 'both')})")
        ax.legend(fontsize=8)
        _title(ax, "P3: shared fraction across seeds over SAE width (Paulo & Belrose method)")
        fname = "seeds-p3-shared-fraction-by-width.png"
        _save(fig, fig_dir / fname)
        out.append(("P3: shared fraction by width", f"{rel}/{fname}"))
    w1 = [r for r in claim_results if r["id"] == "W1" and r.get("measured")]
    if w1:
        fig, axes = plt.subplots(1, len(w1), figsize=(6.5 * len(w1), 4.5), squeeze=False)
        for ax, r in zip(axes[0], w1, strict=True):
            variants = [(k, v) for k, v in r["measured"].items() if isinstance(v, dict) and "svcca" in v]
            x = np.arange(len(variants))
            ax.bar(x, [np.nan_to_num(_num(v["svcca"])) for _, v in variants], 0.6, color="#3b75af", label="SVCCA")
            ax.scatter(
                x,
                [_num(v.get("null_mean")) for _, v in variants],
                marker="_",
                s=600,
                color="red",
                zorder=3,
                label="null mean (chance)",
            )
            for i, (_, v) in enumerate(variants):
                p = _num(v.get("p"))
                ax.text(
                    x[i],
                    np.nan_to_num(_num(v["svcca"])) + 0.02,
                    f"p {p_label(p, v.get('p_paper'))}{'*' if p < ALPHA else ''}\nn={v.get('n')}",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
            ax.set_xticks(x, [k.replace("_", " ") for k, _ in variants], rotation=25, ha="right", fontsize=8)
            ax.set_ylim(0, 1.1)
            ax.legend(fontsize=8, loc="upper right")
            _title(ax, f"W1 seed pair, {r['procedure']} procedure: SVCCA per pairing (* = p < {ALPHA})")
        fname = "seeds-w1-svcca-by-pairing.png"
        _save(fig, fig_dir / fname)
        out.append(("W1: seed-pair SVCCA by pairing", f"{rel}/{fname}"))
    return out
