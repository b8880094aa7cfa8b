"""harness.activations.codes: codes under both procedures, masking, statistics, cache, contexts."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import fixtures
from harness.activations.codes import activation_key, compute_feature_activations, contexts
from harness.config import CORRECTED, PAPER
from harness.load.data import DataSpec, load_tokens
from harness.errors import ShapeError
from harness.load.models import residual_activations
from harness.load.saes import SaeSpec, load_sae

pytestmark = pytest.mark.smoke

LAYER = 2


@pytest.fixture(scope="module")
def sae():
    return load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(fixtures.MODEL_A), f"layers.{LAYER}"))


@pytest.fixture(scope="module")
def token_set(model_a):
    return load_tokens(
        DataSpec(source=str(fixtures.corpus_path()), n_samples=20, seq_len=64), model_a.tokenizer, prepend_bos=True
    )


@pytest.fixture(scope="module")
def corrected(model_a, sae, token_set):
    return compute_feature_activations(model_a, sae, token_set, LAYER, procedure=CORRECTED, batch_size=7)


@pytest.fixture(scope="module")
def paper(model_a, sae, token_set):
    return compute_feature_activations(model_a, sae, token_set, LAYER, procedure=PAPER, batch_size=8)


def test_masking_drops_exactly_bos_and_padding(corrected, paper, token_set):
    special = token_set.special_mask.numpy()
    keep_s, keep_p = np.nonzero(~special)  # sample-major order
    np.testing.assert_array_equal(corrected.sample_index, keep_s)
    np.testing.assert_array_equal(corrected.position_index, keep_p)
    np.testing.assert_array_equal(corrected.token_ids, token_set.tokens.numpy()[keep_s, keep_p])
    assert corrected.n_positions == int((~special).sum()) < paper.n_positions == special.size
    assert special[:, 0].all() and special.sum() > special.shape[0]  # BOS column plus some padding
    np.testing.assert_array_equal(paper.position_index, np.tile(np.arange(64), 20))


def test_corrected_codes_are_the_sparse_topk_code_at_block_output(corrected, model_a, sae, token_set):
    assert isinstance(corrected.codes, sp.csr_matrix) and corrected.codes.dtype == np.float32
    assert corrected.codes.shape == (corrected.n_positions, sae.meta.d_sae)
    assert np.diff(corrected.codes.indptr).max() <= sae.meta.k
    acts = residual_activations(model_a, token_set.tokens, [LAYER], site="block_output")[LAYER]
    x = acts[torch.from_numpy(corrected.sample_index), torch.from_numpy(corrected.position_index)]
    expected = sae.encode(x, code="sparse").numpy()
    np.testing.assert_allclose(corrected.codes.toarray(), expected, rtol=1e-6, atol=1e-6)


def test_paper_codes_are_dense_pre_topk_at_block_input(paper, model_a, sae, token_set):
    acts = residual_activations(
        model_a, token_set.tokens, [LAYER], site="block_input", attention_mask=token_set.attention_mask
    )[LAYER]
    expected = sae.encode(acts.reshape(-1, acts.shape[-1]), code="pre_topk").numpy()
    np.testing.assert_allclose(paper.codes.toarray(), expected, rtol=1e-6, atol=1e-6)
    assert paper.codes.nnz / paper.n_positions > sae.meta.k  # denser than any TopK code


def test_paper_padding_rows_come_from_the_pass_with_padding_keys_masked(paper, model_a, sae, token_set):
    """The authors' forward passes got the tokenizer's attention_mask: padding rows are kept
    under the paper procedure, with the activations of that masked pass (not an unmasked one)."""
    mask = token_set.attention_mask
    assert mask[:, 0].all() and int((mask == 0).sum()) == int(token_set.special_mask.sum()) - mask.shape[0]
    unmasked = residual_activations(model_a, token_set.tokens, [LAYER], site="block_input")[LAYER]
    old = sae.encode(unmasked.reshape(-1, unmasked.shape[-1]), code="pre_topk").numpy()
    pad = (mask == 0).reshape(-1).numpy()
    got = paper.codes.toarray()
    assert np.abs(got[pad] - old[pad]).max() > 1e-2  # padding rows differ from the unmasked pass
    np.testing.assert_array_equal(got[~pad], old[~pad])  # real tokens (right padding): identical
    assert paper.meta["attention"] == "tokenizer_mask"


def test_mean_and_unbiased_std_match_dense_numpy(corrected, paper):
    for fa in (corrected, paper):
        dense = fa.codes.toarray().astype(np.float64)
        np.testing.assert_allclose(fa.mean, dense.mean(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fa.std, dense.std(0, ddof=1), rtol=1e-6, atol=1e-9)
        assert fa.mean.dtype == fa.std.dtype == np.float64
        np.testing.assert_array_equal(fa.dead, ~(dense != 0).any(0))


def test_decoder_rows_are_float64_w_dec(corrected, sae):
    assert corrected.decoder.dtype == np.float64
    np.testing.assert_array_equal(corrected.decoder, sae.decoder_rows())


def test_key_depends_on_exactly_the_inputs(corrected, paper, model_a, sae, token_set):
    assert corrected.key != paper.key
    again = compute_feature_activations(model_a, sae, token_set, LAYER, procedure=CORRECTED, batch_size=3)
    assert again.key == corrected.key  # batch size does not change the result, nor the key
    base = dict(
        model_id="m",
        sae_id="s",
        layer=1,
        site="block_output",
        code="sparse",
        mask_special_positions=True,
        tokens_key="t",
    )
    keys = {activation_key(**base)}
    for field, value in [
        ("model_id", "m2"),
        ("sae_id", "s2"),
        ("layer", 2),
        ("site", "block_input"),
        ("code", "pre_topk"),
        ("mask_special_positions", False),
        ("tokens_key", "t2"),
        ("attention", "causal_only"),
    ]:
        keys.add(activation_key(**{**base, field: value}))
    assert len(keys) == 9
    only_site = CORRECTED.replace(name="x", activation_site="block_input", n_permutations=7)
    k2 = compute_feature_activations(model_a, sae, token_set, LAYER, procedure=only_site).key
    assert k2 not in (corrected.key, paper.key)


def test_disk_cache_round_trip(tmp_path: Path, model_a, sae, token_set, corrected):
    first = compute_feature_activations(model_a, sae, token_set, LAYER, procedure=CORRECTED, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert [f.name for f in files] == [f"{corrected.key}.npz"]
    second = compute_feature_activations(model_a, sae, token_set, LAYER, procedure=CORRECTED, cache_dir=tmp_path)
    assert second.meta.get("from_cache") is True and not first.meta.get("from_cache")
    assert (second.codes != first.codes).nnz == 0
    for name in ("token_ids", "sample_index", "position_index", "mean", "std", "decoder"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    files[0].write_bytes(b"corrupt")  # an unreadable cache is recomputed, not trusted
    third = compute_feature_activations(model_a, sae, token_set, LAYER, procedure=CORRECTED, cache_dir=tmp_path)
    assert not third.meta.get("from_cache") and (third.codes != first.codes).nnz == 0


def test_changed_weights_recompute(tmp_path: Path, token_set):
    """Issue 14, finding 2: with the model's (or SAE's) weights changed, a cached cell stayed
    bit-identical because the key held the model's name and a partial SAE hash."""
    from harness.load.models import ModelSpec, load_model

    model = load_model(ModelSpec(name="fixture/model-a", local_path=str(fixtures.model_dir(fixtures.MODEL_A))))
    sae = load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(fixtures.MODEL_A), f"layers.{LAYER}"))

    def run():  # type: ignore[no-untyped-def]
        return compute_feature_activations(
            model, sae, token_set, LAYER, procedure=CORRECTED, cache_dir=tmp_path, model_id="fixture/model-a"
        )  # the World passes a name, as here

    first = run()
    assert run().meta.get("from_cache") is True
    with torch.no_grad():
        model.blocks[LAYER].mlp.W_out.view(-1)[-1] += 0.5  # past the first 4,096 values
    changed_model = run()
    assert changed_model.key != first.key and not changed_model.meta.get("from_cache")
    with torch.no_grad():
        sae.sae.W_enc.view(-1)[-1] += 0.5  # past the first 4,096 values
    changed_sae = run()
    assert changed_sae.key not in (first.key, changed_model.key) and not changed_sae.meta.get("from_cache")
    assert len(list(tmp_path.glob("*.npz"))) == 3


