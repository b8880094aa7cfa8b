"""Profiles as data: one loader for the built-in TOML files and a user's own.

``get_profile("paper")`` reads ``harness/profiles/builtin/paper.toml``;
``get_profile("path/to/pair.toml")`` reads that file, so a new model pair is one file (copy a
built-in one; ``docs`` in each built-in file say what every key means).

File format (top-level keys are :class:`~harness.profiles.profile.Profile` fields):

- ``[models.a]``, ``[models.b]``: ``name`` (hub / transformer-lens name or a label), optional
  ``local_path`` (a ``save_pretrained`` folder), ``dtype``, ``processing``, display ``label``,
  ``shuffle_weights_seed`` (a re-randomized control: :func:`harness.load.models.shuffle_weights`).
- ``[saes.a]``, ``[saes.b]``: :class:`~harness.profiles.profile.SaeSet` keys (``source`` =
  ``release`` / ``sparsify`` / ``disk``; templates with ``{layer}``; ``[saes.a.ids]`` for ids
  without a template).
- ``[data]``: :class:`harness.load.data.DataSpec` keys; ``path`` instead of ``source`` for a
  local file (resolved like every local path, below).
- ``layers_a``, ``layers_b``, ``semantic_table``, ``semantic_layers_a``, ``semantic_layers_b``,
  null sizes, ``batch_size``, ``notes``, ``tier``, ``gated``, ``paper_*`` values,
  ``activation_site`` (e.g. ``"mlp_output"`` for MLP-output SAE sets: every procedure reads it).
- ``extends = "paper"`` (a built-in name or a path relative to this file): start from that
  profile's file and override; tables merge key by key, other values replace.
- ``root``: folder that the file's relative local paths resolve against (relative to the
  file; default the file's folder). ``load_profile(path, root=...)`` overrides it. Paths a
  file inherits through ``extends`` stay relative to the file that wrote them.

Unknown keys and missing required keys raise :class:`~harness.errors.ConfigError` naming the
file and the fix, before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, UnknownIdError
from harness.profiles.profile import Profile, SaeSet, SaeSetSource, Tier
from harness.vocab import ActivationSite

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (the tomli backport, a declared dependency there)
    import tomli as tomllib

__all__ = ["BUILTIN_DIR", "builtin_profiles", "get_profile", "load_profile", "profile_from_dict"]

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
"""Folder of the built-in profile files (``<name>.toml``)."""

#: Keys of a profile file that are not Profile fields.
_FILE_KEYS = {"extends", "root"}
_REQUIRED = (
    "models",
    "saes",
    "data",
    "layers_a",
    "layers_b",
    "semantic_table",
    "semantic_layers_a",
    "semantic_layers_b",
)
_INT_TUPLES = ("layers_a", "layers_b", "semantic_layers_a", "semantic_layers_b")
_INT_PAIRS = ("semantic_table", "paper_pair_range")
_OPTIONAL_INTS = (
    "permutations",
    "paper_grid_permutations",
    "permutations_semantic",
    "random_subsets",
    "size_matched_draws",
    "placebo_filter_runs",
    "random_partner_sets",
)
_MODEL_KEYS = {"name", "local_path", "dtype", "processing", "label", "shuffle_weights_seed"}
_DATA_PATH_KEY = "path"


def builtin_profiles() -> list[str]:
    """Names of the built-in profiles."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def get_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name, or a profile file by path (anything ending in ``.toml``).

    Raises:
        UnknownIdError: neither a built-in name nor an existing ``.toml`` file.
        ConfigError: the file is malformed (message names the file, the key and the fix).
    """
    text = str(name_or_path)
    if text.endswith(".toml"):
        path = Path(text)
        if not path.is_file():
            raise UnknownIdError(
                f"Profile file {text!r} does not exist; give a path to a .toml profile or one of "
                f"the built-in names {builtin_profiles()}."
            )
        return load_profile(path)
    path = BUILTIN_DIR / f"{text}.toml"
    if not path.is_file():
        hint = (
            " The fixture world's profile is fixtures/smoke.toml (fixtures.profile.smoke_profile())."
            if text == "smoke"
            else ""
        )
        raise UnknownIdError(
            f"Unknown profile {text!r}; built-in: {', '.join(builtin_profiles())}, or give a "
            f"path to a .toml profile file.{hint}"
        )
    return load_profile(path)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Profile file {path}: not valid TOML ({exc}); fix the syntax.") from None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
        )
    return out


#: Local paths of a profile file: (table, side, key) or (table, key).
_LOCAL_PATHS = (
    ("models", "a", "local_path"),
    ("models", "b", "local_path"),
    ("saes", "a", "path"),
    ("saes", "b", "path"),
    ("data", _DATA_PATH_KEY),
)


def _absolutize(raw: dict[str, Any], root: Path) -> None:
    """Make the file's relative local paths absolute against ``root`` (in place)."""
    for *tables, key in _LOCAL_PATHS:
        node: Any = raw
        for name in tables:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(key), str):
            node[key] = _local(root, node[key])


