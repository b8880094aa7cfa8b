"""harness.load.data: first-documents tokenization, special mask, manifest, sources, errors."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import gzip
import json
from pathlib import Path

import pytest
import torch

import fixtures
from harness.load.data import DataSpec, HUB_DEFAULT_REVISION, load_documents, load_tokens, manifest_hash
from harness.errors import ConfigError, DegenerateInputError, HarnessError, HubAccessError

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(fixtures.tokenizer_dir()))


@pytest.fixture(scope="module")
def corpus_docs() -> list[str]:
    with gzip.open(fixtures.corpus_path(), "rt") as fh:
        return [json.loads(line)["text"] for line in fh]


def spec(n: int = 12, seq: int = 64, **kw) -> DataSpec:
    return DataSpec(source=str(fixtures.corpus_path()), n_samples=n, seq_len=seq, **kw)


def test_first_documents_in_order_truncated_and_padded_with_eos(tokenizer, corpus_docs):
    ts = load_tokens(spec(12, 64), tokenizer, prepend_bos=False)
    assert ts.tokens.shape == (12, 64) and ts.tokens.dtype == torch.long
    assert ts.special_mask.shape == (12, 64) and ts.special_mask.dtype == torch.bool
    eos = tokenizer.eos_token_id
    n_padded_rows = 0
    for i, doc in enumerate(corpus_docs[:12]):
        ids = tokenizer(doc, add_special_tokens=False)["input_ids"][:64]
        assert ts.tokens[i, : len(ids)].tolist() == ids
        assert (ts.tokens[i, len(ids) :] == eos).all()
        # the special mask is exactly the padding (no BOS prepended here)
        assert ts.special_mask[i].tolist() == [False] * len(ids) + [True] * (64 - len(ids))
        n_padded_rows += len(ids) < 64
    assert n_padded_rows > 0, "fixture documents should include some shorter than 64 tokens"
    assert ts.manifest["n_padding"] == int(ts.special_mask.sum())
    assert ts.manifest["n_samples"] == 12 and ts.manifest["seq_len"] == 64


def test_prepend_bos_marks_bos_and_padding(tokenizer, corpus_docs):
    ts = load_tokens(spec(6, 32), tokenizer, prepend_bos=True)
    assert (ts.tokens[:, 0] == tokenizer.bos_token_id).all()
    assert ts.special_mask[:, 0].all()
    ids0 = tokenizer(corpus_docs[0], add_special_tokens=False)["input_ids"]
    assert ts.tokens[0, 1:].tolist() == ids0[:31]
    # a document token equal to EOS inside the text would not be masked: mask = BOS + padding only
    n_pad = sum(max(0, 31 - len(tokenizer(d, add_special_tokens=False)["input_ids"])) for d in corpus_docs[:6])
    assert int(ts.special_mask.sum()) == 6 + n_pad


def test_manifest_is_stable_and_keyed_by_content(tokenizer):
    a = load_tokens(spec(10, 48), tokenizer, prepend_bos=False)
    b = load_tokens(spec(10, 48), tokenizer, prepend_bos=False)
    assert a.manifest == b.manifest
    assert a.key == b.key == manifest_hash(b.manifest)
    assert len(a.manifest["document_sha256"]) == 10
    assert a.manifest["tokenizer"] == "tokenizer"
    assert load_tokens(spec(11, 48), tokenizer, prepend_bos=False).key != a.key
    assert load_tokens(spec(10, 40), tokenizer, prepend_bos=False).key != a.key
    assert load_tokens(spec(10, 48), tokenizer, prepend_bos=True).key != a.key


def test_local_text_parquet_and_save_to_disk_sources_agree(tmp_path: Path, tokenizer, corpus_docs):
    import datasets

    docs = [d.replace("\n", " ") for d in corpus_docs[:8]]  # one document per line for "text"
    (tmp_path / "docs.txt").write_text("\n".join(docs) + "\n")
    ds = datasets.Dataset.from_dict({"body": docs})
    ds.to_parquet(str(tmp_path / "docs.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    d_txt, info_txt = load_documents(DataSpec(source=str(tmp_path / "docs.txt"), n_samples=8, seq_len=16))
    d_pq, _ = load_documents(
        DataSpec(source=str(tmp_path / "docs.parquet"), n_samples=8, seq_len=16, text_column="body")
    )
    d_disk, info_disk = load_documents(
        DataSpec(source=str(tmp_path / "saved"), n_samples=8, seq_len=16, text_column="body")
    )
    assert d_txt == d_pq == d_disk == docs
    assert info_txt["revision"] is None and info_disk["data_file"] == "save_to_disk"


def test_too_few_documents_names_both_sizes(tmp_path: Path, tokenizer):
    (tmp_path / "small.jsonl").write_text("".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(3)))
    with pytest.raises(DegenerateInputError, match=r"only 3 documents.*n_samples=5"):
        load_tokens(
            DataSpec(source=str(tmp_path / "small.jsonl"), n_samples=5, seq_len=8), tokenizer, prepend_bos=False
        )


def test_missing_column_and_bad_paths(tmp_path: Path, tokenizer):
    (tmp_path / "a.jsonl").write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(HarnessError, match="no column 'text'.*body"):
        load_documents(DataSpec(source=str(tmp_path / "a.jsonl"), n_samples=1, seq_len=8))
    with pytest.raises(HarnessError, match="does not exist"):
        load_documents(DataSpec(source="./no/such/file.jsonl", n_samples=1, seq_len=8))
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="No text/json/jsonl/parquet files"):
        load_documents(DataSpec(source=str(tmp_path / "empty"), n_samples=1, seq_len=8))
    with pytest.raises(ConfigError):
        DataSpec(source="x", n_samples=0, seq_len=8)


def test_offline_hub_shard_missing_names_offline_and_file(tmp_path: Path):
    s = DataSpec(
        source="Skylion007/openwebtext",
        n_samples=2,
        seq_len=8,
        data_files="plain_text/train/0000.parquet",
        cache_dir=str(tmp_path / "empty-cache"),
    )
    assert s.effective_revision == HUB_DEFAULT_REVISION
    with pytest.raises(HubAccessError) as err:
        load_documents(s)
    msg = str(err.value)
    assert "HF_HUB_OFFLINE" in msg and "plain_text/train/0000.parquet" in msg and "stage_hub" in msg


def test_offline_hub_streaming_without_shard_is_a_hub_error(tmp_path: Path):
    with pytest.raises(HubAccessError, match="HF_HUB_OFFLINE"):
        load_documents(DataSpec(source="no-such-org/no-such-dataset", n_samples=2, seq_len=8))


def test_staged_hub_shard_is_read_offline(tmp_path: Path, tokenizer, corpus_docs):
    """A parquet shard staged in a local hub cache resolves via hf_hub_download offline."""
    import datasets

    rev = "0" * 40
    repo = tmp_path / "hub" / "datasets--org--owt"
    shard = repo / "snapshots" / rev / "plain_text" / "train" / "0000.parquet"
    shard.parent.mkdir(parents=True)
    datasets.Dataset.from_dict({"text": corpus_docs[:5]}).to_parquet(str(shard))
    ref = repo / "refs" / "refs" / "convert" / "parquet"
    ref.parent.mkdir(parents=True)
    ref.write_text(rev)
    s = DataSpec(
        source="org/owt",
        n_samples=4,
        seq_len=16,
        data_files="plain_text/train/0000.parquet",
        cache_dir=str(tmp_path / "hub"),
    )
    ts = load_tokens(s, tokenizer, prepend_bos=False)
    assert ts.manifest["data_file"] == "plain_text/train/0000.parquet"
    assert ts.manifest["revision"] == HUB_DEFAULT_REVISION
    ids = tokenizer(corpus_docs[3], add_special_tokens=False)["input_ids"][:16]
    assert ts.tokens[3, : len(ids)].tolist() == ids


def _stage_shard(hub: Path, repo_id: str, name: str, docs: list[str]) -> None:
    """A parquet shard ``name`` in a fake local hub cache at revision refs/convert/parquet."""
    import datasets

    rev = "1" * 40
    repo = hub / f"datasets--{repo_id.replace('/', '--')}"
    shard = repo / "snapshots" / rev / name
    shard.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict({"text": docs}).to_parquet(str(shard))
    ref = repo / "refs" / "refs" / "convert" / "parquet"
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(rev)


def test_shard_aliases_and_first_split_shard() -> None:
    from harness.load.data import first_split_shard, shard_aliases

    assert shard_aliases("plain_text/train/0000.parquet") == [
        "plain_text/partial-train/0000.parquet",
        "plain_text/partial/train/0000.parquet",
    ]
    assert shard_aliases("plain_text/partial-train/0003.parquet")[0] == "plain_text/train/0003.parquet"
    assert shard_aliases("data.parquet") == [] and shard_aliases("a/b/c.json") == []
    listed = [
        "README.md",
        "plain_text/test/0000.parquet",
        "plain_text/train/00001-of-00080.parquet",
        "plain_text/train/00000-of-00080.parquet",
        "other/train/0000.parquet",
    ]
    assert first_split_shard(listed, split="train", config="plain_text") == "plain_text/train/00000-of-00080.parquet"
    assert first_split_shard(listed, split="train") == "other/train/0000.parquet"
    assert first_split_shard(["plain_text/partial-train/0007.parquet"], split="train") == (
        "plain_text/partial-train/0007.parquet"
    )
    assert first_split_shard(listed, split="validation") is None


@pytest.mark.parametrize("staged", ["plain_text/partial-train/0000.parquet", "plain_text/partial/train/0000.parquet"])
def test_profile_shard_name_falls_back_to_its_aliases_offline(tmp_path: Path, tokenizer, corpus_docs, staged) -> None:
    """The hub has named OpenWebText's first shard three ways; the loader finds any of them."""
    _stage_shard(tmp_path / "hub", "org/owt", staged, corpus_docs[:5])
    s = DataSpec(
        source="org/owt",
        n_samples=4,
        seq_len=16,
        data_files="plain_text/train/0000.parquet",
        cache_dir=str(tmp_path / "hub"),
    )
    ts = load_tokens(s, tokenizer, prepend_bos=False)
    assert ts.manifest["data_file"] == staged
    assert ts.manifest["data_file_requested"] == "plain_text/train/0000.parquet"
    ids = tokenizer(corpus_docs[2], add_special_tokens=False)["input_ids"][:16]
    assert ts.tokens[2, : len(ids)].tolist() == ids


