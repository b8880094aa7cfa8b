"""Token data (Lan et al. 2024, Sec. 4: "OpenWebText ... first documents").

The paper's procedure (see ``shared/reference/original-procedure.md``): take the **first**
documents of the dataset in order (no shuffling), tokenize each with truncation to
``max_length`` and padding to ``max_length`` with pad = EOS. Pythia: 100 documents x 300
tokens; Gemma: 150 x 150. :func:`load_tokens` does exactly that and records a manifest
(source, revision, file, per-document sha256, counts, tokenizer) so every later stage can be
keyed by what went in.

Sources: a hub dataset id (streamed; default revision ``refs/convert/parquet`` because
script-based datasets such as ``Skylion007/openwebtext`` no longer load), one hub parquet
shard (``data_files``, fetched with ``hf_hub_download``; when the hub has it under another name
of its parquet conversion, :func:`shard_aliases`, or -- online -- as the first listed shard of
the split, :func:`first_split_shard`, that file is read and recorded), a local text/json/jsonl/parquet file
(optionally gzipped) or folder of them, or a ``Dataset.save_to_disk`` folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.errors import ConfigError, DegenerateInputError, HarnessError, HubAccessError

__all__ = [
    "HUB_DEFAULT_REVISION",
    "DataSpec",
    "TokenSet",
    "first_split_shard",
    "load_documents",
    "load_tokens",
    "manifest_hash",
    "shard_aliases",
]

HUB_DEFAULT_REVISION: str = "refs/convert/parquet"
"""Revision of the hub's automatic parquet conversion (works for script-based datasets)."""

_LOADERS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}


@dataclass(frozen=True)
class DataSpec:
    """Which documents, and how many tokens of each."""

    source: str
    """Hub dataset id (``Skylion007/openwebtext``), or a local path: a text/json/jsonl/parquet
    file (``.gz`` allowed for text/json), a folder of such files, or a ``save_to_disk`` folder."""
    n_samples: int
    """Number of documents (the first ones, in order)."""
    seq_len: int
    """Tokens per document after truncation / padding."""
    revision: str | None = None
    """Hub revision; None means :data:`HUB_DEFAULT_REVISION` for hub ids (unused for local paths)."""
    data_files: str | None = None
    """For hub ids: one file inside the dataset repo (e.g. ``plain_text/train/0000.parquet``),
    fetched with ``hf_hub_download`` and read with ``datasets`` — the most robust offline path."""
    text_column: str = "text"
    split: str = "train"
    config_name: str | None = None
    """Dataset config (subset) name for hub ids streamed without ``data_files``."""
    cache_dir: str | None = field(default=None, compare=False)
    """Hub cache for ``hf_hub_download`` (default: ``HF_HUB_CACHE``)."""

    def __post_init__(self) -> None:
        if not self.source:
            raise ConfigError("DataSpec.source is empty; give a hub dataset id or a local path.")
        if int(self.n_samples) < 1:
            raise ConfigError(f"DataSpec.n_samples={self.n_samples} must be >= 1.")
        if int(self.seq_len) < 2:
            raise ConfigError(f"DataSpec.seq_len={self.seq_len} must be >= 2.")

    @property
    def is_local(self) -> bool:
        return Path(self.source).exists()

    @property
    def effective_revision(self) -> str | None:
        if self.is_local:
            return None
        return self.revision or HUB_DEFAULT_REVISION


