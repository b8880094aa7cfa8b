"""harness.load.models: offline loading, activation sites vs HF hidden states (the off-by-one),
and clear errors for bad names, layers, gated models and missing hub files."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pathlib import Path

import pytest
import torch

import fixtures
from harness.errors import ConfigError, HarnessError, HubAccessError, ShapeError, UnknownIdError
from harness.load.models import ModelSpec, check_layers, hook_name, load_model, model_fingerprint, residual_activations

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def hf_a():
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(fixtures.model_dir(fixtures.MODEL_A))).eval()


@pytest.fixture(scope="module")
def tokens(model_a) -> torch.Tensor:
    text = ["The king was seeking the queen in May.", "She flew from Japan to Brazil at dawn, with joy!"]
    ids = [model_a.tokenizer(t, add_special_tokens=False)["input_ids"] for t in text]
    n = min(len(i) for i in ids)
    return torch.tensor([i[:n] for i in ids])


def test_local_model_is_unprocessed_and_matches_hf_logits(model_a, hf_a, tokens):
    assert model_a.cfg.n_layers == 4 and model_a.cfg.d_model == 64
    assert model_a.cfg.model_name == "fixture/model-a"
    assert model_a.tokenizer is not None and model_a.tokenizer.eos_token_id == 0
    with torch.no_grad():
        ours = model_a(tokens)
        theirs = hf_a(tokens).logits
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_sites_match_hf_hidden_states_and_show_the_off_by_one(model_a, hf_a, tokens):
    """block_output L = hidden_states[L+1] (not the last block); block_input L = hidden_states[L]."""
    n_layers = model_a.cfg.n_layers
    layers = list(range(n_layers))
    out = residual_activations(model_a, tokens, layers, site="block_output", batch_size=1)
    inp = residual_activations(model_a, tokens, layers, site="block_input", batch_size=2)
    with torch.no_grad():
        hs = hf_a(tokens, output_hidden_states=True).hidden_states
    assert len(hs) == n_layers + 1
    for layer in layers:
        torch.testing.assert_close(inp[layer], hs[layer], atol=1e-5, rtol=1e-5)
        if layer < n_layers - 1:
            torch.testing.assert_close(out[layer], hs[layer + 1], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(out[layer], inp[layer + 1])
            # the paper code's hidden_states[L] is NOT what an SAE of layer L was trained on
            assert (out[layer] - hs[layer]).abs().max() > 1e-2
    # last block: HF applies the final LayerNorm to hidden_states[-1]; the block output is before it
    assert (out[n_layers - 1] - hs[n_layers]).abs().max() > 1e-2
    captured = {}
    handle = hf_a.gpt_neox.layers[n_layers - 1].register_forward_hook(
        lambda mod, args, output: captured.setdefault("h", output[0] if isinstance(output, tuple) else output)
    )
    try:
        with torch.no_grad():
            hf_a(tokens)
    finally:
        handle.remove()
    torch.testing.assert_close(out[n_layers - 1], captured["h"], atol=1e-5, rtol=1e-5)


def test_right_padded_batch_matches_hf_forward_with_the_tokenizers_mask(model_a, hf_a):
    """The authors passed the tokenizer's attention_mask to the HF forward pass: padding
    positions (pad = EOS, right padding) must carry the hidden states of that masked pass,
    at every layer, while real tokens equal those of an unmasked pass."""
    tok = model_a.tokenizer
    text = ["The king was seeking the queen in May.", "Rain."]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in text]
    seq = max(len(i) for i in ids) + 3
    eos = tok.eos_token_id
    tokens = torch.tensor([i + [eos] * (seq - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (seq - len(i)) for i in ids])
    assert (mask == 0).sum() >= 3 + 3  # padding in both rows
    layers = list(range(model_a.cfg.n_layers))
    ours = residual_activations(model_a, tokens, layers, site="block_input", batch_size=2, attention_mask=mask)
    plain = residual_activations(model_a, tokens, layers, site="block_input", batch_size=2)
    with torch.no_grad():
        hs = hf_a(tokens, attention_mask=mask, output_hidden_states=True).hidden_states
        hs_plain = hf_a(tokens, output_hidden_states=True).hidden_states
    pad = mask == 0
    for layer in layers:
        torch.testing.assert_close(ours[layer], hs[layer], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(plain[layer], hs_plain[layer], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours[layer][~pad], plain[layer][~pad], atol=0, rtol=0)
        if layer > 0:  # layer 0's input is the embedding: no attention yet
            assert (ours[layer][pad] - plain[layer][pad]).abs().max() > 1e-3
    out = residual_activations(model_a, tokens, [1], site="block_output", attention_mask=mask)[1]
    torch.testing.assert_close(out, hs[2], atol=1e-5, rtol=1e-5)
    with pytest.raises(ShapeError):
        residual_activations(model_a, tokens, [0], attention_mask=mask[:, :-1])


def test_hook_names():
    assert hook_name(3, "block_output") == "blocks.3.hook_resid_post"
    assert hook_name(3, "block_input") == "blocks.3.hook_resid_pre"
    with pytest.raises(ConfigError):
        hook_name(3, "mlp_out")


def test_layer_out_of_range_names_n_layers(model_a, tokens):
    with pytest.raises(ConfigError, match=r"n_layers=4"):
        residual_activations(model_a, tokens, [4])
    with pytest.raises(ConfigError, match=r"n_layers=4"):
        check_layers(model_a, [-1])
    with pytest.raises(ShapeError):
        residual_activations(model_a, tokens[0], [0])


def test_fingerprint_separates_trained_and_control(model_a):
    control = load_model(ModelSpec(name="fixture/control", local_path=str(fixtures.model_dir(fixtures.CONTROL))))
    assert model_fingerprint(model_a) == model_fingerprint(model_a)
    assert model_fingerprint(model_a) != model_fingerprint(control)


def test_fingerprint_covers_every_weight_and_sees_in_place_edits():
    """Issue 14, finding 2: only the first 4,096 values of each parameter were hashed, and the
    grid keyed the cache by the model's name; a weight changed anywhere must change the key."""
    model = load_model(ModelSpec(name="fixture/model-a", local_path=str(fixtures.model_dir(fixtures.MODEL_A))))
    before = model_fingerprint(model)
    w = model.blocks[1].mlp.W_out
    assert w.numel() > 4096
    with torch.no_grad():
        w.view(-1)[-1] += 1e-3  # beyond the first 4,096 values, edited in place after a first hash
    assert model_fingerprint(model) != before
    with torch.no_grad():
        w.view(-1)[-1] -= 1e-3
    assert model_fingerprint(model) == before  # same bytes, same identity


