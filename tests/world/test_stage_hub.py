"""Tests of fixtures/stage_hub.py: the staged offline hub resolves through the real loaders.

Loading through transformer-lens / transformers needs HF_HUB_CACHE set before
huggingface_hub is imported, so those checks run in a subprocess with :func:`hub_env`.
``hf_hub_download`` takes ``cache_dir`` directly, so the SAE and parquet checks run in-process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fixtures.stage_hub import (
    MANIFEST_NAME,
    OWT_PARQUET_ALIASES,
    OWT_PARQUET_FILE,
    OWT_REPO_ID,
    OWT_REVISION,
    PYTHIA_CONFIGS,
    SAE_REPOS,
    fake_commit_hash,
    hub_env,
    repo_folder_name,
    snapshot_dir,
    stage_hub,
    synthetic_documents,
    write_eleuther_sae_layer,
    write_openwebtext,
    write_tokenizer,
)
from harness.errors import ConfigError, UnknownIdError

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHIA_70M = "EleutherAI/pythia-70m"
PYTHIA_160M = "EleutherAI/pythia-160m"


# ------------------------------------------------------------------------------------
# Fast, in-process
# ------------------------------------------------------------------------------------


def test_synthetic_documents_are_seeded_varied_and_keyword_rich() -> None:
    docs = synthetic_documents(40, seed=3)
    assert len(docs) == 40
    assert docs == synthetic_documents(40, seed=3)
    assert docs != synthetic_documents(40, seed=4)
    n_words = np.array([len(d.split()) for d in docs])
    # Lengths straddle the paper's 300-token window: some documents truncated, some padded.
    assert n_words.min() < 100 and n_words.max() > 300
    joined = " ".join(docs)
    for word in ("January", "France", "happy", "king", "river", "protein", "\n\n"):
        assert word in joined
    with pytest.raises(ConfigError):
        synthetic_documents(0)


def test_cache_layout_keeps_slashes_of_the_revision(tmp_path: Path) -> None:
    snap = snapshot_dir(tmp_path, "dataset", OWT_REPO_ID, OWT_REVISION)
    ref = tmp_path / "datasets--Skylion007--openwebtext" / "refs" / "refs" / "convert" / "parquet"
    commit = ref.read_text()
    assert len(commit) == 40 and int(commit, 16) >= 0
    assert snap == ref.parents[3] / "snapshots" / commit
    assert commit == fake_commit_hash("dataset", OWT_REPO_ID, OWT_REVISION)
    assert commit != fake_commit_hash("model", OWT_REPO_ID, OWT_REVISION)
    assert repo_folder_name("model", "EleutherAI/sae-pythia-70m-32k") == ("models--EleutherAI--sae-pythia-70m-32k")
    with pytest.raises(ConfigError):
        repo_folder_name("space", "a/b")


def test_stage_hub_rejects_unknown_models_and_bad_layers(tmp_path: Path) -> None:
    with pytest.raises(UnknownIdError, match="EleutherAI/pythia-70m"):
        stage_hub(tmp_path, pythia_layers={"pythia-70m": [0]}, n_docs=2)
    with pytest.raises(ConfigError, match=r"0\.\.5"):
        stage_hub(tmp_path, pythia_layers={PYTHIA_70M: [6]}, n_docs=2)
    with pytest.raises(ConfigError, match="n_docs"):
        stage_hub(tmp_path, pythia_layers={PYTHIA_70M: [0]}, n_docs=0)
    assert not (tmp_path / "hub").exists()  # validation happens before any writing


def test_stand_in_tokenizer_is_deterministic_and_pythia_like(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    write_tokenizer(tmp_path / "a")
    write_tokenizer(tmp_path / "b")
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "a"))
    assert type(tok).__name__ == "GPTNeoXTokenizer"
    assert tok.eos_token == tok.bos_token == "<|endoftext|>"
    assert tok.eos_token_id == 0 and tok.convert_tokens_to_ids("<|padding|>") == 1
    assert len(tok) <= PYTHIA_CONFIGS[PYTHIA_70M]["vocab_size"]
    text = "In January, the king of France felt happy. Naïve café — 東京!"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text  # byte-level: any text round-trips
    words = tok.convert_ids_to_tokens(tok(" January king")["input_ids"])
    assert len(words) == 2  # keywords are single tokens (leading-space form)
    assert [tok.convert_tokens_to_string([w]) for w in words] == [" January", " king"]


def test_sae_layer_has_real_shapes_and_sensible_random_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    repo = SAE_REPOS[PYTHIA_70M]
    folder = write_eleuther_sae_layer(tmp_path, repo, 2, seed=5)
    assert folder.name == "layers.2"
    cfg = json.loads((folder / "cfg.json").read_text())
    assert cfg == {
        "expansion_factor": 32,
        "normalize_decoder": True,
        "num_latents": 32768,
        "k": 16,
        "signed": False,
        "d_in": 512,
    }
    sd = load_file(str(folder / "sae.safetensors"))
    assert {k: tuple(v.shape) for k, v in sd.items()} == {
        "encoder.weight": (32768, 512),
        "encoder.bias": (32768,),
        "W_dec": (32768, 512),
        "b_dec": (512,),
    }
    assert all(v.dtype == torch.float32 for v in sd.values())
    torch.testing.assert_close(sd["W_dec"].norm(dim=1), torch.ones(32768), atol=1e-5, rtol=0)
    assert torch.equal(sd["encoder.weight"], sd["W_dec"])
    assert sd["b_dec"].abs().max() > 0.05  # nonzero, so skipping "x - b_dec" shows

    # TopK reconstruction (sparsify's encode) of residual-like vectors is not absurd.
    gen = torch.Generator().manual_seed(0)
    x = 0.5 * torch.randn(128, 512, generator=gen) + sd["b_dec"]
    pre = torch.relu((x - sd["b_dec"]) @ sd["encoder.weight"].T + sd["encoder.bias"])
    vals, idx = pre.topk(cfg["k"], dim=-1)
    recon = torch.zeros_like(pre).scatter(-1, idx, vals) @ sd["W_dec"] + sd["b_dec"]
    fvu = ((x - recon) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert 0.3 < fvu.item() < 1.0

    again = write_eleuther_sae_layer(tmp_path / "again", repo, 2, seed=5)
    assert (again / "sae.safetensors").read_bytes() == (folder / "sae.safetensors").read_bytes()


def test_hf_hub_download_resolves_staged_sae_and_parquet(tmp_path: Path) -> None:
    import datasets
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo = SAE_REPOS[PYTHIA_160M]
    write_eleuther_sae_layer(tmp_path, repo, 4, seed=0)
    write_openwebtext(tmp_path, n_docs=7, seed=2)
    kw: dict[str, Any] = {"cache_dir": tmp_path, "local_files_only": True}

    cfg = json.loads(Path(hf_hub_download(repo.repo_id, "layers.4/cfg.json", **kw)).read_text())
    assert (cfg["d_in"], cfg["k"], cfg["num_latents"]) == (768, 32, 32768)
    assert Path(hf_hub_download(repo.repo_id, "layers.4/sae.safetensors", **kw)).stat().st_size > 2e8
    with pytest.raises(LocalEntryNotFoundError):  # only the requested layers are staged
        hf_hub_download(repo.repo_id, "layers.5/cfg.json", **kw)

    shard = hf_hub_download(OWT_REPO_ID, OWT_PARQUET_FILE, repo_type="dataset", revision=OWT_REVISION, **kw)
    with pytest.raises(LocalEntryNotFoundError):  # the revision matters: not on "main"
        hf_hub_download(OWT_REPO_ID, OWT_PARQUET_FILE, repo_type="dataset", **kw)
    ds = datasets.load_dataset("parquet", data_files=shard, split="train", cache_dir=str(tmp_path / "datasets_cache"))
    assert ds.column_names == ["text"]
    assert ds["text"] == synthetic_documents(7, seed=2)
    for alias in OWT_PARQUET_ALIASES:
        other = hf_hub_download(OWT_REPO_ID, alias, repo_type="dataset", revision=OWT_REVISION, **kw)
        assert Path(other).read_bytes() == Path(shard).read_bytes()


# ------------------------------------------------------------------------------------
# End to end: stage with the CLI, load in a subprocess through the real loaders
# ------------------------------------------------------------------------------------

_PROBE = r"""
import json, sys
import torch
torch.set_num_threads(1)
args = json.loads(sys.argv[1])
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import LocalEntryNotFoundError
from safetensors.torch import load_file
from transformer_lens import HookedTransformer
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