@dataclass
class TokenSet:
    """Tokenized documents.

    Attributes:
        tokens: ``(n_samples, seq_len)`` int64 token ids.
        special_mask: ``(n_samples, seq_len)`` bool, True at a prepended BOS and at padding.
        manifest: provenance (source, revision, data file, sha256 of each document, counts,
            tokenizer name, sha256 of the token tensor).
    """

    tokens: torch.Tensor
    special_mask: torch.Tensor
    manifest: dict[str, Any]

    @property
    def n_samples(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def key(self) -> str:
        """:func:`manifest_hash` of :attr:`manifest`."""
        return manifest_hash(self.manifest)

    @property
    def attention_mask(self) -> torch.Tensor:
        """``(n_samples, seq_len)`` int64, the tokenizer's ``attention_mask`` for these tokens:
        1 at real tokens (a prepended BOS included: tokenizers that add BOS give it mask 1),
        0 at padding. It is :attr:`special_mask` without the BOS column."""
        padding = self.special_mask.clone()
        if self.manifest.get("prepend_bos"):
            padding[:, 0] = False
        return (~padding).to(torch.long)


#: Manifest fields that determine the token data (paths and names that do not change the
#: tokens, such as where a checkout lives, are left out so keys are portable).
_CONTENT_FIELDS: tuple[str, ...] = ("document_sha256", "tokens_sha256", "special_sha256", "seq_len", "prepend_bos")


def manifest_hash(manifest: dict[str, Any]) -> str:
    """sha256 (hex, 16 chars) of the content fields of a token manifest (documents, tokens,
    special mask, seq_len, BOS): equal hashes mean identical token data."""
    content = {k: manifest.get(k) for k in _CONTENT_FIELDS}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on") or os.environ.get(
        "HF_DATASETS_OFFLINE", "0"
    ).lower() in ("1", "true", "yes", "on")


def _hub_failure(spec: DataSpec, target: str, exc: BaseException) -> HubAccessError:
    offline = _offline()
    parts = [
        f"Could not read dataset {target!r} (revision {spec.effective_revision!r}) from the hub ({type(exc).__name__}: {exc})."
    ]
    if offline:
        parts.append("HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set and the file is not in the local hub cache.")
    parts.append(
        "Fix: run once with network access, or stage the parquet shard in a local hub cache "
        "(`python -m fixtures.stage_hub`, then HF_HOME=<dir>) and pass data_files=<path in repo>, "
        "or download the documents and pass a local path as DataSpec.source."
    )
    return HubAccessError(" ".join(parts))


def shard_aliases(data_file: str) -> list[str]:
    """Other names the hub's parquet conversion has given the same shard: ``C/S/N.parquet``
    (config C, split S; conversions since 2024) was ``C/partial-S/N.parquet`` for datasets above
    5 GB (OpenWebText among them) and ``C/partial/S/N.parquet`` before that. Empty for other names."""
    parts = data_file.split("/")
    if len(parts) != 3 or not parts[2].endswith(".parquet"):
        return []
    config, split, name = parts
    if split.startswith("partial-"):
        base = split[len("partial-") :]
        return [f"{config}/{base}/{name}", f"{config}/partial/{base}/{name}"]
    return [f"{config}/partial-{split}/{name}", f"{config}/partial/{split}/{name}"]


def first_split_shard(repo_files: list[str], *, split: str, config: str | None = None) -> str | None:
    """The first parquet shard of ``split`` (and of ``config`` when given) among a dataset repo's
    file names (sorted; ``S/``, ``partial-S/`` and ``partial/S/`` folders all count), or None."""
    shards = []
    for name in repo_files:
        parts = name.split("/")
        if not name.endswith(".parquet") or len(parts) < 2:
            continue
        if config is not None and parts[0] != config:
            continue
        folders = parts[:-1]
        if split in folders or f"partial-{split}" in folders:
            shards.append(name)
    return sorted(shards)[0] if shards else None


