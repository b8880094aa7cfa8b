"""The test-only code reference (tests/activations/reference_codes.py) against first principles:
masking, both procedures' codes, statistics, decoder rows, batch-size invariance."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import fixtures
from harness.config import CORRECTED, PAPER
from harness.load.data import DataSpec, load_tokens
from harness.load.models import residual_activations
from harness.load.saes import SaeSpec, load_sae
from tests.activations.reference_codes import reference_codes

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
    return reference_codes(model_a, sae, token_set, LAYER, procedure=CORRECTED, batch_size=7)


@pytest.fixture(scope="module")
def paper(model_a, sae, token_set):
    return reference_codes(model_a, sae, token_set, LAYER, procedure=PAPER, batch_size=8)


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


def test_mean_and_unbiased_std_match_dense_numpy(corrected, paper):
    for fa in (corrected, paper):
        dense = fa.codes.toarray().astype(np.float64)
        np.testing.assert_allclose(fa.mean, dense.mean(0), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fa.std, dense.std(0, ddof=1), rtol=1e-6, atol=1e-9)
        assert fa.mean.dtype == fa.std.dtype == np.float64
        np.testing.assert_array_equal(fa.std == 0.0, ~(dense != 0).any(0))


def test_decoder_rows_are_float64_w_dec(corrected, sae):
    assert corrected.decoder.dtype == np.float64
    np.testing.assert_array_equal(corrected.decoder, sae.decoder_rows())


def test_batch_size_does_not_change_the_codes(corrected, model_a, sae, token_set):
    again = reference_codes(model_a, sae, token_set, LAYER, procedure=CORRECTED, batch_size=3)
    assert (again.codes != corrected.codes).nnz == 0
    np.testing.assert_array_equal(again.mean, corrected.mean)
