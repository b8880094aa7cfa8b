"""Claim rules as pure functions over a run's experiment records: every family registered, and
judging a claim by its rule (:func:`judge`, :func:`judge_available` for records this suite did not write).

The rules live per claim family -- :mod:`harness.verdicts.whole_space` (U1-U8, W2),
:mod:`harness.verdicts.semantic` (S1-S5), :mod:`harness.verdicts.seed_rules` (W1, X1, P1-P3) --
over the helpers of :mod:`harness.verdicts.common` and the registry of
:mod:`harness.verdicts.registry`; importing this module registers them all. Imports run one way:
``outcome`` <- ``registry`` <- ``common`` <- families <- ``rules`` <- ``recorder`` / ``stability``.

Each rule takes the experiment records it judges (dicts exactly as stored in ``results.json``,
by role: ``grid``, ``control_grid``, ``table``, ...) and the :class:`~harness.config.Procedure`
the run used, and returns a :class:`ClaimJudgement`: whether the claim's rule holds on the real
records, how its negative control came out under the same rule, what was measured, and, where
the data cannot decide, why (``inconclusive``). Nothing here computes a score: a saved run can be
judged again without recomputation (``sae-claims judge results.json``), and every rule is
unit-tested on constructed records (``tests/verdicts/test_whole_space.py``, ``test_semantic_rules.py``,
``test_seed_rules.py``, ``test_rules.py``).

Statistics, the same for every rule:
- significance is judged with the +1 rule, ``p = (1 + k) / (1 + N)`` (``*_p_plus_one``), at
  ``procedure.alpha``; a rule that needs ``p < alpha`` from a null of fewer than
  ``1/alpha - 1`` draws is *inconclusive* (no p-value could pass; :func:`harness.verdicts.common.needs_power`);
- the records' ``*_p`` (the procedure's own rule, ``k/N`` under ``paper``) is reported, not judged;
- a rule that counts significant cells ("almost all", "most", ">= 90%") counts Benjamini-Hochberg
  discoveries at false-discovery rate ``alpha`` over its stated family of cells
  (:func:`harness.verdicts.common.count_significant`): among the cells counted, the expected share of false ones is at most
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
from collections.abc import Mapping
from typing import Any

from harness.config import Procedure
from harness.verdicts import semantic as _semantic  # noqa: F401  # registers S1-S5
from harness.verdicts import seed_rules as _seed_rules  # noqa: F401  # registers W1, X1, P1-P3
from harness.verdicts import whole_space as _whole_space  # noqa: F401  # registers U1-U8, W2
from harness.verdicts.common import judging_p
from harness.verdicts.registry import (  # the types and registry every rule family shares
    CONTROL_PREFIX,
    ROLES,
    RULES,
    ClaimJudgement,
    Judgement,
    MissingInput,
    missing,
    register_rule,
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
    """Apply ``claim_id``'s registered rule to ``records`` (role -> record). A claim record that holds
    nothing (:func:`empty_record`: no cells, tables, pairs) makes the claim *not run* ("needs ..."),
    never "not reproduced"; a control record that holds nothing makes the control *not run*: its half
    of the rule is not evidence that the rule discriminates."""
    if claim_id not in RULES:
        raise KeyError(f"No rule registered for claim {claim_id!r}; known: {', '.join(sorted(RULES))}.")
    absent = [r for r in ROLES[claim_id] if r not in records]
    if absent:
        raise KeyError(f"{claim_id} needs the records {list(ROLES[claim_id])}; missing {absent}.")
    hollow = {r: why for r in ROLES[claim_id] if (why := empty_record(records[r])) is not None}
    own = {r: why for r, why in hollow.items() if not r.startswith(CONTROL_PREFIX)}
    if own:  # the claim's own record holds nothing: nothing was judged (never "not reproduced")
        why = "; ".join(f"the {r!r} record is empty ({w})" for r, w in own.items())
        return ClaimJudgement(missing(f"needs something to judge: {why}"), None)
    empty = {r: why for r, why in hollow.items() if r.startswith(CONTROL_PREFIX)}
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
    except KeyError as exc:  # a structural field of an outside record is absent (e.g. a grid without 'cells')
        field = exc.args[0] if exc.args else "?"
        return ClaimJudgement(missing(f"needs the field {field!r} in the {list(roles)} records (absent)"), None)
    if not absent:
        return j
    reasons = [f"no {r} record: no negative control was run" for r in absent]
    reasons += [
        f"the {r} record is empty ({empty})"
        for r in roles
        if r.startswith(CONTROL_PREFIX) and r not in absent and (empty := empty_record(records[r])) is not None
    ]
    return dataclasses.replace(j, control_not_run="; ".join(reasons))