def test_online_fallback_takes_the_first_listed_train_shard(tmp_path: Path, tokenizer, corpus_docs, monkeypatch):
    """No known name exists: online, the repo's listing at that revision names the first
    parquet shard of the split (the download itself resolves from the staged cache here)."""
    import huggingface_hub

    import harness.load.data as data

    _stage_shard(tmp_path / "hub", "org/owt", "plain_text/train/00000-of-00080.parquet", corpus_docs[:5])
    asked: list[tuple[str, str | None]] = []

    def list_repo_files(self, repo_id, *, repo_type=None, revision=None, **kw):
        asked.append((repo_id, revision))
        return ["README.md", "plain_text/train/00001-of-00080.parquet", "plain_text/train/00000-of-00080.parquet"]

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", list_repo_files)
    monkeypatch.setattr(data, "_offline", lambda: False)
    s = DataSpec(
        source="org/owt",
        n_samples=3,
        seq_len=16,
        data_files="plain_text/train/0000.parquet",
        cache_dir=str(tmp_path / "hub"),
    )
    docs, info = load_documents(s)
    assert asked == [("org/owt", HUB_DEFAULT_REVISION)]
    assert info["data_file"] == "plain_text/train/00000-of-00080.parquet"
    assert docs == corpus_docs[:3]
    monkeypatch.setattr(data, "_offline", lambda: True)  # offline: no listing, every tried name in the error
    with pytest.raises(HubAccessError) as err:
        load_documents(s)
    assert "plain_text/partial-train/0000.parquet" in str(err.value) and "HF_HUB_OFFLINE" in str(err.value)
