"""What every claim rule shares: reading a record's scores (the +1-rule p, the excess over chance),
counting significant cells as Benjamini-Hochberg discoveries, power checks, the control view of a
grid, and the paper-statistic guard. Pure functions over records (dicts as stored in
``results.json``); imported by each family of rules (:mod:`harness.verdicts.whole_space`,
:mod:`harness.verdicts.semantic`, :mod:`harness.verdicts.seed_rules`) and importing none of them.

The statistics these helpers implement, the same for every rule, are stated in
:mod:`harness.verdicts.rules`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np

from harness.config import PAPER, Procedure
from harness.scoring.effects import bh_discoveries, excess_over_chance, min_permutations, powered
from harness.verdicts.registry import ClaimJudgement, Judgement, MissingInput

Record = dict[str, Any]


def finite(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) and math.isfinite(x)


def judging_p(rec: Mapping[str, Any], metric: str) -> float:
    """The +1-rule p of ``metric`` in ``rec`` (``<metric>_p_plus_one``); records written before it
    existed fall back to their stored ``<metric>_p``."""
    p = rec.get(f"{metric}_p_plus_one")
    if finite(p):
        return float(p)
    p = rec.get(f"{metric}_p", math.nan)
    return float(p) if finite(p) else math.nan


def excess(rec: Mapping[str, Any], metric: str) -> float:
    """``<metric>_excess`` of ``rec`` (:func:`harness.scoring.effects.excess_over_chance`); records
    written before it existed are rescaled from their score and null mean."""
    e = rec.get(f"{metric}_excess")
    if finite(e):
        return float(e)
    return excess_over_chance(float(rec.get(metric, math.nan)), float(rec.get(f"{metric}_null_mean", math.nan)))


def sig(rec: Mapping[str, Any], metric: str, alpha: float) -> bool:
    p = judging_p(rec, metric)
    return bool(math.isfinite(p) and p < alpha)


def nonzero(grid: Mapping[str, Any]) -> list[Record]:
    return [c for c in grid["cells"] if c["layer_a"] != 0 and c["layer_b"] != 0]


def why_no_excess(cells: Sequence[Mapping[str, Any]], metric: str = "svcca", where: str = "cells") -> str:
    """The real cause when no cell of ``cells`` has a finite ``metric`` excess over chance: no cells,
    no scores, or no null means (a record built from printed numbers has scores without nulls)."""
    if not cells:
        return f"no {where}"
    if not any(finite(c.get(metric)) for c in cells):
        return f"no {metric} scores in the {where} ({metric} missing)"
    if not any(finite(c.get(f"{metric}_null_mean")) or finite(c.get(f"{metric}_excess")) for c in cells):
        return f"no null means in the {where} ({metric}_null_mean missing): the excess over chance cannot be computed"
    return f"no {where} with both a {metric} score and its null mean"


def absent_everywhere(cells: Sequence[Mapping[str, Any]], key: str) -> bool:
    """No cell of ``cells`` holds a finite ``key`` (absent or marked missing, null, in every cell)."""
    return bool(cells) and not any(finite(c.get(key)) for c in cells)


def frac(values: Sequence[bool]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def nanmean(values: Sequence[float]) -> float:
    """Mean of the finite values; NaN (without a warning) when there are none."""
    v = np.asarray([x for x in values if finite(x)], dtype=np.float64)
    return float(v.mean()) if v.size else math.nan


def n_perm(rec: Mapping[str, Any], parent: Mapping[str, Any] | None = None, key: str = "n_permutations") -> float:
    n = rec.get(key, (parent or {}).get(key, math.nan))
    return float(n) if finite(n) else math.nan


def needs_power(counts: Sequence[float], alpha: float, what: str = "permutations") -> str | None:
    """Why ``p < alpha`` is out of reach for some null size in ``counts`` (+1 rule), or None."""
    short = sorted({int(n) for n in counts if finite(n) and not powered(n, alpha)})
    if not short:
        return None
    return (
        f"{short} {what} cannot give p < alpha = {alpha} under the +1 rule (needs >= {min_permutations(alpha)}; "
        "p >= 1/(N + 1))"
    )


def need_of(share: float, n: int) -> int:
    """Cells a ``share`` of ``n`` requires (``ceil``, robust to 0.8 * 15 = 12.000000000000002)."""
    return int(math.ceil(share * n - 1e-9))


def count_significant(
    p_values: Sequence[float], share: float, alpha: float, counts: Sequence[float], what: str = "permutations"
) -> tuple[bool, dict[str, Any], str | None]:
    """A share claim over a family of cells: at least ``share`` of the cells are Benjamini-Hochberg
    discoveries at FDR ``alpha`` (:func:`harness.scoring.effects.bh_discoveries`; NaN p = nothing
    found). Returns (holds, measured, why the data cannot decide or None): with ``N`` null draws a p
    is >= 1/(N + 1), and BH's threshold at the needed rank is ``need * alpha / n``; a null size
    that cannot reach it makes the count inconclusive."""
    n = len(p_values)
    need = need_of(share, n)
    k_raw = sum(bool(finite(p) and p < alpha) for p in p_values)
    k_bh = bh_discoveries([float(p) if finite(p) else math.nan for p in p_values], alpha)
    m = {"n_family": n, "n_needed": need, "n_significant_raw": k_raw, "n_discoveries_bh": k_bh}
    reason = needs_power(counts, alpha, what)
    if reason is None and n:
        bar = alpha * max(need, 1) / n
        short = sorted({int(c) for c in counts if finite(c) and 1.0 / (c + 1) > bar})
        if short:
            reason = (
                f"{short} {what} cannot give p <= {bar:.4f}, Benjamini-Hochberg's bar at rank {need} of {n} "
                f"(alpha = {alpha}; p >= 1/(N + 1))"
            )
    return bool(n and k_bh >= need), m, reason


def top_view(control_grid: Mapping[str, Any]) -> dict[str, Any]:
    """The control grid read through its top-correlated sets (see
    :func:`harness.experiments.grid.top_correlated_view`), each cell's null size that of its
    top-correlated set: ``n_permutations_top`` where recorded, else the grid's ``n_permutations``
    (the procedure's null size, which the top-correlated sets are scored with). A cell's own
    ``n_permutations`` belongs to its filtered misaligned set -- a handful of pairs, or none, often
    scored without a null (0) -- and would make the control "inconclusive: [0] permutations"
    although its top-correlated set has the full null."""
    from harness.experiments.grid import top_correlated_view

    view = top_correlated_view(dict(control_grid))
    cells = []
    for c in view["cells"]:
        cell = {k: v for k, v in c.items() if k != "n_permutations"}
        if "n_permutations_top" in c:
            cell["n_permutations"] = c["n_permutations_top"]
        cells.append(cell)
    return {**view, "cells": cells}


def control_scored(view: Mapping[str, Any], ctrl: dict[str, Any]) -> bool:
    """Annotate a control view's coverage; a control that scored fewer than half its cells never
    exercised the statistic (``empty``)."""
    cells = nonzero(view)
    ctrl["n_cells_with_filtered_pairs"] = sum(c.get("n_pairs_filtered", 0) > 0 for c in cells)
    ctrl["n_cells_scored"] = sum(finite(c.get("svcca")) for c in cells)
    return ctrl["n_cells_scored"] >= 0.5 * len(cells)


def with_control(
    claim: Judgement, control: Judgement | None, *, shown: dict[str, Any] | None = None, detail: str = ""
) -> ClaimJudgement:
    return ClaimJudgement(claim, control, detail, shown)


def same_statistic_as_printed(metric: str, procedure: Procedure) -> str | None:
    """Why ``procedure``'s ``metric`` values cannot be held to the paper's printed ones, or None.

    The printed SVCCA values are k = 1 (the authors' variance test kept one direction:
    original-procedure.md), so a procedure with another ``svcca_keep`` (`corrected`: 99% of the
    variance) or a cap on k computes another statistic; the printed RSA used the correlation inner
    similarity. Other corrections (activation site, sparse code, 1-1 rule) change the data, not the
    statistic: their values are what the method audit compares."""
    if metric == "svcca" and (procedure.svcca_keep != PAPER.svcca_keep or procedure.svcca_max_k_fraction is not None):
        return (
            f"the paper's SVCCA values are k = 1; `{procedure.name}` keeps {procedure.svcca_keep!r} of the variance "
            "(another statistic): compared, not judged"
        )
    if metric == "rsa" and procedure.rsa_inner != PAPER.rsa_inner:
        return f"the paper's RSA used the correlation inner similarity, `{procedure.name}` {procedure.rsa_inner!r}"
    return None


def pair_set(rec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``rec[key]``, one pair set of a seed-pair record; :class:`MissingInput` naming it when absent."""
    v = rec.get(key)
    if not isinstance(v, Mapping):
        raise MissingInput(f"needs the {key!r} pair set of the seed-pair record (it has {sorted(rec)})")
    return v


def missing_score(rec: Mapping[str, Any], metric: str = "svcca") -> str | None:
    """Why a single pair set's ``metric`` cannot be judged for significance and excess (a field
    marked missing), or None."""
    if not finite(rec.get(metric)):
        return f"{metric} missing"
    if not math.isfinite(judging_p(rec, metric)):
        return f"{metric}_p missing (no p-value given)"
    if not math.isfinite(excess(rec, metric)):
        return f"{metric}_null_mean missing (no null to measure the excess over chance against)"
    return None
