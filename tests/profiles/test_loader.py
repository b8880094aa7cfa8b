"""Profile files: the built-in ones, a user's own, and the errors for malformed ones."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import ConfigError, UnknownIdError
from harness.load.saes import SaeSpec
from harness.profiles import BUILTIN_DIR, builtin_profiles, get_profile, load_profile

REPO_ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
layers_a = [0, 1]
layers_b = [0, 1, 2]
semantic_table = [1, 2]
semantic_layers_a = [1]
semantic_layers_b = [2]

[models.a]
name = "my-a"
local_path = "models/a"

[models.b]
name = "EleutherAI/pythia-160m"

[saes.a]
source = "sparsify"
path = "saes/a"
hookpoint = "layers.{layer}"

[saes.b]
source = "release"
release = "my-release"
ids = { "0" = "zero", "1" = "one", "2" = "two" }

[data]
path = "docs.jsonl"
n_samples = 3
seq_len = 8
"""


def _write(folder: Path, text: str, name: str = "pair.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_builtin_profiles_load_under_their_file_names() -> None:
    assert builtin_profiles() == ["gemma", "llama", "paper", "rehearsal"]
    for name in builtin_profiles():
        prof = get_profile(name)
        assert prof.name == name
        prof.check_layers()


def test_paper_profile_values() -> None:
    prof = get_profile("paper")
    assert prof.model_name("a") == "EleutherAI/pythia-70m" and prof.model_name("b") == "EleutherAI/pythia-160m"
    assert prof.layers_a == tuple(range(6)) and prof.layers_b == tuple(range(12))
    assert prof.semantic_table == (3, 5) and prof.paper_pair_range == (1879, 7553)
    assert prof.sae_spec("b", 7) == SaeSpec(
        source="sparsify", repo_id="EleutherAI/sae-pythia-160m-32k", hookpoint="layers.7"
    )
    # Table 1 rows carry SVCCA; MonthNames comes from Table 9 (RSA only)
    assert prof.paper_semantic_table["Time"] == {"n": 228, "svcca": 0.59, "null": 0.05, "rsa": 0.10, "rsa_null": 0.0}
    assert prof.paper_semantic_table["MonthNames"] == {"n": 32, "rsa": 0.76, "rsa_null": 0.0}


def test_rehearsal_extends_paper() -> None:
    paper, reh = get_profile("paper"), get_profile("rehearsal")
    assert reh.models == paper.models and reh.saes == paper.saes
    assert reh.paper_semantic_table == paper.paper_semantic_table and reh.paper_pair_range == paper.paper_pair_range
    assert (reh.data.source, reh.data.data_files, reh.data.n_samples, reh.data.seq_len) == (
        paper.data.source,
        paper.data.data_files,
        4,
        32,
    )
    assert reh.notes != paper.notes and reh.tier == "rehearsal"


def test_a_users_profile_file_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    prof = get_profile(str(path))
    assert prof.name == "pair"  # the file's stem when the file names none
    assert prof.models["a"]["local_path"] == str(tmp_path / "models" / "a")
    assert prof.data.source == str(tmp_path / "docs.jsonl")
    assert prof.sae_spec("a", 1) == SaeSpec(source="sparsify", path=str(tmp_path / "saes" / "a"), hookpoint="layers.1")
    assert prof.sae_spec("b", 2) == SaeSpec.from_release("my-release", "two")
    with pytest.raises(UnknownIdError, match="layers with SAEs: \\[0, 1, 2\\]"):
        prof.sae_spec("b", 3)
    other = load_profile(path, root=tmp_path / "elsewhere")
    assert other.data.source == str(tmp_path / "elsewhere" / "docs.jsonl")


def test_extends_a_file_by_relative_path(tmp_path: Path) -> None:
    _write(tmp_path, MINIMAL, "base.toml")
    sub = tmp_path / "sub"
    sub.mkdir()
    prof = load_profile(
        _write(
            sub, 'extends = "../base.toml"\nname = "small"\n[data]\nn_samples = 1\n[models.a]\nlocal_path = "mine"\n'
        )
    )
    assert prof.name == "small" and prof.data.n_samples == 1 and prof.data.seq_len == 8
    # inherited local paths stay relative to the base's folder, the file's own to its folder
    assert prof.data.source == str(tmp_path / "docs.jsonl")
    assert prof.models["a"] == {"name": "my-a", "local_path": str(sub / "mine")}
    assert prof.sae_spec("a", 0).path == str(tmp_path / "saes" / "a")


EDITS: list[tuple[Callable[[str], str], str]] = [
    (lambda t: "layer_a = [0]\n" + t, r"pair\.toml: unknown key\(s\) \['layer_a'\] in the top level"),
    (lambda t: t.replace('hookpoint = "layers.{layer}"', 'hook = "x"'), r"unknown key\(s\) \['hook'\] in \[saes.a\]"),
    (lambda t: t.replace('name = "my-a"', 'name = "my-a"\nlabl = "x"'), r"unknown key\(s\) \['labl'\] in \[models.a\]"),
    (lambda t: t.replace("seq_len = 8", "seq_len = 8\nsamples = 2"), r"unknown key\(s\) \['samples'\] in \[data\]"),
    (lambda t: t.replace("semantic_table = [1, 2]\n", ""), r"missing required key\(s\) \['semantic_table'\]; add"),
    (
        lambda t: t.replace("semantic_layers_b = [2]", "semantic_layers_b = [2, 5]"),
        r"layers \[5\] of model B .* have no SAE in saes.b",
    ),
    (lambda t: t.replace('source = "release"', 'source = "hub"'), r"saes.b.source = 'hub'; use one of"),
    (lambda t: t.replace('path = "saes/a"', ""), r"saes.a \(source 'sparsify'\) needs repo_id or path"),
    (lambda t: t.replace("layers_a = [0, 1]", 'layers_a = "0,1"'), r"layers_a = '0,1' must be a list of integers"),
    (lambda t: t.replace("seq_len = 8", "seq_len = 1"), r"\[data\]: DataSpec.seq_len=1 must be >= 2"),
    (lambda t: "batch_size = 0\n" + t, r"batch_size = 0 must be a positive integer"),
    (lambda t: "tier = 'cpu'\n" + t, r"tier = 'cpu'; use one of"),
    (lambda t: "extends = 'nope'\n" + t, r"extends = 'nope' names no built-in profile"),
    (lambda t: t + "[broken\n", r"not valid TOML"),
]


@pytest.mark.parametrize(("edit", "match"), EDITS)
def test_malformed_files_fail_naming_the_file_and_fix(tmp_path: Path, edit: Callable[[str], str], match: str) -> None:
    path = _write(tmp_path, edit(MINIMAL))
    with pytest.raises(ConfigError, match=match) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_unknown_names_list_the_builtins(tmp_path: Path) -> None:
    with pytest.raises(UnknownIdError, match="built-in: gemma, llama, paper, rehearsal"):
        get_profile("pythia")
    with pytest.raises(UnknownIdError, match="fixtures/smoke.toml"):
        get_profile("smoke")
    with pytest.raises(UnknownIdError, match="does not exist"):
        get_profile(str(tmp_path / "missing.toml"))


def test_smoke_profile_lives_with_the_fixtures() -> None:
    import fixtures
    from fixtures.profile import SMOKE_TOML, smoke_profile

    prof = smoke_profile()
    assert prof.name == "smoke" and prof.data.source == str(fixtures.corpus_path())
    assert prof.models["a"]["local_path"] == str(fixtures.model_dir(fixtures.MODEL_A))
    # float64 models and SAE encoders: the same selections on every CPU (issue 23)
    assert prof.sae_spec("b", 5) == SaeSpec.from_sparsify(
        fixtures.sae_repo_dir(fixtures.MODEL_B), "layers.5", dtype="float64"
    )
    assert prof.models["a"]["dtype"] == prof.models["b"]["dtype"] == "float64"
    assert (prof.permutations, prof.permutations_semantic, prof.random_subsets) == (99, 199, 30)
    if fixtures.WORLD_DIR == SMOKE_TOML.parent / "world":  # `--profile fixtures/smoke.toml` reads the same
        assert get_profile(str(SMOKE_TOML)) == prof


def test_no_harness_module_imports_fixtures() -> None:
    offenders = []
    for path in sorted((REPO_ROOT / "harness").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "fixtures" or n.startswith("fixtures.") for n in names):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offenders == []


def test_builtin_files_are_packaged() -> None:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    assert '"profiles/builtin/*.toml"' in text and all(p.suffix == ".toml" for p in BUILTIN_DIR.iterdir())


def test_a_pinned_small_paper_null_is_judged_with_999_draws_and_reported_as_k_over_n() -> None:
    from harness.config import CORRECTED, PAPER
    from harness.profiles import get_profile
    from harness.profiles.profile import MIN_GRID_PERMUTATIONS

    gemma, pythia = get_profile("gemma"), get_profile("paper")
    assert gemma.n_permutations(PAPER) == MIN_GRID_PERMUTATIONS == 999 and gemma.paper_permutations(PAPER) == 10
    assert gemma.n_permutations(CORRECTED) == CORRECTED.n_permutations and gemma.paper_permutations(CORRECTED) is None
    assert pythia.n_permutations(PAPER) == PAPER.n_permutations and pythia.paper_permutations(PAPER) is None


def test_draw_counts_default_to_the_papers_and_the_rehearsal_shrinks_them() -> None:
    from harness.experiments.placebos import PLACEBO_FILTER_RUNS
    from harness.experiments.size_matched import SIZE_MATCHED_DRAWS

    assert (SIZE_MATCHED_DRAWS, PLACEBO_FILTER_RUNS) == (99, 10)
    paper, rehearsal = get_profile("paper"), get_profile("rehearsal")
    assert paper.size_matched_draws is None and paper.placebo_filter_runs is None
    assert (rehearsal.size_matched_draws, rehearsal.placebo_filter_runs) == (3, 2)
    from harness.experiments.random_partners import RANDOM_PARTNER_SETS

    assert RANDOM_PARTNER_SETS == 99 and paper.random_partner_sets is None and rehearsal.random_partner_sets == 3
