"""results.json: the typed schema, its generated JSON Schema, and strict JSON."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from harness.report.schema import SCHEMA_PATH, dumps, json_schema, nan_if_null, schema_text

REPO_ROOT = Path(__file__).resolve().parents[2]


def _refuse(name: str) -> float:
    raise AssertionError(f"non-JSON constant {name}")


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(data: Any) -> list[str]:
    """Every violation, with those inside a union (an experiment's kinds) listed too."""

    def flat(errors: Any) -> list[str]:
        return [m for e in errors for m in [f"{list(e.absolute_path)}: {e.message[:200]}", *flat(e.context or [])]]

    return flat(_validator().iter_errors(data))


def test_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "harness/report/results.schema.json is stale: run `python -m harness.report.schema` and commit it"
    )
    assert json_schema()["title"] == "Results"


def test_committed_smoke_report_validates() -> None:
    # Python's reader: reports written before strict JSON hold NaN (a JSON number to the validator).
    data = json.loads((REPO_ROOT / "reports" / "smoke" / "results.json").read_text())
    assert _errors(data) == []
    kinds = {e["kind"] for e in data["experiments"].values()}
    assert {"grid", "semantic", "preflight"} <= kinds  # the smoke run records every experiment the rules read
    assert kinds <= {
        "grid",
        "semantic",
        "preflight",
        "semantic_grid",
        "seed_pair",
        "seed_overlap",
        "seed_overlaps",
        "seed_overlap_sweep",
    }


def test_strict_json_writes_null_for_nan_and_inf() -> None:
    text = dumps(
        {
            "a": math.nan,
            "b": [math.inf, np.float32("nan"), -math.inf],
            "c": np.int64(3),
            "d": np.array([0.5, np.nan]),
            "e": (1, 2),
            "f": np.bool_(True),
        }
    )
    assert json.loads(text, parse_constant=_refuse) == {
        "a": None,
        "b": [None, None, None],
        "c": 3,
        "d": [0.5, None],
        "e": [1, 2],
        "f": True,
    }
    assert nan_if_null(None) != nan_if_null(None) and nan_if_null(0.25) == 0.25


@pytest.fixture(scope="module")
def fresh_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A report written by the real pipeline on the fixture world (one layer pair, small nulls)."""
    from fixtures.profile import smoke_profile
    from harness.config import CORRECTED
    from harness.experiments.grid import LoadedPair, pair_counts, run_grid, run_semantic
    from harness.report.run import write_run_report
    from harness.verdicts.recorder import ClaimRecorder, Expectations, RunStore

    tmp = tmp_path_factory.mktemp("fresh")
    prof = dataclasses.replace(smoke_profile(), permutations=9, permutations_semantic=9, random_subsets=3)
    world = LoadedPair(prof, cache_dir=tmp / "cache")
    store = RunStore()
    rec = ClaimRecorder("smoke", store=store, expectations=Expectations(tmp / "expected"))
    grid = run_grid(world, CORRECTED, layers_a=[1], layers_b=[1])
    ctrl = run_grid(world, CORRECTED, control=True, layers_a=[1], layers_b=[1], match_pairs=pair_counts(grid))
    la, lb = prof.semantic_table
    sem = run_semantic(world, CORRECTED, la, lb, paper_table=prof.paper_semantic_table)
    for name, record in (
        ("grid corrected", grid),
        ("grid corrected (control)", ctrl),
        (f"semantic A{la} x B{lb} corrected", sem),
        ("preflight", {"kind": "preflight", "sites": world.preflight}),
    ):
        rec.experiment(f"smoke:{name}", record)
    cell = grid["cells"][0]
    rec.conclude(
        "U1",
        "corrected",
        rule_holds=bool(cell["svcca_p"] < 0.05),
        measured={"svcca": cell["svcca"]},
        control={"svcca": ctrl["cells"][0]["svcca_top"]},
        control_holds=False,
    )
    rec.not_run("S2", "corrected", "needs the gemma profile")
    out = tmp / "report"
    write_run_report(
        out,
        profile="smoke",
        store=store,
        procedures=["paper", "corrected"],
        wall_s=1.0,
        device="cpu",
        token_manifest=world.tokens.manifest,
    )
    return json.loads((out / "results.json").read_text(), parse_constant=_refuse)  # strict JSON or it fails


def test_a_fresh_report_is_strict_json_and_validates(fresh_report: dict[str, Any]) -> None:
    assert _errors(fresh_report) == []
    assert {c["verdict"] for c in fresh_report["claims"]} >= {"not run"}
    assert fresh_report["provenance"]["procedure_settings"]["paper"]["one_to_one"] == "first_seen"


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("experiments", "grid corrected", "cells", 0, "scvca_p"), 0.1, "Additional properties"),
        (("experiments", "grid corrected", "kind"), "grids", ""),
        (("claims", 0, "verdict"), "reproduced-ish", ""),
        (("experiments", "grid corrected", "cells", 0, "svcca"), "0.5", ""),
        (("provenance", "procedure_settings", "paper", "p_rule"), "plus-one", ""),
    ],
)
def test_the_schema_rejects_drift(
    fresh_report: dict[str, Any], path: tuple[Any, ...], value: Any, complaint: str
) -> None:
    """Negative controls: a typo'd key, an unknown kind or verdict, a score as a string, a
    procedure value outside its vocabulary each fail validation."""
    bad = copy.deepcopy(fresh_report)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = _errors(bad)
    assert errors and any(complaint in e for e in errors), errors
