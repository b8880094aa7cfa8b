"""One-line reasons in words for the report's first screen: why a claim row has its verdict.

A reason names the rule's statistic with its count or interval and the negative control's
outcome with its own, e.g. ``"rule holds: 15/15 cells significant (BH; 12 needed); control:
shuffled positions 0/15, random partners 14/15 significant: not distinguished"``. It is built
from the row's ``measured`` fields (the verdict's inputs), never from a hand-written summary, so it
follows the data. Claims whose record has none of the known fields get their first scalars.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["ABSENT", "brief_reason", "fmt_number", "fmt_value", "reason", "strip_dict_dumps"]

ABSENT = "—"
"""How the report writes an absent or undefined value (never ``nan``, ``None`` or ``-1``)."""

MAX_REASON = 240
"""Longest reason (characters); longer ones end in an ellipsis."""


def fmt_number(x: Any, digits: int = 3) -> str:
    """A number for a table cell: floats to ``digits`` decimals (tiny ones in 2 significant digits),
    ints as they are, NaN / None / inf as :data:`ABSENT`."""
    if x is None or isinstance(x, bool):
        return ABSENT if x is None else ("yes" if x else "no")
    if isinstance(x, int):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return ABSENT
    if v != 0 and abs(v) < 10 ** (-digits):
        return f"{v:.2g}"
    return f"{v:.{digits}f}"


def fmt_value(x: Any) -> str:
    """Any measured value in words: numbers by :func:`fmt_number`, 2-number lists as an interval
    ``[a, b]``, short lists comma-separated, long ones as a count, dicts as ``k v; ...``."""
    if isinstance(x, (list, tuple)):
        if not x:
            return ABSENT
        if all(isinstance(v, dict) for v in x):
            return f"{len(x)} records"
        if len(x) == 2 and all(isinstance(v, (int, float)) or v is None for v in x):
            return f"[{fmt_number(x[0])}, {fmt_number(x[1])}]"
        if len(x) <= 6:
            return ", ".join(fmt_value(v) for v in x)
        return f"{len(x)} values"
    if isinstance(x, dict):
        return "; ".join(f"{k} {fmt_value(v)}" for k, v in x.items())
    if isinstance(x, str):
        return x if x else ABSENT
    return fmt_number(x)


def strip_dict_dumps(text: str) -> str:
    """``text`` without the Python dict dumps some rules append in parentheses (``" ({'a': 1})"``)."""
    return re.sub(r"\s*\(\{.*?\}\)(?=[:;,.]|$)", "", text).strip()


def _frac(k: Any, n: Any) -> str:
    return f"{fmt_number(k)}/{fmt_number(n)}"


def _interval(ci: Any) -> str:
    return fmt_value(list(ci)) if isinstance(ci, (list, tuple)) and len(ci) == 2 else ABSENT


def _statistic(m: dict[str, Any], *, brief: bool = False) -> str | None:
    """The statistic a rule of this shape reads, in words (None: no known field); ``brief``
    leaves out how many cells the rule needs (a control's count)."""
    if "n_distinguished" in m and "n_cells" in m:  # U1/U2's random-partner contrast
        real = next((k for k in m if k.startswith("mean_") and k.endswith("_real")), None)
        rp = next((k for k in m if k.startswith("mean_") and k.endswith("_random_partner_sets")), None)
        means = f": mean {fmt_number(m[real])} vs {fmt_number(m[rp])}" if real and rp else ""
        return (
            f"real pairing beats random-partner sets in {_frac(m['n_distinguished'], m['n_cells'])} cells (BH){means}"
        )
    if "n_discoveries_bh" in m and "n_family" in m:
        what = "cells significant"
        if "fraction_test2_pass" in m:
            what = "categories beat Test 2"
        elif "fraction_beats_same_size_random" in m:
            what = "cells beat same-size random sets"
        elif "rsa_fraction_significant" in m:
            what = "cells with RSA significant"
        needed = "" if brief else f"; {fmt_number(m.get('n_needed'))} needed"
        return f"{_frac(m['n_discoveries_bh'], m['n_family'])} {what} (BH{needed})"
    if "n_significant" in m and "n_scored" in m:
        return f"{_frac(m['n_significant'], m['n_scored'])} categories significant"
    if "n_significant" in m and "n_cells" in m:
        return f"{_frac(m['n_significant'], m['n_cells'])} cells significant"
    if "fraction_significant" in m and "n_cells" in m:
        return f"{fmt_number(m['fraction_significant'], 2)} of {m['n_cells']} cells significant"
    if "difference" in m and "difference_ci" in m:
        return f"difference {fmt_number(m['difference'])} {_interval(m['difference_ci'])}"
    if "total_drop" in m and "total_drop_ci" in m:
        return f"drop over the sweep {fmt_number(m['total_drop'])} {_interval(m['total_drop_ci'])}"
    if "mean" in m and "ci" in m:
        band = m.get("band")
        inside = f" vs band ({fmt_number(band[0], 2)}, {fmt_number(band[1], 2)})" if isinstance(band, list) else ""
        return f"mean shared fraction {fmt_number(m['mean'])} {_interval(m['ci'])}{inside}"
    if "many_to_one_filtered" in m and isinstance(m["many_to_one_filtered"], dict):
        v = m["many_to_one_filtered"]
        return f"filtered many-to-1 SVCCA excess {fmt_number(v.get('excess'))} (p {fmt_number(v.get('p'))})"
    if "lan_excess_corr_pairing" in m:
        return f"SVCCA excess {fmt_number(m['lan_excess_corr_pairing'])}, shared fraction {fmt_number(m.get('pb_fraction_shared'))}"
    if "shuffled_excess" in m:
        return f"shuffled pairing excess {fmt_number(m['shuffled_excess'])} (p {fmt_number(m.get('shuffled_p'))})"
    n0 = next((k for k in m if k.startswith("n_cells_")), None)
    if "n_equivalent" in m and n0:
        return f"{_frac(m['n_equivalent'], m[n0])} cells shown equivalent to chance"
    if "interior_minus_edge_excess" in m:
        return (
            f"interior minus edge excess {fmt_number(m['interior_minus_edge_excess'])}, "
            f"layer-label p {fmt_number(m.get('layer_label_p'))} ({m.get('layer_label_placements')} placements)"
        )
    if "middle_block_excess_advantage" in m:
        return (
            f"middle-block excess advantage {fmt_number(m['middle_block_excess_advantage'])}, "
            f"layer-label p {fmt_number(m.get('layer_label_p'))}"
        )
    if "fraction_placebo_beats_siblings" in m or "fraction_placebo_filter_beats_siblings" in m:
        f = m.get("fraction_placebo_beats_siblings", m.get("fraction_placebo_filter_beats_siblings"))
        return f"placebo beats its siblings in {fmt_number(f, 2)} of cells ({fmt_number(m.get('n_discoveries_bh'))} BH)"
    if "split_half_reliability" in m:
        return f"split-half reliability {fmt_number(m['split_half_reliability'], 2)}"
    if "pairs_1to1_min" in m:
        return f"1-1 pairs per cell {m['pairs_1to1_min']}-{m.get('pairs_1to1_max')}"
    if "control_reading" in m:
        return str(m["control_reading"])
    return None


def _fallback(m: dict[str, Any], n: int = 3) -> str:
    parts = [
        f"{k.replace('_', ' ')} {fmt_number(v)}"
        for k, v in m.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "control"
    ]
    return ", ".join(parts[:n]) or "no measured numbers"


def _control(m: dict[str, Any]) -> str:
    """The control's own statistic(s), e.g. ``"shuffled positions 0/15 cells ...; random partner ..."``."""
    ctrl = m.get("control")
    if not isinstance(ctrl, dict) or not ctrl:
        return ""
    own = _statistic(ctrl, brief=True)
    if own is not None:
        return own
    parts = []
    for name, sub in ctrl.items():
        if not isinstance(sub, dict) or str(sub.get("what", "")).startswith("sanity"):
            continue
        stat = _statistic(sub, brief=True)
        if stat is not None:
            parts.append(f"{name.replace('_', ' ')}: {stat}")
    return "; ".join(parts) or _fallback(ctrl, 2)


_CONTROL_WORDS = {
    "other way": "other way",
    "same way": "same way (not distinguished)",
    "not run": "not run: the rule's power is untested",
    "inconclusive": "cannot be judged",
}


def reason(row: dict[str, Any]) -> str:
    """One line in words: the rule's statistic, whether it holds, and the control's contrast.

    ``row`` is a claim row of ``results.json`` (``verdict``, ``rule_holds``, ``control_outcome``,
    ``measured``, ``detail``, ``inconclusive``). Not-run rows give their reason; inconclusive rows
    why the data cannot decide. At most :data:`MAX_REASON` characters."""
    verdict = row.get("verdict")
    if verdict == "not run":
        text = strip_dict_dumps(str(row.get("detail") or "not run"))
    elif verdict == "inconclusive":
        why = str(row.get("inconclusive") or row.get("detail") or "the data cannot decide")
        text = strip_dict_dumps(re.sub(r"^inconclusive:\s*", "", why))
    else:
        m = row.get("measured") or {}
        stat = _statistic(m) or _fallback(m)
        holds = row.get("rule_holds")
        if holds is None and verdict == "reproduced":
            holds = True  # a reproduced claim's rule held
        text = stat if holds is None else f"{'rule holds' if holds else 'rule fails'}: {stat}"
        outcome = row.get("control_outcome")
        if outcome:
            ctrl = _control(m)
            text += f"; control {_CONTROL_WORDS.get(outcome, outcome)}" + (f" — {ctrl}" if ctrl else "")
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1].rstrip() + "…"