def _resolve_file(path: Path, seen: tuple[Path, ...] = (), *, root: Path | None = None) -> dict[str, Any]:
    """The file's table with its local paths made absolute (against ``root``, else the file's
    own ``root`` key, else its folder) and ``extends`` applied (each file's paths resolve
    against that file)."""
    raw = _read(path)
    file_root = root if root is not None else (path.parent / str(raw.get("root", "."))).resolve()
    raw.pop("root", None)
    _absolutize(raw, file_root)
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    base_path = Path(str(parent)) if str(parent).endswith(".toml") else BUILTIN_DIR / f"{parent}.toml"
    if not base_path.is_absolute() and str(parent).endswith(".toml"):
        base_path = path.parent / base_path
    base_path = base_path.resolve()
    if not base_path.is_file():
        raise ConfigError(
            f"Profile file {path}: extends = {parent!r} names no built-in profile or file; use one of "
            f"{builtin_profiles()} or a path to a .toml file."
        )
    if base_path in seen:
        raise ConfigError(f"Profile file {path}: extends {parent!r} forms a cycle; remove one extends.")
    base = _resolve_file(base_path, (*seen, path.resolve()))
    base.pop("name", None)
    return _merge(base, raw)


def load_profile(path: str | Path, *, root: str | Path | None = None) -> Profile:
    """Read a profile file.

    Args:
        path: the ``.toml`` file.
        root: folder that relative local paths resolve against (overrides the file's ``root``;
            default the file's own folder).
    """
    path = Path(path).resolve()
    table = _resolve_file(path, root=None if root is None else Path(root).resolve())
    table.setdefault("name", path.stem)
    return profile_from_dict(table, source=str(path), root=path.parent)


def _fail(source: str, message: str) -> ConfigError:
    return ConfigError(f"Profile file {source}: {message}")


def _check_keys(source: str, where: str, got: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(got) - allowed)
    if unknown:
        raise _fail(
            source, f"unknown key(s) {unknown} in {where}; allowed: {sorted(allowed)}. Fix the spelling or remove them."
        )


