"""Claim rules as pure functions over a run's experiment records.

Each rule takes the experiment records it judges (dicts exactly as stored in ``results.json``,
by role: ``grid``, ``control_grid``, ``table``, ...) and the :class:`~harness.config.Procedure`
the run used, and returns a :class:`ClaimJudgement`: whether the claim's rule holds on the real
records, how its negative control came out under the same rule, what was measured, and, where
the data cannot decide, why (``inconclusive``). Nothing here computes a score: a saved run can be
judged again without recomputation (``sae-claims judge results.json``), and every rule is
unit-tested on constructed records (``tests/verdicts/test_rules.py``).

Statistics, the same for every rule:
- significance is judged with the +1 rule, ``p = (1 + k) / (1 + N)`` (``*_p_plus_one``), at
  ``procedure.alpha``; a rule that needs ``p < alpha`` from a null of fewer than
  ``1/alpha - 1`` draws is *inconclusive* (no p-value could pass; :func:`needs_power`);
- the records' ``*_p`` (the procedure's own rule, ``k/N`` under ``paper``) is reported, not judged;
- a rule that counts significant cells ("almost all", "most", ">= 90%") counts Benjamini-Hochberg
  discoveries at false-discovery rate ``alpha`` over its stated family of cells
  (:func:`count_significant`): among the cells counted, the expected share of false ones is at most
  alpha. Holm (every counted cell certain) would need ``n / alpha`` null draws per cell (1,100 for
  Pythia's 55 non-zero cells) and asks more than a share claim. An all-must-pass conjunction
  (S1, S2, S4) needs no correction: it is false as soon as one member is null, and that member
  passes with probability <= alpha. A control is judged as a contrast with the claim, by the claim's
  own statistic and share (U1/U2's random partners: the real pairing ranked among >= 99
  random-partner sets per cell, BH over the cells), never as a separate threshold outcome.

The registry (:data:`RULES`) maps a claim id to its rule and refuses duplicates; :data:`ROLES`
says which records each rule reads.

Missing inputs (a results file not written by this suite, e.g. one built from the paper's printed
numbers): a record the claim itself needs, or a field it cannot do without, makes the claim
**not run** ("needs X": :func:`missing`, :class:`MissingInput`); a field marked missing (null) that
could decide makes it **inconclusive** ("X missing"); never "not reproduced". A negative control
whose record is absent or empty (:func:`empty_record`) is **not run**, and a claim whose rule holds
without it is inconclusive, never reproduced (:func:`judge`, :func:`judge_available`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np
from scipy.stats import norm, spearmanr

from harness.config import PAPER, Procedure
from harness.scoring.effects import (
    bh_discoveries,
    cell_seed,
    excess_over_chance,
    layer_label_test,
    min_permutations,
    powered,
)
from harness.verdicts.registry import (  # the types and registry every rule family shares
    CONTROL_PREFIX,
    ROLES,
    RULES,
    ClaimJudgement,
    Judgement,
    MissingInput,
    decided,
    missing,
    register_rule,
    undecided,
)

__all__ = [
    "ClaimJudgement",
    "Judgement",
    "MissingInput",
    "ROLES",
    "RULES",
    "empty_record",
    "judge",
    "judge_available",
    "judging_p",
    "missing",
    "register_rule",
]

Record = dict[str, Any]


# ----------------------------------------------------------------------------- judging


def empty_record(record: Any) -> str | None:
    """Why ``record`` holds nothing to judge (no cells, tables, seed pairs, conditions or pair
    sets), or None. A control record this empty was not run."""
    if not isinstance(record, Mapping):
        return f"it is not a record (a {type(record).__name__})"
    for key in ("cells", "tables", "pairs"):
        if key in record:
            return None if record[key] else f"it has no {key}"
    if "groups" in record:
        groups = record["groups"] or []
        return None if any(isinstance(g, Mapping) and g.get("pairs") for g in groups) else "it has no seed pairs"
    if record.get("kind") == "seed_pair":
        return None if any(isinstance(v, Mapping) for v in record.values()) else "it has no pair sets"
    return None


def _empty_like(record: Any) -> dict[str, Any]:
    """A record of ``record``'s kind with nothing in it (stands in for an absent control, whose half
    of the judgement is then replaced by "not run")."""
    rec = dict(record) if isinstance(record, Mapping) else {}
    for key in ("cells", "tables", "pairs"):
        if key in rec:
            return {**rec, key: []}
    if "groups" in rec:
        return {**rec, "groups": [{**g, "pairs": []} for g in rec["groups"] if isinstance(g, Mapping)]}
    return {k: v for k, v in rec.items() if not isinstance(v, Mapping)}


def judge(claim_id: str, records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Apply ``claim_id``'s registered rule to ``records`` (role -> record). A control record that
    holds nothing (:func:`empty_record`) makes the control *not run*: its half of the rule is not
    evidence that the rule discriminates."""
    if claim_id not in RULES:
        raise KeyError(f"No rule registered for claim {claim_id!r}; known: {', '.join(sorted(RULES))}.")
    absent = [r for r in ROLES[claim_id] if r not in records]
    if absent:
        raise KeyError(f"{claim_id} needs the records {list(ROLES[claim_id])}; missing {absent}.")
    empty = {
        r: why
        for r in ROLES[claim_id]
        if r.startswith(CONTROL_PREFIX) and (why := empty_record(records[r])) is not None
    }
    j = RULES[claim_id](records, procedure, profile=profile)
    if not empty:
        return j
    reason = "; ".join(f"the {r} record is empty ({why})" for r, why in empty.items())
    return dataclasses.replace(j, control_not_run=reason)


