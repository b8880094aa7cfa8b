"""harness.load.saes: exact EleutherAI -> sae-lens conversion, the two codes, the loaders, errors."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import fixtures
from harness.errors import ConfigError, HarnessError, HubAccessError, ShapeError, UnknownIdError
from harness.load.saes import (
    LoadedSae,
    SaeSpec,
    load_sae,
    parse_hook_name,
    sparsify_hookpoint_to_hook_name,
    sparsify_to_saelens,
)

pytestmark = pytest.mark.smoke

LAYER = 2


@pytest.fixture(scope="module")
def raw() -> dict[str, torch.Tensor]:
    return load_file(str(fixtures.sae_dir(fixtures.MODEL_A, LAYER) / "sae.safetensors"))


@pytest.fixture(scope="module")
def raw_cfg() -> dict:
    return json.loads((fixtures.sae_dir(fixtures.MODEL_A, LAYER) / "cfg.json").read_text())


@pytest.fixture(scope="module")
def sae() -> LoadedSae:
    return load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(fixtures.MODEL_A), f"layers.{LAYER}"))


@pytest.fixture(scope="module")
def x(raw) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    d_in = raw["b_dec"].shape[0]
    # inputs near the data: decoder directions plus noise around b_dec
    idx = torch.randint(0, raw["W_dec"].shape[0], (64, 3), generator=g)
    return raw["b_dec"] + raw["W_dec"][idx].sum(1) * 2.0 + 0.1 * torch.randn(64, d_in, generator=g)


def reference_codes(raw: dict[str, torch.Tensor], x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """sparsify's definition: pre = relu((x - b_dec) W_enc^T + b_enc); keep the top k."""
    pre = torch.relu((x - raw["b_dec"]) @ raw["encoder.weight"].T + raw["encoder.bias"])
    vals, idx = pre.topk(k, dim=-1)
    sparse = torch.zeros_like(pre).scatter_(-1, idx, vals)
    return pre, sparse


def test_meta_of_converted_sparsify_sae(sae, raw_cfg, raw):
    m = sae.meta
    assert m.architecture == "topk" and m.k == raw_cfg["k"]
    assert (m.d_in, m.d_sae) == tuple(raw["encoder.weight"].shape[::-1])
    assert m.hook_name == f"blocks.{LAYER}.hook_resid_post" and m.site == "block_output" and m.layer == LAYER
    assert m.apply_b_dec_to_input is True and m.normalisation == "none"
    assert sae.is_topk


