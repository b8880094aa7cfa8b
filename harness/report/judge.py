"""``sae-claims judge FILE``: check a results file against the schema, then judge every claim row.

The file may come from this suite (``reports/<profile>/results.json``) or from anywhere else in
the documented schema (``harness/report/results.schema.json``), e.g. one built from a paper's
printed numbers (``examples/paper-printed-numbers.json``). Two steps:

1. :func:`validate` names every problem -- the file, the JSON path, what is missing or wrong, and
   which claim rows read that record (``inputs``) -- before anything is judged. Each experiment is
   checked against the schema of its own ``kind`` (a grid against ``Grid``, ...), so a missing field
   is named as such instead of "matches none of the record kinds". A field the source does not
   give is marked missing with ``null`` where the schema allows it; an absent key is a problem.
2. :func:`judge_results` judges each row that names its input records with the registered rule,
   leniently (:func:`harness.verdicts.rules.judge_available`): an absent record the claim needs
   makes it *not run* ("needs X"), an absent or empty control makes the control *not run* (a
   holding rule is then inconclusive, never reproduced), and a rule that fails on a record is
   reported on its own row (``error``) without stopping the others. Rows without ``inputs`` (a
   claim the run did not reach) keep their stored verdict and reason.

Nothing here recomputes a score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

__all__ = [
    "JudgedRow",
    "Problem",
    "ResultsFileError",
    "judge_results",
    "load_results",
    "grouped",
    "nan_for_null",
    "procedure_of",
    "reason_of",
    "validate",
]

#: The schema definition each experiment ``kind`` is checked against.
KIND_DEFS = {
    "grid": "Grid",
    "semantic": "SemanticTable",
    "semantic_grid": "SemanticGrid",
    "preflight": "Preflight",
    "seed_pair": "SeedPairRecord",
    "seed_overlap": "SeedPairRecord",
    "seed_overlaps": "SeedPairRecord",
    "seed_overlap_sweep": "SeedPairRecord",
}


#: What the rules use a field for (named next to a problem with it); fields not listed are reported only.
FIELD_USES = {
    "layer_a": "every grid and semantic rule (which cells are layer 0, U4/S5's layer blocks)",
    "layer_b": "every grid and semantic rule (which cells are layer 0, U4/S5's layer blocks)",
    "cells": "every rule that reads the record",
    "tables": "S3, S5",
    "kind": "which schema the record follows",
    "n_pairs": "U8 (1-1 counts against Tables 6/8) and the semantic tables' sizes",
    "n_pairs_m21": "U8 (many-to-1 counts against Tables 5/7)",
    "n_pairs_unfiltered": "U8's report, not its judgement",
    "svcca": "every SVCCA rule (U1-U7, S1-S5, W1, W2, X1)",
    "svcca_null_mean": "the excess over chance (U2-U4, U7, S2, S4, S5, W1, W2, X1)",
    "svcca_p": "significance (U1, S1, S2, W1, W2, X1)",
    "rsa": "U2, S4",
    "rsa_null_mean": "U2, S4 (RSA's excess over chance)",
    "rsa_p": "U2, S4 (RSA significance)",
    "mean_max_corr": "U7",
    "svcca_m21": "U5 (the paper's raw many-to-1 comparison, reported)",
    "size_matched_m21_p": "U5",
    "size_matched_unfiltered_p": "U6",
    "svcca_rp_contrast_p": "U1's control (the real pairing ranked among filter-aware random-partner sets)",
    "rsa_rp_contrast_p": "U2's control (the real pairing's RSA ranked among filter-aware random-partner sets)",
    "svcca_excess_half1": "U7 (the split-half reliability its correlation is disattenuated for)",
    "svcca_excess_half2": "U7 (the split-half reliability its correlation is disattenuated for)",
    "n_permutations": "every significance rule (whether p < alpha is reachable)",
    "category": "S1, S2, S4 (which table row)",
    "verdict": "the stored outcome that --check compares with",
    "inputs": "which records the row's rule reads",
}


class ResultsFileError(HarnessError):
    """The results file cannot be read at all (absent, not JSON, not an object)."""


@dataclass(frozen=True)
class Problem:
    """One way a results file departs from the schema."""

    path: str
    """JSON path inside the file, e.g. ``experiments["grid paper"].cells[3]``."""
    message: str
    """What is missing or wrong, and how to fix it."""
    needed_by: tuple[str, ...] = ()
    """The claim rows (``U8/paper as grid``) that read the record the problem is in."""

    def describe(self, file: Path | str) -> str:
        used = f" -- read by {', '.join(self.needed_by)}" if self.needed_by else ""
        return f"{file}: {self.path}: {self.message}{used}"


@dataclass(frozen=True)
class JudgedRow:
    """One claim row of the file, judged again."""

    id: str
    procedure: str
    profile: str
    """The profile whose models the row's records are of (a file may hold several: Pythia and Gemma)."""
    stored: str | None
    stored_control: str | None
    verdict: str
    control: str | None
    reason: str
    rejudged: bool
    """False: the row names no input records (kept as stored)."""
    error: str | None = None
    """The rule failed on these records (a bug or an unforeseen record): type and message."""

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "procedure": self.procedure,
            "profile": self.profile,
            "stored": self.stored,
            "stored_control": self.stored_control,
            "rejudged": self.verdict if self.rejudged else None,
            "control": self.control,
            "detail": self.reason,
            "error": self.error,
        }

    @property
    def changed(self) -> bool:
        return self.rejudged and (self.verdict, self.control) != (self.stored, self.stored_control)


