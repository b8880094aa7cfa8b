"""harness.activations.residuals: the residual cache (full-weight keys, recovery) and codes
encoded from it == the independent batch-by-batch reference (tests/activations/reference_codes.py)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np
import pytest
import torch

import fixtures
from harness.activations.encode import SaeCodes, SaeWeights
from harness.activations.residuals import forward_numerics, model_residuals, residual_key, weights_hash
from harness.config import CORRECTED, PAPER
from harness.load.data import DataSpec, load_tokens
from harness.load.models import residual_activations
from harness.load.saes import SaeSpec, load_sae
from tests.activations.reference_codes import reference_codes

pytestmark = pytest.mark.smoke

LAYER = 2


@pytest.fixture(scope="module")
def token_set(model_a):
    return load_tokens(
        DataSpec(source=str(fixtures.corpus_path()), n_samples=12, seq_len=48), model_a.tokenizer, prepend_bos=True
    )


def test_residuals_equal_forward_pass_and_cache(model_a, token_set, tmp_path) -> None:
    got = model_residuals(
        model_a, token_set, [1, LAYER], ["block_output", "block_input"], batch_size=5, cache_dir=tmp_path
    )
    assert set(got) == {(1, "block_output"), (LAYER, "block_output"), (1, "block_input"), (LAYER, "block_input")}
    ref = residual_activations(
        model_a, token_set.tokens, [LAYER], site="block_output", batch_size=12, attention_mask=token_set.attention_mask
    )[LAYER]
    res = got[(LAYER, "block_output")]
    assert res.dtype == torch.float32 and res.shape == (12 * 48, model_a.cfg.d_model)
    torch.testing.assert_close(res, ref.reshape(12 * 48, -1), rtol=0, atol=1e-5)
    files = sorted((tmp_path / "residuals").glob("*.pt"))
    assert len(files) == 4
    again = model_residuals(model_a, token_set, [LAYER], ["block_output"], cache_dir=tmp_path)
    assert torch.equal(again[(LAYER, "block_output")], res)
    # a corrupted cache file is recomputed, not trusted or crashed on
    for f in files:
        f.write_bytes(b"not a tensor")
    fixed = model_residuals(model_a, token_set, [LAYER], ["block_output"], cache_dir=tmp_path)
    assert torch.equal(fixed[(LAYER, "block_output")], res)


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "foreign"])
def test_damaged_residual_file_is_named_and_recomputed(model_a, token_set, tmp_path, caplog, damage: str) -> None:
    """Issue 14, finding 3: a truncated, bit-flipped or foreign cache file is reported with its
    path and recomputed (never trusted, never a crash)."""
    ref = model_residuals(model_a, token_set, [LAYER], ["block_output"], cache_dir=tmp_path)[(LAYER, "block_output")]
    (path,) = sorted((tmp_path / "residuals").glob("*.pt"))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "flip_byte":  # inside the tensor's zip member: its CRC check fails on reading
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    else:
        torch.save({"something": "else"}, path)
    with caplog.at_level("WARNING", logger="harness.activations.residuals"):
        again = model_residuals(model_a, token_set, [LAYER], ["block_output"], cache_dir=tmp_path)
    assert torch.equal(again[(LAYER, "block_output")], ref)
    assert str(path) in caplog.text and "unreadable" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="harness.activations.residuals"):  # rewritten whole
        model_residuals(model_a, token_set, [LAYER], ["block_output"], cache_dir=tmp_path)
    assert caplog.text == ""


def test_residual_key_depends_on_exactly_the_inputs() -> None:
    cpu = {"device": "cpu", "dtype": "torch.float32"}
    base = dict(model_hash="m", layer=1, site="block_output", tokens_key="t", attention="tokenizer_mask", numerics=cpu)
    assert residual_key(**base) == residual_key(**dict(base))
    cuda = {"device": "cuda", "dtype": "torch.float32", "device_name": "H100", "tf32_matmul": False}
    changed = [
        ("model_hash", "m2"),
        ("layer", 2),
        ("site", "block_input"),
        ("tokens_key", "t2"),
        ("attention", "causal"),
        ("numerics", {**cpu, "dtype": "torch.float64"}),
        ("numerics", cuda),
        ("numerics", {**cuda, "tf32_matmul": True}),
        ("numerics", {**cuda, "device_name": "A100"}),
    ]
    keys = {residual_key(**base)} | {residual_key(**{**base, field: value}) for field, value in changed}
    assert len(keys) == 1 + len(changed)


def test_forward_numerics_hold_device_dtype_and_tf32_on_cuda_only(model_a, monkeypatch) -> None:
    assert forward_numerics(model_a) == {"device": "cpu", "dtype": str(model_a.cfg.dtype)}
    old = torch.backends.cuda.matmul.allow_tf32
    try:  # TF32 does not touch cpu products: a cpu cache must not depend on the switch
        torch.backends.cuda.matmul.allow_tf32 = not old
        assert forward_numerics(model_a) == {"device": "cpu", "dtype": str(model_a.cfg.dtype)}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    monkeypatch.setattr(model_a.cfg, "device", "cuda")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    got = forward_numerics(model_a)
    assert got["device"] == "cuda" and got["device_name"] == "Fake GPU"
    assert got["tf32_matmul"] == bool(torch.backends.cuda.matmul.allow_tf32)
    assert {"tf32_cudnn", "float32_matmul_precision"} <= set(got)


def test_cache_of_one_device_is_not_read_on_another(model_a, token_set, tmp_path, monkeypatch) -> None:
    import harness.activations.residuals as residuals

    model_residuals(model_a, token_set, [LAYER], ["block_output"], cache_dir=tmp_path)
    files = sorted((tmp_path / "residuals").glob("*.pt"))
    assert len(files) == 1
    on_gpu = {"device": "cuda", "dtype": str(model_a.cfg.dtype), "device_name": "Fake GPU", "tf32_matmul": False}
    monkeypatch.setattr(residuals, "forward_numerics", lambda model: on_gpu)
    model_residuals(model_a, token_set, [LAYER], ["block_output"], cache_dir=tmp_path)
    again = sorted((tmp_path / "residuals").glob("*.pt"))
    assert len(again) == 2, "the other device's numerics must miss the cpu file and write their own"
    meta = {str(torch.load(f, weights_only=True)["meta"]["numerics"]["device"]) for f in again}
    assert meta == {"cpu", "cuda"}


def test_weights_hash_sees_every_parameter(model_a) -> None:
    """A change deep inside one weight (beyond any prefix a cheap fingerprint reads) changes the key."""
    before = weights_hash(model_a)
    p = model_a.blocks[-1].mlp.W_out
    flat = p.data.view(-1)
    old = flat[-1].item()
    try:
        flat[-1] = old + 1.0
        assert weights_hash(model_a) != before
    finally:
        flat[-1] = old
    assert weights_hash(model_a) == before


@pytest.mark.parametrize("procedure", [CORRECTED, PAPER], ids=["corrected", "paper"])
def test_codes_from_residuals_equal_the_reference(model_a, token_set, procedure) -> None:
    """Codes encoded on the fly from the residual cache == the independent batch-by-batch
    reference (tests/activations/reference_codes.py; same site, code and masking)."""
    sae = load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(fixtures.MODEL_A), f"layers.{LAYER}"))
    ref = reference_codes(model_a, sae, token_set, LAYER, procedure=procedure, batch_size=5)
    flat = model_residuals(model_a, token_set, [LAYER], [procedure.activation_site])[(LAYER, procedure.activation_site)]
    keep = (
        ~token_set.special_mask if procedure.mask_special_positions else torch.ones_like(token_set.special_mask)
    ).reshape(-1)
    sc = SaeCodes(
        flat[keep],
        SaeWeights.from_loaded(sae, code=procedure.sae_code),
        chunk_size=100,
        top_k=procedure.top_k_positions,
        require_active=procedure.top_positions_require_active,
    )
    assert sc.shape == ref.codes.shape
    got = torch.cat([sc.source().block(s, min(s + 100, sc.shape[0])) for s in range(0, sc.shape[0], 100)])
    np.testing.assert_allclose(got.numpy(), ref.codes.toarray(), rtol=0, atol=2e-5)
    np.testing.assert_array_equal(sc.summary().nnz.numpy() > 0, ref.std != 0.0)
