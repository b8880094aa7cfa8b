"""On-the-fly encoding == sae-lens / LoadedSae.encode; top positions in the pass ==
concepts.top_positions (ties included)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from harness.pairing.concepts import top_positions
from harness.activations.encode import (
    ChunkedEncoder,
    SaeWeights,
    TopPositions,
    encode_block,
    encode_pass,
    iter_code_chunks,
)
from harness.errors import ConfigError, ShapeError
from harness.pairing.exact import exact_max_correlation
from harness.pairing.matching import max_correlation


def toy_sae(d_in: int = 16, d_sae: int = 48, k: int = 4, seed: int = 0):
    """A LoadedSae (sae-lens TopKSAE via the sparsify conversion) and its raw tensors."""
    from harness.load.saes import LoadedSae, _meta_from_saelens, sparsify_to_saelens

    g = torch.Generator().manual_seed(seed)
    raw = {
        "encoder.weight": torch.randn(d_sae, d_in, generator=g),
        "encoder.bias": torch.randn(d_sae, generator=g) * 0.3,
        "W_dec": torch.randn(d_sae, d_in, generator=g),
        "b_dec": torch.randn(d_in, generator=g) * 0.1,
    }
    sae = sparsify_to_saelens({"k": k, "d_in": d_in, "num_latents": d_sae}, raw)
    return LoadedSae(sae, _meta_from_saelens(sae, "toy")), raw


@pytest.mark.parametrize("code", ["sparse", "pre_topk"])
def test_encode_equals_loaded_sae(code: str) -> None:
    loaded, raw = toy_sae()
    x = torch.randn(100, 16, generator=torch.Generator().manual_seed(1))
    w = SaeWeights.from_loaded(loaded, code=code)
    assert w.activation == ("topk" if code == "sparse" else "relu_pre_topk") and w.k == 4
    ref = loaded.encode(x, code=code)
    assert torch.equal(encode_block(x, w), ref)
    # from raw tensors, the way the suite's sparsify SAEs are defined
    w_raw = SaeWeights(
        w_enc=raw["encoder.weight"].T, b_enc=raw["encoder.bias"], b_dec=raw["b_dec"], activation=w.activation, k=4
    )
    torch.testing.assert_close(encode_block(x, w_raw), ref, rtol=0, atol=1e-6)
    if code == "sparse":
        assert int((ref > 0).sum(1).max()) <= 4


def test_chunked_encoder_is_chunking_invariant() -> None:
    loaded, _ = toy_sae(seed=2)
    w = SaeWeights.from_loaded(loaded, code="pre_topk")
    x = torch.randn(203, 16, generator=torch.Generator().manual_seed(3))
    enc = ChunkedEncoder(x, w, chunk_size=32)
    whole = torch.cat([c for _, _, c in iter_code_chunks(x, w, chunk_size=32)])
    assert torch.equal(enc(0, 203), whole)
    assert torch.equal(torch.cat([enc(0, 50), enc(50, 51), enc(51, 203)]), whole)  # same bits however sliced
    # codes straight into the exact pairing
    b = torch.relu(torch.randn(203, 20, generator=torch.Generator().manual_seed(4)) + whole[:, :20])
    out = exact_max_correlation(enc.source(), b, screen="tf32", block_positions=64)
    ref = max_correlation(whole.numpy(), b.numpy(), backend="dense", dtype="float64")
    np.testing.assert_array_equal(out.max_correlation.a_for_b, ref.a_for_b)
    np.testing.assert_array_equal(out.max_correlation.b_for_a, ref.b_for_a)


def tied_codes(n: int = 157, f: int = 30, seed: int = 5) -> np.ndarray:
    """Quantised non-negative codes: many exact ties, rare and never-active features."""
    rng = np.random.default_rng(seed)
    c = np.round(rng.exponential(size=(n, f)) * 2) / 2 * (rng.random((n, f)) < 0.3)
    c[:, 0] = 0.0  # never active
    c[:, 1] = 0.0
    c[[5, 90], 1] = 1.0  # active twice, tied
    c[:, 2] = 1.5  # active everywhere, all tied
    c[:, 3] = -(rng.random(n) < 0.5).astype(float)  # negative entries are not active
    c[7, 3] = 2.0
    return c.astype(np.float32)


@pytest.mark.parametrize("require_active", [True, False])
@pytest.mark.parametrize("chunk", [1, 7, 64, 500])
def test_top_positions_equal_concepts(require_active: bool, chunk: int) -> None:
    c = tied_codes()
    ref = top_positions(sp.csr_matrix(c), k=5, require_active=require_active)
    t = TopPositions(c.shape[1], k=5, require_active=require_active)
    for s in range(0, c.shape[0], chunk):
        t.update(torch.as_tensor(c[s : s + chunk]), s)
    np.testing.assert_array_equal(t.result(), ref)
    assert ref[2].tolist() == [0, 1, 2, 3, 4]  # all tied: lowest positions first
    assert (ref[0] == -1).all() if require_active else ref[0].tolist() == [0, 1, 2, 3, 4]


def test_encode_pass_top_positions_and_sums() -> None:
    loaded, _ = toy_sae(seed=6)
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(7))
    for code in ("sparse", "pre_topk"):
        w = SaeWeights.from_loaded(loaded, code=code)
        codes = loaded.encode(x, code=code).numpy()
        for req in (True, False):
            res = encode_pass(x, w, top_k=5, require_active=req, chunk_size=37)
            np.testing.assert_array_equal(res.top_positions, top_positions(codes, k=5, require_active=req))
        np.testing.assert_allclose(res.sum.numpy(), codes.astype(np.float64).sum(0), rtol=1e-12)
        np.testing.assert_array_equal(res.nnz.numpy(), (codes != 0).sum(0))


def test_bad_inputs() -> None:
    with pytest.raises(ShapeError, match="transposed"):
        SaeWeights(w_enc=torch.zeros(4, 6), b_enc=torch.zeros(4), b_dec=torch.zeros(4))
    with pytest.raises(ConfigError, match="needs k"):
        SaeWeights(w_enc=torch.zeros(4, 6), b_enc=torch.zeros(6), b_dec=torch.zeros(4), activation="topk")
    w = SaeWeights(w_enc=torch.zeros(4, 6), b_enc=torch.zeros(6), b_dec=torch.zeros(4))
    with pytest.raises(ShapeError, match="d_in=4"):
        encode_block(torch.zeros(3, 5), w)
    t = TopPositions(6, k=2)
    with pytest.raises(ConfigError, match="ascending"):
        t.update(torch.zeros(3, 6), 2)
    # float64 codes (the smoke tier's float64 encoders) are ranked at float32 resolution: values equal
    # there tie, and the lower position wins
    t64 = TopPositions(2, k=2)
    x = torch.tensor([[1.0, 0.5], [1.0 + 1e-12, 0.0], [0.9, 0.7]], dtype=torch.float64)
    t64.update(x, 0)
    assert t64.result().tolist() == [[0, 1], [2, 0]]


@pytest.mark.parametrize("code", ["sparse", "pre_topk"])
def test_sae_codes_columns_summary_and_permutation(code: str) -> None:
    """SaeCodes: selected columns == the full codes' columns (topk gathered exactly; pre-TopK
    re-encoded for the subset only, equal to fp32 rounding), summary == top_positions, and a
    permuted SaeCodes == the permuted codes."""
    from harness.activations.encode import SaeCodes

    loaded, _ = toy_sae(seed=8)
    x = torch.randn(211, 16, generator=torch.Generator().manual_seed(9))
    w = SaeWeights.from_loaded(loaded, code=code)
    full = torch.cat([c for _, _, c in iter_code_chunks(x, w, chunk_size=50)]).double().numpy()
    sc = SaeCodes(x, w, chunk_size=50, top_k=5, require_active=False)
    idx = np.array([40, 3, 17, 3 + 1, 47, 0])
    cols = sc.columns(idx).numpy()
    assert cols.shape == (211, idx.size) and cols.dtype == np.float64
    if code == "sparse":
        np.testing.assert_array_equal(cols, full[:, idx])
    else:
        np.testing.assert_allclose(cols, full[:, idx], rtol=0, atol=1e-5)
        assert (cols >= 0).all()
    np.testing.assert_array_equal(
        sc.summary().top_positions, top_positions(full.astype(np.float32), k=5, require_active=False)
    )
    perm = np.random.default_rng(0).permutation(211)
    p = sc.permuted(perm)
    np.testing.assert_array_equal(
        p.columns(idx).numpy(), cols[perm]
    ) if code == "sparse" else np.testing.assert_allclose(p.columns(idx).numpy(), cols[perm], rtol=0, atol=1e-5)
    pm = torch.cat([p.source().block(s, e) for s, e in ((0, 100), (100, 211))]).double().numpy()
    np.testing.assert_allclose(pm, full[perm], rtol=0, atol=1e-5)
    with pytest.raises(ShapeError, match="Feature ids"):
        sc.columns(np.array([48]))


def test_module_encoder_matches_weights() -> None:
    """Any SAE's encode function (ModuleEncoder) gives the same codes, top positions and columns."""
    from harness.activations.encode import ModuleEncoder, SaeCodes

    loaded, _ = toy_sae(seed=10)
    x = torch.randn(120, 16, generator=torch.Generator().manual_seed(11))
    w = SaeWeights.from_loaded(loaded, code="sparse")
    mod = ModuleEncoder(fn=lambda t: loaded.encode(t, code="sparse"), d_in=16, d_sae=48, device=torch.device("cpu"))
    a, b = SaeCodes(x, w, chunk_size=40), SaeCodes(x, mod, chunk_size=40)
    np.testing.assert_array_equal(a.summary().top_positions, b.summary().top_positions)
    idx = np.array([5, 1, 30])
    assert torch.equal(a.columns(idx), b.columns(idx))
