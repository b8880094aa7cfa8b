"""SAE feature activations over a token set (Lan et al. 2024, Sec. 3 "Activation correlation").

For one model layer and one SAE, :func:`compute_feature_activations` runs the model on the
token set, takes the residual stream at ``procedure.activation_site``, encodes it with
``procedure.sae_code`` and keeps, per flattened position (sample-major: position
``i * seq_len + t`` of the token set, minus masked ones):

- the code row as a ``scipy.sparse.csr_matrix`` (float32),
- the token id, sample index and position index,

plus per-feature mean and unbiased standard deviation (float64) and the SAE decoder rows.

Memory: codes stay sparse. Real TopK codes hold ``k`` non-zeros per position. The paper's
dense pre-TopK ReLU latents are much denser (roughly 5-50 % non-zero): for 30,000 positions x
32,768 latents at 20 % density that is ~200 M non-zeros, ~1.6 GB (float32 value + int32 index),
so budget memory accordingly or use fewer positions. Work is streamed one batch at a time
(one layer, ``batch_size`` sequences, positions encoded in chunks), so peak memory beyond the
result is one batch of residuals and one chunk of dense codes.

Results are cached on disk (``.npz``) under a key that hashes exactly what affects them:
the model's full weights and configuration, the SAE's full weights and configuration, layer,
site, code, masking, attention masking and the token data. A cache file that cannot be read (truncated, bad zip,
bad CRC) is reported with its path (logging warning) and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
import zlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch

from harness.errors import ShapeError
from harness.load.models import check_layers, model_fingerprint, residual_activations

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

    from harness.config import Procedure
    from harness.load.data import TokenSet
    from harness.load.saes import LoadedSae

__all__ = [
    "CACHE_VERSION",
    "FeatureActivations",
    "TokenContext",
    "activation_key",
    "compute_feature_activations",
    "contexts",
]

CACHE_VERSION: int = 2
"""Bump when the meaning or layout of cached activations changes (2: forward passes mask
padding keys with the tokenizer's attention mask, which changes padding positions' codes)."""

ATTENTION: str = "tokenizer_mask"
"""How forward passes attend (part of the cache key): causal with the padding keys of the
tokenizer's ``attention_mask`` masked out, as the authors' code ran its models."""

log = logging.getLogger(__name__)

#: What reading a damaged ``.npz`` raises: truncated or overwritten files (BadZipFile, EOFError,
#: zlib.error), bad CRC (BadZipFile), missing members (KeyError), bad arrays (ValueError).
_UNREADABLE = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclass
class FeatureActivations:
    """SAE codes of one (model, layer, SAE, procedure, token set).

    Attributes:
        codes: ``(n_positions, d_sae)`` float32 CSR matrix.
        token_ids: ``(n_positions,)`` int64 token id at each kept position.
        sample_index: ``(n_positions,)`` int64 row of the token set.
        position_index: ``(n_positions,)`` int64 column (position in the sequence).
        mean: ``(d_sae,)`` float64 mean of each feature over kept positions.
        std: ``(d_sae,)`` float64 unbiased (ddof = 1) standard deviation.
        decoder: ``(d_sae, d_in)`` float64 decoder rows (``W_dec``).
        key: hash of everything that determines the codes.
        meta: the inputs of the key in readable form (+ sizes).
    """

    codes: sp.csr_matrix
    token_ids: np.ndarray
    sample_index: np.ndarray
    position_index: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    decoder: np.ndarray
    key: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_positions(self) -> int:
        return int(self.codes.shape[0])

    @property
    def d_sae(self) -> int:
        return int(self.codes.shape[1])

    @property
    def dead(self) -> np.ndarray:
        """``(d_sae,)`` bool: features that never fire (std 0) on these positions."""
        return self.std == 0.0


def activation_key(
    *,
    model_id: str,
    sae_id: str,
    layer: int,
    site: str,
    code: str,
    mask_special_positions: bool,
    tokens_key: str,
    attention: str = ATTENTION,
) -> str:
    """sha256 (24 hex chars) over exactly the inputs that determine the codes."""
    payload = {
        "v": CACHE_VERSION,
        "model": model_id,
        "sae": sae_id,
        "layer": int(layer),
        "site": site,
        "code": code,
        "mask": bool(mask_special_positions),
        "tokens": tokens_key,
        "attention": attention,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def compute_feature_activations(
    model: HookedTransformer,
    loaded_sae: LoadedSae,
    token_set: TokenSet,
    layer: int,
    *,
    procedure: Procedure,
    batch_size: int = 8,
    cache_dir: str | Path | None = None,
    model_id: str | None = None,
    position_chunk: int | None = None,
    progress: bool = False,
) -> FeatureActivations:
    """SAE codes at ``layer`` under ``procedure`` (site, code, masking), cached on disk.

    Args:
        model: unprocessed HookedTransformer.
        loaded_sae: the SAE of this model and layer.
        token_set: tokens + special mask + manifest (:func:`harness.load.data.load_tokens`).
        layer: block index.
        procedure: uses ``activation_site``, ``sae_code``, ``mask_special_positions``.
        batch_size: sequences per forward pass.
        cache_dir: folder for ``<key>.npz``; None disables caching.
        model_id: label of the model in the key (default: its ``cfg.model_name``); the hash of
            its full weights and configuration is always appended
            (:func:`harness.load.models.model_fingerprint`), so changed weights never reuse a
            cache entry.
        position_chunk: positions encoded at once (bounds the dense pre-TopK buffer);
            default ``2**24 // d_sae`` (a 64 MB float32 buffer).
        progress: tqdm bar over batches.
    """
    if loaded_sae.meta.d_in != int(model.cfg.d_model):
        raise ShapeError(
            f"SAE {loaded_sae.meta.source} has d_in={loaded_sae.meta.d_in} but the model has "
            f"d_model={model.cfg.d_model}; pair each model with its own SAE."
        )
    check_layers(model, [layer])
    tokens = token_set.tokens
    special = token_set.special_mask
    if special.shape != tokens.shape:
        raise ShapeError(f"special_mask {tuple(special.shape)} and tokens {tuple(tokens.shape)} differ in shape.")
    site = procedure.activation_site
    code = procedure.sae_code
    mask = procedure.mask_special_positions
    mid = f"{model_id or model.cfg.model_name}#{model_fingerprint(model)}"
    sid = f"{loaded_sae.meta.hook_name}#{loaded_sae.fingerprint()}"
    key = activation_key(
        model_id=mid,
        sae_id=sid,
        layer=layer,
        site=site,
        code=code,
        mask_special_positions=mask,
        tokens_key=token_set.key,
    )
    meta = {
        "model_id": mid,
        "sae_id": sid,
        "sae_source": loaded_sae.meta.source,
        "layer": int(layer),
        "site": site,
        "code": code,
        "mask_special_positions": bool(mask),
        "tokens_key": token_set.key,
        "attention": ATTENTION,
        "n_samples": int(tokens.shape[0]),
        "seq_len": int(tokens.shape[1]),
        "cache_version": CACHE_VERSION,
    }
    path = Path(cache_dir) / f"{key}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        cached = _load(path, key, decoder=loaded_sae.decoder_rows())
        if cached is not None:
            return cached

    n, seq = tokens.shape
    d_sae = int(loaded_sae.meta.d_sae)
    chunk = int(position_chunk) if position_chunk else max(64, (1 << 24) // d_sae)
    keep_all = ~special if mask else torch.ones_like(special)
    # The forward pass always gets the tokenizer's attention mask (padding keys masked), as
    # in the authors' code. Under ``mask_special_positions`` padding rows are dropped and real
    # tokens (right padding) do not depend on it; under the paper procedure padding rows are
    # kept and their activations are those of the masked pass (original-procedure.md).
    attn_mask = token_set.attention_mask
    blocks: list[sp.csr_matrix] = []
    sums = np.zeros(d_sae, dtype=np.float64)
    sumsq = np.zeros(d_sae, dtype=np.float64)
    starts = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"codes L{layer} {site}/{code}", unit="batch")
    for start in starts:
        batch = tokens[start : start + batch_size]
        acts = residual_activations(
            model,
            batch,
            [layer],
            site=site,
            batch_size=batch.shape[0],
            attention_mask=attn_mask[start : start + batch_size],
        )[layer]
        flat = acts.reshape(-1, acts.shape[-1])[keep_all[start : start + batch_size].reshape(-1)]
        for c0 in range(0, flat.shape[0], chunk):
            z = loaded_sae.encode(flat[c0 : c0 + chunk], code=code).float()
            rows, cols = torch.nonzero(z, as_tuple=True)
            vals = z[rows, cols].cpu().numpy().astype(np.float32)
            rows_np, cols_np = rows.cpu().numpy(), cols.cpu().numpy()
            block = sp.csr_matrix((vals, (rows_np, cols_np)), shape=(z.shape[0], d_sae), dtype=np.float32)
            blocks.append(block)
            sums += np.bincount(cols_np, weights=vals.astype(np.float64), minlength=d_sae)
            sumsq += np.bincount(cols_np, weights=vals.astype(np.float64) ** 2, minlength=d_sae)
            del z
    codes = sp.vstack(blocks, format="csr", dtype=np.float32) if blocks else sp.csr_matrix((0, d_sae), dtype=np.float32)
    codes.sort_indices()
    sample_grid, pos_grid = np.meshgrid(np.arange(n), np.arange(seq), indexing="ij")
    keep_np = keep_all.numpy().reshape(-1)
    n_pos = int(keep_np.sum())
    mean = sums / max(n_pos, 1)
    var = (sumsq - n_pos * mean**2) / max(n_pos - 1, 1)
    std = np.sqrt(np.clip(var, 0.0, None))
    std[np.bincount(codes.indices, minlength=d_sae) == 0] = 0.0  # never active: exactly 0
    result = FeatureActivations(
        codes=codes,
        token_ids=tokens.numpy().reshape(-1)[keep_np].astype(np.int64),
        sample_index=sample_grid.reshape(-1)[keep_np].astype(np.int64),
        position_index=pos_grid.reshape(-1)[keep_np].astype(np.int64),
        mean=mean,
        std=std,
        decoder=loaded_sae.decoder_rows(),
        key=key,
        meta={**meta, "n_positions": n_pos, "nnz": int(codes.nnz)},
    )
    if path is not None:
        _save(path, result)
    return result


def _save(path: Path, fa: FeatureActivations) -> None:
    """Write atomically (temp file + rename) so an interrupted run leaves no half cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                data=fa.codes.data,
                indices=fa.codes.indices,
                indptr=fa.codes.indptr,
                shape=np.asarray(fa.codes.shape, dtype=np.int64),
                token_ids=fa.token_ids,
                sample_index=fa.sample_index,
                position_index=fa.position_index,
                mean=fa.mean,
                std=fa.std,
                key=np.asarray(fa.key),
                meta=np.asarray(json.dumps(fa.meta, sort_keys=True)),
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load(path: Path, key: str, *, decoder: np.ndarray) -> FeatureActivations | None:
    """Read a cache file; the decoder rows come from the loaded SAE (the key holds its
    fingerprint), not from disk: storing W_dec in float64 cost 134-201 MB per file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                log.warning("activation cache %s holds key %s, not %s: recomputing", path, str(z["key"]), key)
                return None
            shape = tuple(int(s) for s in z["shape"])
            codes = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
            return FeatureActivations(
                codes=codes,
                token_ids=z["token_ids"],
                sample_index=z["sample_index"],
                position_index=z["position_index"],
                mean=z["mean"],
                std=z["std"],
                decoder=decoder,
                key=key,
                meta={**json.loads(str(z["meta"])), "from_cache": True},
            )
    except _UNREADABLE as exc:
        # unreadable cache: say which file, recompute, and overwrite it
        log.warning("activation cache %s is unreadable (%s: %s): recomputing", path, type(exc).__name__, exc)
        return None


# --------------------------------------------------------------------------------------
# Token contexts (top-token strings and the whole-word window of Appendix G)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenContext:
    """A position's token and its window (tokens idx-before .. idx+after of the same sample)."""

    sample: int
    position: int
    token_id: int
    token: str
    """The token decoded on its own (leading space kept, as the paper compared strings)."""
    window_tokens: tuple[str, ...]
    """Each window token decoded on its own."""
    window: str
    """The window decoded as one string (what the whole-word rule searches)."""