MAX_BRIEF = 40
"""Longest brief reason (characters): what fits on one line beside a verdict in the first screen's
matrix at 1,280 px."""


def _interval2(ci: Any) -> str:
    ok = isinstance(ci, (list, tuple)) and len(ci) == 2
    return f"[{fmt_number(ci[0], 2)}, {fmt_number(ci[1], 2)}]" if ok else ABSENT


def _short_statistic(m: dict[str, Any]) -> str | None:
    """The rule's statistic in a few words, e.g. ``"15/15 cells (BH)"`` (None: no known field)."""
    if "n_discoveries_bh" in m and "n_family" in m:
        unit = "categories" if "fraction_test2_pass" in m else "cells"
        return f"{_frac(m['n_discoveries_bh'], m['n_family'])} {unit} (BH)"
    if "n_significant" in m and "n_scored" in m:
        return f"{_frac(m['n_significant'], m['n_scored'])} categories"
    if "difference" in m and "difference_ci" in m:
        return f"diff {fmt_number(m['difference'], 2)} {_interval2(m['difference_ci'])}"
    if "total_drop" in m:
        return f"drop {fmt_number(m['total_drop'], 2)}"
    if "mean" in m and "ci" in m:
        return f"mean {fmt_number(m['mean'], 2)} {_interval2(m['ci'])}"
    if isinstance(m.get("many_to_one_filtered"), dict):
        return f"excess {fmt_number(m['many_to_one_filtered'].get('excess'), 2)}"
    if "lan_excess_corr_pairing" in m:
        return f"excess {fmt_number(m['lan_excess_corr_pairing'], 2)}"
    n0 = next((k for k in m if k.startswith("n_cells_")), None)
    if "n_equivalent" in m and n0:
        return f"{_frac(m['n_equivalent'], m[n0])} equivalent"
    if "layer_label_p" in m:
        return f"layer-label p {fmt_number(m['layer_label_p'], 2)}"
    if "split_half_reliability" in m:
        return f"reliability {fmt_number(m['split_half_reliability'], 2)}"
    if "pairs_1to1_min" in m:
        return f"{m['pairs_1to1_min']}-{m.get('pairs_1to1_max')} pairs"
    return None


def brief_reason(row: dict[str, Any]) -> str:
    """The core of :func:`reason` for the verdict matrix, e.g. ``"15/15 cells (BH); ctrl same way"``
    or ``"unstable over seeds"`` (at most :data:`MAX_BRIEF` characters)."""
    verdict = row.get("verdict")
    first = re.split(r"[:(;]", reason(row), maxsplit=1)[0].strip()
    if verdict == "not run" or (verdict == "inconclusive" and first.startswith("unstable")):
        text = first
    elif verdict == "inconclusive":
        text = _short_statistic(row.get("measured") or {}) or first
    else:
        m = row.get("measured") or {}
        text = _short_statistic(m) or _fallback(m, 1)
        outcome = row.get("control_outcome")
        if outcome and not (outcome == "same way" and row.get("rule_holds")):  # else the verdict words say it
            text += f"; ctrl {outcome}"
    text = " ".join(text.split())
    return text if len(text) <= MAX_BRIEF else text[: MAX_BRIEF - 1].rstrip() + "…"
