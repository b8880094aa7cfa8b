"""The committed fixture world: present, small, of the stated quality, and as documented."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import gzip
import hashlib
import json
import math
import re
from collections import Counter

import pytest
from safetensors import safe_open

import fixtures
from fixtures.corpus import COMPOUND_WORDS, check_keyword_coverage, generate_documents
from harness.pairing.concepts import CONCEPT_KEYWORDS
from harness.errors import UnknownIdError

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def manifest() -> dict:
    return fixtures.manifest()


@pytest.fixture(scope="module")
def docs() -> list[str]:
    with gzip.open(fixtures.corpus_path(), "rt") as fh:
        return [json.loads(line)["text"] for line in fh]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(fixtures.tokenizer_dir()))


def test_paths_and_helpers():
    assert fixtures.require_world() == fixtures.WORLD_DIR
    for name in fixtures.MODEL_NAMES:
        assert (fixtures.model_dir(name) / "config.json").is_file()
        assert (fixtures.model_dir(name) / "tokenizer.json").is_file()
        for layer in range(fixtures.n_layers(name)):
            assert (fixtures.sae_dir(name, layer) / "sae.safetensors").is_file()
    for name, layers in fixtures.SAELENS_LAYERS.items():
        for layer in layers:
            assert (fixtures.saelens_sae_dir(name, layer) / "sae_weights.safetensors").is_file()
    assert (fixtures.n_layers(fixtures.MODEL_A), fixtures.n_layers(fixtures.MODEL_B)) == (4, 6)
    assert fixtures.n_layers(fixtures.CONTROL) == 4
    with pytest.raises(UnknownIdError, match="model-a"):
        fixtures.model_dir("model-c")


def test_every_sae_meets_the_quality_bar(manifest):
    bar = manifest["min_explained_variance"]
    assert bar >= 0.70
    for name in fixtures.MODEL_NAMES:
        entry = manifest["saes"][name]
        assert sorted(entry) == [f"layers.{i}" for i in range(fixtures.n_layers(name))]
        for hookpoint, q in entry.items():
            assert q["explained_variance"] >= bar, (name, hookpoint, q)
            assert q["l0"] <= q["k"] == 8
            assert q["num_latents"] == 8 * q["d_in"]
            assert q["dead_fraction"] < 0.5, (name, hookpoint, q)


def test_models_learned_and_control_did_not(manifest, tokenizer):
    m = manifest["models"]
    for name in (fixtures.MODEL_A, fixtures.MODEL_B):
        assert m[name]["trained"] and m[name]["eval_loss_nats"] < 0.5 * m[name]["unigram_loss_nats"]
    ctl = m[fixtures.CONTROL]
    assert not ctl["trained"]
    # an untrained model is about uniform over the vocabulary: worse than unigram counts
    assert ctl["eval_loss_nats"] > m[fixtures.MODEL_A]["unigram_loss_nats"]
    assert abs(ctl["eval_loss_nats"] - math.log(len(tokenizer))) < 0.5
    assert (m[fixtures.MODEL_A]["d_model"], m[fixtures.MODEL_B]["d_model"]) == (64, 96)


def test_artifacts_are_small_and_listed(manifest):
    sizes = manifest["sizes"]["files"]
    on_disk = {
        str(p.relative_to(fixtures.WORLD_DIR)): p.stat().st_size
        for p in fixtures.WORLD_DIR.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert on_disk == sizes
    assert manifest["sizes"]["total_bytes"] < 20_000_000


def test_sparsify_files_have_the_eleutherai_layout():
    folder = fixtures.sae_dir(fixtures.MODEL_B, 3)
    cfg = json.loads((folder / "cfg.json").read_text())
    assert cfg["num_latents"] == 768 and cfg["k"] == 8 and cfg["d_in"] == 96
    with safe_open(str(folder / "sae.safetensors"), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    assert shapes == {"encoder.weight": (768, 96), "encoder.bias": (768,), "W_dec": (768, 96), "b_dec": (96,)}


def test_tokenizer_special_tokens_and_compound_splits(tokenizer, manifest):
    assert tokenizer.bos_token == tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 0
    assert tokenizer.pad_token == "<|padding|>" and tokenizer.pad_token_id == 1
    assert tokenizer("The king", add_special_tokens=False)["input_ids"][0] != 0  # no BOS added
    for keyword, words in COMPOUND_WORDS.items():
        for word in words:
            pieces = [tokenizer.decode([t]) for t in tokenizer(" " + word, add_special_tokens=False)["input_ids"]]
            assert len(pieces) == 2 and keyword in {p.strip().lower() for p in pieces}, (word, pieces)
    assert manifest["tokenizer"]["compound_splits"]["seeking"] == [" see", "king"]
    single = [
        w
        for ws in CONCEPT_KEYWORDS.values()
        for w in ws
        if len(tokenizer(" " + w, add_special_tokens=False)["input_ids"]) == 1
    ]
    assert len(single) == sum(len(ws) for ws in CONCEPT_KEYWORDS.values())
    assert manifest["tokenizer"]["multi_token_keywords"] == []


def test_corpus_uses_every_keyword_often(docs):
    words = Counter(w.lower() for d in docs for w in re.findall(r"[A-Za-z]+", d))
    counts = {w: words[w.lower()] for ws in CONCEPT_KEYWORDS.values() for w in ws}
    rare = {w: c for w, c in counts.items() if c < 10}
    assert not rare, f"keywords used fewer than 10 times in the evaluation corpus: {rare}"
    assert all(words[w.lower()] > 0 for ws in COMPOUND_WORDS.values() for w in ws)
    text = "".join(docs)
    for mark in (".", ",", "!", "?", "-", ":", "\n"):
        assert mark in text


def test_corpus_regenerates_exactly(docs, manifest):
    c = manifest["corpus"]
    assert len(docs) == c["n_documents"]
    assert hashlib.sha256(fixtures.corpus_path().read_bytes()).hexdigest() == c["sha256"]
    assert list(generate_documents(c["n_documents"], seed=c["seed"])) == docs
    assert list(generate_documents(3, seed=5)) == list(generate_documents(3, seed=5))
    assert list(generate_documents(3, seed=5)) != list(generate_documents(3, seed=6))


def test_keyword_coverage_check():
    check_keyword_coverage(CONCEPT_KEYWORDS)
    with pytest.raises(ValueError, match="zeitgeist"):
        check_keyword_coverage({"Time": ("day", "zeitgeist")})