def load_results(path: Path | str) -> dict[str, Any]:
    """The parsed file; :class:`ResultsFileError` naming the problem when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"{path}: no such file; pass the results.json of a report directory.")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsFileError(f"{path}: not a JSON file ({exc}).") from None
    if not isinstance(data, dict):
        raise ResultsFileError(f"{path}: the top level must be an object with 'claims' and 'experiments'.")
    return data


def _json_path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if str(p).isidentifier() else f"[{json.dumps(p)}]")
    return out.lstrip(".") or "(top level)"


def _readers(data: dict[str, Any]) -> dict[str, list[str]]:
    """Experiment name -> the claim rows that read it (``U8/paper as grid``)."""
    out: dict[str, list[str]] = {}
    for row in data.get("claims") or []:
        if isinstance(row, dict) and isinstance(row.get("inputs"), dict):
            for role, name in row["inputs"].items():
                out.setdefault(str(name), []).append(f"{row.get('id')}/{row.get('procedure')} as {role}")
    return out


def _message(error: Any, schema_defs: dict[str, Any]) -> str:
    """A jsonschema error in words, with the fix for a missing field."""
    if error.validator == "required":
        field = error.message.split("'")[1] if "'" in error.message else error.message
        prop = (error.schema.get("properties") or {}).get(field, {})
        nullable = any(t.get("type") == "null" for t in prop.get("anyOf", [])) or prop.get("type") == "null"
        hint = "; mark it null if the source does not give it" if nullable else "; it cannot be null: give its value"
        use = FIELD_USES.get(field)
        return f"missing field {field!r}{hint}" + (f" (used by {use})" if use else " (reported only)")
    if error.validator == "additionalProperties":
        return f"{error.message} (the schema has no such field: check its spelling, or drop it)"
    return error.message if len(error.message) <= 300 else error.message[:300] + "..."


def validate(data: dict[str, Any], schema: dict[str, Any] | None = None) -> list[Problem]:
    """Every departure of ``data`` from the results schema (:data:`harness.report.schema.SCHEMA_PATH`),
    each experiment against its own kind's definition, plus claim rows whose ``inputs`` name an
    experiment the file does not hold. Empty when the file is valid."""
    import jsonschema

    from harness.report.schema import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text()) if schema is None else schema
    defs = schema["$defs"]
    readers = _readers(data)
    problems: list[Problem] = []

    def check(node: Any, ref: str, prefix: list[Any], needed_by: tuple[str, ...] = ()) -> None:
        v = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{ref}", "$defs": defs})
        for e in sorted(v.iter_errors(node), key=lambda e: list(e.absolute_path)):
            problems.append(Problem(_json_path([*prefix, *e.absolute_path]), _message(e, defs), needed_by))

    top = {k: v for k, v in schema.items() if k != "$defs"}
    outer = jsonschema.Draft202012Validator({**top, "$defs": defs})
    shallow = {**data, "experiments": {}} if isinstance(data.get("experiments"), dict) else data
    for e in sorted(outer.iter_errors(shallow), key=lambda e: list(e.absolute_path)):
        problems.append(Problem(_json_path(list(e.absolute_path)), _message(e, defs)))
    exps = data.get("experiments")
    if isinstance(exps, dict):
        for name, rec in exps.items():
            used = tuple(readers.get(name, ()))
            where = ["experiments", name]
            kind = rec.get("kind") if isinstance(rec, dict) else None
            if kind not in KIND_DEFS:
                problems.append(
                    Problem(
                        _json_path(where),
                        f"unknown or missing 'kind' {kind!r}; one of {sorted(KIND_DEFS)}",
                        used,
                    )
                )
                continue
            check(rec, KIND_DEFS[kind], where, used)
    names = set(exps) if isinstance(exps, dict) else set()
    for i, row in enumerate(data.get("claims") or []):
        if isinstance(row, dict) and isinstance(row.get("inputs"), dict):
            for role, name in row["inputs"].items():
                if name not in names:
                    problems.append(
                        Problem(
                            _json_path(["claims", i, "inputs", role]),
                            f"names experiment {name!r}, which the file does not hold under 'experiments'",
                            (f"{row.get('id')}/{row.get('procedure')} as {role}",),
                        )
                    )
    return problems


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    out: list[str] = []
    for i in sorted(set(indices)):
        if out and out[-1].split("-")[-1] == str(i - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{i}"
        else:
            out.append(str(i))
    return ", ".join(out)


def grouped(problems: list[Problem]) -> list[Problem]:
    """``problems`` with those that differ only in a list index (the same field missing in many
    cells) merged into one, ``cells[*]`` naming the indices."""
    import re

    groups: dict[tuple[str, str, tuple[str, ...]], list[list[int]]] = {}
    for pr in problems:
        key = (re.sub(r"\[\d+\]", "[*]", pr.path), pr.message, pr.needed_by)
        groups.setdefault(key, []).append([int(x) for x in re.findall(r"\[(\d+)\]", pr.path)])
    out = []
    for (path, message, needed_by), idx in groups.items():
        if len(idx) == 1:
            out.append(Problem(re.sub(r"\[\*\]", "[{}]", path).format(*idx[0]), message, needed_by))
            continue
        where = "; ".join(
            f"indices {_ranges([i[k] for i in idx])}" for k in range(len(idx[0])) if len({i[k] for i in idx}) > 1
        )
        out.append(Problem(path, f"{message} (in {len(idx)} entries: {where})", needed_by))
    return out


def nan_for_null(x: Any) -> Any:
    """``x`` with every null leaf of its dicts and lists read back as NaN (the report writes NaN as null)."""
    if isinstance(x, dict):
        return {k: nan_for_null(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_for_null(v) for v in x]
    return math.nan if x is None else x


def procedure_of(name: str, provenance: dict[str, Any]) -> Any:
    """The procedure a saved run used: its recorded settings (provenance) if present, else the preset."""
    from harness.config import Procedure, get_procedure
    from harness.verdicts.seed_rules import PB_METHOD

    settings = dict(provenance.get("procedure_settings") or {}).get(name)
    if not isinstance(settings, dict):
        return PB_METHOD if name == PB_METHOD.name else get_procedure(name)
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return Procedure(**fields)


def reason_of(verdict: str, control: str | None, detail: str, inconclusive: str | None, rule_holds: bool | None) -> str:
    """The one-line reason a table shows: the inconclusive or not-run reason, else what decided
    (the control's numbers stay in the report's ``measured``)."""
    if inconclusive:
        return f"inconclusive: {inconclusive}"
    if verdict == "not run":
        return detail if detail.startswith("not run") else f"not run: {detail}"
    if verdict == "reproduced":
        return (
            "the rule holds and its negative control comes out the other way"
            if control == "other way"
            else "the rule holds (the claim has no negative control of its own)"
        )
    head = "the rule holds" if rule_holds else "the rule does not hold on the claim's own records"
    if control == "same way":
        return f"{head}; its negative control satisfies the rule too (the rule does not discriminate here)"
    if control == "not run":
        return f"{head}; control not run"
    return head


def _with_control_note(reason: str, control: str | None) -> str:
    return (
        reason
        if control != "not run" or "control not run" in reason or "control was not run" in reason
        else (f"{reason}; control not run")
    )


def judge_results(path: Path | str, data: dict[str, Any] | None = None) -> list[JudgedRow]:
    """Judge every claim row of a results file again (no recomputation), one row at a time: a row
    whose rule fails is reported with ``error`` and the others are still judged."""
    from harness.verdicts.rules import RULES, judge_available
    from harness.verdicts.stability import apply_stability

    data = load_results(path) if data is None else data
    profile = data.get("profile")
    exps = data.get("experiments") if isinstance(data.get("experiments"), dict) else {}
    exps = nan_for_null(exps)  # strict JSON: an undefined score is null; the rules read it as NaN
    provenance: dict[str, Any] = data["provenance"] if isinstance(data.get("provenance"), dict) else {}
    out: list[JudgedRow] = []
    for row in data.get("claims") or []:
        if not isinstance(row, dict):
            continue
        cid, proc_name = str(row.get("id")), str(row.get("procedure"))
        row_profile = str(row.get("profile", profile))
        stored, stored_ctrl = row.get("verdict"), row.get("control_outcome")
        inputs = row.get("inputs")
        if not isinstance(inputs, dict) or cid not in RULES:
            why = str(row.get("detail") or "") or ("no rule registered for this claim" if cid not in RULES else "")
            out.append(
                JudgedRow(
                    cid,
                    proc_name,
                    row_profile,
                    stored,
                    stored_ctrl,
                    str(stored),
                    stored_ctrl,
                    why or "(no reason stored)",
                    False,
                )
            )
            continue
        absent = sorted(n for n in inputs.values() if n not in exps)
        if absent:
            why = f"not run: the file holds no experiment named {absent} (inputs of this row)"
            out.append(JudgedRow(cid, proc_name, row_profile, stored, stored_ctrl, "not run", None, why, True))
            continue
        try:
            proc = procedure_of(proc_name, provenance)
        except (HarnessError, TypeError) as exc:  # an unknown preset or malformed recorded settings
            why = f"not run: the row's procedure cannot be read ({exc})"
            out.append(JudgedRow(cid, proc_name, row_profile, stored, stored_ctrl, "not run", None, why, True))
            continue
        try:
            j = judge_available(
                cid,
                {role: exps[name] for role, name in inputs.items()},
                proc,
                profile=row_profile,
            )
            # a claim the committed seed sweep found unstable was stored inconclusive: judge it so again
            c = apply_stability(j.conclusion(), row.get("seed_stability"))
        except Exception as exc:  # one broken claim never stops the others; the row says what failed
            err = f"{type(exc).__name__}: {exc}"
            why = f"not run: the rule failed on these records ({err})"
            out.append(JudgedRow(cid, proc_name, row_profile, stored, stored_ctrl, "not run", None, why, True, err))
            continue
        reason = _with_control_note(
            reason_of(c.verdict, c.control_outcome, c.detail, c.inconclusive, j.rule_holds), c.control_outcome
        )
        out.append(
            JudgedRow(cid, proc_name, row_profile, stored, stored_ctrl, c.verdict, c.control_outcome, reason, True)
        )
    return out