def _download_shard(spec: DataSpec) -> tuple[str, str]:
    """(local path, repo file name) of the parquet shard ``spec.data_files``: the name as given,
    else one of its :func:`shard_aliases` (the hub renamed shards between conversions), else --
    online only -- the first parquet shard of ``spec.split`` (same config) that the repo lists at
    that revision. Raises :class:`HubAccessError` naming every name tried."""
    from huggingface_hub import hf_hub_download

    assert spec.data_files is not None
    cache_dir = spec.cache_dir or os.environ.get("HF_HUB_CACHE")

    def fetch(name: str) -> str:
        return str(
            hf_hub_download(
                spec.source, name, repo_type="dataset", revision=spec.effective_revision, cache_dir=cache_dir
            )
        )

    tried: list[str] = []
    first_exc: BaseException | None = None
    for name in [spec.data_files, *shard_aliases(spec.data_files)]:
        tried.append(name)
        try:
            return fetch(name), name
        except Exception as exc:  # huggingface_hub raises several unrelated types
            first_exc = first_exc or exc
    if not _offline():
        try:
            from huggingface_hub import HfApi

            listed = HfApi().list_repo_files(spec.source, repo_type="dataset", revision=spec.effective_revision)
            config = spec.data_files.split("/")[0] if "/" in spec.data_files else None
            pick = first_split_shard(list(listed), split=spec.split, config=config)
            if pick is not None and pick not in tried:
                tried.append(pick)
                return fetch(pick), pick
        except Exception as exc:
            first_exc = first_exc or exc
    assert first_exc is not None
    raise _hub_failure(spec, f"{spec.source}/{' or '.join(tried)}", first_exc) from first_exc


