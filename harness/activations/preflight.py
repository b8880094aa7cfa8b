"""Pre-flight check: does the SAE actually reconstruct the activations we are about to feed it?

The paper's code fed ``hidden_states[L]`` (block *input*) to SAEs trained on block *output*
(``shared/reference/original-procedure.md``). Such an off-by-one is silent: the SAE still
returns codes. This check measures the fraction of variance unexplained (FVU) and L0 at the
configured site **and** at the neighbouring site of the same block (output <-> input) and

- warns (:class:`PreflightWarning`) when the neighbour reconstructs better — the signature of
  an off-by-one (expected, and only warned about, under the ``paper`` procedure);
- raises :class:`~harness.errors.ShapeError` when the SAE's ``d_in`` is not the model's
  ``d_model`` (an SAE of another model);
- raises :class:`~harness.errors.HarnessError` when FVU > ``max_fvu`` (default 1: worse than
  predicting the mean) at the configured site — a wrong SAE, layer or model.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import HarnessError, ShapeError
from harness.load.models import Site, check_layers, hook_name, residual_activations

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

    from harness.load.data import TokenSet
    from harness.load.saes import LoadedSae

__all__ = ["PreflightResult", "PreflightWarning", "fvu_and_l0", "preflight"]


class PreflightWarning(UserWarning):
    """The SAE looks mismatched to the activation site (but not unusable)."""


@dataclass(frozen=True)
class PreflightResult:
    """FVU / L0 of one SAE at the configured site and at the neighbouring site."""

    layer: int
    site: str
    neighbour_site: str
    hook_name: str
    neighbour_hook_name: str
    fvu: float
    """Fraction of variance unexplained at the configured site (float64; 0 = perfect)."""
    l0: float
    """Mean number of active latents per position at the configured site."""
    neighbour_fvu: float
    neighbour_l0: float
    better_site: str
    """The site with the lower FVU."""
    n_positions: int
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["warnings"] = list(self.warnings)
        return out


def _other(site: Site) -> Site:
    return "block_input" if site == "block_output" else "block_output"


@torch.inference_mode()
def fvu_and_l0(loaded_sae: LoadedSae, x: torch.Tensor) -> tuple[float, float]:
    """(FVU, L0) of the SAE's sparse code on activations ``x (n, d_in)``.

    FVU = sum ||x - x_hat||^2 / sum ||x - mean(x)||^2, in float64.
    """
    if x.ndim != 2 or x.shape[0] < 2:
        raise ShapeError(f"Need activations (n >= 2, d_in); got shape {tuple(x.shape)}.")
    codes = loaded_sae.encode(x, code="sparse")
    recon = loaded_sae.decode(codes).to("cpu", torch.float64)
    x64 = x.to("cpu", torch.float64)
    total = (x64 - x64.mean(0)).pow(2).sum()
    if float(total) == 0.0:
        raise HarnessError("Activations are constant across positions; FVU is undefined.")
    fvu = float((x64 - recon).pow(2).sum() / total)
    l0 = float((codes != 0).sum(-1).to(torch.float64).mean())
    return fvu, l0


def preflight(
    model: HookedTransformer,
    loaded_sae: LoadedSae,
    tokens: torch.Tensor | TokenSet,
    layer: int,
    *,
    site: Site,
    special_mask: torch.Tensor | None = None,
    batch_size: int = 8,
    max_fvu: float | None = 1.0,
    warn: bool = True,
) -> PreflightResult:
    """Check ``loaded_sae`` against ``model`` at ``layer`` / ``site``.

    Args:
        model: the unprocessed HookedTransformer.
        loaded_sae: the SAE.
        tokens: ``(n, seq)`` token ids, or a :class:`~harness.load.data.TokenSet` (its
            ``special_mask`` is then used unless one is given).
        layer: block index.
        site: the configured activation site.
        special_mask: ``(n, seq)`` True at positions to leave out (BOS, padding).
        batch_size: sequences per forward pass.
        max_fvu: raise when the configured site's FVU exceeds this; None disables the check
            (to run the paper procedure knowingly on a badly matched site).
        warn: also emit :class:`PreflightWarning` for each warning (they are always returned).

    Raises:
        ShapeError: SAE ``d_in`` differs from the model's ``d_model``.
        HarnessError: FVU > ``max_fvu`` at the configured site.
        ConfigError: layer out of range.
    """
    attention_mask = None
    if hasattr(tokens, "tokens") and hasattr(tokens, "special_mask"):
        if special_mask is None:
            special_mask = tokens.special_mask
        attention_mask = getattr(tokens, "attention_mask", None)  # the pass the runs use
        tokens = tokens.tokens
    assert isinstance(tokens, torch.Tensor)
    meta = loaded_sae.meta
    d_model = int(model.cfg.d_model)
    if meta.d_in != d_model:
        raise ShapeError(
            f"SAE {meta.source} has d_in={meta.d_in} but model {model.cfg.model_name!r} has "
            f"d_model={d_model}: this SAE belongs to another model. Pair each model with its own SAEs."
        )
    check_layers(model, [layer])
    keep = torch.ones(tokens.shape, dtype=torch.bool) if special_mask is None else ~special_mask.to(torch.bool)
    if keep.shape != tokens.shape:
        raise ShapeError(f"special_mask shape {tuple(keep.shape)} != tokens shape {tuple(tokens.shape)}.")
    flat_keep = keep.reshape(-1)
    if int(flat_keep.sum()) < 2:
        raise HarnessError("Fewer than 2 unmasked positions: give more tokens to the pre-flight check.")

    neighbour = _other(site)
    scores: dict[str, tuple[float, float]] = {}
    for s in (site, neighbour):
        acts = residual_activations(
            model, tokens, [layer], site=s, batch_size=batch_size, attention_mask=attention_mask
        )[layer]
        x = acts.reshape(-1, d_model)[flat_keep]
        scores[s] = fvu_and_l0(loaded_sae, x)
    fvu, l0 = scores[site]
    n_fvu, n_l0 = scores[neighbour]
    better = site if fvu <= n_fvu else neighbour
    messages: list[str] = []
    if better != site:
        messages.append(
            f"SAE {meta.source} reconstructs layer {layer} {neighbour} ({hook_name(layer, neighbour)}, "
            f"FVU {n_fvu:.3f}) better than the configured {site} ({hook_name(layer, site)}, FVU {fvu:.3f}): "
            "it was probably trained on the other site (the paper code's off-by-one feeds block "
            "inputs to SAEs trained on block outputs). Use activation_site="
            f"{neighbour!r} unless you are reproducing that procedure on purpose."
        )
    if meta.site is not None and meta.layer is not None and (meta.site, meta.layer) != (site, layer):
        messages.append(
            f"SAE {meta.source} says it was trained on {meta.hook_name}, but it is being applied "
            f"to {hook_name(layer, site)}."
        )
    if max_fvu is not None and fvu > max_fvu:
        raise HarnessError(
            f"SAE {meta.source} does not reconstruct layer {layer} {site} of {model.cfg.model_name!r}: "
            f"FVU {fvu:.3f} > {max_fvu} (worse than predicting the mean; {neighbour}: FVU {n_fvu:.3f}). "
            "Check that the SAE belongs to this model, layer and site, and that the model was loaded "
            "without weight processing."
        )
    if warn:
        for m in messages:
            warnings.warn(m, PreflightWarning, stacklevel=2)
    return PreflightResult(
        layer=int(layer),
        site=site,
        neighbour_site=neighbour,
        hook_name=hook_name(layer, site),
        neighbour_hook_name=hook_name(layer, neighbour),
        fvu=fvu,
        l0=l0,
        neighbour_fvu=n_fvu,
        neighbour_l0=n_l0,
        better_site=better,
        n_positions=int(flat_keep.sum()),
        warnings=tuple(messages),
    )
