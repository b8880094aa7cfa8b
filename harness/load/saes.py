"""One interface over the SAEs the papers use (Lan et al. 2024, Sec. 4; Paulo & Belrose 2025).

Sources:

- ``release``: a sae-lens pretrained release + SAE id (``SAE.from_pretrained``), e.g.
  ``gemma-2b-res-jb`` / ``blocks.12.hook_resid_post``, ``gemma-scope-2b-pt-res-canonical`` /
  ``layer_12/width_16k/canonical``.
- ``disk``: a folder written by sae-lens ``save_model`` (``SAE.load_from_disk``).
- ``sparsify``: EleutherAI/sparsify format — a hub repository or a local folder with one
  ``{hookpoint}/`` folder per hookpoint (``layers.3/cfg.json`` + ``layers.3/sae.safetensors``),
  converted exactly into a sae-lens ``TopKSAE``. (sae-lens's own sparsify loader builds
  ``W_dec`` with the wrong shape, so it is not used.)

sparsify's encoder computes ``topk(relu((x - b_dec) @ encoder.weight.T + encoder.bias))``;
the sae-lens ``TopKSAE`` with ``W_enc = encoder.weight.T``, ``W_dec = W_dec`` (not
transposed), ``apply_b_dec_to_input=True`` computes the same (TopK then ReLU equals ReLU then
TopK up to ties at zero, which both give zero).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from harness.errors import ConfigError, HarnessError, ShapeError, UnknownIdError
from harness.vocab import SaeCode, check_choice

if TYPE_CHECKING:
    from sae_lens import SAE

__all__ = [
    "LoadedSae",
    "SaeMeta",
    "SaeSpec",
    "load_sae",
    "parse_hook_name",
    "sparsify_hookpoint_to_hook_name",
    "sparsify_to_saelens",
]

SaeSource = Literal["release", "disk", "sparsify"]
Code = SaeCode

_HOOK_RE = re.compile(r"^blocks\.(\d+)\.hook_resid_(post|pre)$")
_SPARSIFY_LAYER_RE = re.compile(r"^layers\.(\d+)$")


@dataclass(frozen=True)
class SaeSpec:
    """Which SAE to load. Build with :meth:`release`, :meth:`disk` or :meth:`sparsify`."""

    source: SaeSource
    """``release`` (sae-lens pretrained), ``disk`` (sae-lens folder) or ``sparsify``."""
    release: str | None = None
    """sae-lens release name (source ``release``)."""
    sae_id: str | None = None
    """sae-lens SAE id inside the release (source ``release``)."""
    path: str | None = None
    """Local folder: a sae-lens ``save_model`` folder (``disk``), or a sparsify folder — the
    repository root holding ``{hookpoint}/`` folders, or one hookpoint folder (``sparsify``)."""
    repo_id: str | None = None
    """Hub repository of a sparsify-format SAE set (``EleutherAI/sae-pythia-70m-32k``)."""
    hookpoint: str | None = None
    """sparsify hookpoint folder, e.g. ``layers.3`` (= ``blocks.3.hook_resid_post``)."""
    revision: str | None = None
    """Hub revision (sparsify repositories)."""
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.source == "release":
            if not self.release or not self.sae_id:
                raise ConfigError("SaeSpec(source='release') needs release and sae_id.")
        elif self.source == "disk":
            if not self.path:
                raise ConfigError("SaeSpec(source='disk') needs path (a sae-lens save_model folder).")
        elif self.source == "sparsify":
            if bool(self.path) == bool(self.repo_id):
                raise ConfigError("SaeSpec(source='sparsify') needs exactly one of path or repo_id.")
            if self.repo_id and not self.hookpoint:
                raise ConfigError(f"SaeSpec for hub repo {self.repo_id!r} needs a hookpoint (e.g. 'layers.3').")
        else:
            raise ConfigError(f"SaeSpec.source={self.source!r} is invalid; use 'release', 'disk' or 'sparsify'.")
        if self.dtype not in ("float32", "float64", "float16", "bfloat16"):
            raise ConfigError(f"SaeSpec.dtype={self.dtype!r} is invalid; use float32/float64/float16/bfloat16.")

    @classmethod
    def from_release(cls, release: str, sae_id: str, *, dtype: str = "float32") -> SaeSpec:
        return cls(source="release", release=release, sae_id=sae_id, dtype=dtype)

    @classmethod
    def from_disk(cls, path: str | Path, *, dtype: str = "float32") -> SaeSpec:
        return cls(source="disk", path=str(path), dtype=dtype)

    @classmethod
    def from_sparsify(
        cls,
        repo_or_path: str | Path,
        hookpoint: str | None = None,
        *,
        revision: str | None = None,
        dtype: str = "float32",
    ) -> SaeSpec:
        """A sparsify SAE: ``repo_or_path`` is a local folder if it exists, else a hub repo."""
        if Path(repo_or_path).exists():
            return cls(source="sparsify", path=str(repo_or_path), hookpoint=hookpoint, revision=revision, dtype=dtype)
        return cls(source="sparsify", repo_id=str(repo_or_path), hookpoint=hookpoint, revision=revision, dtype=dtype)

    @property
    def label(self) -> str:
        """A human-readable identity (used in cache keys and reports)."""
        if self.source == "release":
            return f"sae-lens:{self.release}/{self.sae_id}"
        if self.source == "disk":
            return f"disk:{Path(self.path or '').resolve()}"
        where = self.repo_id if self.repo_id else str(Path(self.path or "").resolve())
        rev = f"@{self.revision}" if self.revision else ""
        return f"sparsify:{where}{rev}:{self.hookpoint or ''}"


@dataclass(frozen=True)
class SaeMeta:
    """What an SAE is and where it reads the model."""

    source: str
    """:attr:`SaeSpec.label` of the spec it was loaded from."""
    hook_name: str | None
    """transformer-lens hook it was trained on (``blocks.L.hook_resid_post``), if known."""
    site: str | None
    """``block_output`` / ``block_input`` when the hook is a residual block site, else None."""
    layer: int | None
    architecture: str
    """sae-lens architecture: ``topk``, ``standard``, ``jumprelu``, ``gated``, ..."""
    k: int | None
    """Active latents per token for TopK SAEs, else None."""
    d_in: int
    d_sae: int
    dtype: str
    normalisation: str
    """sae-lens ``normalize_activations`` (``none`` when a scaling factor was folded in)."""
    apply_b_dec_to_input: bool
    model_name: str | None = None
    model_from_pretrained_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = asdict(self)
        out["model_from_pretrained_kwargs"] = dict(self.model_from_pretrained_kwargs)
        return out


def parse_hook_name(hook_name: str | None) -> tuple[str | None, int | None]:
    """``blocks.L.hook_resid_post`` -> (``block_output``, L); ``hook_resid_pre`` ->
    (``block_input``, L); anything else -> (None, None)."""
    if not hook_name:
        return None, None
    m = _HOOK_RE.match(hook_name)
    if not m:
        return None, None
    return ("block_output" if m.group(2) == "post" else "block_input"), int(m.group(1))


def sparsify_hookpoint_to_hook_name(hookpoint: str) -> str:
    """sparsify ``layers.N`` (output of block N) -> transformer-lens ``blocks.N.hook_resid_post``.

    Raises:
        ConfigError: a hookpoint other than the residual stream (``layers.N.mlp`` etc.).
    """
    m = _SPARSIFY_LAYER_RE.match(hookpoint)
    if not m:
        raise ConfigError(
            f"sparsify hookpoint {hookpoint!r} is not a residual-stream hookpoint 'layers.N'; "
            "this harness compares residual-stream SAEs only."
        )
    return f"blocks.{int(m.group(1))}.hook_resid_post"


class LoadedSae:
    """A sae-lens SAE plus its :class:`SaeMeta` and the two codes of the paper procedures.

    Attributes:
        sae: the sae-lens ``SAE`` (eval mode, no grad).
        meta: :class:`SaeMeta`.
    """

    def __init__(self, sae: SAE, meta: SaeMeta) -> None:
        self.sae = sae
        self.meta = meta
        self.sae.eval()
        for p in self.sae.parameters():
            p.requires_grad_(False)

    def __repr__(self) -> str:
        m = self.meta
        return f"LoadedSae({m.source}, hook={m.hook_name}, {m.architecture}, k={m.k}, d_in={m.d_in}, d_sae={m.d_sae})"

    @property
    def is_topk(self) -> bool:
        from sae_lens import TopKSAE

        return isinstance(self.sae, TopKSAE)

    @property
    def device(self) -> torch.device:
        return self.sae.W_dec.device

    def _check_input(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.meta.d_in:
            raise ShapeError(
                f"SAE {self.meta.source} expects inputs with d_in={self.meta.d_in} on the last axis; "
                f"got shape {tuple(x.shape)}. Is it the SAE of a different model?"
            )

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, *, code: Code = "sparse") -> torch.Tensor:
        """SAE code of ``x`` ``(..., d_in)`` -> ``(..., d_sae)``.

        ``sparse``: the SAE's own ``encode`` (TopK applied for TopK SAEs). ``pre_topk``: for
        TopK SAEs the dense ReLU latents ``relu((x - b_dec) W_enc + b_enc)`` (the paper's code
        for EleutherAI SAEs); for other architectures the same as ``sparse``.
        """
        check_choice("code", code, SaeCode)
        self._check_input(x)
        x = x.to(self.device)
        if code == "sparse" or not self.is_topk:
            return self.sae.encode(x)
        sae = self.sae
        hidden_pre = sae.process_sae_in(x) @ sae.W_enc + sae.b_enc
        if getattr(sae.cfg, "rescale_acts_by_decoder_norm", False):
            hidden_pre = hidden_pre * sae.W_dec.norm(dim=-1)
        return torch.relu(hidden_pre)

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``(..., d_in)`` of codes ``(..., d_sae)``."""
        if codes.shape[-1] != self.meta.d_sae:
            raise ShapeError(f"codes must have d_sae={self.meta.d_sae} on the last axis; got {tuple(codes.shape)}.")
        return self.sae.decode(codes.to(self.device, self.sae.W_dec.dtype))

    def fingerprint(self) -> str:
        """Identity of what the SAE computes, for cache keys: sha256 over its configuration
        (architecture, k, hook, normalisation, shapes, the sae-lens ``cfg`` minus device and
        descriptive metadata) and every byte of every parameter. Where it was loaded from is
        left out, so keys are portable across checkouts and formats. (Only the first 4,096 values of each
        parameter were hashed before: an SAE changed beyond them kept its stale cache.)"""
        import hashlib

        from harness.load.models import tensor_digest

        m = self.meta
        h = hashlib.sha256(f"{m.architecture}|{m.k}|{m.hook_name}|{m.normalisation}|{m.apply_b_dec_to_input}".encode())
        to_dict = getattr(self.sae.cfg, "to_dict", None)
        if callable(to_dict):
            # metadata (model name, library versions, training context) describes the SAE; the
            # hook it reads is keyed above, and the model's processing is in the model's key
            cfg = {k: v for k, v in to_dict().items() if k not in ("device", "metadata")}
            h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
        for name, param in sorted(self.sae.state_dict().items()):
            tensor_digest(h, name, param)
        return h.hexdigest()[:16]

    def decoder_rows(self) -> np.ndarray:
        """Decoder matrix ``W_dec`` as float64, shape ``(d_sae, d_in)``, one row per feature."""
        return self.sae.W_dec.detach().to("cpu", torch.float64).numpy().copy()


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def load_sae(spec: SaeSpec, *, device: str = "cpu", cache_dir: str | None = None) -> LoadedSae:
    """Load ``spec`` as a :class:`LoadedSae` on ``device``.

    Args:
        spec: which SAE.
        device: torch device.
        cache_dir: hub cache for sparsify hub repos (default: ``HF_HUB_CACHE``).

    Raises:
        UnknownIdError: unknown release / SAE id, or a hookpoint the repo/folder lacks
            (the message lists those that exist).
        HubAccessError: hub unreachable or file not cached (message names HF_HUB_OFFLINE).
        HarnessError: a folder that is not in the expected format.
    """
    if spec.source == "release":
        sae = _load_release(spec, device)
    elif spec.source == "disk":
        sae = _load_disk(spec, device)
    else:
        return _load_sparsify(spec, device, cache_dir)
    return LoadedSae(sae, _meta_from_saelens(sae, spec.label))