def test_processing_flags_are_honoured_only_when_asked(model_a, tokens):
    centred = load_model(
        ModelSpec(
            name="fixture/model-a",
            local_path=str(fixtures.model_dir(fixtures.MODEL_A)),
            processing={"center_writing_weights": True},
        )
    )
    raw = residual_activations(model_a, tokens, [1])[1]
    cen = residual_activations(centred, tokens, [1])[1]
    # centring the writing weights changes hook_resid_post of a LayerNorm model ...
    assert (raw - cen).abs().max() > 1e-3
    # ... by removing the per-position mean across d_model
    torch.testing.assert_close(cen, raw - raw.mean(-1, keepdim=True), atol=1e-4, rtol=1e-4)


def test_spec_validation():
    with pytest.raises(ConfigError, match="dtype"):
        ModelSpec(name="x", dtype="int8")
    with pytest.raises(ConfigError, match="unknown flags"):
        ModelSpec(name="x", processing={"fold_everything": True})


def test_unknown_name_and_bad_local_path(tmp_path: Path):
    with pytest.raises(UnknownIdError, match="EleutherAI/pythia"):
        load_model(ModelSpec(name="EleutherAI/pythia-70mm"))
    with pytest.raises(HarnessError, match="no config.json"):
        load_model(ModelSpec(name="local", local_path=str(tmp_path)))


def _no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants as hf_constants

    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"), raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))


def test_gated_model_without_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _no_token(monkeypatch, tmp_path)
    with pytest.raises(HubAccessError) as err:
        load_model(ModelSpec(name="google/gemma-2-2b"))
    msg = str(err.value)
    assert "gated" in msg and "HF_TOKEN" in msg and "google/gemma-2-2b" in msg


def test_offline_official_model_not_cached_names_hf_hub_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubAccessError) as err:
        load_model(ModelSpec(name="EleutherAI/pythia-14m"))
    msg = str(err.value)
    assert "HF_HUB_OFFLINE" in msg and "EleutherAI/pythia-14m" in msg


def test_a_weight_shuffled_control_keeps_each_tensors_values_and_loses_their_places(model_a) -> None:
    spec = ModelSpec(
        name="fixture/model-a", local_path=str(fixtures.model_dir(fixtures.MODEL_A)), shuffle_weights_seed=3
    )
    shuffled, again = load_model(spec), load_model(spec)
    trained = dict(model_a.named_parameters())
    moved = 0
    for name, p in shuffled.named_parameters():
        assert torch.equal(torch.sort(p.reshape(-1)).values, torch.sort(trained[name].reshape(-1)).values), name
        assert torch.equal(p, dict(again.named_parameters())[name])  # seeded: the same control every time
        moved += int(not torch.equal(p, trained[name]))
    varying = sum(int(p.numel() > 1 and not torch.all(p == p.reshape(-1)[0])) for p in trained.values())
    assert moved == varying  # every tensor whose entries differ (a constant one, e.g. all-ones scales, cannot move)
    assert model_fingerprint(shuffled) != model_fingerprint(model_a)  # cache keys tell them apart
    with pytest.raises(ConfigError, match="shuffle_weights_seed"):
        ModelSpec(name="x", local_path="y", shuffle_weights_seed=-1)


def test_the_mlp_output_site_is_the_mlps_output(model_a, tokens) -> None:
    got = residual_activations(model_a, tokens, [1], site="mlp_output", batch_size=len(tokens))[1]
    _, cache = model_a.run_with_cache(tokens, names_filter=["blocks.1.hook_mlp_out"])
    want = cache["blocks.1.hook_mlp_out"].to("cpu", torch.float32)
    assert got.shape == want.shape and torch.allclose(got, want, rtol=0, atol=1e-6)
    other = residual_activations(model_a, tokens, [1], site="block_output", batch_size=len(tokens))[1]
    assert not torch.allclose(got, other, rtol=0, atol=1e-3)  # not the residual stream
    assert hook_name(1, "mlp_output") == "blocks.1.hook_mlp_out"
