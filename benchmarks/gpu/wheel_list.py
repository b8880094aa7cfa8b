"""What the GPU machine's image lacks for this project, pinned, and the size budget of one call.

The device image (see ``benchmarks/gpu/README.md``) is CPython 3.12 on manylinux x86_64 with
torch, transformers, huggingface_hub, numpy, scipy, pandas, pyarrow, matplotlib, tabulate,
tokenizers, safetensors, accelerate, jaxtyping, einops, rich and the rest of a large scientific
stack preinstalled, and no network. It lacks sae-lens, transformer-lens and datasets and the part
of their dependency closure that the project's code path *imports* (:data:`DEVICE_WHEELS`, found
by recording the modules a tiny rehearsal imports and subtracting the image's package list).
The rest of their declared closure is left out on purpose:

- ``wandb`` is imported at module level by sae-lens (``sae_lens.config``, its trainers) but only
  called when training or logging, which this project never does: a stand-in wheel
  (:data:`STAND_INS`) provides an importable module that raises a clear error on any use. The
  real wheel is 20 MB, a third of the 64 MiB a call may carry.
- ``py2store`` (via sae-lens -> babe) and ``transformers-stream-generator`` (via
  transformer-lens) publish no wheels (``--only-binary`` cannot fetch them), and neither is
  imported on the project's path: no stand-in is needed, because the kit installs with
  ``--no-deps``.
- plotly, plotly-express, nltk, babe, python-dotenv, tenacity, typeguard, beartype, fancy-einsum:
  declared by sae-lens / transformer-lens, not imported by anything the project runs.
- transformers / huggingface_hub: the image's own (transformers 5.17, huggingface_hub 1.33 as
  read on the device image) satisfy transformer-lens (>= 5.9) and datasets (hub >= 1.31); the
  project's resolved transformers (5.25) would drag huggingface_hub 2.x with httpx2 and
  OpenTelemetry along.

Pins are the project's resolved versions: ``constraints.txt`` at the repository root when it
exists (:func:`resolved_pins`), else :data:`DEVICE_WHEELS`' own pins (what this project's
environment resolved when the list was written).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT: Path = Path(__file__).resolve().parents[2]
WHEEL_DIR: Path = ROOT / "benchmarks" / "gpu" / "wheels"
"""The git-ignored folder ``benchmarks/gpu/prepare`` fills and a device call carries."""

CARRY_LIMIT_BYTES: int = 64 * 2**20
"""What one device call may carry: tracked + untracked-not-ignored files + carried paths."""

PYTHON_VERSION: str = "3.12"
PLATFORMS: tuple[str, ...] = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
"""The device image's interpreter and platform tags (``pip download --python-version/--platform``)."""

DEVICE_WHEELS: dict[str, str] = {
    # the project's direct dependencies the image lacks
    "sae-lens": "6.54.12",
    "transformer-lens": "3.9.0",
    "datasets": "5.2.0",
    # imported by datasets
    "dill": "0.4.1",
    "multiprocess": "0.70.19",
    # imported by sae-lens (pydantic models, simple_parsing configs)
    "pydantic": "2.14.4",
    "pydantic-core": "2.50.5",
    "annotated-types": "0.8.0",
    "typing-inspection": "0.4.5",
    "simple-parsing": "0.1.9",
    "docstring-parser": "0.18.0",
    # imported by transformer-lens
    "better-abc": "0.0.3",
}
"""name -> pinned version of every wheel fetched from the registry (normalised names)."""


@dataclass(frozen=True)
class StandIn:
    """A dependency that is imported but never used on the project's path: a local wheel whose
    module raises :class:`ImportError`-like errors naming this kit on any attribute use."""

    name: str
    module: str
    version: str
    why: str


STAND_INS: tuple[StandIn, ...] = (
    StandIn(
        name="wandb",
        module="wandb",
        version="0.0.0+gpukit.standin",
        why="imported at module level by sae-lens (config, trainers) and lazily by transformer-lens' "
        "train.py; called only when training or logging runs, which this project never does; the "
        "real wheel is 20 MB of the 64 MiB a device call may carry",
    ),
)


def normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def constraint_pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a constraints / requirements file (comments, markers and other
    specifiers ignored) as normalised name -> version."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s,]+)", line)
        if m:
            pins[normalise(m.group(1))] = m.group(2)
    return pins


def resolved_pins(root: Path = ROOT) -> tuple[dict[str, str], str]:
    """The pin of every :data:`DEVICE_WHEELS` entry and where the pins came from: the repository's
    ``constraints.txt`` where it pins the package, else the list's own pin."""
    constraints = root / "constraints.txt"
    pins = dict(DEVICE_WHEELS)
    source = "benchmarks/gpu/wheel_list.py"
    if constraints.is_file():
        found = constraint_pins(constraints)
        taken = {name: found[name] for name in pins if name in found}
        pins.update(taken)
        if taken:
            source = f"constraints.txt ({len(taken)} of {len(pins)}), else benchmarks/gpu/wheel_list.py"
    return pins, source


def wheel_tags_fit(filename: str) -> bool:
    """True when a wheel file name's tags install on CPython 3.12, manylinux x86_64."""
    stem = filename[: -len(".whl")] if filename.endswith(".whl") else filename
    parts = stem.split("-")
    if len(parts) < 5:
        return False
    py, abi, plat = parts[-3], parts[-2], parts[-1]
    abis = abi.split(".")
    stable = [int(t[3:]) for t in py.split(".") if re.fullmatch(r"cp3\d+", t)] if "abi3" in abis else []
    py_ok = any(t in ("py3", "py312", "cp312") for t in py.split(".")) or any(minor <= 12 for minor in stable)
    abi_ok = any(t in ("none", "abi3", "cp312") for t in abis)
    plat_ok = any(t == "any" or (t.startswith("manylinux") and t.endswith("_x86_64")) for t in plat.split("."))
    return py_ok and abi_ok and plat_ok


def wheel_project(filename: str) -> str:
    """Normalised project name of a wheel file name."""
    return normalise(filename.split("-", 1)[0])


def travelling_files(root: Path = ROOT) -> list[Path]:
    """Files a device call sends besides carried paths: tracked and untracked-not-ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout
    return [root / p for p in out.decode().split("\0") if p]


def carry_bytes(carried: list[Path], root: Path = ROOT) -> dict[str, int]:
    """Bytes one device call carries: ``tree`` (tracked + untracked-not-ignored files), each
    carried path, and ``total``."""
    tree = sum(p.stat().st_size for p in travelling_files(root) if p.is_file() and not p.is_symlink())
    sizes = {"tree": tree}
    for path in carried:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
        sizes[str(path.relative_to(root))] = sum(p.stat().st_size for p in files)
    sizes["total"] = sum(sizes.values())
    return sizes
