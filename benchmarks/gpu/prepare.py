"""Build ``benchmarks/gpu/wheels/``: the wheels the GPU machine's image lacks (issue 20, part 4).

Run here, where the package registry is reachable (``benchmarks/gpu/prepare``)::

    benchmarks/gpu/prepare [--dest DIR] [--no-check]

1. ``pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
   --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform
   manylinux2014_x86_64`` of the pinned list :data:`benchmarks.gpu.wheel_list.DEVICE_WHEELS`
   (pins from ``constraints.txt`` where it has them);
2. builds the stand-in wheels of :data:`benchmarks.gpu.wheel_list.STAND_INS` locally (no network);
3. checks one wheel per listed project, every tag installable on CPython 3.12 manylinux x86_64,
   and that ``pip install --dry-run --no-index --no-deps --python-version 3.12 --target ...``
   resolves every listed project from the folder alone;
4. swaps the folder into place (the old one stays until the new one is complete), writes
   ``MANIFEST.json`` (file, project, version, sha256, bytes, stand-in reasons) into it, and
   prints what one device call carries (tree + wheels) against the 64 MiB limit; exits 1 over it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from benchmarks.gpu.wheel_list import (
    CARRY_LIMIT_BYTES,
    DEVICE_WHEELS,
    PLATFORMS,
    PYTHON_VERSION,
    ROOT,
    STAND_INS,
    WHEEL_DIR,
    StandIn,
    carry_bytes,
    resolved_pins,
    wheel_project,
    wheel_tags_fit,
)

MANIFEST_NAME = "MANIFEST.json"

_STAND_IN_MODULE = '''"""Stand-in for {name}, built by benchmarks/gpu/prepare for the GPU kit (not the real package).