name, layer = args["model"], args["layer"]
out = {}
m = HookedTransformer.from_pretrained_no_processing(name, device="cpu")
c = m.cfg
out["tl"] = {"d_model": c.d_model, "n_layers": c.n_layers, "n_heads": c.n_heads,
             "d_mlp": c.d_mlp, "d_vocab": c.d_vocab, "n_ctx": c.n_ctx,
             "rotary_dim": c.rotary_dim, "default_prepend_bos": c.default_prepend_bos}
hf_cfg = AutoConfig.from_pretrained(name)
out["hf_cfg"] = {"hidden_size": hf_cfg.hidden_size, "num_hidden_layers": hf_cfg.num_hidden_layers,
                 "vocab_size": hf_cfg.vocab_size}
tok = AutoTokenizer.from_pretrained(name)
out["tok"] = {"eos": tok.eos_token, "bos": tok.bos_token, "pad": tok.pad_token,
              "eos_id": tok.eos_token_id}
text = "The king of France felt happy in January, and the river was calm."
ids = tok(text, return_tensors="pt")["input_ids"]
out["roundtrip"] = tok.decode(ids[0]) == text
hook = f"blocks.{layer}.hook_resid_post"
_, cache = m.run_with_cache(ids, names_filter=[hook], stop_at_layer=layer + 1)
hf = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32)
with torch.no_grad():
    hs = hf(ids, output_hidden_states=True).hidden_states