def contexts(
    tokens: torch.Tensor | np.ndarray,
    sample_index: np.ndarray,
    position_index: np.ndarray,
    tokenizer: Any,
    *,
    before: int = 2,
    after: int = 1,
) -> list[TokenContext]:
    """Decode the token at each (sample, position) and its window ``idx-before..idx+after``
    (clipped to the sample; the paper used 2 before, 1 after).

    Args:
        tokens: ``(n_samples, seq_len)`` token ids of the whole token set (masked positions
            included, so windows see their true neighbours).
        sample_index, position_index: ``(m,)`` positions to decode (e.g. a feature's top
            positions mapped through :attr:`FeatureActivations.sample_index`).
        tokenizer: Hugging Face tokenizer.
    """
    arr = tokens.numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens)
    samples = np.asarray(sample_index).reshape(-1)
    positions = np.asarray(position_index).reshape(-1)
    if samples.shape != positions.shape:
        raise ShapeError(f"sample_index {samples.shape} and position_index {positions.shape} differ.")
    if arr.ndim != 2:
        raise ShapeError(f"tokens must be (n_samples, seq_len); got {arr.shape}.")
    seq = arr.shape[1]
    cache: dict[int, str] = {}

    def piece(t: int) -> str:
        if t not in cache:
            cache[t] = tokenizer.decode([t])
        return cache[t]

    out: list[TokenContext] = []
    for s, p in zip(samples.tolist(), positions.tolist(), strict=True):
        if not (0 <= s < arr.shape[0] and 0 <= p < seq):
            raise ShapeError(f"Position ({s}, {p}) outside tokens of shape {arr.shape}.")
        ids = [int(t) for t in arr[s, max(0, p - before) : min(seq, p + after + 1)]]
        tid = int(arr[s, p])
        out.append(
            TokenContext(
                sample=int(s),
                position=int(p),
                token_id=tid,
                token=piece(tid),
                window_tokens=tuple(piece(t) for t in ids),
                window=tokenizer.decode(ids),
            )
        )
    return out
