"""``sae-claims judge FILE`` (harness/report/judge.py, harness/cli.py): schema check first, every
problem named; then every claim row judged, missing inputs as "not run" / "control not run", one
broken rule never stopping the others; and the shipped example of the paper's printed numbers."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report.judge import grouped, judge_results, validate
from harness.verdicts.records import CLAIMS
from harness.verdicts.recorder import VERDICTS
from harness.verdicts.rules import ROLES

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "paper-printed-numbers.json"
PYTHIA_GRID = "Pythia-70m x Pythia-160m grid (authors' printout; Tables 5-6)"
GEMMA_TABLE = "Table 2: Gemma-1-2B L12 x Gemma-2-2B L14"
PYTHIA_TABLE = "Tables 1 and 9: Pythia-70m L3 x Pythia-160m L5"


def example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text())


def builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_paper_record", REPO_ROOT / "examples" / "build_paper_record.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------------------- the shipped example


def test_paper_example_is_valid_and_judged_for_every_claim(capsys: pytest.CaptureFixture[str]) -> None:
    data = example()
    assert validate(data) == []
    assert main(["judge", str(EXAMPLE)]) == 0
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    rows = judge_results(EXAMPLE)
    assert {r.id for r in rows} == set(CLAIMS)  # every claim of the inventory has a row
    for r in rows:
        assert r.rejudged and r.verdict in VERDICTS and r.reason.strip() and r.error is None
        assert f"| {r.id} " in out.out
    # the paper ran no negative controls: no claim can be reproduced from its numbers alone
    assert not [r for r in rows if r.verdict == "reproduced"]
    with_controls = [r for r in rows if r.verdict != "not run" and any(x.startswith("control_") for x in ROLES[r.id])]
    assert with_controls and all(r.control == "not run" for r in with_controls)


def test_paper_example_verdicts_say_what_the_printed_numbers_can_show() -> None:
    rows = {(r.id, r.profile): r for r in judge_results(EXAMPLE)}
    # S1: every Table 1 category has p = 0.00 of 1000: the rule holds, but there is no control
    s1 = rows[("S1", "paper")]
    assert s1.verdict == "inconclusive" and "rule holds but its negative control was not run" in s1.reason
    # S2: Table 2 gives no null spread: its agreement with itself is undecided, not a disagreement
    s2 = rows[("S2", "gemma")]
    assert s2.verdict == "inconclusive" and "no null spread" in s2.reason and "disagree" not in s2.reason
    # S4: MonthNames has Table 9's RSA but no SVCCA: the reason says so
    assert "MonthNames has no SVCCA score" in rows[("S4", "paper")].reason
    # the printed Pythia grid has no layer-0 row, and no null means
    assert rows[("U3", "paper")].verdict == "not run" and "needs layer-0 cells" in rows[("U3", "paper")].reason
    assert "no null means" in rows[("U4", "paper")].reason
    # Figs. 9-10 are heat maps: no mean max correlation per cell
    assert rows[("U7", "paper")].verdict == "not run" and "needs mean_max_corr" in rows[("U7", "paper")].reason
    # Tables 5-8 against themselves: the rule holds; no control
    assert rows[("U8", "gemma")].verdict == "inconclusive" and rows[("U8", "gemma")].control == "not run"
    # Paulo & Belrose's records are not part of the file
    assert rows[("P1", "paper")].verdict == "not run" and "needs the 'overlaps' record" in rows[("P1", "paper")].reason


def test_paper_example_numbers_come_from_the_committed_tables() -> None:
    """The committed records are what examples/build_paper_record.py builds from the project's tables."""
    from harness.profiles import get_profile
    from harness.report.schema import strict
    from harness.verdicts.paper_tables import paper_pair_counts

    mod = builder()
    assert strict(mod.experiments()) == example()["experiments"]
    exps = example()["experiments"]
    a1b1 = next(c for c in exps[PYTHIA_GRID]["cells"] if (c["layer_a"], c["layer_b"]) == (1, 1))
    assert a1b1["n_pairs"] == paper_pair_counts("paper")[("one_to_one", 1, 1)]
    assert a1b1["n_pairs_m21"] == paper_pair_counts("paper")[("many_to_one", 1, 1)]
    assert a1b1["n_pairs_unfiltered"] is None and a1b1["dead_a"] is None  # never printed: marked missing
    table2 = {c["category"]: c for c in exps[GEMMA_TABLE]["cells"]}
    for category, row in get_profile("gemma").paper_semantic_table.items():
        assert (table2[category]["n_pairs"], table2[category]["svcca"]) == (row["n"], row["svcca"])
    # Table 2's printed p = 0.07 of 1000 draws is judged by the +1 rule: (1 + 70) / 1001
    assert table2["Countries"]["svcca_p_plus_one"] == pytest.approx(71 / 1001)
    assert table2["Countries"]["svcca_p_paper"] == "70/1000"


# ----------------------------------------------------------------------------- schema check first


