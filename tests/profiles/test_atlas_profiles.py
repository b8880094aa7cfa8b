"""The atlas's profile files (harness/profiles/atlas): each loads, every layer has an SAE, and every
hub name is one the loaders resolve -- transformer-lens model names, sae-lens releases and ids
(the installed pretrained_saes.yaml) and sparsify repositories (shared/reference/library-facts.md)
-- and each SAE was trained on the model it reads (a listed substitution aside)."""

from __future__ import annotations

import pytest

from harness.experiments.atlas import SPARSIFY_REPOS, atlas_profile, atlas_profiles
from harness.load.hub_names import check_saelens_release, check_tl_model_name, official_tl_model_name

#: (profile, side) -> why its SAE was trained on another model (see the profile's notes).
SUBSTITUTIONS = {
    ("atlas-llama-3-3.1-8b", "a"): "no Llama-3-8B base SAE in sae-lens; the Instruct model's (builtin/llama.toml)",
    ("atlas-pythia-70m-shuffled", "b"): "the control reads the shuffled model with the trained model's SAEs",
}


def test_the_atlas_has_the_issues_model_pairs() -> None:
    assert atlas_profiles() == [
        "gemma-2-2b-9b",
        "gemma-2-2b-9b-mlp",
        "llama-3-3.1-8b",
        "pythia-160m-70m-deduped",
        "pythia-70m-160m",
        "pythia-70m-70m-deduped",
        "pythia-70m-shuffled",
    ]


@pytest.mark.parametrize("name", atlas_profiles())
def test_every_hub_name_of_an_atlas_profile_resolves(name: str) -> None:
    prof = atlas_profile(name)
    prof.check_layers()
    assert prof.name == f"atlas-{name}"
    assert prof.activation_site == ("mlp_output" if name.endswith("-mlp") else None)
    for side in ("a", "b"):
        model = str(prof.models[side]["name"])
        assert check_tl_model_name(model) == model  # an official transformer-lens name
        saes = prof.saes[side]
        layers = prof.layers_a if side == "a" else prof.layers_b
        if saes.source == "release":
            for layer in layers:
                entry = check_saelens_release(str(saes.release), str(prof.sae_spec(side, layer).sae_id))
                trained_on = official_tl_model_name(str(entry.tl_model_name))
                assert trained_on == model or (prof.name, side) in SUBSTITUTIONS, (side, layer, trained_on)
        else:
            assert saes.source == "sparsify" and saes.repo_id in SPARSIFY_REPOS, saes
            assert SPARSIFY_REPOS[str(saes.repo_id)] == model or (prof.name, side) in SUBSTITUTIONS


def test_the_control_shuffles_its_weights_and_says_so() -> None:
    prof = atlas_profile("pythia-70m-shuffled")
    assert prof.model_spec("b", device="cpu").shuffle_weights_seed == 0
    assert prof.model_spec("a", device="cpu").shuffle_weights_seed is None
    assert prof.model_name("a") != prof.model_name("b")  # two rows/columns of the matrix


def test_a_profiles_activation_site_is_checked(tmp_path) -> None:
    import re

    from harness.errors import ConfigError
    from harness.experiments.atlas import ATLAS_DIR
    from harness.profiles import load_profile

    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{ATLAS_DIR / "gemma-2-2b-9b.toml"}"\nactivation_site = "attn_output"\n')
    with pytest.raises(ConfigError, match=re.escape("activation_site = 'attn_output'; use one of")):
        load_profile(bad)