@pytest.mark.parametrize("damage", ["truncate", "flip_byte"])
def test_damaged_cache_file_is_named_and_recomputed(
    tmp_path: Path, model_a, sae, token_set, corrected, caplog, damage: str
):
    """Issue 14, finding 3: a truncated file (BadZipFile/EOFError) or bad CRC crashed every
    later run without naming the file."""
    compute_feature_activations(model_a, sae, token_set, LAYER, procedure=CORRECTED, cache_dir=tmp_path)
    path = tmp_path / f"{corrected.key}.npz"
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    else:  # inside the first member's data: the zip's CRC check fails on reading
        raw[200] ^= 0xFF
        path.write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="harness.activations.codes"):
        again = compute_feature_activations(model_a, sae, token_set, LAYER, procedure=CORRECTED, cache_dir=tmp_path)
    assert not again.meta.get("from_cache") and (again.codes != corrected.codes).nnz == 0
    assert str(path) in caplog.text and "unreadable" in caplog.text
    assert (
        compute_feature_activations(model_a, sae, token_set, LAYER, procedure=CORRECTED, cache_dir=tmp_path).meta.get(
            "from_cache"
        )
        is True
    )  # rewritten whole


def test_d_in_mismatch(model_a, token_set):
    sae_b = load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(fixtures.MODEL_B), "layers.0"))
    with pytest.raises(ShapeError, match="d_in=96"):
        compute_feature_activations(model_a, sae_b, token_set, 0, procedure=CORRECTED)


def test_contexts_window_and_compound_words(model_a):
    tok = model_a.tokenizer
    ids = tok("He was seeking the king today.", add_special_tokens=False)["input_ids"]
    tokens = torch.tensor([ids])
    pieces = [tok.decode([i]) for i in ids]
    i_suffix = pieces.index("king")  # the keyword piece of "seeking"
    i_word = pieces.index(" king")
    got = contexts(tokens, np.array([0, 0, 0]), np.array([i_suffix, i_word, 0]), tok)
    assert got[0].token == "king" and "seeking" in got[0].window
    assert got[0].window_tokens == tuple(pieces[i_suffix - 2 : i_suffix + 2])
    assert got[1].token == " king" and got[1].window == "".join(pieces[i_word - 2 : i_word + 2])
    assert got[2].window_tokens == tuple(pieces[0:2])  # clipped at the start of the sample
    with pytest.raises(ShapeError):
        contexts(tokens, np.array([1]), np.array([0]), tok)