def judge_available(claim_id: str, records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """:func:`judge` for records this suite did not write (``sae-claims judge FILE``): a record the
    claim itself needs that is absent makes it *not run* ("needs the ``grid`` record"); an absent
    control record makes the control *not run* (a claim whose rule holds is then inconclusive,
    never reproduced); a rule that meets a record without a field it cannot do without
    (:class:`MissingInput`) makes the claim *not run*, naming the field. Other errors propagate
    (the caller reports them per claim)."""
    if claim_id not in RULES:
        raise KeyError(f"No rule registered for claim {claim_id!r}; known: {', '.join(sorted(RULES))}.")
    roles = ROLES[claim_id]
    own = [r for r in roles if not r.startswith(CONTROL_PREFIX)]
    need = [r for r in own if r not in records]
    if need:
        why = f"needs the {' and '.join(repr(r) for r in need)} record{'s' if len(need) > 1 else ''} (rule reads {list(roles)})"
        return ClaimJudgement(missing(why), None)
    absent = [r for r in roles if r.startswith(CONTROL_PREFIX) and r not in records]
    filled = dict(records)
    for r in absent:
        filled[r] = _empty_like(records.get(r.removeprefix(CONTROL_PREFIX), {}))
    try:
        j = judge(claim_id, filled, procedure, profile=profile)
    except MissingInput as exc:
        return ClaimJudgement(missing(str(exc)), None)
    if not absent:
        return j
    reasons = [f"no {r} record: no negative control was run" for r in absent]
    reasons += [
        f"the {r} record is empty ({empty})"
        for r in roles
        if r.startswith(CONTROL_PREFIX) and r not in absent and (empty := empty_record(records[r])) is not None
    ]
    return dataclasses.replace(j, control_not_run="; ".join(reasons))


# ----------------------------------------------------------------------------- helpers


def _finite(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) and math.isfinite(x)


def judging_p(rec: Mapping[str, Any], metric: str) -> float:
    """The +1-rule p of ``metric`` in ``rec`` (``<metric>_p_plus_one``); records written before it
    existed fall back to their stored ``<metric>_p``."""
    p = rec.get(f"{metric}_p_plus_one")
    if _finite(p):
        return float(p)
    p = rec.get(f"{metric}_p", math.nan)
    return float(p) if _finite(p) else math.nan


def excess(rec: Mapping[str, Any], metric: str) -> float:
    """``<metric>_excess`` of ``rec`` (:func:`harness.scoring.effects.excess_over_chance`); records
    written before it existed are rescaled from their score and null mean."""
    e = rec.get(f"{metric}_excess")
    if _finite(e):
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
    if not any(_finite(c.get(metric)) for c in cells):
        return f"no {metric} scores in the {where} ({metric} missing)"
    if not any(_finite(c.get(f"{metric}_null_mean")) or _finite(c.get(f"{metric}_excess")) for c in cells):
        return f"no null means in the {where} ({metric}_null_mean missing): the excess over chance cannot be computed"
    return f"no {where} with both a {metric} score and its null mean"


def absent_everywhere(cells: Sequence[Mapping[str, Any]], key: str) -> bool:
    """No cell of ``cells`` holds a finite ``key`` (absent or marked missing, null, in every cell)."""
    return bool(cells) and not any(_finite(c.get(key)) for c in cells)


def frac(values: Sequence[bool]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def nanmean(values: Sequence[float]) -> float:
    """Mean of the finite values; NaN (without a warning) when there are none."""
    v = np.asarray([x for x in values if _finite(x)], dtype=np.float64)
    return float(v.mean()) if v.size else math.nan


def n_perm(rec: Mapping[str, Any], parent: Mapping[str, Any] | None = None, key: str = "n_permutations") -> float:
    n = rec.get(key, (parent or {}).get(key, math.nan))
    return float(n) if _finite(n) else math.nan


def needs_power(counts: Sequence[float], alpha: float, what: str = "permutations") -> str | None:
    """Why ``p < alpha`` is out of reach for some null size in ``counts`` (+1 rule), or None."""
    short = sorted({int(n) for n in counts if _finite(n) and not powered(n, alpha)})
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
    k_raw = sum(bool(_finite(p) and p < alpha) for p in p_values)
    k_bh = bh_discoveries([float(p) if _finite(p) else math.nan for p in p_values], alpha)
    m = {"n_family": n, "n_needed": need, "n_significant_raw": k_raw, "n_discoveries_bh": k_bh}
    reason = needs_power(counts, alpha, what)
    if reason is None and n:
        bar = alpha * max(need, 1) / n
        short = sorted({int(c) for c in counts if _finite(c) and 1.0 / (c + 1) > bar})
        if short:
            reason = (
                f"{short} {what} cannot give p <= {bar:.4f}, Benjamini-Hochberg's bar at rank {need} of {n} "
                f"(alpha = {alpha}; p >= 1/(N + 1))"
            )
    return bool(n and k_bh >= need), m, reason


def grid_power(grid: Mapping[str, Any], cells: Sequence[Record], alpha: float) -> str | None:
    return needs_power([n_perm(c, grid) for c in cells], alpha)


def top_view(control_grid: Mapping[str, Any]) -> dict[str, Any]:
    """The control grid read through its top-correlated sets (see
    :func:`harness.experiments.grid.top_correlated_view`)."""
    from harness.experiments.grid import top_correlated_view

    return top_correlated_view(dict(control_grid))


def control_scored(view: Mapping[str, Any], ctrl: dict[str, Any]) -> bool:
    """Annotate a control view's coverage; a control that scored fewer than half its cells never
    exercised the statistic (``empty``)."""
    cells = nonzero(view)
    ctrl["n_cells_with_filtered_pairs"] = sum(c.get("n_pairs_filtered", 0) > 0 for c in cells)
    ctrl["n_cells_scored"] = sum(_finite(c.get("svcca")) for c in cells)
    return ctrl["n_cells_scored"] >= 0.5 * len(cells)


def _with_control(
    claim: Judgement, control: Judgement | None, *, shown: dict[str, Any] | None = None, detail: str = ""
) -> ClaimJudgement:
    return ClaimJudgement(claim, control, detail, shown)


# ----------------------------------------------------------------------------- U: whole spaces


def _u1(grid: Mapping[str, Any], alpha: float) -> Judgement:
    cells = nonzero(grid)
    holds, counted, reason = count_significant(
        [judging_p(c, "svcca") for c in cells], 0.8, alpha, [n_perm(c, grid) for c in cells]
    )
    m = {"fraction_significant": frac([sig(c, "svcca", alpha) for c in cells]), "n_cells": len(cells), **counted}
    if reason:
        return undecided(reason, m)
    return decided(holds, m)


def _random_partner_contrast(grid: Mapping[str, Any], metric: str, share: float, alpha: float) -> Judgement:
    """U1/U2's filter-aware control as a contrast, judged by the claim's own statistic and share:
    per non-zero cell the real 1-1 pairing's ``metric`` ranked among that cell's filter-aware
    random-partner sets (``<metric>_rp_contrast_p``, +1 rule over ``<metric>_rp_contrast_n`` >= 99
    sets: :func:`harness.experiments.spaces.random_partner_contrast`), Benjamini-Hochberg at FDR
    alpha over the family of non-zero cells, and the claim's own ``share`` of discoveries. The
    judgement is the *control's*: it holds ("same way": the real pairing is not distinguished from
    partners the token filters alone would accept) when fewer than ``share`` of the cells are
    discoveries.

    Why a contrast: the rule this replaces judged random partners by their own significance (one
    draw per cell, a binomial count over dependent cells): at the paper's 2-7k pairs per cell random
    partners are significant almost everywhere although the real pairing beats them by far (smoke
    under ``corrected``: excess 0.05-0.10 against 0.02-0.03), and with inter-cell correlation a
    fully null control came out "the same way" 11-13% of the time at 55 cells, not 5%."""
    key, n_key = f"{metric}_rp_contrast_p", f"{metric}_rp_contrast_n"
    every = nonzero(grid)
    if not every:
        return missing("no non-zero cells")
    if absent_everywhere(every, key):
        return missing(
            f"needs {key} (the real pairing ranked among filter-aware random-partner sets), missing in every "
            "non-zero cell"
        )
    ps = [float(c[key]) if _finite(c.get(key)) else math.nan for c in every]
    counts = [n_perm(c, key=n_key) for c in every if _finite(c.get(key))]
    distinguished, counted, reason = count_significant(ps, share, alpha, counts, "random-partner sets")
    n_open = sum(not math.isfinite(p) for p in ps)
    m = {
        "n_cells": len(every),
        "n_distinguished": counted["n_discoveries_bh"],
        "n_needed": counted["n_needed"],
        "n_below_alpha_raw": counted["n_significant_raw"],
        "n_cells_without_contrast": n_open,
        "random_partner_sets": int(sum(int(c.get("random_partner_sets", 0) or 0) for c in every)),
        f"mean_{metric}_real": nanmean([c.get(f"{metric}_rp_contrast_observed", math.nan) for c in every]),
        f"mean_{metric}_random_partner_sets": nanmean([c.get(f"{metric}_rp_sets_mean", math.nan) for c in every]),
    }
    if reason:
        return undecided(reason, m)
    if not distinguished and counted["n_discoveries_bh"] + n_open >= counted["n_needed"]:
        return undecided(f"{n_open} of {len(every)} non-zero cells have no {key} and could decide the contrast", m)
    return decided(not distinguished, m)


def _grid_claim(
    rule: Callable[[Mapping[str, Any], float], Judgement],
    records: Mapping[str, Any],
    procedure: Procedure,
    *,
    random_partners: tuple[str, float] | None = None,
) -> ClaimJudgement:
    """A rule on the grid and, as its control, on the shuffled-positions grid's top-correlated
    sets of the real cells' sizes. Almost no misaligned pair passes the filters and the
    threshold (the paper's shared-top-token filter removes all of them), so each cell's
    top-correlated 1-1 set of the real cell's size (filters and threshold off) exercises the
    same statistic at the same pair count.

    ``random_partners`` (metric, share), ("svcca", 0.8) for U1, ("rsa", 0.5) for U2: a second
    control, filter-aware, judged as a contrast (:func:`_random_partner_contrast`): the real pairing
    against >= 99 sets of random partners passing the same token filters, in each cell. The first
    control switches the filters off, while App. F credits the filters for the high scores; this
    one keeps them. The control comes out the same way when the shuffled-positions sets pass the
    rule or the real pairing is not distinguished from the random partners; a grid without the
    contrast has that control *not run* (a rule that holds is then inconclusive, never reproduced).
    The detail says "rule holds in X/Y cells; real pairing beats filter-only random partners in
    Z/Y cells (BH)"."""
    claim = rule(records["grid"], procedure.alpha)
    view = top_view(records["control_grid"])
    ctrl = rule(view, procedure.alpha)
    measured = dict(ctrl.measured)
    scored = control_scored(view, measured)
    ctrl = Judgement(ctrl.holds, measured, ctrl.inconclusive, scored)
    if random_partners is None:
        return _with_control(claim, ctrl)
    metric, share = random_partners
    rp = _random_partner_contrast(records["grid"], metric, share, procedure.alpha)
    both = {"shuffled_positions": ctrl.measured, "random_partner_contrast": rp.measured}
    y = rp.measured.get("n_cells", len(nonzero(records["grid"])))
    x = claim.measured.get("n_discoveries_bh")
    z = rp.measured.get("n_distinguished")
    contrast = (
        "random-partner contrast not run"
        if z is None
        else f"real pairing beats filter-only random partners in {z}/{y} cells (BH)"
    )
    detail = f"rule holds in {x}/{y} cells; {contrast}"
    if ctrl.holds:
        combined = decided(True, both)
    elif rp.not_run is not None:
        combined = Judgement(None, both, rp.not_run, scored=False, not_run=f"random-partner contrast: {rp.not_run}")
    elif rp.holds:
        combined = decided(True, both)
    elif ctrl.inconclusive or rp.inconclusive:
        combined = undecided("; ".join(r for r in (ctrl.inconclusive, rp.inconclusive) if r), both)
    else:
        combined = decided(False, both, scored=ctrl.scored)
    return ClaimJudgement(claim, combined, detail)


@register_rule("U1", "grid", "control_grid")
def rule_u1(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """At least 80% of the non-zero layer pairs ('almost all') have 1-1 SVCCA significant, counted as
    Benjamini-Hochberg discoveries at FDR alpha over the family of non-zero cells; controls:
    shuffled positions (the same rule), and the contrast with filter-aware random partners (the
    real pairing's SVCCA beats >= 99 random-partner sets per cell in >= 80% of the non-zero cells,
    BH at FDR alpha; :func:`_random_partner_contrast`)."""
    return _grid_claim(_u1, records, procedure, random_partners=("svcca", 0.8))


def _u2(grid: Mapping[str, Any], alpha: float) -> Judgement:
    cells = nonzero(grid)
    f_sig = frac([sig(c, "rsa", alpha) for c in cells])
    many, counted, reason = count_significant(
        [judging_p(c, "rsa") for c in cells], 0.5, alpha, [n_perm(c, grid) for c in cells]
    )
    both = [c for c in cells if math.isfinite(excess(c, "rsa")) and math.isfinite(excess(c, "svcca"))]
    f_lower = frac([excess(c, "rsa") < excess(c, "svcca") for c in both])
    m = {
        "rsa_fraction_significant": f_sig,
        "rsa_excess_below_svcca_excess": f_lower,
        "mean_rsa": nanmean([c.get("rsa", math.nan) for c in cells]),
        "mean_svcca": nanmean([c.get("svcca", math.nan) for c in cells]),
        "mean_rsa_excess": nanmean([excess(c, "rsa") for c in cells]),
        "mean_svcca_excess": nanmean([excess(c, "svcca") for c in cells]),
        **counted,
    }
    if reason:
        return undecided(reason, m)
    if cells and not both:
        why = why_no_excess(cells, "rsa", "non-zero cells")
        if any(math.isfinite(excess(c, "rsa")) for c in cells):
            why = why_no_excess(cells, "svcca", "non-zero cells")
        return undecided(f"RSA's excess cannot be compared with SVCCA's: {why}", m)
    return decided(bool(many and f_lower >= 0.8), m)


@register_rule("U2", "grid", "control_grid")
def rule_u2(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """RSA significant in >= half the non-zero cells (Benjamini-Hochberg discoveries at FDR alpha over
    the non-zero cells) AND RSA's excess over its null below SVCCA's in >= 80% of them (an ordering,
    not a test per cell: nothing to correct). Controls as U1's, the random-partner contrast on RSA
    with U2's share (the real pairing's RSA beats the random-partner sets in >= half the cells).

    The ordering compares excesses: raw RSA (chance ~0) is below raw SVCCA (chance ~0.44 under
    corrected) in 100% of the *control* cells, so the raw ordering held on pure noise."""
    return _grid_claim(_u2, records, procedure, random_partners=("rsa", 0.5))


#: U3's equivalence margin, as a fraction of the median non-zero cell's SVCCA excess: a layer-0
#: cell "has no similarity" when its excess is shown to be below half of what a typical other cell has.
EQUIVALENCE_FRACTION = 0.5
#: Share of the layer-0 cells that must be shown equivalent ('every other layer', with room for misses).
EQUIVALENT_SHARE = 0.8


def excess_upper_bound(c: Mapping[str, Any], alpha: float) -> float:
    """One-sided (1 - alpha) upper confidence bound of a cell's SVCCA excess, taking the null's sd
    as the score's sampling sd (exact at chance, which is what an equivalence test to ~0 probes):
    ``(s + z_{1-alpha} * null_sd - null_mean) / (1 - null_mean)``; NaN when unscored."""
    s, m, sd = c.get("svcca"), c.get("svcca_null_mean"), c.get("svcca_null_std")
    if not (_finite(s) and _finite(m) and _finite(sd)):
        return math.nan
    return excess_over_chance(float(s) + float(norm.ppf(1 - alpha)) * float(sd), float(m))


def equivalence_p(c: Mapping[str, Any], margin: float) -> float:
    """One-sided p of the equivalence test "this cell's SVCCA excess is below ``margin``" (the null
    "excess >= margin" rejected), with the null's sd as the score's sd:
    ``P(Z >= (margin_score - s) / sd)`` where ``margin_score`` is the raw score of excess ``margin``.
    ``p < alpha`` exactly when :func:`excess_upper_bound` is below ``margin``. NaN when unscored."""
    s, m, sd = c.get("svcca"), c.get("svcca_null_mean"), c.get("svcca_null_std")
    if not (_finite(s) and _finite(m) and _finite(sd)) or float(sd) <= 0:
        return math.nan
    bound = float(m) + margin * (1.0 - float(m))
    return float(norm.sf((bound - float(s)) / float(sd)))


def similarity_p(c: Mapping[str, Any], margin: float) -> float:
    """One-sided p of "this cell's SVCCA excess is above ``margin``" (the null "excess <= margin"
    rejected), with the null's sd as the score's sd: ``P(Z >= (s - margin_score) / sd)``. A small p
    *refutes* the cell's equivalence (it is shown to have more similarity than the margin allows).
    NaN when unscored."""
    s, m, sd = c.get("svcca"), c.get("svcca_null_mean"), c.get("svcca_null_std")
    if not (_finite(s) and _finite(m) and _finite(sd)) or float(sd) <= 0:
        return math.nan
    bound = float(m) + margin * (1.0 - float(m))
    return float(norm.sf((float(s) - bound) / float(sd)))


def _equivalent(cells: Sequence[Record], margin: float, alpha: float, what: str) -> Judgement:
    """Three outcomes per cell -- shown equivalent (upper confidence bound of its excess below
    ``margin``), refuted (shown above the margin: :func:`similarity_p`), undecided (its interval
    straddles the margin, or it is too small to score) -- each count as Benjamini-Hochberg
    discoveries at FDR alpha over ``cells``. The claim (>= EQUIVALENT_SHARE of the cells equivalent)
    holds when enough are shown; is refuted only when so many are shown *above* the margin that the
    share is out of reach whatever the undecided ones are; and is otherwise undecided, with the
    widest interval named.

    Why: "not equivalent" was read as "not reproduced", but a wide interval (upper bound 1.46 against
    a margin of 0.017 on the smoke world) excludes nothing: it is absence of evidence either way."""
    ucb = [excess_upper_bound(c, alpha) for c in cells]
    ps = [equivalence_p(c, margin) for c in cells]
    n_eq = bh_discoveries(ps, alpha)
    n_refuted = bh_discoveries([similarity_p(c, margin) for c in cells], alpha)
    n_unscorable = sum(not math.isfinite(u) for u in ucb)
    need = need_of(EQUIVALENT_SHARE, len(cells))
    m = {
        f"n_cells_{what}": len(cells),
        "n_equivalent": n_eq,
        "n_equivalent_raw": sum(u < margin for u in ucb if math.isfinite(u)),
        "n_refuted": n_refuted,
        "n_undecided": len(cells) - n_eq - n_refuted,
        "n_unscorable": n_unscorable,
        "n_needed": need,
        "equivalence_margin": margin,
        "max_upper_bound": max((u for u in ucb if math.isfinite(u)), default=math.nan),
    }
    if not cells:
        return decided(False, m, scored=False)
    if n_eq >= need:
        return decided(True, m)
    if len(cells) - n_refuted < need:
        return decided(False, m)  # refuted with power: too many cells shown above the margin
    unscored = [c for c, u in zip(cells, ucb, strict=True) if not math.isfinite(u)]
    causes = []
    wide = len(cells) - n_eq - n_refuted - len(unscored)
    if wide > 0:
        causes.append(
            f"{wide} have intervals too wide to decide (largest upper bound {m['max_upper_bound']:.3f} "
            f"against a margin of {margin:.3f}, none shown above it)"
        )
    no_null = [c for c in unscored if _finite(c.get("svcca"))]
    if no_null:  # a score without its null (e.g. a printed grid): the interval needs the null's spread
        lacking = sorted({k for c in no_null for k in ("svcca_null_mean", "svcca_null_std") if not _finite(c.get(k))})
        causes.append(f"{len(no_null)} have a score but no null spread ({', '.join(lacking) or 'null sd'} missing)")
    if len(unscored) > len(no_null):
        few = sorted({int(c["n_pairs"]) for c in unscored if _finite(c.get("n_pairs"))})
        causes.append(f"{len(unscored) - len(no_null)} have too few pairs to score ({few} pairs)")
    return undecided(
        f"{n_eq} of {len(cells)} {what} cells shown equivalent, {n_refuted} shown above the margin, "
        f"{need} needed; undecided: {'; '.join(causes)}",
        m,
    )


@register_rule("U3", "grid")
def rule_u3(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Equivalence test per layer-0 cell: the one-sided (1 - alpha) upper confidence bound of its
    SVCCA excess lies below EQUIVALENCE_FRACTION of the median non-zero cell's excess, in at least
    EQUIVALENT_SHARE of the layer-0 cells, counted as Benjamini-Hochberg discoveries at FDR alpha
    among the layer-0 cells' equivalence tests. Not reproduced only when enough layer-0 cells are
    shown *above* the margin that the share is out of reach; cells whose interval straddles the
    margin, or with too few pairs, are undecided and make the claim inconclusive (:func:`_equivalent`).

    Why: "high p-value" is absence of evidence -- the old rule (median p of the layer-0 cells >=
    alpha) passed when the layer-0 cells were merely underpowered (6-15 pairs in the paper's B0
    row), and a median tolerates half the cells being significant.

    Control: the same rule on the non-zero layers most like layer 0 (the A and B layers with the
    lowest mean excess, their row and column): when they are "equivalent to nothing" too, layer 0
    is not special on this grid and the rule does not discriminate."""
    grid, alpha = records["grid"], procedure.alpha
    nz = nonzero(grid)
    nz_excess = [e for e in (excess(c, "svcca") for c in nz) if math.isfinite(e)]
    ref = float(np.median(nz_excess)) if nz_excess else math.nan
    zero = [c for c in grid["cells"] if c["layer_a"] == 0 or c["layer_b"] == 0]
    if not zero:
        why = f"needs layer-0 cells (the grid's layers: A {grid.get('layers_a')}, B {grid.get('layers_b')})"
        return _with_control(missing(why), missing(why))
    if not nz_excess:
        reason = f"no excess over chance to compare layer 0 with: {why_no_excess(nz, 'svcca', 'non-zero cells')}"
        return _with_control(undecided(reason, {"median_nonzero_excess": ref}), undecided(reason, {}))
    if not (math.isfinite(ref) and ref > 0):
        reason = f"the non-zero cells show no excess over chance to compare layer 0 with (median {ref:.3f})"
        return _with_control(undecided(reason, {"median_nonzero_excess": ref}), undecided(reason, {}))
    margin = EQUIVALENCE_FRACTION * ref
    claim = _equivalent(zero, margin, alpha, "layer-0")
    claim.measured["median_nonzero_excess"] = ref

    def weakest(key: str) -> int:
        layers = sorted({c[key] for c in nz})
        return min(layers, key=lambda x: nanmean([excess(c, "svcca") for c in nz if c[key] == x]))

    wa, wb = weakest("layer_a"), weakest("layer_b")
    cross = [c for c in nz if c["layer_a"] == wa or c["layer_b"] == wb]
    ctrl = _equivalent(cross, margin, alpha, "weakest non-zero")
    ctrl.measured.update(weakest_a=wa, weakest_b=wb)
    return _with_control(claim, ctrl)


def _excess_matrix(grid: Mapping[str, Any], la: Sequence[int], lb: Sequence[int]) -> np.ndarray:
    """(len(la), len(lb)) SVCCA excess per layer pair (NaN where a cell is missing or unscored)."""
    m = np.full((len(la), len(lb)), np.nan)
    for c in grid["cells"]:
        if c["layer_a"] in la and c["layer_b"] in lb:
            m[list(la).index(c["layer_a"]), list(lb).index(c["layer_b"])] = excess(c, "svcca")
    return m


def _late(lb: Sequence[int], best_b: int | None) -> bool:
    """'Later layers' of B = its top third (of the non-zero layers)."""
    return best_b is not None and list(lb).index(best_b) >= len(lb) - math.ceil(len(lb) / 3)


def _u4(grid: Mapping[str, Any], alpha: float, *, seed: int) -> Judgement:
    la = [x for x in grid["layers_a"] if x != 0]
    lb = [x for x in grid["layers_b"] if x != 0]
    # Relative depth maps the paper's blocks (70m L1-3 of 1..5; 160m L4-7 of 1..11) onto any grid:
    # A: first 60% of non-zero layers; B: non-zero layers from 25% to 60% depth.
    mid_a = la[: math.ceil(0.6 * len(la))]
    mid_b = lb[math.floor(0.25 * len(lb)) : math.ceil(0.6 * len(lb))]
    ex = _excess_matrix(grid, la, lb)
    t = layer_label_test(ex, np.isin(la, mid_a), np.isin(lb, mid_b), seed=seed)
    last = ex[-1] if len(la) else np.array([])
    best_b = lb[int(np.nanargmax(last))] if last.size and np.isfinite(last).any() else None
    late = _late(lb, best_b)
    m = {
        "middle_block_excess_advantage": t.statistic,
        "layer_label_p": t.p_value,
        "layer_label_placements": t.n_permutations,
        "layer_label_exact": t.exact,
        "middle_a": list(mid_a),
        "middle_b": list(mid_b),
        "best_b_for_last_a": best_b,
        "best_b_is_late": late,
    }
    if not math.isfinite(t.statistic):
        cells = nonzero(grid)
        cause = (
            why_no_excess(cells, "svcca", "non-zero cells")
            if not any(math.isfinite(excess(c, "svcca")) for c in cells)
            else "no scored cells inside or outside the middle block"
        )
        return undecided(cause, m)
    if t.min_p >= alpha:
        return undecided(
            f"a {len(la)} x {len(lb)} grid has only {round(1 / t.min_p)} placements of the middle "
            f"block: its smallest p ({t.min_p:.3f}) is not below alpha = {alpha}",
            m,
        )
    return decided(bool(t.p_value < alpha and late), m)


@register_rule("U4", "grid", "control_grid")
def rule_u4(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """The middle block's SVCCA excess over chance beats the rest of the non-zero grid more than any
    but an alpha share of relabelled layers would (layer-label permutation test: A and B layer
    labels relabelled independently; exact over all block placements when there are few, else
    999 draws), AND the last A layer's best B layer (by excess) lies in B's top third.

    Why: the raw rule ("block mean - rest > 0.02 and best B in the later half") passed on grids
    with their layer labels permuted about 20% of the time (the paper's printed grids), i.e. it
    could not tell layer structure from its absence; raw block means also mixed chance levels
    that move with the pair count."""
    seed = cell_seed(procedure.seed, "U4 layer labels")
    return _grid_claim(lambda g, a: _u4(g, a, seed=seed), records, procedure)


def _cell_p(c: Mapping[str, Any], base: str) -> float:
    """The +1-rule p ``<base>_plus_one`` of a cell, else its stored ``<base>`` (older records)."""
    v = c.get(f"{base}_plus_one")
    if _finite(v):
        return float(v)
    v = c.get(base, math.nan)
    return float(v) if _finite(v) else math.nan


def _size_matched(grid: Mapping[str, Any], superset: str, raw_key: str, alpha: float) -> Judgement:
    """The 1-1 (filtered) SVCCA beats random subsets of the ``superset`` pairs of the same size in
    >= 60% of the scored non-zero cells, counted as Benjamini-Hochberg discoveries at FDR alpha over
    them; the raw share with p < alpha and the paper's raw comparison are reported."""
    base = f"size_matched_{superset}_p"
    every = nonzero(grid)
    if absent_everywhere(every, base) and absent_everywhere(every, f"{base}_plus_one"):
        return missing(
            f"needs {base} (the 1-1 set ranked among same-size random subsets of the {superset} pairs), "
            "missing in every non-zero cell"
        )
    cells = [c for c in every if math.isfinite(_cell_p(c, base))]
    ps = [_cell_p(c, base) for c in cells]
    draws = [n_perm(c, key=f"size_matched_{superset}_n_draws") for c in cells]
    holds, counted, reason = count_significant(ps, 0.6, alpha, draws, "size-matched draws")
    raw = [c for c in nonzero(grid) if _finite(c.get("svcca")) and _finite(c.get(raw_key))]
    m = {
        "fraction_beats_same_size_random": frac([p < alpha for p in ps]),
        "n_cells": len(cells),
        **counted,
        "paper_statistic_fraction_raw_higher": frac([c["svcca"] > c[raw_key] for c in raw]),
        "paper_statistic_mean_raw_gain": float(np.mean([c["svcca"] - c[raw_key] for c in raw])) if raw else math.nan,
    }
    if reason:
        return undecided(reason, m)
    return decided(holds, m)


def _placebo_beats_siblings(
    grid: Mapping[str, Any], p_key: str, n_key: str | None, alpha: float, what: str, **extra: Any
) -> Judgement:
    """A placebo control through the claim's own rule: the placebo set beats the real set's
    comparison sets (``p_key``) in >= 60% of the non-zero cells, counted as Benjamini-Hochberg
    discoveries at FDR alpha. A grid without the placebo scores in any cell (an older run, or a file
    built from printed numbers) has the control *not run*; one lacking them in some cells only makes it
    inconclusive."""
    every = nonzero(grid)
    if not every:
        return missing("no non-zero cells")
    if absent_everywhere(every, p_key):
        return missing(f"the grid has no {what} scores ({p_key} missing in every non-zero cell)")
    if not all(p_key in c for c in every):
        lacking = sum(p_key not in c for c in every)
        return undecided(f"{lacking} of {len(every)} non-zero cells lack {p_key}", {})
    base = p_key.removesuffix("_plus_one")
    cells = [c for c in every if math.isfinite(_cell_p(c, base))]
    ps = [_cell_p(c, base) for c in cells]
    counts = [n_perm(c, key=n_key) for c in cells] if n_key is not None else []
    holds, counted, reason = count_significant(ps, 0.6, alpha, counts, f"{what} sibling draws")
    m = {f"fraction_{what}_beats_siblings": frac([p < alpha for p in ps]), "n_cells": len(cells), **counted, **extra}
    if not cells:
        return decided(False, m, scored=False)
    if reason:
        return undecided(reason, m)
    return decided(holds, m)


#: U5: the per-cell p of the real 1-1 set against placebo 1-1 sets (one random many-to-1 partner per
#: A feature), and of the held-out placebo against the real set's size-matched siblings.
U5_PLACEBO_P = "placebo_one_to_one_p_plus_one"
U5_PLACEBO_SIBLINGS_P = "placebo_one_to_one_vs_siblings_p_plus_one"


def _u5(grid: Mapping[str, Any], alpha: float) -> Judgement:
    """Per non-zero cell, "1-1 helps" = the 1-1 set beats same-size random subsets of the many-to-1
    pairs (:func:`_size_matched`); holds in >= 60% of the cells, counted as Benjamini-Hochberg
    discoveries at FDR alpha. The placebo 1-1 sets (one random many-to-1 partner per A feature) are
    reported as a diagnostic -- does the rule's choice of partner matter beyond keeping one per A
    feature? -- and not judged."""
    sm = _size_matched(grid, "m21", "svcca_m21", alpha)
    if sm.not_run is not None:
        return sm
    cells = [c for c in nonzero(grid) if math.isfinite(_cell_p(c, "size_matched_m21_p"))]
    placebo = [c for c in cells if _finite(c.get(U5_PLACEBO_P))]
    sib = [c for c in cells if _finite(c.get(U5_PLACEBO_SIBLINGS_P))]
    diagnostic: dict[str, Any] = {
        "judged": False,
        "n_cells_with_placebo": len(placebo),
        "fraction_one_to_one_beats_placebo": frac([float(c[U5_PLACEBO_P]) < alpha for c in placebo]),
        "n_one_to_one_beats_placebo_bh": bh_discoveries([float(c[U5_PLACEBO_P]) for c in placebo], alpha),
        "fraction_placebo_beats_siblings": frac([float(c[U5_PLACEBO_SIBLINGS_P]) < alpha for c in sib]),
        "n_cells_without_choice": sum(c.get("placebo_one_to_one_n_with_choice", 1) == 0 for c in cells),
        "mean_placebo_svcca": nanmean([c.get("placebo_one_to_one_mean", math.nan) for c in cells]),
    }
    return Judgement(sm.holds, {**sm.measured, "placebo_diagnostic": diagnostic}, sm.inconclusive, sm.scored)


@register_rule("U5", "grid")
def rule_u5(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """1-1 helps in >= 60% of non-zero cells (Benjamini-Hochberg discoveries at FDR alpha over them):
    the 1-1 SVCCA beats same-size random subsets of the many-to-1 pairs (99 draws per cell).

    The control is that contrast itself: in each cell the 1-1 set's SVCCA is ranked among the
    distribution of same-size random subsets of the many-to-1 pairs (SVCCA rises as n falls, so the
    paper's raw "1-1 > many-to-1" is not evidence); a pipeline whose 1-1 set is no better than a
    random subset of its size comes out "not reproduced". No separate control outcome.

    Why the placebo is a diagnostic (reported under ``placebo_diagnostic``, not counted): the placebo
    1-1 rule (one random many-to-1 partner per A feature) asks whether the rule's *choice* of partner
    matters; App. E's mechanism is that many-to-1 features add noise, which any one-partner-per-A
    reduction removes. Under ``paper`` the first-seen choice is exchangeable with the placebo, so the
    old intersection-union rule (size-matched AND beats the placebo, control: the placebo against the
    siblings) could never reproduce U5 there, whatever the data."""
    return ClaimJudgement(_u5(records["grid"], procedure.alpha), None)


@register_rule("U6", "grid")
def rule_u6(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Filtered 1-1 beats same-size random subsets of the unfiltered 1-1 pairs in >= 60% of non-zero
    cells (Benjamini-Hochberg discoveries at FDR alpha over them).

    Control, the paper's own placebo (App. A/F): the filtered set rebuilt with 7 random non-junk
    top tokens filtered instead of the non-concept list (shared-token filter, 1-1 rule and
    threshold as in the real set), 10 runs, each ranked among same-size random subsets of the
    unfiltered pairs (exact rank-sum p over the runs); through the same >= 60% rule it must fail:
    it comes out the same way when filtering random tokens also raises the score, i.e. when the
    gain is not the non-concept list's. The held-out random subset used before was exchangeable
    with its siblings by construction and could not come out the same way."""
    grid = records["grid"]
    ctrl = _placebo_beats_siblings(
        grid,
        "placebo_filter_p",
        None,
        procedure.alpha,
        "placebo_filter",
        mean_placebo_filter_svcca=nanmean([c.get("placebo_filter_mean", math.nan) for c in nonzero(grid)]),
        mean_placebo_filter_siblings_svcca=nanmean(
            [c.get("placebo_filter_siblings_mean", math.nan) for c in nonzero(grid)]
        ),
    )
    if ctrl.holds is not None:
        weak = sorted(
            {
                (int(c.get("placebo_filter_runs", 0)), int(c.get("placebo_filter_siblings", 0)))
                for c in nonzero(grid)
                if _finite(c.get("placebo_filter_p"))
                and (int(c.get("placebo_filter_siblings", 0)) + 1) ** -int(c.get("placebo_filter_runs", 0))
                >= procedure.alpha
            }
        )
        if weak:
            ctrl = undecided(f"(runs, siblings per run) {weak} cannot give a rank-sum p < alpha", ctrl.measured)
    return _with_control(_size_matched(grid, "unfiltered", "svcca_unfiltered", procedure.alpha), ctrl)


#: U7: a measure "tracks" the SVCCA excess when its rank correlation with it, disattenuated for the
#: excess grid's unreliability, reaches this (the old rule's |Spearman| bound, kept).
TRACKS = 0.9
#: U7's bootstrap over cells (seeded per procedure) for the disattenuated correlation's interval.
U7_BOOTSTRAP = 999


def _spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman's rho; NaN (without a warning) for a constant input, e.g. a bootstrap resample of
    one cell repeated."""
    import warnings

    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = float(spearmanr(x, y)[0])
    return r if math.isfinite(r) else math.nan


def _reliability(h1: Sequence[float] | np.ndarray, h2: Sequence[float] | np.ndarray) -> float:
    """Spearman-Brown corrected rank correlation of the two halves' excesses (the full grid's
    split-half reliability); NaN when the halves do not correlate positively."""
    r = _spearman(h1, h2)
    return 2 * r / (1 + r) if math.isfinite(r) and r > 0 else math.nan


def _disattenuated(mmc: np.ndarray, ex: np.ndarray, h1: np.ndarray, h2: np.ndarray) -> tuple[float, float, float]:
    """(rho, reliability, rho / sqrt(reliability)): the mean max correlation's rank correlation with
    the SVCCA excess corrected for the excess grid's noise (the mean max correlation is a plain
    average over all B features: its noise is negligible next to SVCCA's)."""
    rho, rel = _spearman(mmc, ex), _reliability(h1, h2)
    return rho, rel, (rho / math.sqrt(rel) if math.isfinite(rho) and math.isfinite(rel) else math.nan)


def _dissociated(x: Sequence[float], y: Sequence[float]) -> int:
    """Cells in the top third by ``x`` and the bottom third by ``y`` (a cell where the measure is
    high and the SVCCA excess low: the paper's "mean corr ~0.6 with SVCCA ~0.03")."""
    third = max(1, len(x) // 3)
    return len(set(np.argsort(x)[::-1][:third].tolist()) & set(np.argsort(y)[:third].tolist()))


def _u7(grid: Mapping[str, Any], alpha: float, *, seed: int) -> Judgement:
    every = nonzero(grid)
    cells = [c for c in every if math.isfinite(excess(c, "svcca")) and _finite(c.get("mean_max_corr"))]
    m: dict[str, Any] = {"n_cells": len(cells), "tracks_bound": TRACKS}
    if absent_everywhere(every, "mean_max_corr"):
        return missing(
            "needs mean_max_corr (the mean max activation correlation per cell), missing in every non-zero cell"
        )
    if len(cells) < 3:
        cause = (
            why_no_excess(every, "svcca", "non-zero cells")
            if not any(math.isfinite(excess(c, "svcca")) for c in every)
            else f"got {len(cells)} cells with both an SVCCA excess and a mean max correlation"
        )
        return undecided(f"a rank correlation needs >= 3 scored cells: {cause}", m)
    ok = [c for c in cells if _finite(c.get("svcca_excess_half1")) and _finite(c.get("svcca_excess_half2"))]
    if not ok:
        why = "needs svcca_excess_half1/half2 (split-half SVCCA excesses: the reliability the correlation is corrected for)"
        return undecided(f"{why}: missing in every scored cell", m)
    mmc = np.array([float(c["mean_max_corr"]) for c in ok])
    ex = np.array([excess(c, "svcca") for c in ok])
    h1 = np.array([float(c["svcca_excess_half1"]) for c in ok])
    h2 = np.array([float(c["svcca_excess_half2"]) for c in ok])
    rho, rel, rho_d = _disattenuated(mmc, ex, h1, h2)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(U7_BOOTSTRAP):
        i = rng.integers(0, len(ok), size=len(ok))
        boot.append(_disattenuated(mmc[i], ex[i], h1[i], h2[i])[2])
    b = np.array(boot)
    finite = b[np.isfinite(b)]
    lo, hi = (
        (float(np.quantile(finite, alpha / 2)), float(np.quantile(finite, 1 - alpha / 2)))
        if finite.size
        else (math.nan, math.nan)
    )
    n_dis = _dissociated(list(mmc), list(ex))
    m.update(
        n_cells_with_halves=len(ok),
        meancorr_vs_svcca_excess_spearman=rho,
        split_half_reliability=rel,
        disattenuated_spearman=rho_d,
        disattenuated_ci=[lo, hi],
        bootstrap_draws=U7_BOOTSTRAP,
        bootstrap_undefined=int(b.size - finite.size),
        n_dissociated_cells=n_dis,
    )
    if not math.isfinite(rho_d):
        return undecided(
            f"the SVCCA excess grid's halves do not agree (split-half rank correlation <= 0, reliability {rel}): "
            "nothing can be said about what tracks it",
            m,
        )
    if finite.size < 0.9 * b.size:
        return undecided(
            f"the disattenuated correlation is undefined in {b.size - finite.size} of {b.size} bootstrap draws "
            "(halves that do not agree): its interval is not reliable",
            m,
        )
    if -TRACKS < lo and hi < TRACKS:  # shown: bounded away from tracking on both sides
        return decided(n_dis > 0, m)  # ... and a dissociated cell, as the paper's example
    if lo >= TRACKS or hi <= -TRACKS:  # refuted: it tracks, within the grid's noise
        return decided(False, m)
    return undecided(
        f"the disattenuated rank correlation {rho_d:.2f} has a {1 - alpha:.0%} bootstrap interval "
        f"[{lo:.2f}, {hi:.2f}] that includes +/-{TRACKS}: the grid cannot tell tracking from not",
        m,
    )


@register_rule("U7", "grid")
def rule_u7(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Mean max correlation does not track the 1-1 SVCCA excess over chance: the rank correlation
    over the non-zero cells, disattenuated for the excess grid's split-half reliability
    (rho / sqrt(Spearman-Brown reliability)), has a (1 - alpha) bootstrap interval (999 resamples of
    the cells, seeded) inside (-TRACKS, TRACKS), and some cell dissociates (top third by mean max
    correlation, bottom third by excess). Not reproduced when the interval lies at or beyond TRACKS
    (it tracks, within the noise) or no cell dissociates; inconclusive when the interval includes
    +/-TRACKS or the halves do not agree.

    The control is in the statistic: rho / sqrt(reliability) compares the mean max correlation with
    the best any measure could track this noisy grid (a perfect tracker reaches ~1), so a measure
    that does track comes out "not reproduced" (tests: mean max correlation a function of the excess).
    Why: the old rule gated on reliability >= 0.8 and then judged raw |rho| < 0.9, with a control (the
    other half's excess through the raw rule) on noisier half grids that came out the same way 26-60%
    of the time at 55 cells: raw correlations fall with noise, so "does not track" held for trackers."""
    seed = cell_seed(procedure.seed, "U7 bootstrap")
    return ClaimJudgement(_u7(records["grid"], procedure.alpha, seed=seed), None)


#: U8: our pair count over the paper's, per cell and pair set, must lie in this band (a factor 2).
PAIR_RATIO_BAND = (0.5, 2.0)


def _u8(grid: Mapping[str, Any], profile: str, procedure: str) -> Judgement:
    """Under ``paper`` on a profile with published counts (Tables 5-8): every non-zero cell with a
    printed count has ours / paper's within PAIR_RATIO_BAND, for the 1-1 and the many-to-1 set.
    Otherwise (smoke; or ``corrected``, whose masking, dead-feature and 1-1 choices are meant to
    change the counts): undecided, with the sanity check (0 < 1-1 < many-to-1 in every non-zero
    cell, :func:`_u8_sanity_only`) and the ratios to the paper reported where there are any."""
    from harness.verdicts.paper_tables import VARIANTS, paper_pair_counts

    every = nonzero(grid)
    if not every:
        return decided(False, {}, scored=False)
    # a count marked missing (null) is not judged; a cell counts where both its counts are given
    cells = [c for c in every if _finite(c.get("n_pairs")) and _finite(c.get("n_pairs_m21"))]
    if not cells:
        return missing("needs n_pairs and n_pairs_m21 (1-1 and many-to-1 pair counts), missing in every non-zero cell")
    n11 = [c["n_pairs"] for c in cells]
    m21 = [c["n_pairs_m21"] for c in cells]
    m: dict[str, Any] = {
        "pairs_1to1_min": int(min(n11)),
        "pairs_1to1_max": int(max(n11)),
        "pairs_many_to_1_min": int(min(m21)),
        "pairs_many_to_1_max": int(max(m21)),
    }
    if len(cells) < len(every):
        m["cells_without_counts"] = [f"A{c['layer_a']}/B{c['layer_b']}" for c in every if c not in cells]
    printed = paper_pair_counts(profile)
    ratios = {
        f"{variant} A{c['layer_a']}/B{c['layer_b']}": c[field] / printed[(variant, c["layer_a"], c["layer_b"])]
        for c in cells
        for variant, field in VARIANTS.items()
        if (variant, c["layer_a"], c["layer_b"]) in printed
    }
    structural = all(0 < a < b for a, b in zip(n11, m21, strict=True))
    m["sanity_check_1to1_between_0_and_many_to_1"] = structural
    if not printed:
        return _u8_sanity_only("the paper printed no pair counts for this profile's models", cells, every, m)
    lo, hi = PAIR_RATIO_BAND
    m.update(
        ratio_to_paper=ratios,
        ratio_to_paper_min=min(ratios.values(), default=math.nan),
        ratio_to_paper_max=max(ratios.values(), default=math.nan),
        n_cells_outside_band=sum(not lo <= r <= hi for r in ratios.values()),
        ratio_judged=procedure == "paper",
    )
    if procedure != "paper":
        why = f"under `{procedure}` the counts are meant to differ from Tables 5-8 (ratios reported, not judged)"
        return _u8_sanity_only(why, cells, every, m)
    if not ratios:
        return undecided("no non-zero cell of this grid has a count in the paper's Tables 5-8", m)
    return decided(all(lo <= r <= hi for r in ratios.values()), m)


def _u8_sanity_only(why: str, cells: Sequence[Record], every: Sequence[Record], m: dict[str, Any]) -> Judgement:
    """U8 where nothing can be compared with the paper's counts: the sanity check (0 < 1-1 <
    many-to-1 in every non-zero cell) is shown, never counted as reproducing Tables 5-8 -- it holds
    by construction of the 1-1 rule on any world with a choice of partner. Undecided, with the
    check's outcome in the reason."""
    bad = [f"A{c['layer_a']}/B{c['layer_b']}" for c in cells if not 0 < c["n_pairs"] < c["n_pairs_m21"]]
    check = (
        f"the sanity check 0 < 1-1 < many-to-1 fails in {bad}"
        if bad
        else f"the sanity check 0 < 1-1 < many-to-1 holds in all {len(cells)} non-zero cells with counts"
    )
    gap = f"; pair counts missing in {len(every) - len(cells)} non-zero cells" if len(cells) < len(every) else ""
    return undecided(f"{why}: nothing to compare with; {check} (shown, not counted as reproduced){gap}", m)


@register_rule("U8", "grid", "control_grid")
def rule_u8(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Under the `paper` procedure on a profile the paper printed counts for (Pythia: Tables 5-6;
    Gemma: Tables 7-8): every non-zero cell's 1-1 and many-to-1 counts within a factor 2 of the
    printed ones (PAIR_RATIO_BAND, per cell). Elsewhere (smoke; `corrected`) nothing can be compared
    with the paper: the ratios are reported and the sanity check 0 < 1-1 < many-to-1 is shown, and the
    claim is inconclusive -- the check holds by construction of the 1-1 rule, so it was never evidence
    for Tables 5-8 (it used to read "reproduced").

    Why per cell and `paper` only: one band over the whole printed range (801-7553) accepted any
    cell 16x off its own printed count, and under `corrected` the counts are meant to differ
    (BOS masked, dead features excluded, best-correlation 1-1). Control: shuffled positions leave
    (almost) nothing, so it must fail."""
    grid = records["grid"]
    claim = _u8(grid, profile, procedure.name)
    unf = [c["n_pairs_unfiltered"] for c in nonzero(grid) if _finite(c.get("n_pairs_unfiltered"))]
    if unf:  # reported, not judged: a record may mark it missing (the paper never prints it)
        claim.measured.update(unfiltered_1to1_min=int(min(unf)), unfiltered_1to1_max=int(max(unf)))
    return _with_control(claim, _u8(records["control_grid"], profile, procedure.name))


# ----------------------------------------------------------------------------- S: semantic subspaces


def _table1_categories() -> dict[str, tuple[str, ...]]:
    """The categories each Pythia table reports (Table 1: SVCCA; Table 9: RSA adds MonthNames);
    the others of Table 4 are scored and reported, not judged."""
    from harness.profiles import get_profile

    tables_1_and_9 = get_profile("paper").paper_semantic_table
    return {"svcca": tuple(k for k, v in tables_1_and_9.items() if "svcca" in v), "rsa": tuple(tables_1_and_9)}


def scored(table: Mapping[str, Any]) -> list[Record]:
    return [c for c in table["cells"] if "skipped" not in c and _finite(c.get("svcca"))]


def why_unscored(table: Mapping[str, Any], categories: Sequence[str]) -> str:
    """Why each of ``categories`` is not among the table's :func:`scored` cells: the cell's own
    ``skipped`` reason (too few concept features or pairs), no SVCCA score (e.g. Table 9 prints
    MonthNames' RSA only), or no cell at all."""
    by = {c.get("category"): c for c in table.get("cells", [])}
    out = []
    for k in categories:
        c = by.get(k)
        if c is None:
            out.append(f"{k} has no cell in the table")
        elif "skipped" in c:
            out.append(f"{k} was skipped ({c['skipped']})")
        else:
            out.append(f"{k} has no SVCCA score (svcca missing; scored cells need one)")
    return "; ".join(out)


def excess_upper(c: Mapping[str, Any], metric: str, alpha: float) -> float:
    """One-sided (1 - alpha) upper confidence bound of a cell's ``metric`` excess, sd as
    :func:`excess_ci`'s (bootstrap standard error, else the null's sd); NaN without either."""
    e, m, sd = excess(c, metric), c.get(f"{metric}_null_mean"), score_sd(c, metric)
    if not (math.isfinite(e) and _finite(m) and _finite(sd)) or float(m) >= 1:
        return math.nan
    return e + float(norm.ppf(1 - alpha)) * float(sd) / (1.0 - float(m))


def _all_significant(
    table: Mapping[str, Any], metric: str, alpha: float, refute_below: Mapping[str, float] | None = None
) -> Judgement:
    """Every judged category significant (an all-must-pass conjunction). ``refute_below`` (category ->
    the paper's excess; S4): three outcomes per category -- shown (p < alpha), refuted (its excess's
    upper confidence bound lies below the paper's excess: the data exclude the printed effect),
    undecided (neither: not significant, but the paper's effect is not excluded) -- and the claim is
    not reproduced only when a category is refuted, inconclusive when one is undecided. Without it
    (S1) a category that is not significant refutes the claim."""
    if refute_below is not None:
        return _all_significant_three_way(table, metric, alpha, refute_below)
    judged_names = _table1_categories()[metric]
    every = scored(table)
    cells = [c for c in every if c["category"] in judged_names]
    unscorable = sorted(set(judged_names) - {c["category"] for c in cells})
    per = {
        c["category"]: {
            "n": c["n_pairs"],
            "score": c[metric],
            "p": judging_p(c, metric),
            **({} if c in cells else {"judged": False}),
        }
        for c in every
    }
    n_sig = sum(sig(c, metric, alpha) for c in cells)
    m = {"n_scored": len(cells), "n_significant": n_sig, "unscorable": unscorable, "categories": per}
    if n_sig < len(cells):  # a scored category is not significant: decided, whatever the others
        reason = needs_power([n_perm(c) for c in cells], alpha)
        return undecided(reason, m) if reason else decided(False, m)
    if not cells:
        return decided(False, m, scored=False)
    if unscorable:
        return undecided(f"categories {unscorable} are not scored: {why_unscored(table, unscorable)}", m)
    return decided(True, m)


def _all_significant_three_way(
    table: Mapping[str, Any], metric: str, alpha: float, refute_below: Mapping[str, float]
) -> Judgement:
    judged_names = _table1_categories()[metric]
    every = scored(table)
    cells = [c for c in every if c["category"] in judged_names]
    unscorable = sorted(set(judged_names) - {c["category"] for c in cells})
    per: dict[str, dict[str, Any]] = {}
    for c in every:
        ub, target = excess_upper(c, metric, alpha), refute_below.get(c["category"], math.nan)
        if sig(c, metric, alpha):
            outcome = "shown"
        elif math.isfinite(ub) and math.isfinite(target) and ub < target:
            outcome = "refuted"
        else:
            outcome = "undecided"
        per[c["category"]] = {
            "n": c["n_pairs"],
            "score": c[metric],
            "p": judging_p(c, metric),
            "excess_upper_bound": ub,
            "paper_excess": target,
            "outcome": outcome,
            **({} if c in cells else {"judged": False}),
        }
    judged = {c["category"]: per[c["category"]]["outcome"] for c in cells}
    refuted = sorted(k for k, o in judged.items() if o == "refuted")
    open_ = sorted(k for k, o in judged.items() if o == "undecided")
    m = {
        "n_scored": len(cells),
        "n_significant": sum(o == "shown" for o in judged.values()),
        "refuted": refuted,
        "undecided": open_,
        "unscorable": unscorable,
        "categories": per,
    }
    reason = needs_power([n_perm(c) for c in cells], alpha)
    if reason and len(refuted) + len(open_):  # too few permutations: no p, and the null's sd is no interval
        return undecided(reason, m)
    if refuted:  # a category whose interval excludes the paper's effect: refuted with power
        return decided(False, m)
    if not cells:
        return decided(False, m, scored=False)
    if open_:
        return undecided(
            f"categories {open_} are not significant, but their {metric} intervals do not exclude the paper's "
            "effect (upper confidence bound of the excess not below the printed excess): underpowered, not refuted",
            m,
        )
    if unscorable:
        return undecided(f"categories {unscorable} are not scored: {why_unscored(table, unscorable)}", m)
    return decided(True, m)


#: S2/S4's yardstick for refuting "significant" where the printed values are another statistic (k = 1
#: SVCCA under `corrected`): a category whose excess's upper confidence bound is below this is shown to
#: have no similarity beyond what a re-run moves (PAPER_EXCESS_TOLERANCE's reading).
MIN_MEANINGFUL_EXCESS = 0.15

#: Agreement with a published semantic table, in excess over chance: our category's (1 - alpha)
#: confidence interval must overlap the paper's excess +/- this. It stands for what a re-run on
#: another sample of the same corpus may move; the paper's own two model pairs differ by 0.12-0.14
#: in excess on their most stable categories (Time, Calendar: Tables 1 and 2), and by more on the
#: smaller ones, so a tighter band would reject the paper against itself.
PAPER_EXCESS_TOLERANCE = 0.15

#: The profile whose models each table claim quotes: paper agreement is judged there only.
PAPER_TABLE_PROFILE = {"S2": "gemma", "S4": "paper"}


def score_sd(c: Mapping[str, Any], metric: str) -> Any:
    """The sampling sd of a cell's ``metric`` score: its bootstrap standard error
    (``<metric>_boot_se``: pairs resampled, :func:`harness.experiments.spaces.bootstrap_se`) where the
    record has one, else the shuffled-pairing null's sd (the sd at chance; records without a bootstrap)."""
    se = c.get(f"{metric}_boot_se")
    return se if _finite(se) and float(se) > 0 else c.get(f"{metric}_null_std")


def excess_ci(c: Mapping[str, Any], metric: str, alpha: float) -> tuple[float, float]:
    """Two-sided (1 - alpha) confidence interval of a cell's excess over chance: ``excess +/- z * sd /
    (1 - null mean)``, sd the score's bootstrap standard error where recorded, else the null's sd
    (:func:`score_sd`); NaNs when unscored."""
    e, m, sd = excess(c, metric), c.get(f"{metric}_null_mean"), score_sd(c, metric)
    if not (math.isfinite(e) and _finite(m) and _finite(sd)) or float(m) >= 1:
        return math.nan, math.nan
    h = float(norm.ppf(1 - alpha / 2)) * float(sd) / (1.0 - float(m))
    return e - h, e + h


def paper_excess(row: Mapping[str, Any], metric: str) -> float:
    """The published value's excess over its published null: SVCCA rows carry ``null``; RSA rows
    ``rsa_null`` (Table 9's shuffle means are 0.00)."""
    v = row.get(metric)
    null = row.get("null" if metric == "svcca" else "rsa_null", math.nan)
    return excess_over_chance(float(v), float(null)) if _finite(v) and _finite(null) else math.nan


def paper_agreement(
    cells: Sequence[Record], table: Mapping[str, Mapping[str, Any]], metric: str, alpha: float
) -> dict[str, dict[str, Any]]:
    """Per category with a published value: our excess, its CI, the paper's excess and whether the
    CI overlaps the paper's excess +/- PAPER_EXCESS_TOLERANCE."""
    out: dict[str, dict[str, Any]] = {}
    for c in cells:
        pe = paper_excess(table.get(c["category"], {}), metric)
        if not math.isfinite(pe):
            continue
        lo, hi = excess_ci(c, metric, alpha)
        # no interval (no null spread given, e.g. the paper's own printed table): undecided, not a disagreement
        agrees = (
            None
            if not math.isfinite(lo)
            else bool(lo <= pe + PAPER_EXCESS_TOLERANCE and hi >= pe - PAPER_EXCESS_TOLERANCE)
        )
        out[c["category"]] = {"excess": excess(c, metric), "ci": [lo, hi], "paper_excess": pe, "agrees": agrees}
    return out


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


def _with_paper(
    j: Judgement, cells: Sequence[Record], claim_id: str, metric: str, profile: str, procedure: Procedure
) -> Judgement:
    """Add the paper-agreement half of S2/S4: judged on the profile whose models the table quotes
    (:data:`PAPER_TABLE_PROFILE`) under a procedure that computes the printed statistic
    (:func:`same_statistic_as_printed`: never `corrected` SVCCA against the paper's k = 1 values),
    reported only elsewhere (e.g. smoke: the fixture world is not the paper's models, so its numbers are
    shown next to the paper's, not held to them)."""
    from harness.profiles import get_profile

    alpha = procedure.alpha
    quoted = PAPER_TABLE_PROFILE[claim_id]
    agree = paper_agreement(cells, get_profile(quoted).paper_semantic_table, metric, alpha)
    other_statistic = same_statistic_as_printed(metric, procedure)
    judged = profile == quoted and other_statistic is None
    m = {
        **j.measured,
        "paper_agreement": agree,
        "paper_agreement_judged": judged,
        "paper_excess_tolerance": PAPER_EXCESS_TOLERANCE,
        **({"paper_agreement_not_judged": other_statistic} if other_statistic and profile == quoted else {}),
    }
    if not judged or j.holds is not True:
        return Judgement(j.holds, m, j.inconclusive, j.scored, j.not_run)
    if any(a["agrees"] is False for a in agree.values()):
        return decided(False, m)
    open_ = sorted(k for k, a in agree.items() if a["agrees"] is None)
    if open_:
        lacking = f"{metric}_null_mean / {metric}_null_std" if metric == "svcca" else f"{metric}_null_std"
        return undecided(
            f"agreement with the paper's values undecided for {open_}: no null spread ({lacking} missing) "
            "to put an interval on the excess",
            m,
        )
    return decided(bool(agree), m)


def _table_claim(
    metric: str, records: Mapping[str, Any], procedure: Procedure, profile: str, claim_id: str
) -> ClaimJudgement:
    refute_below = None
    if claim_id == "S4":  # the printed effects a category's interval must exclude to refute it (Table 9)
        from harness.profiles import get_profile

        rows = get_profile(PAPER_TABLE_PROFILE["S4"]).paper_semantic_table
        same = same_statistic_as_printed(metric, procedure) is None
        refute_below = {k: paper_excess(r, metric) if same else MIN_MEANINGFUL_EXCESS for k, r in rows.items()}

    def one(table: Mapping[str, Any]) -> Judgement:
        j = _all_significant(table, metric, procedure.alpha, refute_below)
        if claim_id not in PAPER_TABLE_PROFILE:
            return j
        return _with_paper(j, scored(table), claim_id, metric, profile, procedure)

    ctrl = one(records["control_table"])
    return _with_control(
        one(records["table"]), ctrl, shown={k: ctrl.measured[k] for k in ("n_significant", "n_scored")}
    )


@register_rule("S1", "table", "control_table")
def rule_s1(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Every category of Table 1 has SVCCA p < alpha (Test 1). An all-must-pass conjunction: no
    multiplicity correction (one null category already makes the claim false and passes with
    probability <= alpha)."""
    return _table_claim("svcca", records, procedure, profile, "S1")


@register_rule("S4", "table", "control_table")
def rule_s4(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Every category of Table 9 has RSA p < alpha (an all-must-pass conjunction: no correction) AND,
    on the Pythia profile (``paper``), each category's RSA excess agrees with Table 9's: its
    (1 - alpha) CI overlaps the paper's excess +/- PAPER_EXCESS_TOLERANCE. Elsewhere (smoke,
    calibration) the agreement is reported, not judged. Three outcomes per category
    (:func:`_all_significant_three_way`): a category that is not significant refutes the claim only
    when its excess's upper confidence bound lies below Table 9's excess for it; otherwise it is
    undecided and the claim inconclusive. The interval's sd is the score's bootstrap standard error
    (the claims' semantic table records it), else the null's sd.

    Why three outcomes: Table 9 prints p = 0.03 and 0.01 for two categories; even if the table were exact
    a replication would find all seven significant with probability ~0.30, so "one category not
    significant" was mostly low power, not evidence against the table.

    Why: significance alone (the old rule) passed on any above-chance RSA; the claim quotes numbers,
    and Table 9's p = 0.03 and 0.01 made the seven-way conjunction hinge on borderline p's."""
    return _table_claim("rsa", records, procedure, profile, "S4")


def _s2(table: Mapping[str, Any], procedure: Procedure, profile: str) -> Judgement:
    """S2 with three outcomes per category (see :func:`rule_s2`)."""
    from harness.profiles import get_profile

    alpha = procedure.alpha
    cells = {c["category"]: c for c in scored(table)}
    others = [c for k, c in cells.items() if k not in ("Countries", "MonthNames", "Biology")]
    countries = cells.get("Countries")
    rows = get_profile(PAPER_TABLE_PROFILE["S2"]).paper_semantic_table
    # Table 2's values are yardsticks for refutation only where we compute the same statistic (k = 1)
    same = same_statistic_as_printed("svcca", procedure) is None
    printed = {k: paper_excess(r, "svcca") for k, r in rows.items()} if same else {}
    outcomes: dict[str, str] = {}
    for c in others:  # significant: shown; upper bound below the yardstick: refuted; else undecided
        ub = excess_upper(c, "svcca", alpha)
        target = printed.get(c["category"], math.nan) if same else MIN_MEANINGFUL_EXCESS
        outcomes[c["category"]] = (
            "shown"
            if sig(c, "svcca", alpha)
            else "refuted"
            if math.isfinite(ub) and math.isfinite(target) and ub < target
            else "undecided"
        )
    lo = excess_ci(countries, "svcca", alpha)[0] if countries is not None else math.nan
    reaches_null = countries is not None and ((math.isfinite(lo) and lo <= 0) or judging_p(countries, "svcca") >= alpha)
    if countries is not None:  # Countries "reaches the null"; refuted only when shown far above Table 2's value
        bar = printed.get("Countries", math.nan) + PAPER_EXCESS_TOLERANCE
        outcomes["Countries"] = (
            "shown"
            if reaches_null
            else "refuted"
            if math.isfinite(lo) and math.isfinite(bar) and lo > bar
            else "undecided"
        )
    m: dict[str, Any] = {
        k: {"n": c["n_pairs"], "svcca": c["svcca"], "p": judging_p(c, "svcca"), "outcome": outcomes.get(k)}
        for k, c in cells.items()
    }
    m["countries_excess_ci_low"] = lo
    m["countries_reaches_null"] = bool(reaches_null)
    refuted = sorted(k for k, o in outcomes.items() if o == "refuted")
    open_ = sorted(k for k, o in outcomes.items() if o == "undecided")
    reason = needs_power([n_perm(c) for c in cells.values()], alpha)
    if reason is None and table.get("cells") and (countries is None or not others):
        judged_names = [k for k in _table1_categories()["svcca"] if k not in cells]
        reason = f"categories {judged_names} are not scored: {why_unscored(table, judged_names)}"
    if reason:
        j = undecided(reason, m)
    elif refuted:
        j = decided(False, m)
    elif open_:
        yardstick = "Table 2's excess" if same else f"Table 2's values are k = 1: yardstick {MIN_MEANINGFUL_EXCESS}"
        j = undecided(
            f"categories {open_} are neither shown nor refuted (significance vs Countries reaching the null; "
            f"{yardstick}): underpowered, not refuted",
            m,
        )
    else:
        j = decided(bool(others), m)
    judged = [c for k, c in cells.items() if k not in ("MonthNames", "Biology")]
    return _with_paper(j, judged, "S2", "svcca", profile, procedure)


@register_rule("S2", "table", "control_table")
def rule_s2(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """All categories but Countries have p < alpha (an all-must-pass conjunction: no correction);
    Countries "reaches the null": its (1 - alpha) CI on the excess includes 0, or its +1-rule p >=
    alpha from a null large enough to reach alpha; AND, on the Gemma profile, each category's excess
    agrees with Table 2's (CI overlapping the paper's excess +/- PAPER_EXCESS_TOLERANCE).

    Three outcomes per category: a category other than Countries that is not significant refutes the
    claim only when its excess's upper confidence bound lies below Table 2's excess for it; Countries
    significant refutes it only when its excess's lower bound lies above Table 2's Countries excess +
    PAPER_EXCESS_TOLERANCE; anything else is undecided and the claim inconclusive. Table 2's values are
    such yardsticks only under a procedure computing its k = 1 statistic (:func:`same_statistic_as_printed`).
    The intervals' sd is the score's bootstrap standard error where recorded, else the null's sd.

    Why: "Countries p >= 0.05" asked a replication to land on the same side of alpha as the paper's
    borderline 0.07 -- it does so 57-69% of the time even if Table 2 is exact (joint power ~0.38), so
    a significant Countries was mostly chance, not evidence against the table; what Table 2 shows is
    that Countries is not distinguishable from chance while the others are, at values the table states."""
    return _with_control(_s2(records["table"], procedure, profile), _s2(records["control_table"], procedure, profile))


def _tables(records: Mapping[str, Any], role: str) -> list[Record]:
    rec = records[role]
    return list(rec["tables"]) if isinstance(rec, Mapping) else list(rec)


def _s3(tables: Sequence[Mapping[str, Any]], alpha: float) -> Judgement:
    def p(c: Record) -> float:
        v = c.get("test2_p_plus_one")
        return float(v) if _finite(v) else float(c.get("test2_p", math.nan))

    every = [c for t in tables for c in scored(t)]
    cells = [c for c in every if math.isfinite(p(c))]
    if absent_everywhere(every, "test2_p") and absent_everywhere(every, "test2_p_plus_one"):
        return missing(
            "needs test2_p (Test 2: each subspace against random same-size subsets), missing in every scored cell"
        )
    ps = [p(c) for c in cells]
    holds, counted, reason = count_significant(
        ps, 0.9, alpha, [float(c["test2_n"]) for c in cells if "test2_n" in c], "Test-2 draws"
    )
    m = {"fraction_test2_pass": frac([x < alpha for x in ps]), "n_cells": len(cells), **counted}
    return undecided(reason, m) if reason else decided(holds, m)


@register_rule("S3", "semantic_grid", "control_semantic_grid")
def rule_s3(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Test 2 passes in >= 90% of scored (layer pair, category) cells, counted as Benjamini-Hochberg
    discoveries at FDR alpha over that family."""
    return _with_control(
        _s3(_tables(records, "semantic_grid"), procedure.alpha),
        _s3(_tables(records, "control_semantic_grid"), procedure.alpha),
    )


def _s5(tables: Sequence[Mapping[str, Any]], alpha: float, *, seed: int) -> Judgement:
    """Layer-label permutation test of the interior layer pairs' mean semantic SVCCA excess (over
    scored categories) against the edge pairs'. Interior = neither the first nor the last semantic
    layer, in both models."""
    per = {(t["layer_a"], t["layer_b"]): nanmean([excess(c, "svcca") for c in scored(t)]) for t in tables}
    la, lb = sorted({a for a, _ in per}), sorted({b for _, b in per})
    m: dict[str, Any] = {"mean_excess": {f"A{a}/B{b}": v for (a, b), v in per.items()}}
    if len(la) < 3 or len(lb) < 3:
        return undecided(f"'middle' needs >= 3 semantic layers per model (A {la}, B {lb})", m)
    values = np.array([[per.get((a, b), math.nan) for b in lb] for a in la])
    rows, cols = np.isin(la, la[1:-1]), np.isin(lb, lb[1:-1])
    t = layer_label_test(values, rows, cols, seed=seed)
    m.update(
        interior_minus_edge_excess=t.statistic,
        layer_label_p=t.p_value,
        layer_label_placements=t.n_permutations,
        layer_label_exact=t.exact,
        interior_a=la[1:-1],
        interior_b=lb[1:-1],
    )
    if not math.isfinite(t.statistic):
        every = [c for t_ in tables for c in scored(t_)]
        cause = (
            why_no_excess(every, "svcca", "scored semantic cells")
            if not any(math.isfinite(excess(c, "svcca")) for c in every)
            else "no scored semantic tables inside or outside the interior"
        )
        return undecided(cause, m)
    if t.min_p >= alpha:
        return undecided(
            f"a {len(la)} x {len(lb)} semantic grid has only {round(1 / t.min_p)} placements of its "
            f"interior: its smallest p ({t.min_p:.3f}) is not below alpha = {alpha}",
            m,
        )
    return decided(bool(t.p_value < alpha), m)


@register_rule("S5", "semantic_grid", "control_semantic_grid")
def rule_s5(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Interior semantic layer pairs have a higher mean SVCCA excess over chance than edge pairs,
    beyond all but an alpha share of layer relabellings (exact over placements, else 999 draws).

    Why: the old rule (the best pair by mean excess sits at an interior A layer, excess > 0.05)
    passed a flat grid ~60% of the time -- an argmax lands in the interior by chance -- and
    judged the unscaled difference s - null mean rather than the excess."""
    seed = cell_seed(procedure.seed, "S5 layer labels")
    tables, ctrl_tables = _tables(records, "semantic_grid"), _tables(records, "control_semantic_grid")
    ctrl = _s5(ctrl_tables, procedure.alpha, seed=seed)
    shown = {k: v for k, v in ctrl.measured.items() if k != "mean_excess"}
    return _with_control(_s5(tables, procedure.alpha, seed=seed), ctrl, shown=shown)


# ----------------------------------------------------------------------------- W, X: single pairs


#: "Highly similar" as an effect over chance: at least half the way from the shuffled-pairing
#: null to identical spaces. App. A reports 0.94 against a random-pairing 0.004 (an excess of
#: ~0.94); a raw threshold cannot say this, because SVCCA's chance level depends on k and on the
#: pair count (~0.44 on the fixture world under `corrected`, 0.28-0.44 at the paper's counts).
HIGH_EXCESS = 0.5


def _either(ctrl: Judgement, rp: Judgement | None) -> Judgement:
    """Two controls of one claim: the same way when either holds; undecided when neither holds and
    one is undecided."""
    if rp is None:
        return ctrl
    both = {"shuffled_positions": ctrl.measured, "random_partner": rp.measured}
    if ctrl.holds or rp.holds:
        return decided(True, both)
    if ctrl.inconclusive or rp.inconclusive:
        return undecided("; ".join(r for r in (ctrl.inconclusive, rp.inconclusive) if r), both)
    return decided(False, both, scored=ctrl.scored)


def _pair_set(rec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``rec[key]``, one pair set of a seed-pair record; :class:`MissingInput` naming it when absent."""
    v = rec.get(key)
    if not isinstance(v, Mapping):
        raise MissingInput(f"needs the {key!r} pair set of the seed-pair record (it has {sorted(rec)})")
    return v


def _missing_score(rec: Mapping[str, Any], metric: str = "svcca") -> str | None:
    """Why a single pair set's ``metric`` cannot be judged for significance and excess (a field
    marked missing), or None."""
    if not _finite(rec.get(metric)):
        return f"{metric} missing"
    if not math.isfinite(judging_p(rec, metric)):
        return f"{metric}_p missing (no p-value given)"
    if not math.isfinite(excess(rec, metric)):
        return f"{metric}_null_mean missing (no null to measure the excess over chance against)"
    return None


def _w1(rec: Mapping[str, Any], procedure: Procedure, key: str = "many_to_one_filtered") -> Judgement:
    filt = _pair_set(rec, key)
    p, e = judging_p(filt, "svcca"), excess(filt, "svcca")
    m = {
        "n": filt.get("n_pairs"),
        "svcca": filt.get("svcca"),
        "null_mean": filt.get("svcca_null_mean"),
        "excess": e,
        "p": p,
    }
    reason = needs_power([n_perm(filt)], procedure.alpha)
    if reason:
        return undecided(reason, m)
    if _finite(filt.get("svcca")) and (gap := _missing_score(filt)) is not None:
        return undecided(f"{key}: {gap}", m)
    return decided(
        bool(math.isfinite(e) and p < procedure.alpha and e >= HIGH_EXCESS), m, scored=_finite(filt.get("svcca"))
    )


#: W1's records: the ReLU+L1 seed pair's Lan statistics and their control (App. A's pair is ReLU+L1).
W1_ROLE = "lan_relu_l1"


@register_rule("W1", W1_ROLE, CONTROL_PREFIX + W1_ROLE)
def rule_w1(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Filtered many-to-1 SVCCA of a ReLU+L1 seed pair (role ``lan_relu_l1``): p < alpha and excess
    over its null >= HIGH_EXCESS.

    Why ReLU+L1: App. A's two seed SAEs are ReLU+L1 (TinyStories-1L-21M). The TopK pair judged
    before (the one X1 reads) calibrated to power 0 at shared fractions <= 0.6 -- TopK SAEs share
    fewer latents across seeds (PB; P2) -- so "not reproduced" was built into the setup.

    Controls, through the same rule, both must fail: B's positions shuffled (the top-correlated
    misaligned set of the real size), and filter-aware random partners (each A feature of the
    filtered many-to-1 set with a random other B partner passing the same token filters,
    ``many_to_one_filtered_random_partner``; records without it judge the first control only).

    Judged on the excess, one threshold for both procedures: the raw thresholds (> 0.5 under
    corrected, > 0.7 under k = 1) sat barely above SVCCA's chance level (~0.44 under corrected),
    so a pairing near chance passed and the control passed in 2 of 12 shuffle seeds."""
    rec, ctrl_rec = records[W1_ROLE], records[CONTROL_PREFIX + W1_ROLE]
    claim = _w1(rec, procedure)
    measured = {
        k: {
            "n": v.get("n_pairs"),
            "svcca": v.get("svcca"),
            "null_mean": v.get("svcca_null_mean"),
            "excess": excess(v, "svcca"),
            "p": judging_p(v, "svcca"),
        }
        for k, v in rec.items()
        if isinstance(v, Mapping)
    }
    measured["decoder_cosine_mean"] = rec.get("decoder_cosine_mean")
    claim = Judgement(claim.holds, measured, claim.inconclusive, claim.scored)
    if not isinstance(ctrl_rec.get("many_to_one_filtered"), Mapping):  # an empty control record
        return _with_control(claim, missing("the control record has no 'many_to_one_filtered' pair set"))
    ctrl = _w1(ctrl_rec, procedure)
    c = ctrl_rec["many_to_one_filtered"]
    shown = {
        "shuffled_n": c.get("n_pairs"),
        "shuffled_svcca": c.get("svcca"),
        "shuffled_excess": excess(c, "svcca"),
        "shuffled_p": judging_p(c, "svcca"),
    }
    rp_key = "many_to_one_filtered_random_partner"
    rp = _w1(rec, procedure, rp_key) if isinstance(rec.get(rp_key), Mapping) else None
    if rp is not None:
        shown.update({f"random_partner_{k}": v for k, v in rp.measured.items() if k in ("n", "excess", "p")})
    return _with_control(claim, _either(ctrl, rp), shown=shown)


#: W2's band for the excess over chance: a factor 2 around App. B's ~0.3. The paper's nulls sit
#: near 0 (random pairing 0.004 in App. A), so its raw 0.3 is an excess of ~0.3.
W2_BAND = (0.15, 0.6)


def _w2(grid: Mapping[str, Any], procedure: Procedure) -> Judgement:
    alpha = procedure.alpha
    if not grid["cells"]:
        return decided(False, {}, scored=False)
    cell = grid["cells"][0]
    s, p, e = cell.get("svcca"), judging_p(cell, "svcca"), excess(cell, "svcca")
    m = {
        "svcca": s,
        "svcca_excess": e,
        "svcca_p": p,
        "n_pairs": cell.get("n_pairs"),
        "svcca_null_mean": cell.get("svcca_null_mean"),
        "rsa": cell.get("rsa"),
        "rsa_excess": excess(cell, "rsa"),
        "rsa_p": judging_p(cell, "rsa"),
    }
    reason = needs_power([n_perm(cell, grid)], alpha)
    if reason:
        return undecided(reason, m)
    if _finite(s) and (gap := _missing_score(cell)) is not None:
        return undecided(gap, m)
    lo, hi = W2_BAND
    significant = math.isfinite(p) and p < alpha
    other_statistic = same_statistic_as_printed("svcca", procedure)
    if other_statistic is not None and _finite(s):
        m["band_judged"] = False
        if not significant:  # not above chance: no SVCCA of any kind is "~0.3 after filtering"
            return decided(False, m)
        return undecided(f"{other_statistic}; the band {W2_BAND} is App. B's k = 1 value", m)
    return decided(bool(math.isfinite(e) and lo <= e <= hi and significant), m, scored=_finite(s))


@register_rule("W2", "grid", "control_grid")
def rule_w2(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Llama layer 25: SVCCA excess over its null within W2_BAND and p < alpha.

    Judged on the excess: a raw band [0.15, 0.6] contains SVCCA's chance level under `corrected`
    (~0.3-0.44 at these pair counts), so a pairing at chance could land in it. The band is App. B's
    k = 1 value: under a procedure that computes another SVCCA (`corrected`, 99% of the variance) it
    is not judged (:func:`same_statistic_as_printed`): significant -> inconclusive, the values
    reported; not significant (with power) -> not reproduced."""
    return _with_control(_w2(records["grid"], procedure), _w2(top_view(records["control_grid"]), procedure))


def _x1(fraction_shared: float, rec: Mapping[str, Any], alpha: float, key: str = "one_to_one_filtered") -> Judgement:
    one = _pair_set(rec, key)
    p, e = judging_p(one, "svcca"), excess(one, "svcca")
    m = {
        "pb_fraction_shared": fraction_shared,
        "lan_svcca_corr_pairing": one.get("svcca"),
        "lan_p_corr_pairing": p,
        "lan_null_mean": one.get("svcca_null_mean"),
        "lan_excess_corr_pairing": e,
        "n_pairs": one.get("n_pairs"),
    }
    reason = needs_power([n_perm(one)], alpha)
    if reason:
        return undecided(reason, m)
    if not _finite(fraction_shared):
        return undecided("fraction_shared missing (Paulo & Belrose's shared fraction of the seed pair)", m)
    if _finite(one.get("svcca")) and (gap := _missing_score(one)) is not None:
        return undecided(f"{key}: {gap}", m)
    return decided(
        bool(fraction_shared < 0.9 and math.isfinite(e) and p < alpha and e >= HIGH_EXCESS),
        m,
        scored=_finite(one.get("svcca")),
    )


@register_rule("X1", "lan", "control_lan", "overlap")
def rule_x1(records: Mapping[str, Any], procedure: Procedure, *, profile: str) -> ClaimJudgement:
    """Shared fraction (PB) < 0.9 AND correlation-paired 1-1 SVCCA with p < alpha and excess over its
    null >= HIGH_EXCESS, on the same seed pair.

    The claim's second half is *high* similarity; p < alpha alone only said "above chance" (0.68
    against a null mean of 0.435 is 0.43 of the way from chance to identical; App. A reports 0.94
    against 0.004), so the excess is required as in W1. Controls as W1's, on the 1-1 filtered set
    (``one_to_one_filtered_random_partner``)."""
    ov, rec, ctrl_rec = records["overlap"], records["lan"], records["control_lan"]
    shared = ov.get("fraction_shared", math.nan)
    claim = _x1(shared, rec, procedure.alpha)
    cos = rec.get("decoder_cosine") if isinstance(rec.get("decoder_cosine"), Mapping) else {}
    claim.measured.update(
        pb_pw_mcc=ov.get("pw_mcc_decoder"),
        lan_svcca_cos_pairing=cos.get("svcca"),
        lan_p_cos_pairing=judging_p(cos, "svcca"),
    )
    if not isinstance(ctrl_rec.get("one_to_one_filtered"), Mapping):  # an empty control record
        return _with_control(claim, missing("the control record has no 'one_to_one_filtered' pair set"))
    ctrl = _x1(shared, ctrl_rec, procedure.alpha)
    c = ctrl_rec["one_to_one_filtered"]
    shown = {
        "shuffled_n": c.get("n_pairs"),
        "shuffled_svcca": c.get("svcca"),
        "shuffled_excess": excess(c, "svcca"),
        "shuffled_p": judging_p(c, "svcca"),
    }
    rp_key = "one_to_one_filtered_random_partner"
    rp = _x1(ov["fraction_shared"], rec, procedure.alpha, rp_key) if isinstance(rec.get(rp_key), Mapping) else None
    if rp is not None:
        shown.update(
            random_partner_n=rp.measured["n_pairs"],
            random_partner_excess=rp.measured["lan_excess_corr_pairing"],
            random_partner_p=rp.measured["lan_p_corr_pairing"],
        )
    return _with_control(claim, _either(ctrl, rp), shown=shown)


# ----------------------------------------------------------------------------- P: seed stability
# The seed-stability rules (P1-P3) live in their own module and register themselves on import.
from harness.verdicts import seed_rules as _seed_rules  # noqa: E402, F401  # registers P1-P3; needs register_rule above
