"""Write the report of one run from its :class:`~harness.verdicts.recorder.RunStore`, safely.

A run never loses or corrupts a report:

- The report is written into a fresh sibling temporary folder and swapped into place only
  when it is complete (:func:`replace_dir`): an interrupted write leaves the previous report
  as it was.
- A *partial* run (interrupted, claims deselected with ``-k``/``-m``, claim tests that did
  not finish, restricted ``--layers-a/-b``, a single ``--procedure``) never replaces the
  complete report: it goes to ``<report dir>-partial`` (:func:`report_dir_for`), and the first
  line of its REPORT.md says that it is partial and why.
- Provenance records the selection (:class:`RunSelection`): pytest arguments, ``-k``, ``-m``,
  layers, procedures, and the claim tests left out.

Writability of the report and cache folders is checked before any compute
(:func:`check_writable_dir`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.calibration.report import DEFAULT_CALIBRATION_FILE, calibration_notes
from harness.verdicts.stability import DEFAULT_STABILITY_FILE, stability_notes
from harness.config import get_procedure
from harness.errors import ConfigError
from harness.provenance import provenance
from harness.report.markdown import write_report
from harness.verdicts.recorder import RunStore

__all__ = [
    "ALL_PROCEDURES",
    "PARTIAL_SUFFIX",
    "RunProgress",
    "RunSelection",
    "check_device",
    "check_layers_option",
    "check_writable_dir",
    "parse_layers_option",
    "procedure_settings",
    "replace_dir",
    "report_dir_for",
    "write_run_report",
]

ALL_PROCEDURES: tuple[str, ...] = ("paper", "corrected")
"""The procedures a complete run covers."""

PARTIAL_SUFFIX = "-partial"
"""A partial run's report goes to ``<report dir><PARTIAL_SUFFIX>``."""


def procedure_settings(name: str) -> dict[str, Any]:
    """The named procedure's fields as JSON-ready values (tuples as lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(get_procedure(name)).items()}


@dataclass(frozen=True)
class RunSelection:
    """What one run of the claims covered, for one profile.

    The run is *complete* when it ran every claim test of the profile, under every procedure,
    on every layer, to the end; otherwise :meth:`partial_reasons` says why not.
    """

    procedures: tuple[str, ...] = ALL_PROCEDURES
    """Procedures the claims ran under (``--procedure``)."""
    layers_a: tuple[int, ...] | None = None
    """``--layers-a`` (None: the profile's layers)."""
    layers_b: tuple[int, ...] | None = None
    """``--layers-b`` (None: the profile's layers)."""
    keyword: str = ""
    """pytest ``-k`` expression."""
    markexpr: str = ""
    """pytest ``-m`` expression."""
    args: tuple[str, ...] = ()
    """The pytest command-line arguments."""
    paths: tuple[str, ...] = ()
    """Test paths narrower than ``claims/`` that collection was limited to (other claim files
    were never collected, so they cannot show up as deselected)."""
    deselected: tuple[str, ...] = ()
    """Claim tests of this profile that the selection (``-k``, ``-m``, node ids) left out."""
    unfinished: tuple[str, ...] = ()
    """Selected claim tests of this profile that did not reach a verdict (interrupted, stopped
    by ``-x``/``--maxfail``, or ended in an error)."""
    interrupted: bool = False
    """The session was interrupted (Ctrl-C / SIGINT)."""

    def partial_reasons(self) -> list[str]:
        """Why this run is not the complete report (empty: complete)."""
        reasons = []
        if self.interrupted:
            reasons.append("the run was interrupted")
        if self.deselected:
            reasons.append(
                f"{len(self.deselected)} claim test(s) deselected"
                + (f" by -k {self.keyword!r}" if self.keyword else "")
                + (f" / -m {self.markexpr!r}" if self.markexpr else "")
            )
        if self.paths:
            reasons.append("collection limited to " + ", ".join(self.paths))
        if self.unfinished:
            reasons.append(
                f"{len(self.unfinished)} claim test(s) did not reach a verdict: "
                + ", ".join(self.unfinished[:8])
                + (" ..." if len(self.unfinished) > 8 else "")
            )
        if self.layers_a is not None:
            reasons.append(f"A layers restricted to {list(self.layers_a)}")
        if self.layers_b is not None:
            reasons.append(f"B layers restricted to {list(self.layers_b)}")
        missing = [p for p in ALL_PROCEDURES if p not in self.procedures]
        if missing:
            reasons.append(f"procedure(s) {', '.join(missing)} not run")
        return reasons

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons())

    def to_dict(self) -> dict[str, Any]:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        d["partial"] = self.partial
        d["partial_reasons"] = self.partial_reasons()
        return d