def _local_loader(path: Path) -> tuple[str, list[str]]:
    """(datasets builder name, data files) for a local file or folder of files."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    kinds: dict[str, list[str]] = {}
    for f in files:
        suffixes = [s.lower() for s in f.suffixes]
        if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst"):
            suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] in _LOADERS:
            kinds.setdefault(_LOADERS[suffixes[-1]], []).append(str(f))
    if not kinds:
        raise HarnessError(
            f"No text/json/jsonl/parquet files in {str(path)!r}. Give such a file, a folder of "
            "them, or a `Dataset.save_to_disk` folder."
        )
    if len(kinds) > 1:
        raise HarnessError(f"{str(path)!r} mixes file types {sorted(kinds)}; point at one type of file.")
    ((builder, data_files),) = kinds.items()
    return builder, data_files


def load_documents(spec: DataSpec) -> tuple[list[str], dict[str, Any]]:
    """The first ``spec.n_samples`` documents in order, and where they came from.

    Raises:
        DegenerateInputError: fewer documents than ``n_samples`` (message names both sizes).
        HubAccessError: hub unreachable or the file not cached (names HF_HUB_OFFLINE).
        HarnessError: missing column, unreadable local path.
    """
    import datasets

    n = int(spec.n_samples)
    info: dict[str, Any] = {
        "source": spec.source,
        "revision": spec.effective_revision,
        "data_file": None,
        "split": spec.split,
    }
    source_path = Path(spec.source)
    if source_path.exists():
        info["source"] = str(source_path.resolve())
        if source_path.is_dir() and (
            (source_path / "dataset_info.json").is_file() or (source_path / "dataset_dict.json").is_file()
        ):
            ds: Any = datasets.load_from_disk(str(source_path))
            if isinstance(ds, datasets.DatasetDict):
                if spec.split not in ds:
                    raise HarnessError(f"{spec.source!r} has splits {list(ds)}, not {spec.split!r}.")
                ds = ds[spec.split]
            info["data_file"] = "save_to_disk"
        else:
            builder, files = _local_loader(source_path)
            ds = datasets.load_dataset(builder, data_files=files, split="train", streaming=True)
            info["data_file"] = [
                str(Path(f).relative_to(source_path)) if source_path.is_dir() else Path(f).name for f in files
            ]
    elif spec.data_files is not None:
        local, found = _download_shard(spec)
        builder, files = _local_loader(Path(local))
        ds = datasets.load_dataset(builder, data_files=files, split="train", streaming=True)
        info["data_file"] = found
        if found != spec.data_files:
            info["data_file_requested"] = spec.data_files
    else:
        if spec.source.startswith((".", "/", "~")) or spec.source.endswith(tuple(_LOADERS)):
            raise HarnessError(f"Local dataset path {spec.source!r} does not exist.")
        try:
            ds = datasets.load_dataset(
                spec.source,
                spec.config_name,
                revision=spec.effective_revision,
                split=spec.split,
                streaming=True,
            )
        except Exception as exc:
            raise _hub_failure(spec, spec.source, exc) from exc

    docs: list[str] = []
    try:
        for row in ds:
            if spec.text_column not in row:
                raise HarnessError(
                    f"Dataset {spec.source!r} has no column {spec.text_column!r}; columns: {sorted(row)}. "
                    "Set DataSpec.text_column."
                )
            docs.append(str(row[spec.text_column]))
            if len(docs) >= n:
                break
    except HarnessError:
        raise
    except Exception as exc:
        if spec.is_local:
            raise HarnessError(f"Could not read {spec.source!r}: {type(exc).__name__}: {exc}") from exc
        raise _hub_failure(spec, spec.source, exc) from exc
    if len(docs) < n:
        raise DegenerateInputError(
            f"Dataset {spec.source!r} has only {len(docs)} documents but n_samples={n} were requested. "
            f"Lower n_samples to at most {len(docs)} or use a larger dataset."
        )
    return docs, info


def load_tokens(spec: DataSpec, tokenizer: Any, *, prepend_bos: bool) -> TokenSet:
    """Tokenize the first ``spec.n_samples`` documents as the paper did.

    Each document: ``[BOS] + tokens`` (BOS only if ``prepend_bos``), truncated to
    ``spec.seq_len``, right-padded to ``spec.seq_len`` with **pad = EOS** (the paper set
    ``tokenizer.pad_token = tokenizer.eos_token``). ``special_mask`` marks the prepended BOS
    and the padding (documents' own tokens are never masked, even if equal to EOS).

    Args:
        spec: the documents.
        tokenizer: a Hugging Face tokenizer (``model.tokenizer`` of a HookedTransformer).
        prepend_bos: Pythia: False (its tokenizer adds none); Gemma: True.
    """
    docs, info = load_documents(spec)
    seq_len = int(spec.seq_len)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise HarnessError("The tokenizer has no EOS token; the paper pads with EOS. Set tokenizer.eos_token.")
    bos = tokenizer.bos_token_id if prepend_bos else None
    if prepend_bos and bos is None:
        raise HarnessError("prepend_bos=True but the tokenizer has no BOS token.")
    encoded = tokenizer(docs, add_special_tokens=False)["input_ids"]
    tokens = torch.full((len(docs), seq_len), int(eos), dtype=torch.long)
    special = torch.ones((len(docs), seq_len), dtype=torch.bool)
    n_doc_tokens: list[int] = []
    for i, ids in enumerate(encoded):
        row = ([int(bos)] if bos is not None else []) + list(ids)
        row = row[:seq_len]
        tokens[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        special[i, : len(row)] = False
        if bos is not None:
            special[i, 0] = True
        n_doc_tokens.append(len(ids))
    manifest: dict[str, Any] = {
        **info,
        "text_column": spec.text_column,
        "n_samples": len(docs),
        "seq_len": seq_len,
        "prepend_bos": bool(prepend_bos),
        "pad_token_id": int(eos),
        "tokenizer": _tokenizer_name(tokenizer),
        "vocab_size": int(len(tokenizer)),
        "document_sha256": [hashlib.sha256(d.encode("utf-8")).hexdigest() for d in docs],
        "n_padding": int(special.sum() - (len(docs) if bos is not None else 0)),
        "n_truncated_documents": int(sum(1 for m in n_doc_tokens if m + (bos is not None) > seq_len)),
        "tokens_sha256": hashlib.sha256(tokens.numpy().tobytes()).hexdigest(),
        "special_sha256": hashlib.sha256(special.numpy().tobytes()).hexdigest(),
    }
    return TokenSet(tokens=tokens, special_mask=special, manifest=manifest)


def _tokenizer_name(tokenizer: Any) -> str:
    """Hub name of a tokenizer, or the folder name of a local one (portable across checkouts)."""
    name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
    return Path(name).name if Path(name).exists() else name
