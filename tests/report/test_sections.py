"""The report's tables: every experiment kind as a table (no raw JSON), '—' for absent, p never 0."""

from __future__ import annotations

import math

from harness.report.sections import GLOSSARY, experiment_section, flatten, glossary_lines, md_table, p_text


def test_md_table_escapes_pipes_and_writes_absent_as_a_dash() -> None:
    table = md_table([["a|b", math.nan, None, 0.25, [0.1, 0.2]]], ["x", "y", "z", "w", "ci"])
    assert table.splitlines()[2] == "| a\\|b | — | — | 0.250 | [0.100, 0.200] |"
    assert "nan" not in table.lower()


def test_flatten_labels_nested_records() -> None:
    rows = dict(flatten({"many_to_one": {"n": 3, "svcca": 0.5}, "by_level": [{"mean": 0.1}, {"mean": 0.2}]}))
    assert rows == {
        "many to one · n": 3,
        "many to one · svcca": 0.5,
        "by level [1] · mean": 0.1,
        "by level [2] · mean": 0.2,
    }


def test_p_is_never_written_as_zero() -> None:
    assert p_text({"svcca_p": 0.0, "n_permutations": 99}, "svcca") == "< 1/99"
    assert p_text({"svcca_p": 0.0}, "svcca") == "< 1/N"
    assert p_text({"svcca_p": 0.0, "svcca_p_plus_one": 0.01, "svcca_p_paper": "0/99"}, "svcca") == "0.010 (0/99)"


def test_every_experiment_kind_is_a_table_not_json(tmp_path) -> None:
    preflight = {
        "kind": "preflight",
        "sites": [{"model": "m", "layer": 2, "site": "block_output", "fvu": 0.05, "l0": 8.0, "warnings": []}],
    }
    seed_pair = {
        "kind": "seed_pair",
        "mean_max_corr": 0.68,
        "many_to_one_filtered": {"n_pairs": 160, "svcca": 0.52, "svcca_p": 0.0, "n_permutations": 99},
    }
    overlaps = {
        "kind": "seed_overlaps",
        "condition": {"architecture": "topk", "width": 256},
        "pairs": [{"fraction_shared": 0.21, "fraction_by_criterion": {"both": 0.21}, "dead_a": None}],
    }
    other = {"kind": "something_new", "a": {"b": 1}}
    for exp in (preflight, seed_pair, overlaps, other):
        lines, figs = experiment_section("x", exp, tmp_path)
        text = "\n".join(lines)
        assert "```" not in text and '{"' not in text and "{'" not in text, text
        assert "nan" not in text.lower() and "None" not in text
        assert figs == []
    assert "| m | 2 | block_output | 0.050 | 8.000 |" in "\n".join(experiment_section("p", preflight, tmp_path)[0])
    assert "| many to one filtered | 160 | 0.520 | — | < 1/99 |" in "\n".join(
        experiment_section("s", seed_pair, tmp_path)[0]
    )
    assert "| pair 1 | 0.210 | 0.210 | — |" in "\n".join(experiment_section("o", overlaps, tmp_path)[0])


def test_glossary_anchors_every_term() -> None:
    text = "\n".join(glossary_lines())
    for anchor, term, _ in GLOSSARY:
        assert f'<a id="{anchor}"></a>**{term}**' in text
    assert {t for _, t, _ in GLOSSARY} >= {"excess over chance", "BH", "placebo", "PB method", "k/N"}