@dataclass
class RunProgress:
    """Which claim tests of each profile a session collected, deselected, and finished.

    The pytest glue feeds it (``collected`` / ``deselected`` at collection, ``finished`` when a
    test reached a verdict, ``errored`` when it ended in an error); :meth:`selection` turns it
    into the :class:`RunSelection` of one profile.
    """

    collected: dict[str, list[str]] = field(default_factory=dict)
    deselected: dict[str, list[str]] = field(default_factory=dict)
    finished: dict[str, set[str]] = field(default_factory=dict)
    errored: dict[str, set[str]] = field(default_factory=dict)

    def add_collected(self, profile: str, test_id: str) -> None:
        self.collected.setdefault(profile, []).append(test_id)

    def add_deselected(self, profile: str, test_id: str) -> None:
        self.deselected.setdefault(profile, []).append(test_id)

    def add_finished(self, profile: str, test_id: str) -> None:
        self.finished.setdefault(profile, set()).add(test_id)

    def add_errored(self, profile: str, test_id: str) -> None:
        self.errored.setdefault(profile, set()).add(test_id)

    def selection(self, profile: str, **options: Any) -> RunSelection:
        """The :class:`RunSelection` of ``profile``; ``options`` are its other fields
        (procedures, layers, keyword, markexpr, args, interrupted)."""
        done = self.finished.get(profile, set()) - self.errored.get(profile, set())
        unfinished = tuple(t for t in self.collected.get(profile, []) if t not in done)
        return RunSelection(deselected=tuple(self.deselected.get(profile, [])), unfinished=unfinished, **options)


def report_dir_for(base: Path, selection: RunSelection) -> Path:
    """Where a run's report goes: ``base`` when complete, ``<base>-partial`` otherwise (so a
    partial run never replaces the complete report)."""
    base = Path(base)
    return base.with_name(base.name + PARTIAL_SUFFIX) if selection.partial else base


def check_writable_dir(path: Path, *, what: str) -> Path:
    """Raise :class:`ConfigError` naming ``path`` unless ``path`` (or, if it does not exist yet,
    its nearest existing ancestor) is a folder this process can create files in. Tried with a
    real temporary file, so read-only mounts and permission bits both count. Creates nothing
    that stays."""
    path = Path(path).absolute()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(
            f"{what} {path} cannot be created: {probe} is not a folder. Pass a folder path you can write to."
        )
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".write-probe-")
        os.close(fd)
        os.remove(name)
    except OSError as exc:
        raise ConfigError(
            f"{what} {path} is not writable: {probe} {why_not_writable(probe, exc)}. Pass a folder you "
            "can write to, or fix its permissions."
        ) from None
    return path


