"""Whole-space similarity claims U1-U8 (Lan et al. 2024, Sec. 4.2, App. E, F, H).

Each test evaluates its claim's rule (harness/verdicts/records.py) on the layer grid of the
profile and on its negative control (B's token positions shuffled against A's; for U3 the
non-zero layers; for U5/U6 a held-out random same-size subset; for U7 SVCCA against itself),
and ClaimRecorder.conclude turns both into the verdict and the pytest outcome.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from harness.experiments.grid import top_correlated_view

ALPHA = 0.05


def nonzero(grid: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in grid["cells"] if c["layer_a"] != 0 and c["layer_b"] != 0]


def frac(values: list[bool]) -> float:
    return float(np.mean(values)) if values else math.nan


def nanmean(values: list[float]) -> float:
    """Mean of the finite values; NaN (without a warning) when there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def sig(p: float) -> bool:
    return bool(np.isfinite(p) and p < ALPHA)


def u1(grid: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    f = frac([sig(c["svcca_p"]) for c in nonzero(grid)])
    return f >= 0.8, {"fraction_significant": f, "n_cells": len(nonzero(grid))}


def u2(grid: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    cells = nonzero(grid)
    f_sig = frac([sig(c["rsa_p"]) for c in cells])
    f_lower = frac([c["rsa"] < c["svcca"] for c in cells if np.isfinite(c["rsa"]) and np.isfinite(c["svcca"])])
    return f_sig >= 0.5 and f_lower >= 0.8, {"rsa_fraction_significant": f_sig, "rsa_below_svcca": f_lower,
                                             "mean_rsa": nanmean([c["rsa"] for c in cells]),
                                             "mean_svcca": nanmean([c["svcca"] for c in cells])}


def median_p(cells: list[dict[str, Any]]) -> tuple[float, int]:
    """Median SVCCA p over the scorable cells, and how many cells were not scorable."""
    ps = [c["svcca_p"] for c in cells if np.isfinite(c["svcca_p"])]
    return (float(np.median(ps)) if ps else math.nan), len(cells) - len(ps)


def u3(grid: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    zero = [c for c in grid["cells"] if c["layer_a"] == 0 or c["layer_b"] == 0]
    med, n_unscorable = median_p(zero)
    return bool(np.isfinite(med) and med >= ALPHA), {"median_p_layer0": med, "n_cells": len(zero),
                                                      "n_unscorable": n_unscorable}


def u4(grid: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    la = [x for x in grid["layers_a"] if x != 0]
    lb = [x for x in grid["layers_b"] if x != 0]
    # Relative depth maps the paper's blocks (70m L1-3 of 1..5; 160m L4-7 of 1..11) onto any grid:
    # A: first 60% of non-zero layers; B: non-zero layers from 25% to 60% depth.
    mid_a = set(la[: math.ceil(0.6 * len(la))])
    mid_b = set(lb[math.floor(0.25 * len(lb)): math.ceil(0.6 * len(lb))])
    cells = nonzero(grid)
    block = [c["svcca"] for c in cells if c["layer_a"] in mid_a and c["layer_b"] in mid_b]
    rest = [c["svcca"] for c in cells if not (c["layer_a"] in mid_a and c["layer_b"] in mid_b)]
    advantage = nanmean(block) - nanmean(rest) if block and rest else math.nan
    last = [c for c in cells if c["layer_a"] == la[-1] and np.isfinite(c["svcca"])]
    best_b = max(last, key=lambda c: c["svcca"])["layer_b"] if last else None
    late = best_b is not None and lb.index(best_b) >= len(lb) // 2
    ok = bool(np.isfinite(advantage) and advantage > 0.02 and late)
    return ok, {"middle_block_advantage": advantage, "middle_a": sorted(mid_a), "middle_b": sorted(mid_b),
                "best_b_for_last_a": best_b}


def size_matched_rule(grid: dict[str, Any], superset: str, raw_key: str, *,
                      holdout: bool = False) -> tuple[bool, dict[str, Any]]:
    """Fraction of non-zero cells where the 1-1 (filtered) SVCCA beats random subsets of the
    ``superset`` pairs of the same size (p < alpha); ``holdout`` scores a held-out random
    subset instead (the negative control: it must not beat its siblings)."""
    key = f"size_matched_{superset}_{'holdout_p' if holdout else 'p'}"
    cells = [c for c in nonzero(grid) if np.isfinite(c.get(key, math.nan))]
    f = frac([c[key] < ALPHA for c in cells])
    raw = [c for c in nonzero(grid) if np.isfinite(c["svcca"]) and np.isfinite(c[raw_key])]
    measured = {"fraction_beats_same_size_random": f, "n_cells": len(cells),
                "paper_statistic_fraction_raw_higher": frac([c["svcca"] > c[raw_key] for c in raw]),
                "paper_statistic_mean_raw_gain": float(np.mean([c["svcca"] - c[raw_key] for c in raw])) if raw else math.nan}
    return bool(np.isfinite(f) and f >= 0.6), measured


def u5(grid: dict[str, Any], *, holdout: bool = False) -> tuple[bool, dict[str, Any]]:
    return size_matched_rule(grid, "m21", "svcca_m21", holdout=holdout)


def u6(grid: dict[str, Any], *, holdout: bool = False) -> tuple[bool, dict[str, Any]]:
    return size_matched_rule(grid, "unfiltered", "svcca_unfiltered", holdout=holdout)


def u7(grid: dict[str, Any], *, against: str = "mean_max_corr") -> tuple[bool, dict[str, Any]]:
    cells = [c for c in nonzero(grid) if np.isfinite(c["svcca"]) and np.isfinite(c[against])]
    rho = float(spearmanr([c[against] for c in cells], [c["svcca"] for c in cells])[0]) if len(cells) > 2 else math.nan
    return bool(np.isfinite(rho) and abs(rho) < 0.9), {"spearman_meancorr_svcca": rho, "n_cells": len(cells)}


def u8(grid: dict[str, Any], profile: str) -> tuple[bool, dict[str, Any]]:
    cells = nonzero(grid)
    n11 = [c["n_pairs"] for c in cells]
    m21 = [c["n_pairs_m21"] for c in cells]
    if not cells:
        return False, {}
    measured = {"pairs_1to1_min": int(min(n11)), "pairs_1to1_max": int(max(n11)),
                "pairs_many_to_1_min": int(min(m21)), "pairs_many_to_1_max": int(max(m21))}
    if profile != "smoke":
        lo, hi = grid["paper_pair_range"]
        ok = all(0.5 * lo <= n <= 2 * hi for n in n11)
    else:
        ok = all(0 < a < b for a, b in zip(n11, m21, strict=True))
    return ok, measured


RULES = {"U1": u1, "U2": u2, "U3": u3, "U4": u4, "U5": u5, "U6": u6, "U7": u7}


def _run(claim_id: str, grids: Any, procedure: Any, recorder: Any) -> None:
    grid = grids(procedure, control=False)
    ok, measured = RULES[claim_id](grid)
    scored = True  # False: the control had nothing to score ('empty', see ClaimRecorder.conclude)
    if claim_id == "U7":  # control: the SVCCA grid against itself must 'track' perfectly
        ctrl_ok, ctrl = u7(grid, against="svcca")
    elif claim_id == "U3":  # control: the non-zero layers must not look like layer 0
        med, n_unscorable = median_p(nonzero(grid))
        ctrl_ok, ctrl = bool(np.isfinite(med) and med >= ALPHA), {"median_p_nonzero_layers": med,
                                                                  "n_unscorable": n_unscorable}
        scored = np.isfinite(med)
    elif claim_id in ("U5", "U6"):  # control: a random same-size subset must not beat its siblings
        ctrl_ok, ctrl = RULES[claim_id](grid, holdout=True)
        ctrl = {k: v for k, v in ctrl.items() if not k.startswith("paper_statistic")}
    else:
        # control: B's token positions shuffled against A's. Almost no misaligned pair passes the
        # filters and the threshold (the paper's shared-top-token filter removes all of them), so
        # the rule is applied to each cell's top-correlated 1-1 set of the real cell's size
        # (filters and threshold off), which exercises the same statistic at the same pair count.
        ctrl_grid = grids(procedure, control=True)
        view = top_correlated_view(ctrl_grid)
        ctrl_ok, ctrl = RULES[claim_id](view)
        ctrl["n_cells_with_filtered_pairs"] = sum(c["n_pairs_filtered"] > 0 for c in nonzero(view))
        ctrl["n_cells_scored"] = sum(bool(np.isfinite(c["svcca"])) for c in nonzero(view))
        # a control that scored fewer than half its cells never exercised the statistic: 'empty'
        scored = ctrl["n_cells_scored"] >= 0.5 * len(nonzero(view))
    recorder.conclude(claim_id, procedure.name, rule_holds=ok, measured=measured, control=ctrl,
                      control_holds=ctrl_ok, control_scored=bool(scored))


def test_U1_significant_nonzero_layers(grids, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    _run("U1", grids, procedure, recorder)


def test_U2_rsa_weaker_than_svcca(grids, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    _run("U2", grids, procedure, recorder)


def test_U3_layer0_not_significant(grids, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    _run("U3", grids, procedure, recorder)


def test_U4_middle_layers_most_similar(grids, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    _run("U4", grids, procedure, recorder)


def test_U5_one_to_one_helps(grids, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    _run("U5", grids, procedure, recorder)


def test_U6_nonconcept_filter_helps(grids, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    _run("U6", grids, procedure, recorder)


def test_U7_mean_corr_not_predictive(grids, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    _run("U7", grids, procedure, recorder)


def test_U8_pair_counts(grids, procedure, recorder) -> None:  # type: ignore[no-untyped-def]
    grid = grids(procedure, control=False)
    ok, measured = u8(grid, recorder.profile)
    unf = [c["n_pairs_unfiltered"] for c in nonzero(grid)]
    measured.update(unfiltered_1to1_min=int(min(unf)), unfiltered_1to1_max=int(max(unf)))
    # control: misaligned positions leave (almost) nothing that passes the filters
    ctrl_ok, ctrl = u8(grids(procedure, control=True), recorder.profile)
    recorder.conclude("U8", procedure.name, rule_holds=ok, measured=measured, control=ctrl, control_holds=ctrl_ok)
