"""Residual-stream cache (issue 12): what the pipeline stores instead of SAE codes.

One forward pass per model and site takes the residual stream of every needed layer
(:func:`harness.load.models.residual_activations`: attention mask of the tokenizer, as the
authors ran their models); each (model, layer, site) is kept as a float32 tensor of shape
(n_samples * seq_len, d_model) -- all positions, sample-major; the procedure's position mask is
applied by the caller -- and cached on disk as ``residuals/<key>.pt``. The key hashes the
model's *full* weights (every parameter's bytes, :func:`weights_hash`), the layer, the site,
the token set's key and the attention handling, so a changed checkpoint never reuses a stale
cache, and the device, dtype and TF32 settings of the forward pass (:func:`forward_numerics`),
so a CPU cache is never read as a GPU result or the reverse (issue 20: their fp32 sums differ
in order, and ties in later correlations can break differently). At the Pythia paper size that
is 30,000 x 512 / 768 x 4 bytes = 61 / 92 MB per layer, 1.1 GB for both models at one site -- instead of ~71 GB of dense pre-TopK codes. SAE codes are
encoded from these on the device when needed (:class:`harness.activations.encode.SaeCodes`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import ShapeError
from harness.load.models import check_layers, residual_activations

ATTENTION: str = "tokenizer_mask"
"""How forward passes attend (part of the cache key): causal with the padding keys of the
tokenizer's ``attention_mask`` masked out, as the authors' code ran its models."""

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

    from harness.load.data import TokenSet

__all__ = ["RESIDUAL_CACHE_VERSION", "forward_numerics", "model_residuals", "residual_key", "weights_hash"]

RESIDUAL_CACHE_VERSION: int = 3
"""Bump when the meaning or layout of cached residuals changes (2: files carry a checksum of
the tensor bytes, verified on load; 3: the key holds the forward pass's device and numerics,
:func:`forward_numerics`)."""


def weights_hash(model: HookedTransformer) -> str:
    """sha256 (24 hex chars) over the model's name and every parameter and buffer of its state
    dict: name, dtype, shape and all bytes (~1 s per 100 M parameters on a CPU core)."""
    h = hashlib.sha256()
    h.update(str(model.cfg.model_name).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(tensor.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:24]


def forward_numerics(model: HookedTransformer) -> dict[str, Any]:
    """What decides the bits of a forward pass besides weights and tokens: the device it runs on
    (``cpu``, or ``cuda`` with the GPU's name: kernels differ between devices and GPU models),
    the model's dtype, and on cuda the TF32 switches of matmuls and convolutions and torch's
    float32 matmul precision (they change fp32 products by up to ~1e-3 relative). On the cpu the
    TF32 switches have no effect and are left out, so CPU caches do not depend on them."""
    device = torch.device(str(model.cfg.device or "cpu"))
    out: dict[str, Any] = {"device": device.type, "dtype": str(model.cfg.dtype)}
    if device.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(device)
        out["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
        out["tf32_cudnn"] = bool(torch.backends.cudnn.allow_tf32)
        out["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    return out


def residual_key(
    *,
    model_hash: str,
    layer: int,
    site: str,
    tokens_key: str,
    numerics: dict[str, Any],
    attention: str = ATTENTION,
) -> str:
    """sha256 (24 hex chars) over exactly what determines one cached residual tensor:
    ``numerics`` is :func:`forward_numerics` of the model that runs the forward pass."""
    payload = {
        "v": RESIDUAL_CACHE_VERSION,
        "model": model_hash,
        "layer": int(layer),
        "site": site,
        "tokens": tokens_key,
        "attention": attention,
        "numerics": dict(numerics),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def model_residuals(
    model: HookedTransformer,
    token_set: TokenSet,
    layers: Iterable[int],
    sites: Iterable[str],
    *,
    batch_size: int = 8,
    cache_dir: str | Path | None = None,
    model_hash: str | None = None,
) -> dict[tuple[int, str], torch.Tensor]:
    """Residuals of ``model`` on ``token_set`` at every (layer, site): (layer, site) ->
    (n_samples * seq_len, d_model) float32 CPU tensor (all positions, sample-major).

    Cached entries are read; the missing ones of a site come from one forward pass over the
    token set (stopping after the deepest missing layer). ``model_hash``: the model's
    :func:`weights_hash` (computed when None; pass it to hash a model once).
    """
    wanted = check_layers(model, layers)
    sites = sorted(set(sites))
    tokens = token_set.tokens
    if token_set.attention_mask.shape != tokens.shape:
        raise ShapeError(
            f"attention_mask {tuple(token_set.attention_mask.shape)} and tokens {tuple(tokens.shape)} differ in shape."
        )
    mh = model_hash or weights_hash(model)
    numerics = forward_numerics(model)
    d_model = int(model.cfg.d_model)
    n_pos = int(tokens.shape[0] * tokens.shape[1])
    root = Path(cache_dir) / "residuals" if cache_dir is not None else None
    out: dict[tuple[int, str], torch.Tensor] = {}
    for site in sites:
        keys = {
            layer: residual_key(model_hash=mh, layer=layer, site=site, tokens_key=token_set.key, numerics=numerics)
            for layer in wanted
        }
        missing = []
        for layer in wanted:
            hit = _load(root / f"{keys[layer]}.pt", keys[layer], (n_pos, d_model)) if root is not None else None
            if hit is None:
                missing.append(layer)
            else:
                out[(layer, site)] = hit
        if not missing:
            continue
        acts = residual_activations(
            model,
            tokens,
            missing,
            site=site,  # type: ignore[arg-type]  # sites are checked by the caller
            batch_size=batch_size,
            attention_mask=token_set.attention_mask,
        )
        for layer in missing:
            flat = acts.pop(layer).reshape(n_pos, d_model).contiguous()
            out[(layer, site)] = flat
            if root is not None:
                _save(
                    root / f"{keys[layer]}.pt",
                    keys[layer],
                    flat,
                    meta={
                        "model_hash": mh,
                        "layer": layer,
                        "site": site,
                        "tokens_key": token_set.key,
                        "attention": ATTENTION,
                        "numerics": numerics,
                        "model_name": str(model.cfg.model_name),
                    },
                )
    return out


def _save(path: Path, key: str, residual: torch.Tensor, *, meta: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so an interrupted run leaves no half cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".pt.tmp")
    os.close(fd)
    try:
        blob = {"key": key, "residual": residual, "meta": meta, "checksum": _checksum(residual)}
        torch.save(blob, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _checksum(residual: torch.Tensor) -> str:
    """BLAKE2b of the tensor's bytes: ``torch.load`` does not check the zip's CRCs, so a flipped
    bit inside the data would otherwise load as a silently wrong residual."""
    return hashlib.blake2b(residual.contiguous().numpy().tobytes(), digest_size=16).hexdigest()


def _load(path: Path, key: str, shape: tuple[int, int]) -> torch.Tensor | None:
    """A cached residual, or None when absent, unreadable, damaged (checksum), of another key or
    shape (then it is recomputed and overwritten)."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        res = blob["residual"]
        if blob["key"] != key or tuple(res.shape) != shape or res.dtype != torch.float32:
            return None
        if blob.get("checksum") != _checksum(res):
            raise ValueError("checksum mismatch (damaged or written before checksums)")
        return res
    except Exception as exc:  # noqa: BLE001 -- any unreadable file (truncated, bad CRC, foreign) is recomputed
        log.warning("Residual cache file %s is unreadable (%s: %s); recomputing it.", path, type(exc).__name__, exc)
        return None
