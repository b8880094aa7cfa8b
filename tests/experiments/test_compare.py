"""harness.experiments.compare / ``sae-claims compare``: the pipeline on any two (model, SAE set)
pairs (issue 14, finding 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import fixtures
from harness.cli import main
from harness.errors import ConfigError
from harness.experiments.compare import CompareSide, parse_sae_set, run_compare

pytestmark = pytest.mark.smoke


def _schema_errors(data: dict[str, Any]) -> list[str]:
    """Violations of harness/report/results.schema.json: compare writes the claims' report format."""
    import jsonschema

    from harness.report.schema import SCHEMA_PATH

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(data)]


def test_sae_set_strings() -> None:
    spec = parse_sae_set(f"sparsify:{fixtures.sae_repo_dir(fixtures.MODEL_A)}").spec(2)
    assert spec.source == "sparsify" and spec.hookpoint == "layers.2"
    rel = parse_sae_set("release:gemma-scope-2b-pt-res-canonical:layer_{layer}/width_16k/canonical").spec(12)
    assert rel.release == "gemma-scope-2b-pt-res-canonical" and rel.sae_id == "layer_12/width_16k/canonical"
    assert parse_sae_set("disk:/saes/L{layer}").spec(3).path == "/saes/L3"
    for bad in ("sparsify:", "release:rel:no-placeholder", "disk:/no/placeholder", "hub:x"):
        with pytest.raises(ConfigError, match="SAE set"):
            parse_sae_set(bad)


def test_compare_runs_the_pipeline_and_writes_the_report(tmp_path: Path) -> None:
    a = CompareSide(
        model=str(fixtures.model_dir(fixtures.MODEL_A)),
        saes=f"sparsify:{fixtures.sae_repo_dir(fixtures.MODEL_A)}",
        layers=(2,),
    )
    b = CompareSide(
        model=str(fixtures.model_dir(fixtures.MODEL_B)),
        saes=f"sparsify:{fixtures.sae_repo_dir(fixtures.MODEL_B)}",
        layers=(3,),
    )
    out = run_compare(
        a,
        b,
        out=tmp_path / "cmp",
        data=str(fixtures.corpus_path()),
        n_samples=40,
        seq_len=64,
        procedures=("corrected",),
        n_permutations=19,
        cache_dir=tmp_path / "cache",
    )
    data = json.loads((out / "results.json").read_text())
    grid = data["experiments"]["grid corrected"]
    cell = grid["cells"][0]
    assert (cell["layer_a"], cell["layer_b"]) == (2, 3) and cell["n_pairs"] > 0 and 0 < cell["svcca"] <= 1
    assert cell["svcca_p"] >= 1 / 20  # p from 19 permutations: (1 + #null >= observed) / 20
    assert "svcca_top" in data["experiments"]["grid corrected (control: B positions shuffled)"]["cells"][0]
    assert data["provenance"]["compare"]["a"]["layers"] == [2]
    assert _schema_errors(data) == []
    assert (out / "REPORT.html").is_file() and list((out / "figures").glob("grid-corrected-*.png"))


def test_compare_cli_rejects_bad_input_before_compute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [
        "compare",
        "--model-a",
        str(fixtures.model_dir(fixtures.MODEL_A)),
        "--saes-a",
        "nope:x",
        "--model-b",
        str(fixtures.model_dir(fixtures.MODEL_B)),
        "--saes-b",
        f"sparsify:{fixtures.sae_repo_dir(fixtures.MODEL_B)}",
        "--data",
        str(fixtures.corpus_path()),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main([*base, "--layers-a", "2", "--layers-b", "3"]) == 2
    assert "SAE set 'nope:x' not understood" in capsys.readouterr().err
    base[4] = f"sparsify:{fixtures.sae_repo_dir(fixtures.MODEL_A)}"
    assert main([*base, "--layers-a", "2,2", "--layers-b", "3"]) == 2
    assert "given more than once" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_compare_from_a_profile_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sae-claims compare --profile fixtures/smoke.toml``: models, SAE sets and data from the
    file, layers narrowed on the command line; the same scores as the two sides given by hand."""
    from fixtures.profile import SMOKE_TOML

    fixtures.require_world()
    opts = ["--procedure", "corrected", "--permutations", "19", "--samples", "40", "--no-control"]
    out = tmp_path / "from-profile"
    argv = ["compare", "--profile", str(SMOKE_TOML), "--layers-a", "2", "--layers-b", "1,3", *opts]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    assert f"report: {out / 'REPORT.md'}" in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    grid = data["experiments"]["grid corrected"]
    assert (grid["layers_a"], grid["layers_b"]) == ([2], [1, 3])
    assert grid["n_permutations"] == 19 and data["provenance"]["compare"]["n_samples"] == 40
    assert data["provenance"]["compare"]["seq_len"] == 64  # the file's, not the hand-given default
    assert data["provenance"]["compare"]["profile"] == str(SMOKE_TOML) and _schema_errors(data) == []
    by_hand = tmp_path / "by-hand"
    hand = [
        "compare",
        *("--model-a", str(fixtures.model_dir(fixtures.MODEL_A))),
        *("--saes-a", f"sparsify:{fixtures.sae_repo_dir(fixtures.MODEL_A)}"),
        *("--model-b", str(fixtures.model_dir(fixtures.MODEL_B))),
        *("--saes-b", f"sparsify:{fixtures.sae_repo_dir(fixtures.MODEL_B)}"),
        *("--layers-a", "2", "--layers-b", "1,3", "--data", str(fixtures.corpus_path())),
        *("--seq-len", "64", "--batch-size", "32", *opts),
    ]
    assert main([*hand, "--cache-dir", str(tmp_path / "cache2"), "--out", str(by_hand)]) == 0
    cells = json.loads((by_hand / "results.json").read_text())["experiments"]["grid corrected"]["cells"]
    # nulls are seeded from the models' names (label vs folder name), the observed scores are not;
    # the file runs the fixture models in float64 (issue 23), the hand-given sides in float32
    for ours, theirs in zip(grid["cells"], cells, strict=True):
        for key in ("layer_a", "layer_b", "n_pairs", "pairs_history", "svcca_k"):
            assert ours[key] == theirs[key], key
        for key in ("mean_max_corr", "svcca", "rsa"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-6), key
    assert grid["cells"][0]["n_pairs"] > 0


def test_compare_profile_rejects_conflicting_or_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fixtures.profile import SMOKE_TOML

    out = tmp_path / "out"
    base = ["compare", "--profile", str(SMOKE_TOML), "--out", str(out)]
    assert main([*base, "--data", str(fixtures.corpus_path())]) == 2
    assert "drop --data" in capsys.readouterr().err
    assert main([*base, "--layers-a", "9"]) == 2  # the smoke world's model A has layers 0-3
    assert "--layers-a: layer(s) [9] not in profile 'smoke'" in capsys.readouterr().err
    assert main([*base, "--layers-b", "1,1"]) == 2
    assert "given more than once" in capsys.readouterr().err
    assert main(["compare", "--profile", str(tmp_path / "missing.toml"), "--out", str(out)]) == 2
    assert main(["compare", "--layers-a", "1", "--out", str(out)]) == 2  # neither a profile nor both sides
    assert "missing --model-a" in capsys.readouterr().err
    assert not out.exists()