def _ints(source: str, key: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise _fail(source, f"{key} = {value!r} must be a list of integers, e.g. [0, 1, 2].")
    return tuple(value)


def _local(root: Path, value: str) -> str:
    """A local path from the file: absolute as given, else relative to ``root``."""
    p = Path(value)
    return str(p if p.is_absolute() else (root / p).resolve())


def _sae_set(source: str, side: str, raw: Any, root: Path) -> SaeSet:
    if not isinstance(raw, Mapping):
        raise _fail(source, f"saes.{side} must be a table ([saes.{side}]).")
    allowed = {f.name for f in dataclasses.fields(SaeSet)}
    _check_keys(source, f"[saes.{side}]", raw, allowed)
    kw = dict(raw)
    if kw.get("source") not in typing.get_args(SaeSetSource):
        raise _fail(
            source, f"saes.{side}.source = {kw.get('source')!r}; use one of {list(typing.get_args(SaeSetSource))}."
        )
    if "layers" in kw:
        kw["layers"] = _ints(source, f"saes.{side}.layers", kw["layers"])
    if "ids" in kw:
        try:
            kw["ids"] = {int(k): str(v) for k, v in dict(kw["ids"]).items()}
        except ValueError:
            raise _fail(source, f'saes.{side}.ids keys must be layer numbers, e.g. "12" = "...".') from None
    if kw.get("path") and kw["source"] in ("sparsify", "disk"):
        kw["path"] = _local(root, str(kw["path"]))
    need = {"release": ("release", "sae_id or ids"), "sparsify": ("repo_id or path", "hookpoint"), "disk": ("path",)}[
        kw["source"]
    ]
    present = {
        "release": bool(kw.get("release")),
        "sae_id or ids": bool(kw.get("sae_id") or kw.get("ids")),
        "repo_id or path": bool(kw.get("repo_id")) != bool(kw.get("path")),
        "hookpoint": bool(kw.get("hookpoint")),
        "path": bool(kw.get("path")),
    }
    missing = [k for k in need if not present[k]]
    if missing:
        raise _fail(
            source,
            f"saes.{side} (source {kw['source']!r}) needs {' and '.join(missing)}"
            f"{' (exactly one of repo_id, path)' if 'repo_id or path' in missing else ''}.",
        )
    return SaeSet(**kw)


def profile_from_dict(table: Mapping[str, Any], *, source: str = "<dict>", root: str | Path = ".") -> Profile:
    """Build a :class:`Profile` from a profile file's table (see the module docstring).

    Args:
        table: the parsed file (``extends`` already applied).
        source: where it came from, for error messages.
        root: folder that relative local paths resolve against.
    """
    from harness.load.data import DataSpec

    root = Path(root)
    fields = {f.name for f in dataclasses.fields(Profile)}
    _check_keys(source, "the top level", table, fields | _FILE_KEYS)
    missing = [k for k in _REQUIRED if k not in table]
    if missing:
        raise _fail(
            source,
            f"missing required key(s) {missing}; add them (see harness/profiles/builtin/paper.toml "
            "for an example of each).",
        )
    kw: dict[str, Any] = {k: v for k, v in table.items() if k in fields}
    for key in _INT_TUPLES:
        kw[key] = _ints(source, key, kw[key])
    for key in _INT_PAIRS:
        if key in kw:
            pair = _ints(source, key, kw[key])
            if len(pair) != 2:
                raise _fail(source, f"{key} = {list(pair)} must have exactly two integers.")
            kw[key] = pair
    for key in _OPTIONAL_INTS + ("batch_size",):
        if key in kw and (not isinstance(kw[key], int) or isinstance(kw[key], bool) or kw[key] < 1):
            raise _fail(source, f"{key} = {kw[key]!r} must be a positive integer (or omitted).")
    if "notes" in kw:
        if not isinstance(kw["notes"], list) or not all(isinstance(n, str) for n in kw["notes"]):
            raise _fail(source, "notes must be a list of strings.")
        kw["notes"] = tuple(kw["notes"])
    if "activation_site" in kw and kw["activation_site"] not in typing.get_args(ActivationSite):
        raise _fail(
            source,
            f"activation_site = {kw['activation_site']!r}; use one of {list(typing.get_args(ActivationSite))} (or omit it).",
        )
    if "tier" in kw:
        if kw["tier"] not in typing.get_args(Tier):
            raise _fail(source, f"tier = {kw['tier']!r}; use one of {list(typing.get_args(Tier))}.")
    models = table["models"]
    if not isinstance(models, Mapping) or set(models) != {"a", "b"}:
        raise _fail(source, "models must have exactly the tables [models.a] and [models.b].")
    kw["models"] = {}
    for side in ("a", "b"):
        model = dict(models[side])
        _check_keys(source, f"[models.{side}]", model, _MODEL_KEYS)
        if "name" not in model:
            raise _fail(
                source, f"[models.{side}] needs name (a hub / transformer-lens name, or a label with local_path)."
            )
        if "local_path" in model:
            model["local_path"] = _local(root, str(model["local_path"]))
        kw["models"][side] = model
    saes = table["saes"]
    if not isinstance(saes, Mapping) or set(saes) != {"a", "b"}:
        raise _fail(source, "saes must have exactly the tables [saes.a] and [saes.b].")
    kw["saes"] = {side: _sae_set(source, side, saes[side], root) for side in ("a", "b")}
    data = dict(table["data"])
    _check_keys(source, "[data]", data, {f.name for f in dataclasses.fields(DataSpec)} | {_DATA_PATH_KEY})
    if (_DATA_PATH_KEY in data) == ("source" in data):
        raise _fail(source, "[data] needs exactly one of source (a hub dataset id) or path (a local file or folder).")
    if _DATA_PATH_KEY in data:
        data["source"] = _local(root, str(data.pop(_DATA_PATH_KEY)))
    try:
        kw["data"] = DataSpec(**data)
    except (TypeError, ConfigError) as exc:
        raise _fail(source, f"[data]: {exc}") from None
    profile = Profile(**kw)
    try:
        profile.check_layers()
    except ConfigError as exc:
        raise _fail(source, str(exc)) from None
    return profile
