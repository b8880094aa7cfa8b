"""harness.activations.preflight: catches the off-by-one site, an SAE of another model, a wrong SAE."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import warnings

import pytest
import torch

import fixtures
from harness.load.data import DataSpec, load_tokens
from harness.errors import ConfigError, HarnessError, ShapeError
from harness.activations.preflight import PreflightWarning, fvu_and_l0, preflight
from harness.load.saes import SaeSpec, load_sae

pytestmark = pytest.mark.smoke

LAYER = 1


@pytest.fixture(scope="module")
def token_set(model_a):
    spec = DataSpec(source=str(fixtures.corpus_path()), n_samples=24, seq_len=64)
    return load_tokens(spec, model_a.tokenizer, prepend_bos=False)


def sae_of(model: str, layer: int):
    return load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(model), f"layers.{layer}"))


def test_right_site_passes_quietly(model_a, token_set):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PreflightWarning)
        r = preflight(model_a, sae_of(fixtures.MODEL_A, LAYER), token_set, LAYER, site="block_output")
    assert r.better_site == "block_output" and r.warnings == ()
    assert r.fvu < 0.1 and r.fvu < r.neighbour_fvu
    assert r.l0 == pytest.approx(8.0, abs=0.5)
    assert r.n_positions == int((~token_set.special_mask).sum())
    assert r.hook_name == "blocks.1.hook_resid_post" and r.neighbour_hook_name == "blocks.1.hook_resid_pre"


def test_off_by_one_site_is_caught(model_a, token_set):
    """The paper code's block-input activations: the neighbour (block output) fits better."""
    sae = sae_of(fixtures.MODEL_A, LAYER)
    with pytest.warns(PreflightWarning) as record:
        r = preflight(model_a, sae, token_set, LAYER, site="block_input")
    messages = [str(w.message) for w in record]
    assert len(messages) == 2 and messages == list(r.warnings)
    assert "reconstructs layer 1 block_output" in messages[0]
    assert "trained on blocks.1.hook_resid_post" in messages[1]
    assert r.better_site == "block_output" and r.neighbour_fvu < r.fvu
    assert any("off-by-one" in w for w in r.warnings)
    # the configured-site numbers are the other call's neighbour numbers
    r2 = preflight(model_a, sae, token_set, LAYER, site="block_output")
    assert r.fvu == pytest.approx(r2.neighbour_fvu) and r.neighbour_fvu == pytest.approx(r2.fvu)


def test_off_by_one_at_layer_0_is_fatal_unless_allowed(model_a, token_set):
    """Block 0's input is the embedding: an SAE of block 0's output fits it worse than the mean."""
    sae = sae_of(fixtures.MODEL_A, 0)
    with pytest.raises(HarnessError, match=r"FVU \d+\.\d+ > 1\.0"):
        preflight(model_a, sae, token_set, 0, site="block_input", warn=False)
    r = preflight(model_a, sae, token_set, 0, site="block_input", max_fvu=None, warn=False)
    assert r.fvu > 1.0 > r.neighbour_fvu and r.better_site == "block_output"
    with pytest.raises(HarnessError, match=r"> 0.0"):
        preflight(model_a, sae, token_set, 0, site="block_output", max_fvu=0.0)


def test_sae_of_another_model_is_a_d_in_mismatch(model_a, token_set):
    with pytest.raises(ShapeError, match=r"d_in=96.*d_model=64"):
        preflight(model_a, sae_of(fixtures.MODEL_B, LAYER), token_set, LAYER, site="block_output")


def test_wrong_sae_with_the_right_width_fails_on_fvu(model_a, token_set):
    """The control model's SAE has d_in 64 too, but does not reconstruct model A."""
    with pytest.raises(HarnessError, match="does not reconstruct"):
        preflight(model_a, sae_of(fixtures.CONTROL, LAYER), token_set, LAYER, site="block_output")


def test_layer_out_of_range(model_a, token_set):
    with pytest.raises(ConfigError, match="n_layers=4"):
        preflight(model_a, sae_of(fixtures.MODEL_A, 0), token_set, 7, site="block_output")


def test_fvu_and_l0_definition():
    sae = sae_of(fixtures.MODEL_A, 0)
    g = torch.Generator().manual_seed(0)
    x = sae.sae.b_dec + torch.randn(50, 64, generator=g)
    fvu, l0 = fvu_and_l0(sae, x)
    x64 = x.double()
    recon = sae.decode(sae.encode(x)).double()
    expected = float(((x64 - recon) ** 2).sum() / ((x64 - x64.mean(0)) ** 2).sum())
    assert fvu == pytest.approx(expected, rel=1e-12)
    assert l0 == pytest.approx(float((sae.encode(x) != 0).sum(-1).double().mean()))
    assert 0 < l0 <= 8
    with pytest.raises(ShapeError):
        fvu_and_l0(sae, torch.zeros(1, 64))
    with pytest.raises(HarnessError, match="constant"):
        fvu_and_l0(sae, torch.ones(4, 64))
