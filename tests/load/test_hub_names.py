"""Tests of harness/load/hub_names.py against the installed sae-lens and transformer-lens.

The paper's ids (Lan et al. 2024, Sec. 4 and Appendix B) must resolve without a download;
misspelt ones must fail with the right spelling in the message.
"""

from __future__ import annotations

import pytest

from harness.errors import UnknownIdError
from harness.load.hub_names import (
    SaeLensEntry,
    check_saelens_release,
    check_tl_model_name,
    official_tl_model_name,
    saelens_saes_for_model,
)

GEMMA1_LAYERS = [0, 6, 10, 12, 17]
GEMMA2_LAYERS = [0, 2, 6, 10, 14, 18, 22, 25]

PAPER_MODELS = [
    "EleutherAI/pythia-70m",
    "EleutherAI/pythia-160m",
    "google/gemma-2b",
    "google/gemma-2-2b",
    "meta-llama/Meta-Llama-3-8B",
    "meta-llama/Llama-3.1-8B",
    "roneneldan/TinyStories-1Layer-21M",  # Appendix A; "1L" is only an alias's spelling
]


@pytest.mark.parametrize("layer", GEMMA1_LAYERS)
def test_gemma1_jb_release_resolves(layer: int) -> None:
    entry = check_saelens_release("gemma-2b-res-jb", f"blocks.{layer}.hook_resid_post")
    assert isinstance(entry, SaeLensEntry)
    assert entry.repo_id == "jbloom/Gemma-2b-Residual-Stream-SAEs"
    assert entry.tl_model_name == "google/gemma-2b"
    assert f"blocks.{layer}.hook_resid_post" in entry.path and "16384" in entry.path
    # Only layer 12 carries a norm scaling factor (folded in at load time).
    assert (entry.norm_scaling_factor is not None) == (layer == 12)


@pytest.mark.parametrize("layer", GEMMA2_LAYERS)
def test_gemma_scope_canonical_release_resolves(layer: int) -> None:
    entry = check_saelens_release("gemma-scope-2b-pt-res-canonical", f"layer_{layer}/width_16k/canonical")
    assert entry.repo_id == "google/gemma-scope-2b-pt-res"
    assert entry.tl_model_name == "google/gemma-2-2b"
    assert entry.path.startswith(f"layer_{layer}/width_16k/average_l0_")
    assert entry.conversion_func == "gemma_2"


def test_llama_scope_layer25_residual_resolves() -> None:
    entry = check_saelens_release("llama_scope_lxr_8x", "l25r_8x")
    assert entry.repo_id == "fnlp/Llama3_1-8B-Base-LXR-8x"
    assert entry.path == "Llama3_1-8B-Base-L25R-8x"
    assert entry.tl_model_name == "meta-llama/Llama-3.1-8B"
    assert entry.norm_scaling_factor is not None and entry.norm_scaling_factor > 0


def test_llama3_8b_layer25_saes_in_saelens() -> None:
    """Appendix B's Llama-3-8B SAE (65536 Gated latents): sae-lens 6.54 lists none for the
    base model; its only Llama-3-8B layer-25 residual SAE is for the Instruct model."""
    assert saelens_saes_for_model("meta-llama/Meta-Llama-3-8B") == {}
    instruct = saelens_saes_for_model("meta-llama/Meta-Llama-3-8B-Instruct")
    assert instruct == {"llama-3-8b-it-res-jh": ["blocks.25.hook_resid_post"]}
    assert "llama_scope_lxr_8x" in saelens_saes_for_model("meta-llama/Llama-3.1-8B")


def test_saelens_saes_for_model_matches_aliases_and_official_names() -> None:
    assert list(saelens_saes_for_model("google/gemma-2b")) == list(saelens_saes_for_model("gemma-2b"))
    assert "gemma-2b-res-jb" in saelens_saes_for_model("google/gemma-2b")
    assert saelens_saes_for_model("EleutherAI/pythia-160m") == {}  # no Pythia-160m release


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_paper_models_are_official_tl_names(name: str) -> None:
    assert check_tl_model_name(name) == name
    assert official_tl_model_name(name) == name


@pytest.mark.parametrize(
    ("bad", "suggested"),
    [
        ("roneneldan/TinyStories-1L-21M", "roneneldan/TinyStories-1Layer-21M"),
        ("meta-llama/Llama-3-8B", "meta-llama/Meta-Llama-3-8B"),
        ("google/gemma-2-2B-base", "google/gemma-2-2b"),
    ],
)
def test_unknown_tl_name_lists_close_matches(bad: str, suggested: str) -> None:
    with pytest.raises(UnknownIdError, match="Closest") as err:
        check_tl_model_name(bad)
    assert suggested in str(err.value)


def test_alias_needs_opt_in() -> None:
    with pytest.raises(UnknownIdError, match="alias") as err:
        check_tl_model_name("pythia-70m")
    assert "'EleutherAI/pythia-70m'" in str(err.value)
    assert check_tl_model_name("pythia-70m", allow_alias=True) == "EleutherAI/pythia-70m"
    assert check_tl_model_name("eleutherai/PYTHIA-160M", allow_alias=True) == "EleutherAI/pythia-160m"
    assert official_tl_model_name("no-such-model") is None


def test_unknown_release_lists_close_releases() -> None:
    with pytest.raises(UnknownIdError, match="no release 'gemma-2b-res'") as err:
        check_saelens_release("gemma-2b-res", "blocks.6.hook_resid_post")
    assert "gemma-2b-res-jb" in str(err.value)


@pytest.mark.parametrize(
    ("release", "bad_id", "suggested"),
    [
        ("gemma-2b-res-jb", "blocks.7.hook_resid_post", "blocks.6.hook_resid_post"),
        ("gemma-scope-2b-pt-res-canonical", "layer_26/width_16k/canonical", "layer_25/width_16k/canonical"),
        ("llama_scope_lxr_8x", "l25r_32x", "l25r_8x"),
    ],
)
def test_unknown_sae_id_lists_close_ids(release: str, bad_id: str, suggested: str) -> None:
    with pytest.raises(UnknownIdError, match="has no SAE id") as err:
        check_saelens_release(release, bad_id)
    assert suggested in str(err.value)
