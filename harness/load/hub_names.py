"""Check hub ids before any download: sae-lens releases / SAE ids and transformer-lens names.

A paper-scale run (Lan et al. 2024, Sec. 4 and Appendix B) names its SAEs by sae-lens
release + SAE id and its models by transformer-lens official names. A typo there surfaces
only after minutes of downloading, or — offline — as an opaque "not in cache" error. These
checks use the directories shipped inside the installed packages (no network) and raise
:class:`~harness.errors.UnknownIdError` with the closest valid names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from typing import Any

from harness.errors import UnknownIdError

__all__ = [
    "SaeLensEntry",
    "check_saelens_release",
    "check_tl_model_name",
    "official_tl_model_name",
    "saelens_saes_for_model",
]


@dataclass(frozen=True)
class SaeLensEntry:
    """Where one pretrained SAE of sae-lens's directory lives on the hub.

    Attributes:
        release: sae-lens release name (e.g. ``"gemma-scope-2b-pt-res-canonical"``).
        sae_id: SAE id inside the release (e.g. ``"layer_12/width_16k/canonical"``).
        repo_id: hub repository holding the SAE (e.g. ``"google/gemma-scope-2b-pt-res"``).
        path: folder or file of this SAE inside ``repo_id``.
        model: model name as the directory writes it (often a transformer-lens alias).
        tl_model_name: the official transformer-lens name of ``model``; ``None`` when the
            directory names a model transformer-lens does not know.
        conversion_func: sae-lens loader used for non-sae-lens formats (``None``: native).
        neuronpedia_id: Neuronpedia id, when the directory lists one.
        norm_scaling_factor: activation scaling folded in at load time, when listed.
    """

    release: str
    sae_id: str
    repo_id: str
    path: str
    model: str
    tl_model_name: str | None
    conversion_func: str | None
    neuronpedia_id: str | None
    norm_scaling_factor: float | None


def _close(word: str, candidates: list[str], *, n: int = 5) -> list[str]:
    """Up to ``n`` candidates closest to ``word`` (case-insensitive), best first."""
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


def _suggest(word: str, candidates: list[str]) -> str:
    hits = _close(word, candidates)
    return f"Closest: {hits}." if hits else "No close match."


@cache
def _saelens_directory() -> dict[str, Any]:
    """Release -> sae-lens ``PretrainedSAELookup`` (typed Any: its fields vary across sae-lens versions)."""
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    return dict(get_pretrained_saes_directory())


@cache
def _tl_names() -> tuple[tuple[str, ...], dict[str, str]]:
    """(official names, lower-cased alias or official name -> official name)."""
    from transformer_lens import loading_from_pretrained as tl_loading

    official = tuple(tl_loading.OFFICIAL_MODEL_NAMES)
    alias_map = dict(tl_loading.make_model_alias_map())
    return official, alias_map


def official_tl_model_name(name: str) -> str | None:
    """The official transformer-lens name for ``name`` (an official name or an alias, any
    case, as ``HookedTransformer.from_pretrained`` accepts), or ``None`` if unknown."""
    _official, alias_map = _tl_names()
    return alias_map.get(name.lower())


def check_tl_model_name(name: str, *, allow_alias: bool = False) -> str:
    """Return ``name`` if it is an official transformer-lens model name (exact spelling).

    With ``allow_alias=True`` an alias or a different case (``"pythia-70m"``,
    ``"eleutherai/pythia-70m"``) is accepted and the official name returned.

    Raises:
        UnknownIdError: unknown name (message lists the closest official names), or an alias
            while ``allow_alias`` is False (message names the official spelling).
    """
    official, alias_map = _tl_names()
    if name in official:
        return name
    resolved = alias_map.get(name.lower())
    if resolved is not None:
        if allow_alias:
            return resolved
        raise UnknownIdError(
            f"{name!r} is not an official transformer-lens model name but an alias (or a "
            f"different case) of {resolved!r}. Use {resolved!r}, or pass allow_alias=True."
        )
    raise UnknownIdError(
        f"{name!r} is not a transformer-lens model name "
        f"(transformer_lens.loading_from_pretrained.OFFICIAL_MODEL_NAMES, {len(official)} names). "
        f"{_suggest(name, list(official))} Fix the spelling, or load the model from a local "
        "folder instead of by name."
    )


def check_saelens_release(release: str, sae_id: str) -> SaeLensEntry:
    """Resolve ``release`` / ``sae_id`` in the installed sae-lens's pretrained SAE directory
    (``pretrained_saes.yaml``) without downloading anything.

    Raises:
        UnknownIdError: unknown release (closest releases listed) or unknown SAE id in a
            known release (closest ids listed, with the number of ids in the release).
    """
    directory = _saelens_directory()
    lookup = directory.get(release)
    if lookup is None:
        raise UnknownIdError(
            f"sae-lens has no release {release!r} ({len(directory)} releases in the installed "
            f"sae-lens directory). {_suggest(release, list(directory))} Fix the name, upgrade "
            "sae-lens, or load the SAE from disk."
        )
    saes_map: dict[str, str] = lookup.saes_map
    if sae_id not in saes_map:
        ids = list(saes_map)
        raise UnknownIdError(
            f"Release {release!r} has no SAE id {sae_id!r} ({len(ids)} ids, e.g. {ids[:3]}). "
            f"{_suggest(sae_id, ids)} Use one of the release's ids."
        )
    model: str = lookup.model
    norm = lookup.norm_scaling_factor.get(sae_id)
    return SaeLensEntry(
        release=release,
        sae_id=sae_id,
        repo_id=lookup.repo_id,
        path=str(saes_map[sae_id]),
        model=model,
        tl_model_name=official_tl_model_name(model),
        conversion_func=lookup.conversion_func,
        neuronpedia_id=lookup.neuronpedia_id.get(sae_id),
        norm_scaling_factor=None if norm is None else float(norm),
    )


def saelens_saes_for_model(model: str) -> dict[str, list[str]]:
    """All sae-lens releases for ``model`` (official name or alias), as release -> SAE ids.

    Models are compared by their official transformer-lens name when both sides have one,
    otherwise by exact (case-insensitive) string. Empty dict: no SAE for that model.
    """
    target = official_tl_model_name(model) or model
    out: dict[str, list[str]] = {}
    for release, lookup in _saelens_directory().items():
        entry_model: str = lookup.model
        resolved = official_tl_model_name(entry_model) or entry_model
        if resolved.lower() == target.lower():
            out[release] = list(lookup.saes_map)
    return out