out["n_hidden_states"] = len(hs)
out["diff_block_output"] = (cache[hook] - hs[layer + 1]).abs().max().item()
out["diff_block_input"] = (cache[hook] - hs[layer]).abs().max().item()
out["resid_norm"] = cache[hook].norm(dim=-1).mean().item()
sae = args["sae_repo"]
cfg = json.load(open(hf_hub_download(sae, f"layers.{args['sae_layer']}/cfg.json")))
sd = load_file(hf_hub_download(sae, f"layers.{args['sae_layer']}/sae.safetensors"))
out["sae_cfg"] = cfg
out["sae_shapes"] = {k: list(v.shape) for k, v in sd.items()}
try:
    hf_hub_download(sae, f"layers.{args['sae_layer'] + 1}/cfg.json")
    out["unstaged_layer_found"] = True
except LocalEntryNotFoundError:
    out["unstaged_layer_found"] = False
print("PROBE " + json.dumps(out))
"""


def _probe(home: Path, args: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, **hub_env(home), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE ")][-1]
    return json.loads(line[len("PROBE ") :])


def _stage_with_cli(home: Path, *cli_args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "fixtures.stage_hub", "--out", str(home), *cli_args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def _check_probe(out: dict[str, Any], model: str, layer: int) -> None:
    real = PYTHIA_CONFIGS[model]
    sae = SAE_REPOS[model]
    d = real["hidden_size"]
    assert out["tl"] == {
        "d_model": d,
        "n_layers": real["num_hidden_layers"],
        "n_heads": real["num_attention_heads"],
        "d_mlp": real["intermediate_size"],
        "d_vocab": 50304,
        "n_ctx": 2048,
        "rotary_dim": int(0.25 * d // real["num_attention_heads"]),
        "default_prepend_bos": False,
    }
    assert out["hf_cfg"] == {"hidden_size": d, "num_hidden_layers": real["num_hidden_layers"], "vocab_size": 50304}
    assert out["tok"]["eos"] == out["tok"]["bos"] == "<|endoftext|>" and out["tok"]["eos_id"] == 0
    assert out["roundtrip"]
    # The library fact the procedures rely on: TL blocks.L.hook_resid_post (unprocessed)
    # is HF hidden_states[L+1] (block output), not hidden_states[L] (block input).
    assert out["n_hidden_states"] == real["num_hidden_layers"] + 1
    assert out["diff_block_output"] < 1e-3 * max(1.0, out["resid_norm"])
    assert out["diff_block_input"] > 1e-2
    assert out["sae_cfg"]["d_in"] == d and out["sae_cfg"]["k"] == sae.k
    assert out["sae_shapes"] == {
        "encoder.weight": [32768, d],
        "encoder.bias": [32768],
        "W_dec": [32768, d],
        "b_dec": [d],
    }
    assert out["unstaged_layer_found"] is False


@pytest.mark.slow
def test_cli_stages_pythia70m_that_loads_offline_by_hub_name(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("hub70m")
    try:
        _stage_with_cli(home, "--models", "70m", "--layers-70m", "1", "--n-docs", "12")
        manifest = json.loads((home / MANIFEST_NAME).read_text())
        assert list(manifest["models"]) == [PYTHIA_70M]
        assert manifest["saes"]["EleutherAI/sae-pythia-70m-32k"]["hookpoints"] == ["layers.1"]
        assert manifest["datasets"][OWT_REPO_ID]["n_docs"] == 12
        assert not (home / "hub" / repo_folder_name("model", PYTHIA_160M)).exists()
        snap = next((home / "hub" / repo_folder_name("model", PYTHIA_70M) / "snapshots").iterdir())
        # config.json is the hub's (transformers-4 format), not save_pretrained's rewrite.
        on_disk = json.loads((snap / "config.json").read_text())
        assert on_disk["rotary_pct"] == 0.25 and on_disk["torch_dtype"] == "float16"
        assert {k: on_disk[k] for k in PYTHIA_CONFIGS[PYTHIA_70M]} == PYTHIA_CONFIGS[PYTHIA_70M]
        assert not (snap / "generation_config.json").exists()
        out = _probe(
            home, {"model": PYTHIA_70M, "layer": 1, "sae_repo": "EleutherAI/sae-pythia-70m-32k", "sae_layer": 1}
        )
        _check_probe(out, PYTHIA_70M, 1)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_stage_hub_pythia160m_loads_offline_by_hub_name(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("hub160m")
    try:
        hub = stage_hub(home, pythia_layers={PYTHIA_160M: [3]}, n_docs=3, seed=1)
        assert hub == home / "hub"
        out = _probe(
            home, {"model": PYTHIA_160M, "layer": 3, "sae_repo": "EleutherAI/sae-pythia-160m-32k", "sae_layer": 3}
        )
        _check_probe(out, PYTHIA_160M, 3)
    finally:
        shutil.rmtree(home, ignore_errors=True)
