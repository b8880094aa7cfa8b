"""The code a computation can run: the static import closure of its entry modules, and a hash of it.

Cached results (calibration cells, executor cells) are keyed by the code that produced them. Hashing
every file of the library made any edit -- a report's wording, the cost model -- invalidate every
cached cell, so a calibration could not be resumed across sessions. Hashing too little gives stale
results. The closure here is conservative: a module's dependencies are every ``harness`` module it
imports, at module level *or inside a function* (a lazy import may run), plus the ``__init__`` of
every package on the way (importing ``harness.a.b`` runs ``harness/a/__init__.py``), plus the package
data files (TOML registries, CSV tables, JSON) that live in the directory of a module in the closure.
Third-party code is keyed by its version (:func:`library_versions`), not its source.

Not seen: a module imported by name at run time (``importlib.import_module(name)``, ``__import__``)
or by a relative import. :func:`dynamic_importers` lists the library's modules that do either, so a
key's entry points can be checked against them (tests/test_code_closure.py).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

#: The library's root package directory (harness/).
HARNESS = Path(__file__).resolve().parent
#: Package data that a key includes when its directory holds a module of the closure.
DATA_SUFFIXES = (".toml", ".csv", ".json", ".yaml", ".yml")
#: Third-party packages whose version a code key includes (their numerics can change a result).
KEYED_LIBRARIES = ("numpy", "scipy", "torch")


def _module_files(root: Path | None = None) -> dict[str, Path]:
    root = root or HARNESS
    out = {}
    for f in root.rglob("*.py"):
        if "__pycache__" in f.parts:
            continue
        out[".".join(f.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")] = f
    return out


def imports_of(source: str, modules: Iterable[str]) -> set[str]:
    """The ``harness`` modules (names in ``modules``) that ``source`` imports anywhere: at module
    level or in a function body (``from harness.a import b`` names ``harness.a.b`` when that is a
    module, else ``harness.a``)."""
    mods = set(modules)
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("harness"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if full in mods else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in mods}
    return {m for m in out if m in mods}


@lru_cache(maxsize=1)
def import_graph() -> dict[str, frozenset[str]]:
    """Module -> the harness modules it imports (module level or inside functions), itself excluded."""
    files = _module_files()
    return {m: frozenset(imports_of(f.read_text(), files) - {m}) for m, f in files.items()}


def _packages_of(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(entries: Iterable[str]) -> frozenset[str]:
    """Every harness module that importing or running ``entries`` can import, with the packages
    (``__init__``) on the way."""
    graph = import_graph()
    unknown = [e for e in entries if e not in graph]
    if unknown:
        raise KeyError(f"not modules of the harness package: {unknown}")
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += [p for p in _packages_of(m) if p in graph and p not in seen]
        todo += [d for d in graph[m] if d not in seen]
    return frozenset(seen)


def closure_files(entries: Iterable[str]) -> list[Path]:
    """Source files of :func:`closure` and the package data files in their directories, sorted."""
    files = _module_files()
    mods = closure(entries)
    sources = {files[m] for m in mods}
    dirs = {f.parent for f in sources}
    data = {p for d in dirs for p in d.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES}
    # data in sub-folders of a package (harness/profiles/builtin/*.toml) belongs to that package
    data |= {
        p
        for d in dirs
        for sub in d.iterdir()
        if sub.is_dir() and sub.name != "__pycache__" and not (sub / "__init__.py").exists()
        for p in sub.rglob("*")
        if p.is_file() and p.suffix in DATA_SUFFIXES
    }
    return sorted(sources | data)


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    """Versions of :data:`KEYED_LIBRARIES` (None where one is not installed)."""
    from harness.provenance import package_versions

    return package_versions(KEYED_LIBRARIES)


@lru_cache(maxsize=32)
def code_version(entries: tuple[str, ...], extra_files: tuple[str, ...] = ()) -> str:
    """sha256 (16 hex) over the closure of ``entries`` (each file's path relative to the repository
    and its bytes), ``extra_files`` (paths outside harness/, e.g. an evaluator's module, and the
    harness modules they import: their closure is added) and :func:`library_versions`."""
    root = HARNESS.parent
    extra = [Path(f) for f in extra_files]
    entry_set = set(entries)
    names = _module_files()
    for f in extra:
        entry_set |= imports_of(f.read_text(), names)
    h = hashlib.sha256()
    for p in closure_files(sorted(entry_set)) + sorted(extra):
        h.update(str(p.resolve().relative_to(root) if p.resolve().is_relative_to(root) else p.name).encode())
        h.update(p.read_bytes())
    h.update(repr(sorted(library_versions().items())).encode())
    return h.hexdigest()[:16]


def dynamic_importers() -> list[str]:
    """Harness modules with an import the closure cannot see: ``importlib.import_module(...)``,
    ``__import__(...)`` or a relative import (``from . import x``; :func:`imports_of` reads absolute
    ones only)."""
    out = []
    for m, f in _module_files().items():
        for node in ast.walk(ast.parse(f.read_text())):
            dynamic = isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            )
            if dynamic or (isinstance(node, ast.ImportFrom) and node.level > 0):
                out.append(m)
                break
    return sorted(out)