def test_conversion_encodes_and_decodes_exactly_as_the_raw_weights(sae, raw, raw_cfg, x):
    pre, sparse = reference_codes(raw, x, raw_cfg["k"])
    torch.testing.assert_close(sae.encode(x, code="sparse"), sparse, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(sae.encode(x, code="pre_topk"), pre, atol=1e-6, rtol=1e-6)
    assert int((sae.encode(x) > 0).sum(-1).max()) <= raw_cfg["k"]
    assert float((pre > 0).float().sum(-1).mean()) > raw_cfg["k"]  # pre-TopK latents are denser
    torch.testing.assert_close(sae.decode(sparse), sparse @ raw["W_dec"] + raw["b_dec"], atol=1e-5, rtol=1e-5)
    rows = sae.decoder_rows()
    assert rows.dtype == np.float64 and rows.shape == tuple(raw["W_dec"].shape)
    np.testing.assert_array_equal(rows, raw["W_dec"].double().numpy())


def test_saelens_disk_copy_equals_sparsify_original(sae, x):
    disk = load_sae(SaeSpec.from_disk(fixtures.saelens_sae_dir(fixtures.MODEL_A, LAYER)))
    assert disk.meta.architecture == "topk" and disk.meta.hook_name == sae.meta.hook_name
    assert disk.meta.model_name == "fixture/model-a"
    for code in ("sparse", "pre_topk"):
        torch.testing.assert_close(disk.encode(x, code=code), sae.encode(x, code=code))
    np.testing.assert_array_equal(disk.decoder_rows(), sae.decoder_rows())
    assert disk.fingerprint() == sae.fingerprint()


def test_hookpoint_folder_itself_can_be_given():
    direct = load_sae(SaeSpec.from_sparsify(fixtures.sae_dir(fixtures.MODEL_A, 1)))
    assert direct.meta.layer == 1 and direct.meta.hook_name == "blocks.1.hook_resid_post"


def test_non_topk_sae_pre_topk_equals_its_own_encode(tmp_path: Path):
    from sae_lens import StandardSAE, StandardSAEConfig

    torch.manual_seed(0)
    std = StandardSAE(StandardSAEConfig(d_in=8, d_sae=16))
    with torch.no_grad():
        std.b_enc.normal_()
    std.cfg.metadata.hook_name = "blocks.0.hook_resid_pre"
    std.save_model(tmp_path / "std")
    loaded = load_sae(SaeSpec.from_disk(tmp_path / "std"))
    assert loaded.meta.architecture == "standard" and loaded.meta.k is None and not loaded.is_topk
    assert loaded.meta.site == "block_input" and loaded.meta.layer == 0
    xs = torch.randn(5, 8)
    torch.testing.assert_close(loaded.encode(xs, code="pre_topk"), loaded.encode(xs, code="sparse"))
    torch.testing.assert_close(loaded.encode(xs), std.encode(xs))


def test_wrong_input_width_is_a_shape_error(sae):
    with pytest.raises(ShapeError, match="d_in=64"):
        sae.encode(torch.zeros(3, 96))
    with pytest.raises(ShapeError):
        sae.decode(torch.zeros(3, 7))
    with pytest.raises(ConfigError):
        sae.encode(torch.zeros(3, 64), code="dense")


def test_unknown_release_and_sae_id():
    with pytest.raises(UnknownIdError, match="gemma-2b-res-jb"):
        load_sae(SaeSpec.from_release("gemma-2b-res-jbb", "blocks.6.hook_resid_post"))
    with pytest.raises(UnknownIdError, match="blocks.99.hook_resid_post"):
        load_sae(SaeSpec.from_release("gemma-2b-res-jb", "blocks.99.hook_resid_post"))


def test_known_release_offline_not_cached_is_a_hub_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubAccessError, match="HF_HUB_OFFLINE"):
        load_sae(SaeSpec.from_release("gemma-2b-res-jb", "blocks.6.hook_resid_post"))


def test_missing_hookpoint_in_local_folder_lists_hookpoints():
    with pytest.raises(UnknownIdError) as err:
        load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(fixtures.MODEL_A), "layers.9"))
    assert "layers.9" in str(err.value) and "['layers.0', 'layers.1', 'layers.2', 'layers.3']" in str(err.value)
    with pytest.raises(UnknownIdError, match="pass a hookpoint"):
        load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(fixtures.MODEL_A)))


def _stage(tmp_path: Path, repo: str, layers: list[int]) -> Path:
    """Stage fixture SAEs as a hub repo in a local hub cache (models--ORG--NAME layout)."""
    rev = "1" * 40
    cache = tmp_path / "hub"
    root = cache / f"models--{repo.replace('/', '--')}"
    for layer in layers:
        shutil.copytree(fixtures.sae_dir(fixtures.MODEL_A, layer), root / "snapshots" / rev / f"layers.{layer}")
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(rev)
    return cache


def test_fingerprint_covers_every_sae_weight():
    """Issue 14, finding 2: the SAE fingerprint hashed only the first 4,096 values of each
    parameter, so an SAE changed beyond them reused a stale activation cache."""
    sae = load_sae(SaeSpec.from_sparsify(fixtures.sae_repo_dir(fixtures.MODEL_A), f"layers.{LAYER}"))
    before = sae.fingerprint()
    assert sae.sae.W_dec.numel() > 4096
    with torch.no_grad():
        sae.sae.W_dec.view(-1)[-1] += 1e-3
    assert sae.fingerprint() != before