#: File systems whose folders never hold user files (Linux virtual file systems).
VIRTUAL_FILESYSTEMS = frozenset({"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "securityfs"})


def mount_fstype(path: Path) -> str | None:
    """The file-system type of the mount holding ``path`` (from /proc/mounts; None where unknown)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    target = str(Path(path).resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
            best, fstype = mnt, parts[2]
    return fstype


def why_not_writable(folder: Path, exc: OSError) -> str:
    """Why a file could not be created in ``folder``, in words: ``"is on a proc file system
    (virtual: files cannot be created there)"``, ``"is on a read-only file system"``, ``"is not
    writable by this user (permission denied)"``, else the system's own message."""
    import errno

    fstype = mount_fstype(folder)
    if fstype in VIRTUAL_FILESYSTEMS:
        return f"is on a {fstype} file system (virtual: files cannot be created there)"
    if exc.errno == errno.EROFS:
        return "is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "is not writable by this user (permission denied)"
    return f"refused a new file ({exc.strerror or exc})"


def parse_layers_option(text: str | None, *, option: str) -> tuple[int, ...] | None:
    """``"1,3,5"`` -> ``(1, 3, 5)``; None or empty -> None. Raises :class:`ConfigError` naming
    ``option`` for a non-integer, negative or repeated layer."""
    if text is None or not str(text).strip():
        return None
    parts = [p.strip() for p in str(text).split(",")]
    layers = []
    for p in parts:
        try:
            layer = int(p)
        except ValueError:
            raise ConfigError(
                f"{option} {text!r}: {p!r} is not a layer number; give comma-separated "
                f"non-negative integers, e.g. {option} 1,3."
            ) from None
        if layer < 0:
            raise ConfigError(f"{option} {text!r}: layer {layer} is negative; layers count from 0.")
        layers.append(layer)
    repeated = sorted({x for x in layers if layers.count(x) > 1})
    if repeated:
        raise ConfigError(f"{option} {text!r}: layer(s) {repeated} given more than once; list each layer once.")
    return tuple(layers)


def check_layers_option(layers: tuple[int, ...] | None, *, available: Iterable[int], option: str, profile: str) -> None:
    """Raise :class:`ConfigError` when ``layers`` holds a layer the profile does not have."""
    if layers is None:
        return
    have = list(available)
    bad = [x for x in layers if x not in have]
    if bad:
        raise ConfigError(
            f"{option}: layer(s) {bad} not in profile {profile!r}, which has layers {have}; choose among those."
        )


def check_device(device: str) -> None:
    """Raise :class:`ConfigError` unless torch can use ``device`` here (e.g. ``cuda`` without a
    CUDA device, or a misspelt name)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ConfigError(f"--device {device!r} is not a torch device ({exc}); use cpu, cuda or cuda:N.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: no CUDA device is available here (torch "
                f"{torch.__version__}, CUDA build {torch.version.cuda}); run on a GPU machine "
                "or pass --device cpu."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here.")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {device}: MPS is not available here; pass --device cpu.")


def replace_dir(target: Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a fresh sibling temporary folder of ``target``; when it returns,
    swap ``tmp`` into place of ``target`` (two renames on one file system: ``target`` is at no
    time half-written, and a failure in ``write`` leaves the old ``target`` untouched)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0o700
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        os.rename(target, old)
        os.rename(tmp, target)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
    else:
        os.rename(tmp, target)
    return target


#: The tier whose claims a profile runs (claim records list their tiers).
PROFILE_TIER = {"smoke": "smoke", "paper": "gpu", "gemma": "gpu", "llama": "large"}


def _outside_tier_rows(profile: str, results: list[dict[str, Any]], procedures: list[str]) -> list[dict[str, Any]]:
    """'not run' rows for the claims whose tiers exclude ``profile``'s tier (e.g. W2, large tier
    only, in the smoke report), so every claim of the inventory appears in every report."""
    from harness.verdicts.records import CLAIMS
    from harness.verdicts.recorder import ClaimRecorder, Expectations

    tier = PROFILE_TIER.get(profile)
    if tier is None:
        return []
    have = {r["id"] for r in results}
    extra = RunStore()
    recorder = ClaimRecorder(profile, store=extra, expectations=Expectations(Path(".")))
    for cid, rec in CLAIMS.items():
        if cid in have or tier in rec.tiers:
            continue
        for p in procedures:
            recorder.not_run(
                cid,
                p,
                f"runs only in the {'/'.join(rec.tiers)} tier (pytest claims -m "
                f"{rec.tiers[0]}), not under profile {profile!r}",
            )
    return extra.results


def write_run_report(
    out: Path,
    *,
    profile: str,
    store: RunStore,
    procedures: Iterable[str],
    wall_s: float,
    device: str | None = None,
    token_manifest: dict[str, Any] | None = None,
    selection: RunSelection | None = None,
    calibration_file: Path = DEFAULT_CALIBRATION_FILE,
    stability_file: Path = DEFAULT_STABILITY_FILE,
) -> Path:
    """REPORT.md + REPORT.html + results.json + figures for ``profile``'s rows of ``store``.

    ``out`` is where a complete run's report goes; a partial ``selection`` writes to
    ``<out>-partial`` instead (:func:`report_dir_for`). Returns the folder written. Each verdict is
    shown next to its rule's calibration on the known-answer worlds (``calibration_file``, when it exists)
    and its stability over the committed seed sweep (``stability_file``, when it exists).
    """
    procedures = list(procedures)
    selection = selection or RunSelection(procedures=tuple(procedures))
    results = [r for r in store.results if r["profile"] == profile]
    results += _outside_tier_rows(profile, results, procedures)
    exps = {k.split(":", 1)[1]: v for k, v in store.experiments.items() if k.startswith(profile + ":")}
    prov = provenance()
    prov["profile"] = profile
    prov["session_wall_s"] = round(wall_s, 1)
    prov["procedure_settings"] = {p: procedure_settings(p) for p in procedures}
    if device is not None:
        prov["device"] = device
    if token_manifest is not None:
        prov["token_manifest"] = token_manifest
    prov["procedures"] = procedures
    prov["selection"] = selection.to_dict()
    target = report_dir_for(Path(out), selection)
    partial = selection.partial_reasons() or None
    replace_dir(
        target,
        lambda tmp: write_report(
            tmp,
            profile=profile,
            claim_results=results,
            experiments=exps,
            provenance=prov,
            partial=partial,
            calibration=calibration_notes(calibration_file),
            stability=stability_notes(stability_file, profile=profile),
        ),
    )
    return target