def _drop(data: dict[str, Any], path: tuple[Any, ...]) -> None:
    node = data
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]


@pytest.mark.parametrize(
    "path,named",
    [
        (("experiments", PYTHIA_GRID, "cells", 3, "n_pairs_unfiltered"), "n_pairs_unfiltered"),
        (("experiments", PYTHIA_GRID, "cells", 0, "dead_a"), "dead_a"),
        (("experiments", PYTHIA_GRID, "elapsed_s"), "elapsed_s"),
        (("experiments", PYTHIA_GRID, "cells", 7, "svcca"), "svcca"),
        (("experiments", GEMMA_TABLE, "cells", 2, "n_concept_b"), "n_concept_b"),
        (("experiments", PYTHIA_TABLE, "kind"), "kind"),
        (("provenance", "git_commit"), "git_commit"),
        (("claims", 0, "verdict"), "verdict"),
        (("schema_version",), "schema_version"),
    ],
)
def test_a_file_with_one_field_removed_names_it_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: tuple[Any, ...], named: str
) -> None:
    data = copy.deepcopy(example())
    _drop(data, path)
    broken = tmp_path / "results.json"
    broken.write_text(json.dumps(data))
    assert main(["judge", str(broken)]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    line = next(ln for ln in out.err.splitlines() if named in ln)
    assert str(broken) in line
    if path[0] == "experiments":  # the JSON path and the claims that read the record
        assert json.dumps(path[1]) in line and "read by" in line


def test_a_missing_field_says_whether_it_may_be_marked_null() -> None:
    data = copy.deepcopy(example())
    _drop(data, ("experiments", PYTHIA_GRID, "cells", 0, "dead_b"))
    _drop(data, ("experiments", PYTHIA_GRID, "cells", 0, "layer_a"))
    msgs = {pr.message for pr in validate(data)}
    assert "missing field 'dead_b'; mark it null if the source does not give it (reported only)" in msgs
    assert any(
        m.startswith("missing field 'layer_a'; it cannot be null: give its value (used by every grid") for m in msgs
    )
    _drop(data, ("experiments", PYTHIA_GRID, "cells", 1, "mean_max_corr"))
    assert any("'mean_max_corr'" in m and "(used by U7)" in m for m in (pr.message for pr in validate(data)))


def test_the_same_problem_in_many_cells_is_named_once() -> None:
    data = copy.deepcopy(example())
    for c in data["experiments"][PYTHIA_GRID]["cells"]:
        del c["svcca_k"]
    problems = grouped(validate(data))
    assert len(problems) == 1 and "(in 55 entries: indices 0-54)" in problems[0].message
    assert "U8/paper as grid" in problems[0].needed_by


def test_an_input_naming_an_absent_experiment_is_a_problem() -> None:
    data = copy.deepcopy(example())
    data["claims"][0]["inputs"]["grid"] = "no such record"
    (pr,) = validate(data)
    assert pr.path == "claims[0].inputs.grid" and "'no such record'" in pr.message


@pytest.mark.parametrize("text,why", [(None, "no such file"), ("{not json", "not a JSON file"), ("[1, 2]", "object")])
def test_an_unreadable_file_exits_2_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, why: str
) -> None:
    path = tmp_path / "results.json"
    if text is not None:
        path.write_text(text)
    assert main(["judge", str(path)]) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["judge", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for code in ("0  every row judged", "1  --check", "2  invalid input", "3  judged, but a rule failed"):
        assert code in text


# ----------------------------------------------------------------------------- judging, row by row


def test_one_broken_rule_never_stops_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.verdicts import rules

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug in U4")

    monkeypatch.setitem(rules.RULES, "U4", broken)
    assert main(["judge", str(EXAMPLE)]) == 3
    out = capsys.readouterr()
    assert "U4/paper (ZeroDivisionError: a bug in U4)" in out.err
    rows = judge_results(EXAMPLE)
    u4 = [r for r in rows if r.id == "U4"]
    assert u4 and all(r.verdict == "not run" and r.error and "the rule failed" in r.reason for r in u4)
    assert all(r.error is None for r in rows if r.id != "U4")
    assert {r.id for r in rows} == set(CLAIMS)


def test_rows_without_inputs_keep_their_stored_verdict_and_reason(tmp_path: Path) -> None:
    data = {
        "profile": "smoke",
        "claims": [{"id": "W2", "procedure": "paper", "verdict": "not run", "detail": "large tier only"}],
        "experiments": {},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    (row,) = judge_results(path)
    assert (row.verdict, row.reason, row.rejudged) == ("not run", "large tier only", False)


def test_a_row_with_an_unknown_procedure_is_not_run_and_the_others_are_judged(tmp_path: Path) -> None:
    data = copy.deepcopy(example())
    data["claims"][0]["procedure"] = "no such preset"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    rows = judge_results(path)
    assert rows[0].verdict == "not run" and "Unknown procedure 'no such preset'" in rows[0].reason
    assert rows[0].error is None and all(r.rejudged for r in rows[1:])