@pytest.mark.parametrize("fmt", ["sparsify", "disk"])
def test_truncated_sae_file_error_names_the_file(tmp_path: Path, fmt: str):
    """Issue 14, finding 8: a truncated SAE file raised the library's error without its path."""
    import shutil

    src = (
        fixtures.sae_dir(fixtures.MODEL_A, LAYER)
        if fmt == "sparsify"
        else fixtures.saelens_sae_dir(fixtures.MODEL_A, LAYER)
    )
    folder = tmp_path / "layers.2"
    shutil.copytree(src, folder)
    weights = folder / ("sae.safetensors" if fmt == "sparsify" else "sae_weights.safetensors")
    weights.write_bytes(weights.read_bytes()[:1000])
    spec = SaeSpec.from_sparsify(folder) if fmt == "sparsify" else SaeSpec.from_disk(folder)
    with pytest.raises(HarnessError, match="damaged or truncated") as err:
        load_sae(spec)
    assert str(weights if fmt == "sparsify" else folder) in str(err.value)


def test_sparsify_hub_repo_resolves_from_a_staged_cache(tmp_path: Path, sae, x):
    cache = _stage(tmp_path, "org/sae-fixture", [1, 2])
    hub = load_sae(SaeSpec.from_sparsify("org/sae-fixture", "layers.2"), cache_dir=str(cache))
    assert hub.meta.source == "sparsify:org/sae-fixture:layers.2"
    torch.testing.assert_close(hub.encode(x), sae.encode(x))
    # the identity used in cache keys follows the weights, not where they were loaded from
    assert hub.fingerprint() == sae.fingerprint()
    assert (
        load_sae(SaeSpec.from_sparsify("org/sae-fixture", "layers.1"), cache_dir=str(cache)).fingerprint()
        != sae.fingerprint()
    )
    with pytest.raises(UnknownIdError) as err:
        load_sae(SaeSpec.from_sparsify("org/sae-fixture", "layers.7"), cache_dir=str(cache))
    assert "layers.7" in str(err.value) and "['layers.1', 'layers.2']" in str(err.value)


def test_sparsify_hub_repo_not_staged_names_offline_and_file(tmp_path: Path):
    with pytest.raises(HubAccessError) as err:
        load_sae(SaeSpec.from_sparsify("EleutherAI/sae-pythia-70m-32k", "layers.3"), cache_dir=str(tmp_path / "empty"))
    msg = str(err.value)
    assert "HF_HUB_OFFLINE" in msg and "layers.3/cfg.json" in msg


def test_spec_validation_and_hook_parsing():
    with pytest.raises(ConfigError):
        SaeSpec(source="release", release="x")
    with pytest.raises(ConfigError):
        SaeSpec(source="sparsify", repo_id="org/x")  # hub repo needs a hookpoint
    with pytest.raises(ConfigError):
        SaeSpec(source="disk")
    with pytest.raises(ConfigError):
        SaeSpec(source="hub")
    with pytest.raises(HarnessError, match="sparsify format"):
        load_sae(SaeSpec.from_disk(fixtures.sae_dir(fixtures.MODEL_A, 0)))
    assert parse_hook_name("blocks.12.hook_resid_post") == ("block_output", 12)
    assert parse_hook_name("blocks.0.hook_resid_pre") == ("block_input", 0)
    assert parse_hook_name("blocks.0.attn.hook_z") == (None, None)
    assert sparsify_hookpoint_to_hook_name("layers.5") == "blocks.5.hook_resid_post"
    with pytest.raises(ConfigError):
        sparsify_hookpoint_to_hook_name("layers.5.mlp")


def test_conversion_rejects_inconsistent_weights(raw, raw_cfg):
    bad = dict(raw)
    bad["W_dec"] = raw["W_dec"].T.contiguous()  # the transposed layout sae-lens's loader assumes
    with pytest.raises(ShapeError, match="W_dec"):
        sparsify_to_saelens(raw_cfg, bad)
    with pytest.raises(ShapeError, match="d_in"):
        sparsify_to_saelens({**raw_cfg, "d_in": 65}, raw)
    with pytest.raises(ConfigError, match="skip"):
        sparsify_to_saelens({**raw_cfg, "skip_connection": True}, raw)
