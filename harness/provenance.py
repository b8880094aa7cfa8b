"""Provenance recorded with every result: commit, library versions, machine, time."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import platform
import subprocess
from pathlib import Path

from harness.threads import compute_environment

LIBRARIES = ("torch", "sae-lens", "transformer-lens", "transformers", "datasets", "numpy", "scipy", "threadpoolctl")


def git_commit(root: Path | None = None) -> str:
    """Current commit hash (with '+dirty' when the tree has changes), or 'unknown'."""
    cwd = root or Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed version of each distribution in ``names`` (None where one is not installed)."""
    versions: dict[str, str | None] = {}
    for lib in names:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            versions[lib] = None
    return versions


def provenance() -> dict[str, object]:
    versions = package_versions(LIBRARIES)
    from harness.lockfile import lock_differences

    return {
        "git_commit": git_commit(),
        "library_versions": versions,
        # every pinned package whose running version differs from constraints.txt (harness/lockfile.py)
        "lock_differences": lock_differences(),
        "python": platform.python_version(),
        "machine": platform.platform(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "compute": compute_environment(),
    }
