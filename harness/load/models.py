"""Models and residual-stream activations (Lan et al. 2024, Sec. 4 "Experimental setup").

Models are loaded as transformer-lens ``HookedTransformer`` **without weight processing**
(no LayerNorm folding, no centring): the SAEs were trained on raw Hugging Face hidden
states, and ``center_writing_weights`` changes ``hook_resid_post`` of LayerNorm models.

Two activation sites (see ``shared/reference/original-procedure.md``):

- ``block_output``: ``blocks.L.hook_resid_post`` = HF ``hidden_states[L + 1]`` (except for
  the last block, where HF applies the final norm) — what ``layers.L`` /
  ``blocks.L.hook_resid_post`` / Gemma Scope ``layer_L`` SAEs were trained on.
- ``block_input``: ``blocks.L.hook_resid_pre`` = HF ``hidden_states[L]`` — what the paper's
  code fed the SAEs (an off-by-one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import ConfigError, HarnessError, HubAccessError, ShapeError
from harness.vocab import ActivationSite, check_choice

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

__all__ = [
    "GATED_PREFIXES",
    "ModelSpec",
    "Site",
    "hook_name",
    "load_model",
    "residual_activations",
]

Site = ActivationSite

#: Hub name prefixes of gated models (a licence must be accepted; HF_TOKEN needed).
GATED_PREFIXES: tuple[str, ...] = ("google/gemma", "meta-llama/")

#: Weight-processing flags of ``HookedTransformer.from_pretrained``; all off unless asked.
PROCESSING_FLAGS: tuple[str, ...] = (
    "fold_ln",
    "center_writing_weights",
    "center_unembed",
    "fold_value_biases",
    "refactor_factored_attn_matrices",
)

_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how."""

    name: str
    """Official transformer-lens / hub name (``"EleutherAI/pythia-70m"``), or a label for a
    local model (then ``local_path`` is required)."""
    local_path: str | None = None
    """A Hugging Face ``save_pretrained`` folder (config.json + weights + tokenizer); loaded
    offline, never touching the hub."""
    dtype: str = "float32"
    """Parameter dtype: float32 (the paper), float64, float16 or bfloat16."""
    device: str = "cpu"
    processing: Mapping[str, bool] = field(default_factory=dict)
    """Weight processing to apply (keys of :data:`PROCESSING_FLAGS`), all False by default.
    Pass an SAE's ``model_from_pretrained_kwargs`` here when it asks for them."""
    shuffle_weights_seed: int | None = None
    """A re-randomized control model: after loading, every parameter's entries are permuted
    (:func:`shuffle_weights`, seeded per tensor), so each tensor keeps its values and scale but
    no learned structure. None: the model as trained."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("ModelSpec.name is empty; give a hub name or a label for local_path.")
        if self.dtype not in _DTYPES:
            raise ConfigError(f"ModelSpec.dtype={self.dtype!r} is invalid; use one of {sorted(_DTYPES)}.")
        seed = self.shuffle_weights_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ConfigError(f"ModelSpec.shuffle_weights_seed={seed!r}: use a non-negative integer (or leave it out).")
        unknown = set(self.processing) - set(PROCESSING_FLAGS)
        if unknown:
            raise ConfigError(
                f"ModelSpec.processing has unknown flags {sorted(unknown)}; allowed: {list(PROCESSING_FLAGS)}."
            )

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]


def _hf_token() -> str | None:
    token = os.environ.get("HF_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # pragma: no cover - very old huggingface_hub
        return None


def _is_cached(repo_id: str, filename: str = "config.json") -> bool:
    from huggingface_hub import try_to_load_from_cache

    cache_dir = os.environ.get("HF_HUB_CACHE")
    hit = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
    return isinstance(hit, str)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def hub_error(what: str, repo_id: str, filename: str | None, exc: BaseException) -> HubAccessError:
    """A :class:`HubAccessError` explaining why ``repo_id`` (``filename``) could not be read:
    offline mode, a gated repository, or a missing file — and how to fix it."""
    target = f"{repo_id}/{filename}" if filename else repo_id
    offline = _offline()
    lines = [f"Could not load {what} {target!r} from the Hugging Face hub ({type(exc).__name__}: {exc})."]
    if offline:
        lines.append(
            "HF_HUB_OFFLINE=1 is set and the file is not in the local hub cache "
            f"(HF_HUB_CACHE={os.environ.get('HF_HUB_CACHE') or os.environ.get('HF_HOME') or '~/.cache/huggingface'})."
        )
    lines.append(
        "Fix: download it once with network access (unset HF_HUB_OFFLINE), or stage the files "
        "in a local hub cache (layout models--ORG--NAME/snapshots/REV/..., see "
        "`python -m fixtures.stage_hub`) and point HF_HOME / HF_HUB_CACHE at it, or use a local "
        "folder instead of a hub id."
    )
    if repo_id.startswith(GATED_PREFIXES) and not _hf_token():
        lines.append(f"{repo_id} is gated: accept its licence on huggingface.co and set HF_TOKEN.")
    return HubAccessError(" ".join(lines))


def check_gated(name: str) -> None:
    if name.startswith(GATED_PREFIXES) and not _hf_token() and not _is_cached(name):
        raise HubAccessError(
            f"{name} is a gated model and no Hugging Face token is set (HF_TOKEN is empty and "
            "no token was saved with `huggingface-cli login`), and it is not in the local hub "
            f"cache. Accept the licence at https://huggingface.co/{name} and set HF_TOKEN, or "
            "load the model from a local folder (ModelSpec(local_path=...))."
        )


def load_model(spec: ModelSpec) -> HookedTransformer:
    """Load ``spec`` as an unprocessed ``HookedTransformer`` in eval mode.

    Official names go through ``HookedTransformer.from_pretrained_no_processing`` (the
    processing flags of ``spec.processing`` are honoured). A ``local_path`` is converted
    offline: ``convert_hf_model_config`` + ``HookedTransformer(cfg, tokenizer)`` +
    ``load_and_process_state_dict`` of the converted HF weights with no processing.

    Raises:
        UnknownIdError: ``spec.name`` is not a transformer-lens model name (no local_path).
        HubAccessError: hub unreachable / not cached / gated model without HF_TOKEN.
        HarnessError: ``local_path`` missing or not a Hugging Face model folder.
    """
    flags = {f: bool(spec.processing.get(f, False)) for f in PROCESSING_FLAGS}
    if spec.local_path is not None:
        model = _load_local(spec, flags)
    else:
        from harness.load.hub_names import check_tl_model_name

        official = check_tl_model_name(spec.name, allow_alias=True)
        check_gated(official)
        from transformer_lens import HookedTransformer

        try:
            model = HookedTransformer.from_pretrained_no_processing(
                official, dtype=spec.torch_dtype, device=spec.device, **flags
            )
        except (OSError, ValueError, RuntimeError) as exc:
            if _looks_like_hub_failure(exc):
                raise hub_error("model", official, None, exc) from exc
            raise
    if spec.shuffle_weights_seed is not None:
        shuffle_weights(model, seed=spec.shuffle_weights_seed)
    model.eval()
    return model


def shuffle_weights(model: HookedTransformer, *, seed: int) -> None:
    """Permute the entries of every parameter of ``model`` in place (parameter ``i`` in name order
    with a generator seeded ``seed + i``): the re-randomized-weights control of the atlas. Each
    tensor keeps its multiset of values (so its norm and scale); which value sits where is random."""
    with torch.no_grad():
        for i, (_, param) in enumerate(sorted(model.named_parameters(), key=lambda kv: kv[0])):
            gen = torch.Generator().manual_seed(int(seed) + i)
            perm = torch.randperm(param.numel(), generator=gen).to(param.device)
            param.copy_(param.reshape(-1)[perm].reshape(param.shape))


def _looks_like_hub_failure(exc: BaseException) -> bool:
    from huggingface_hub import errors as hf_errors

    hub_types: tuple[type[BaseException], ...] = (
        hf_errors.LocalEntryNotFoundError,
        hf_errors.OfflineModeIsEnabled,
        hf_errors.GatedRepoError,
        hf_errors.RepositoryNotFoundError,
        hf_errors.EntryNotFoundError,
    )
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, hub_types):
            return True
        text = str(seen).lower()
        if "offline" in text or "huggingface.co" in text or "hf_hub" in text or "connection" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _load_local(spec: ModelSpec, flags: dict[str, bool]) -> HookedTransformer:
    path = Path(spec.local_path or "")
    if not (path / "config.json").is_file():
        raise HarnessError(
            f"ModelSpec.local_path={str(path)!r} is not a Hugging Face model folder (no config.json). "
            "Point it at a folder written by `save_pretrained` (config.json, weights, tokenizer)."
        )
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.loading_from_pretrained import (
        convert_hf_model_config,
        get_pretrained_state_dict,
    )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = str(path.resolve())
    cfg_dict = convert_hf_model_config(folder)
    cfg_dict.update(dtype=spec.torch_dtype, device=spec.device, model_name=spec.name)
    cfg = HookedTransformerConfig(**cfg_dict)
    tokenizer = AutoTokenizer.from_pretrained(folder) if _has_tokenizer(path) else None
    hf_model = AutoModelForCausalLM.from_pretrained(folder, dtype=spec.torch_dtype)
    state = get_pretrained_state_dict(folder, cfg, hf_model=hf_model, dtype=spec.torch_dtype)
    del hf_model
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    model.load_and_process_state_dict(state, **flags)
    return model.to(spec.device)


def _has_tokenizer(path: Path) -> bool:
    return any((path / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json"))


def hook_name(layer: int, site: Site) -> str:
    """transformer-lens hook of ``site`` at block ``layer``."""
    if site == "block_output":
        return f"blocks.{layer}.hook_resid_post"
    if site == "block_input":
        return f"blocks.{layer}.hook_resid_pre"
    if site == "mlp_output":
        return f"blocks.{layer}.hook_mlp_out"
    check_choice("site", site, ActivationSite)
    raise AssertionError(f"hook_name has no branch for site {site!r}")  # every vocabulary value has a branch


def check_layers(model: HookedTransformer, layers: Iterable[int]) -> list[int]:
    """Validate layer indices against ``model.cfg.n_layers``; return them as a sorted list."""
    n_layers = int(model.cfg.n_layers)
    out = sorted({int(layer) for layer in layers})
    if not out:
        raise ConfigError("No layers requested; pass at least one layer index.")
    bad = [layer for layer in out if not 0 <= layer < n_layers]
    if bad:
        raise ConfigError(
            f"Layer(s) {bad} out of range for {model.cfg.model_name!r}, which has n_layers={n_layers} "
            f"(valid: 0..{n_layers - 1})."
        )
    return out


@torch.inference_mode()
def residual_activations(
    model: HookedTransformer,
    tokens: torch.Tensor,
    layers: Iterable[int],
    *,
    site: Site = "block_output",
    batch_size: int = 8,
    progress: bool = False,
    attention_mask: torch.Tensor | None = None,
) -> dict[int, torch.Tensor]:
    """Residual-stream activations at ``site`` of each layer.

    Args:
        model: an (unprocessed) HookedTransformer.
        tokens: ``(n, seq)`` token ids.
        layers: block indices, each in ``0..n_layers-1``.
        site: ``block_output`` (``hook_resid_post``), ``block_input`` (``hook_resid_pre``) or
            ``mlp_output`` (``hook_mlp_out``).
        batch_size: sequences per forward pass. The pass stops after the deepest block needed
            (``stop_at_layer``), and only the requested hooks are cached.
        progress: show a tqdm bar.
        attention_mask: ``(n, seq)`` the tokenizer's attention mask (1 = real token, BOS
            included; 0 = padding), or None for causal attention only.

    Returns:
        layer -> float32 CPU tensor ``(n, seq, d_model)``.

    With ``attention_mask`` the pass is that of an HF causal LM called with the tokenizer's
    ``attention_mask`` (what the authors' code did, original-procedure.md "Activations"):
    causal attention with padding *keys* masked out in every block, positions still
    ``0..seq-1`` (HF derives no position ids from the mask in a plain forward call; passing
    the mask to transformer-lens instead would shift rotary positions of the padding, so the
    key mask is applied on ``hook_attn_scores``, after transformer-lens' causal mask). With
    right padding a real token's keys are all real, so real tokens are bit-identical with or
    without the mask; only padding positions change (they then attend to the real tokens
    only). A row with no real token at all has nothing to attend to; its attention weights
    are 0 (transformer-lens turns the all-masked softmax's NaN into 0).

    Without ``attention_mask`` padding positions are EOS tokens that attend to everything
    before them, padding included.
    """
    if tokens.ndim != 2:
        raise ShapeError(f"tokens must be (n_samples, seq_len); got shape {tuple(tokens.shape)}.")
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be >= 1.")
    wanted = check_layers(model, layers)
    names = {layer: hook_name(layer, site) for layer in wanted}
    stop_at = max(wanted) + 1
    n, seq = tokens.shape
    d_model = int(model.cfg.d_model)
    out = {layer: torch.empty((n, seq, d_model), dtype=torch.float32) for layer in wanted}
    starts = range(0, n, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"residuals {site}", unit="batch")
    if attention_mask is not None and tuple(attention_mask.shape) != tuple(tokens.shape):
        raise ShapeError(
            f"attention_mask {tuple(attention_mask.shape)} and tokens {tuple(tokens.shape)} differ in shape."
        )
    device = model.cfg.device
    for start in starts:
        batch = tokens[start : start + batch_size].to(device)
        hooks: list[tuple[str | Callable[..., Any], Callable[..., Any]]] = []
        if attention_mask is not None:
            keys = attention_mask[start : start + batch_size].to(device).bool()
            if not bool(keys.all()):
                hooks = [(f"blocks.{i}.attn.hook_attn_scores", _key_mask_hook(keys)) for i in range(stop_at)]
        # An explicit all-ones mask to transformer-lens: causal attention and positions
        # 0..seq-1 whatever the padding side (transformer-lens would otherwise derive a mask
        # from pad ids for left padding, and offset rotary positions by the mask).
        with model.hooks(fwd_hooks=hooks):
            _, cache = model.run_with_cache(
                batch,
                attention_mask=torch.ones_like(batch),
                names_filter=list(names.values()),
                stop_at_layer=stop_at,
            )
        for layer, name in names.items():
            out[layer][start : start + batch.shape[0]] = cache[name].to("cpu", torch.float32)
        del cache
    return out


def _key_mask_hook(keys: torch.Tensor) -> Callable[[torch.Tensor, object], torch.Tensor]:
    """A ``hook_attn_scores`` hook that masks the keys where ``keys (batch, key_pos)`` is
    False (scores ``[batch, head, query_pos, key_pos]``), as HF's padding mask does."""

    def hook(scores: torch.Tensor, hook: object) -> torch.Tensor:
        return scores.masked_fill(~keys[:, None, None, :], float("-inf"))

    return hook


def tensor_digest(h: Any, name: str, tensor: torch.Tensor) -> None:
    """Feed ``name``, dtype, shape and every byte of ``tensor`` (as stored, on the host) to the
    hash ``h``."""
    t = tensor.detach()
    h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
    h.update(t.to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


#: Config fields left out of the fingerprint: where the model runs, and the tokenizer's local
#: path (the tokens are keyed separately), so keys stay portable across devices and checkouts.
_CFG_NOT_KEYED = frozenset({"device", "n_devices", "tokenizer_name"})


def model_fingerprint(model: HookedTransformer) -> str:
    """Identity of what the model computes, for cache keys: sha256 over its configuration
    (every ``cfg`` field but device and tokenizer path) and every byte of every parameter and
    buffer. A changed weight anywhere changes the key (the first 4,096 values of each
    parameter, hashed before, missed fine-tuned or edited weights).

    Hashing reads all weights (~1 s per GB); the digest is remembered on the model together
    with each tensor's version counter, so in-place edits are still seen.
    """
    import hashlib

    state = model.state_dict()
    versions = tuple((name, t._version, t.data_ptr()) for name, t in sorted(state.items()))
    memo = getattr(model, "_harness_fingerprint", None)
    if memo is not None and memo[0] == versions:
        return str(memo[1])
    h = hashlib.sha256()
    cfg = {k: v for k, v in model.cfg.to_dict().items() if k not in _CFG_NOT_KEYED}
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for name, tensor in sorted(state.items()):
        tensor_digest(h, name, tensor)
    digest = h.hexdigest()[:16]
    try:
        model._harness_fingerprint = (versions, digest)  # type: ignore[assignment]  # a memo attribute, not a module
    except AttributeError:  # pragma: no cover - a model that refuses attributes: no memo
        pass
    return digest
