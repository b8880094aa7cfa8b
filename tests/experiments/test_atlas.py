"""The universality atlas over three tiny profiles of the fixture world (harness/experiments/atlas.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.experiments.atlas import best_cell

_SIDE = {
    "a": ('name = "model-a"\nlocal_path = "models/model-a"\nlabel = "fixture-model-a"', "saes/model-a", 2),
    "b": ('name = "model-b"\nlocal_path = "models/model-b"\nlabel = "fixture-model-b"', "saes/model-b", 3),
}


def _profile_file(folder: Path, root: Path, a: str, b: str) -> Path:
    """A tiny profile: fixture model ``a`` (one layer) x fixture model ``b`` (one layer), small nulls."""
    model_a, saes_a, layer_a = _SIDE[a]
    model_b, saes_b, layer_b = _SIDE[b]
    path = folder / f"tiny-{a}-{b}.toml"
    path.write_text(
        f'name = "tiny-{a}-{b}"\nroot = "{root}"\n'
        f"layers_a = [{layer_a}]\nlayers_b = [{layer_b}]\n"
        f"semantic_table = [{layer_a}, {layer_b}]\nsemantic_layers_a = [{layer_a}]\nsemantic_layers_b = [{layer_b}]\n"
        "permutations = 49\nbatch_size = 32\n"
        f'[models.a]\n{model_a}\ndtype = "float64"\n[models.b]\n{model_b}\ndtype = "float64"\n'
        f'[saes.a]\nsource = "sparsify"\npath = "{saes_a}"\nhookpoint = "layers.{{layer}}"\ndtype = "float64"\n'
        f'[saes.b]\nsource = "sparsify"\npath = "{saes_b}"\nhookpoint = "layers.{{layer}}"\ndtype = "float64"\n'
        '[data]\npath = "corpus/documents.jsonl.gz"\nn_samples = 60\nseq_len = 64\n'
    )
    return path


def test_the_atlas_of_three_tiny_profiles_writes_the_matrix_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fixtures
    from harness import cli

    root = fixtures.require_world()
    files = [_profile_file(tmp_path, root, a, b) for a, b in (("a", "b"), ("a", "a"), ("b", "b"))]
    out = tmp_path / "atlas"
    argv = ["atlas", "--profiles", ",".join(map(str, files)), "--out", str(out), "--bootstrap", "50"]
    argv += ["--cache-dir", str(tmp_path / "activations"), "--cell-cache", str(tmp_path / "cells")]
    assert cli.main(argv) == 0
    doc = json.loads((out / "atlas.json").read_text())
    pairs = {(p["model_a"], p["model_b"]): p for p in doc["pairs"]}
    assert set(pairs) == {
        ("fixture-model-a", "fixture-model-b"),
        ("fixture-model-a", "fixture-model-a"),
        ("fixture-model-b", "fixture-model-b"),
    }
    for p in pairs.values():
        best = p["best"]
        assert best is not None and best == best_cell(p["cells"])
        assert best["n_pairs"] > 0 and best["n_bootstrap"] > 1
        assert best["excess_lo"] <= best["svcca_excess"] <= best["excess_hi"]
        assert (out / p["grid_file"]).is_file() and (out / p["grid_file"]).with_suffix(".md").is_file()
    # a model against itself at the same layer pairs every feature with itself: SVCCA 1, far above chance
    same = pairs[("fixture-model-a", "fixture-model-a")]["best"]
    assert same["svcca"] == pytest.approx(1.0, abs=1e-9)
    cross = pairs[("fixture-model-a", "fixture-model-b")]["best"]
    assert math.isfinite(cross["svcca_excess"]) and cross["svcca_excess"] < same["svcca_excess"]
    md = (out / "ATLAS.md").read_text()
    assert "| A \\ B | fixture-model-b | fixture-model-a |" in md
    assert "(pairs/tiny-a-b.md)" in md and "(pairs/tiny-b-b.md)" in md
    assert "tiny-a-b: fixture-model-a x fixture-model-b" in capsys.readouterr().out
    # the cells were stored: a second atlas reads every one back and writes the same numbers
    assert cli.main(argv) == 0
    again = json.loads((out / "atlas.json").read_text())
    assert [p["cells"] for p in again["pairs"]] == [p["cells"] for p in doc["pairs"]]


def test_the_atlas_refuses_bad_input_before_compute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness import cli

    assert cli.main(["atlas", "--profiles", " , ", "--out", str(tmp_path / "x")]) == 2
    assert "give one or more profiles" in capsys.readouterr().err
    assert cli.main(["atlas", "--profiles", "no-such-profile", "--out", str(tmp_path / "x")]) == 2
    assert "no-such-profile" in capsys.readouterr().err
    assert cli.main(["atlas", "--profiles", "paper", "--ray-address", "auto", "--out", str(tmp_path / "x")]) == 2
    assert "needs --executor ray" in capsys.readouterr().err