{why}.
"""

__version__ = "{version}"
STAND_IN = True


def __getattr__(attr):
    raise AttributeError(
        "{module}.%s: this is the GPU kit's stand-in for {name} (benchmarks/gpu/wheel_list.py), "
        "not the real package; install the real {name} to train or log" % attr
    )
'''


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_stand_in(stand_in: StandIn, dest: Path) -> Path:
    """Write a pure-Python ``py3-none-any`` wheel of ``stand_in`` into ``dest`` (deterministic:
    fixed file order and timestamps) and return its path."""
    dist = f"{stand_in.name.replace('-', '_')}-{stand_in.version}"
    files = {
        f"{stand_in.module}/__init__.py": _STAND_IN_MODULE.format(
            name=stand_in.name, module=stand_in.module, version=stand_in.version, why=stand_in.why
        ).encode(),
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {stand_in.name}\nVersion: {stand_in.version}\n"
            f"Summary: GPU-kit stand-in for {stand_in.name} (imported, never used): {stand_in.why}\n"
        ).encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: benchmarks/gpu/prepare\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}.dist-info/top_level.txt": f"{stand_in.module}\n".encode(),
    }
    record_name = f"{dist}.dist-info/RECORD"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    record += f"{record_name},,\n"
    files[record_name] = record.encode()
    path = dest / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def download(pins: dict[str, str], dest: Path, python: str = sys.executable) -> None:
    """``pip download`` every pinned wheel for the device image into ``dest`` (no dependencies)."""
    cmd = [python, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    cmd += ["-d", str(dest), *(f"{name}=={version}" for name, version in sorted(pins.items()))]
    subprocess.run(cmd, check=True)


def check_folder(folder: Path, pins: dict[str, str]) -> list[dict[str, Any]]:
    """Rows of MANIFEST.json; raises SystemExit naming the problem when a listed project is
    missing or doubled, an extra wheel is present, or a tag does not install on the image."""
    wheels = sorted(folder.glob("*.whl"))
    by_project: dict[str, list[Path]] = {}
    for w in wheels:
        by_project.setdefault(wheel_project(w.name), []).append(w)
    wanted = set(pins) | {s.name for s in STAND_INS}
    problems = []
    for name in sorted(wanted):
        if len(by_project.get(name, [])) != 1:
            problems.append(f"{name}: {len(by_project.get(name, []))} wheels (want exactly 1)")
    problems += [f"unlisted wheel {w.name}" for name, ws in by_project.items() if name not in wanted for w in ws]
    problems += [
        f"{w.name}: tags do not install on CPython {PYTHON_VERSION} x86_64"
        for w in wheels
        if not wheel_tags_fit(w.name)
    ]
    if problems:
        raise SystemExit("benchmarks/gpu/prepare: " + "; ".join(problems))
    stand_ins = {s.name: s for s in STAND_INS}
    rows: list[dict[str, Any]] = []
    for w in wheels:
        project = wheel_project(w.name)
        rows.append(
            {
                "file": w.name,
                "project": project,
                "version": w.name.split("-")[1],
                "bytes": w.stat().st_size,
                "sha256": hashlib.sha256(w.read_bytes()).hexdigest(),
                "stand_in": stand_ins[project].why if project in stand_ins else None,
            }
        )
    return rows


def dry_run(folder: Path, names: list[str], python: str = sys.executable) -> None:
    """pip resolves every listed project for CPython 3.12 x86_64 from ``folder`` alone."""
    with tempfile.TemporaryDirectory() as target:
        cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "--dry-run", "--no-index", "--no-deps"]
        cmd += ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
        for plat in PLATFORMS:
            cmd += ["--platform", plat]
        cmd += ["--target", target, "--find-links", str(folder), *names]
        subprocess.run(cmd, check=True, env={**_clean_pip_env()})


def _clean_pip_env() -> dict[str, str]:
    """The environment without pip's index / find-links / constraint settings of this machine
    (the dry run must see the wheel folder alone)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/gpu/prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=WHEEL_DIR, help="wheel folder (default: benchmarks/gpu/wheels)")
    parser.add_argument("--no-check", action="store_true", help="skip the pip dry-run resolution check")
    args = parser.parse_args(argv)
    pins, source = resolved_pins()
    print(f"pins from {source}: " + ", ".join(f"{n}=={v}" for n, v in sorted(pins.items())), flush=True)
    dest: Path = args.dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-new-", dir=dest.parent))
    try:
        download(pins, tmp)
        for stand_in in STAND_INS:
            print(f"stand-in {build_stand_in(stand_in, tmp).name}: {stand_in.why}", flush=True)
        rows = check_folder(tmp, pins)
        if not args.no_check:
            dry_run(tmp, sorted(set(pins) | {s.name for s in STAND_INS}))
        (tmp / MANIFEST_NAME).write_text(
            json.dumps(
                {
                    "python": PYTHON_VERSION,
                    "platforms": list(PLATFORMS),
                    "pins_from": source,
                    "wheels": rows,
                    "not_carried": "see benchmarks/gpu/wheel_list.py (module docstring): what the image has, "
                    "what is declared but never imported, what has no wheel",
                },
                indent=1,
            )
            + "\n"
        )
        old = dest.with_name(f".{dest.name}-old")
        if old.exists():
            shutil.rmtree(old)
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    sizes = carry_bytes([dest], ROOT) if dest.is_relative_to(ROOT) else {"total": 0}
    wheels_bytes = sum(int(r["bytes"]) for r in rows)
    print(
        f"{len(rows)} wheels ({len(DEVICE_WHEELS)} from the registry + {len(STAND_INS)} stand-in), {wheels_bytes / 2**20:.1f} MiB in {dest}"
    )
    if "tree" in sizes:
        print(
            f"one device call carries {sizes['total'] / 2**20:.1f} MiB (tree {sizes['tree'] / 2**20:.1f} MiB + wheels) "
            f"of {CARRY_LIMIT_BYTES / 2**20:.0f} MiB"
        )
        if sizes["total"] >= CARRY_LIMIT_BYTES:
            print("over the device call's carry limit: trim the tree or the wheel list", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