def _meta_from_saelens(sae: SAE, label: str) -> SaeMeta:
    cfg = sae.cfg
    hook = cfg.metadata.hook_name
    site, layer = parse_hook_name(hook)
    kwargs = cfg.metadata.model_from_pretrained_kwargs or {}
    return SaeMeta(
        source=label,
        hook_name=hook,
        site=site,
        layer=layer,
        architecture=cfg.architecture(),
        k=int(cfg.k) if hasattr(cfg, "k") else None,
        d_in=int(cfg.d_in),
        d_sae=int(cfg.d_sae),
        dtype=str(cfg.dtype),
        normalisation=str(cfg.normalize_activations),
        apply_b_dec_to_input=bool(cfg.apply_b_dec_to_input),
        model_name=cfg.metadata.model_name,
        model_from_pretrained_kwargs=dict(kwargs),
    )


def _load_release(spec: SaeSpec, device: str) -> SAE:
    from sae_lens import SAE

    from harness.load.hub_names import check_saelens_release
    from harness.load.models import _looks_like_hub_failure, hub_error

    release, sae_id = str(spec.release), str(spec.sae_id)
    if "/" not in release:  # a "/" release is a raw hub repo id, which sae-lens accepts
        entry = check_saelens_release(release, sae_id)
        repo, folder = entry.repo_id, entry.path
    else:
        repo, folder = release, sae_id
    try:
        return SAE.from_pretrained(release, sae_id, device=device, dtype=spec.dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        if _looks_like_hub_failure(exc):
            raise hub_error("SAE", repo, folder, exc) from exc
        raise


def _load_disk(spec: SaeSpec, device: str) -> SAE:
    from sae_lens import SAE

    path = Path(spec.path or "")
    if not ((path / "cfg.json").is_file() and (path / "sae_weights.safetensors").is_file()):
        hint = ""
        if (path / "sae.safetensors").is_file():
            hint = " It holds sae.safetensors: that is the EleutherAI/sparsify format, use SaeSpec.from_sparsify."
        raise HarnessError(
            f"{str(path)!r} is not a sae-lens SAE folder (needs cfg.json + sae_weights.safetensors).{hint} "
            "Pass a folder written by sae-lens `save_model`."
        )
    try:
        return SAE.load_from_disk(path, device=device, dtype=spec.dtype)
    except Exception as exc:  # safetensors' SafetensorError, JSONDecodeError, ...: name the folder
        raise HarnessError(
            f"sae-lens SAE folder {str(path)!r} cannot be loaded ({type(exc).__name__}: {exc}); "
            "cfg.json or sae_weights.safetensors is damaged or truncated. Copy or save it "
            "again."
        ) from exc


def _sparsify_local_folder(spec: SaeSpec) -> tuple[Path, str]:
    root = Path(spec.path or "")
    if not root.is_dir():
        raise HarnessError(f"sparsify folder {str(root)!r} does not exist.")
    if spec.hookpoint is None:
        if (root / "cfg.json").is_file():
            return root, root.name
        raise UnknownIdError(
            f"{str(root)!r} is a sparsify repository folder; pass a hookpoint. "
            f"Hookpoints there: {_list_hookpoints(root)}."
        )
    folder = root / spec.hookpoint
    if not (folder / "cfg.json").is_file():
        if (root / "cfg.json").is_file() and root.name == spec.hookpoint:
            return root, spec.hookpoint
        raise UnknownIdError(
            f"Hookpoint {spec.hookpoint!r} not found in {str(root)!r}. Hookpoints there: {_list_hookpoints(root)}."
        )
    return folder, spec.hookpoint


def _list_hookpoints(root: Path) -> list[str]:
    found = [str(p.parent.relative_to(root)) for p in root.rglob("cfg.json")]
    return sorted(found, key=_natural_key)


def _natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _sparsify_hub_folder(spec: SaeSpec, cache_dir: str | None) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub import errors as hf_errors

    from harness.load.models import hub_error

    repo, hookpoint = str(spec.repo_id), str(spec.hookpoint)
    cache_dir = cache_dir or os.environ.get("HF_HUB_CACHE")
    paths = {}
    for fname in ("cfg.json", "sae.safetensors"):
        try:
            paths[fname] = hf_hub_download(repo, f"{hookpoint}/{fname}", revision=spec.revision, cache_dir=cache_dir)
        except hf_errors.RemoteEntryNotFoundError as exc:  # online, the file does not exist
            raise UnknownIdError(
                f"Hookpoint {hookpoint!r} not found in hub repo {repo!r} ({exc}). "
                f"Hookpoints there: {_hub_hookpoints(repo, spec.revision)}."
            ) from exc
        except hf_errors.GatedRepoError as exc:
            raise hub_error("SAE", repo, f"{hookpoint}/{fname}", exc) from exc
        except hf_errors.RepositoryNotFoundError as exc:
            raise UnknownIdError(f"Hub repository {repo!r} does not exist (or is private): {exc}") from exc
        except (hf_errors.LocalEntryNotFoundError, OSError) as exc:
            cached = _cached_hookpoints(repo, spec.revision, cache_dir)
            if cached:
                raise UnknownIdError(
                    f"Hookpoint {hookpoint!r} is not in the local copy of hub repo {repo!r} "
                    f"(hub not reachable; cached hookpoints: {cached}). Check the name, or "
                    "stage/download that hookpoint."
                ) from exc
            raise hub_error("SAE", repo, f"{hookpoint}/{fname}", exc) from exc
    return Path(paths["cfg.json"]).parent


def _hub_hookpoints(repo: str, revision: str | None) -> list[str] | str:
    try:
        from huggingface_hub import HfApi

        files = HfApi().list_repo_files(repo, revision=revision)
    except Exception:
        return "(could not list the repository)"
    return sorted({f.rsplit("/", 1)[0] for f in files if f.endswith("/cfg.json")}, key=_natural_key)


def _cached_hookpoints(repo: str, revision: str | None, cache_dir: str | None) -> list[str]:
    try:
        from huggingface_hub import snapshot_download

        snap = snapshot_download(repo, revision=revision, cache_dir=cache_dir, local_files_only=True)
    except Exception:
        return []
    return _list_hookpoints(Path(snap))


def _load_sparsify(spec: SaeSpec, device: str, cache_dir: str | None) -> LoadedSae:
    from safetensors.torch import load_file

    if spec.path:
        folder, hookpoint = _sparsify_local_folder(spec)
    else:
        folder, hookpoint = _sparsify_hub_folder(spec, cache_dir), str(spec.hookpoint)
    cfg_path, weights_path = folder / "cfg.json", folder / "sae.safetensors"
    if not weights_path.is_file():
        raise HarnessError(f"sparsify folder {str(folder)!r} has cfg.json but no sae.safetensors.")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(
            f"SAE config {cfg_path} cannot be read ({type(exc).__name__}: {exc}); it is damaged "
            "or truncated. Download or copy it again."
        ) from exc
    try:
        state = load_file(str(weights_path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError (not an OSError) on damaged files
        raise HarnessError(
            f"SAE weights {weights_path} cannot be read ({type(exc).__name__}: {exc}); the file is "
            "damaged or truncated. Delete it and download or copy it again."
        ) from exc
    hook = sparsify_hookpoint_to_hook_name(hookpoint)
    sae = sparsify_to_saelens(cfg, state, hook_name=hook, device=device, dtype=spec.dtype)
    return LoadedSae(sae, _meta_from_saelens(sae, spec.label if spec.hookpoint else f"{spec.label}{hookpoint}"))


def sparsify_to_saelens(
    cfg: Mapping[str, Any],
    state: Mapping[str, torch.Tensor],
    *,
    hook_name: str | None = None,
    model_name: str | None = None,
    device: str = "cpu",
    dtype: str = "float32",
) -> SAE:
    """Convert a sparsify SAE (``cfg.json`` dict + ``sae.safetensors`` tensors) into a
    sae-lens ``TopKSAE`` that encodes and decodes exactly as the raw weights say.

    ``encoder.weight (d_sae, d_in)`` -> ``W_enc = encoder.weight.T (d_in, d_sae)``;
    ``encoder.bias`` -> ``b_enc``; ``W_dec (d_sae, d_in)`` unchanged; ``b_dec (d_in)``.

    Raises:
        ShapeError: tensors whose shapes disagree with each other or with the config.
        ConfigError: variants the conversion does not cover (skip connection, transcoder,
            non-TopK activation).
    """
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    needed = ("encoder.weight", "encoder.bias", "W_dec", "b_dec")
    missing = [k for k in needed if k not in state]
    if missing:
        raise HarnessError(f"sparsify weights lack {missing}; found {sorted(state)}.")
    if "W_skip" in state or cfg.get("skip_connection") or cfg.get("transcode"):
        raise ConfigError("sparsify SAEs with a skip connection or transcoders are not supported.")
    activation = cfg.get("activation", "topk")
    if activation != "topk":
        raise ConfigError(f"sparsify activation {activation!r} is not supported (only 'topk').")
    enc_w, enc_b, w_dec, b_dec = (state[k] for k in needed)
    d_sae, d_in = enc_w.shape
    if enc_b.shape != (d_sae,) or w_dec.shape != (d_sae, d_in) or b_dec.shape != (d_in,):
        raise ShapeError(
            f"Inconsistent sparsify weights: encoder.weight {tuple(enc_w.shape)}, encoder.bias "
            f"{tuple(enc_b.shape)}, W_dec {tuple(w_dec.shape)}, b_dec {tuple(b_dec.shape)}."
        )
    if "d_in" in cfg and int(cfg["d_in"]) != d_in:
        raise ShapeError(f"cfg.json says d_in={cfg['d_in']} but the weights have d_in={d_in}.")
    if int(cfg.get("num_latents") or 0) not in (0, d_sae):
        raise ShapeError(f"cfg.json says num_latents={cfg['num_latents']} but the weights have {d_sae}.")
    if "k" not in cfg:
        raise HarnessError("sparsify cfg.json has no 'k' (number of active latents).")
    k = int(cfg["k"])
    metadata = SAEMetadata(hook_name=hook_name, model_name=model_name, model_from_pretrained_kwargs={})
    sae_cfg = TopKSAEConfig(
        d_in=int(d_in),
        d_sae=int(d_sae),
        k=k,
        dtype=dtype,
        device=device,
        apply_b_dec_to_input=True,
        normalize_activations="none",
        metadata=metadata,
    )
    sae = TopKSAE(sae_cfg)
    torch_dtype = getattr(torch, dtype)
    converted = {
        "W_enc": enc_w.T.contiguous(),
        "b_enc": enc_b,
        "W_dec": w_dec,
        "b_dec": b_dec,
    }
    sae.load_state_dict({k_: v.to(device, torch_dtype) for k_, v in converted.items()})
    return sae
