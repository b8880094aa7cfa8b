"""Does a run agree with the committed report? (issue 23: a regression check, not a rewrite.)

A claims run writes its report to an untracked folder, ``reports/<profile>-local/``
(:func:`local_report_dir`), so the README's commands leave the working tree clean; the
committed ``reports/<profile>/`` is replaced only on an explicit request (pytest
``--force-regen``, as pytest-regressions does). At the end of the session the run's
``results.json`` is compared with the committed one (:func:`compare_reports`) and one line
says whether they agree, followed by the differences (at most :data:`MAX_LINES`).

What "agree" means (the guarantees of :mod:`harness.experiments.recompute`): every verdict,
count, string and p-value (a count of null draws over N) exactly (a text that quotes floats, such
as a claim's ``detail``, may differ in those floats within the tolerance); every other float within
:data:`harness.experiments.recompute.CROSS_MACHINE_REL_TOL` (relative; absolute below
:data:`harness.experiments.recompute.CROSS_MACHINE_ABS_TOL`). Provenance (commit, versions,
machine, times) and wall-clock fields are not results and are not compared.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.experiments.recompute import (
    CROSS_MACHINE_ABS_TOL,
    CROSS_MACHINE_REL_TOL,
    Mismatch,
    _leaves,
    compare_records,
)

__all__ = [
    "LOCAL_SUFFIX",
    "MAX_LINES",
    "ReportComparison",
    "compare_reports",
    "compare_with_committed",
    "local_report_dir",
    "report_target",
]

LOCAL_SUFFIX = "-local"
"""A run's report goes to ``reports/<profile><LOCAL_SUFFIX>/`` (git-ignored) unless ``--force-regen``."""

MAX_LINES = 20
"""Differences listed on the console; the full list is written next to the run's report."""

#: Keys that are not results: wall-clock times and the session's timing.
SKIP_KEYS = ("elapsed_s", "session_wall_s", "wall_s")

DIFFERENCES_FILE = "DIFFERENCES.txt"
"""The full list of differences, written into the run's report folder when there are any."""


#: A number inside a text field (a claim's ``detail`` quotes its measured dict at full precision).
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _same_text(a: str, b: str) -> bool:
    """Two texts equal but for the float rounding of the numbers they quote: the words equal, every
    integer equal, every other number within the cross-machine tolerance."""
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b), strict=True):
        if x == y:
            continue
        if not any(c in x + y for c in ".eE"):  # integers (counts) must be equal
            return False
        fx, fy = float(x), float(y)
        if not math.isclose(fx, fy, rel_tol=CROSS_MACHINE_REL_TOL, abs_tol=CROSS_MACHINE_ABS_TOL):
            return False
    return True


def local_report_dir(reports: Path, profile: str) -> Path:
    """``reports/<profile>-local``: where a run writes its report unless asked to replace the
    committed one."""
    return Path(reports) / f"{profile}{LOCAL_SUFFIX}"


def report_target(
    reports: Path, profile: str, *, report_dir: str | Path | None, force_regen: bool, n_profiles: int = 1
) -> Path:
    """The folder a claims session writes ``profile``'s report to.

    - ``report_dir`` (``--report-dir``): that folder (one sub-folder per profile when the session
      ran several);
    - else ``force_regen`` (``--force-regen``): the committed ``reports/<profile>`` (the only way
      to replace it);
    - else ``reports/<profile>-local`` (git-ignored; the tree stays clean).

    A partial run then goes to ``<target>-partial`` (:func:`harness.report.run.report_dir_for`)."""
    if report_dir:
        return Path(report_dir) / (profile if n_profiles > 1 else "")
    return Path(reports) / profile if force_regen else local_report_dir(reports, profile)


@dataclass(frozen=True)
class ReportComparison:
    """One run's ``results.json`` against the committed one."""

    committed: str
    """The committed report's folder, as shown (e.g. ``reports/smoke``)."""
    n_claim_rows: int
    """Claim rows (claim x procedure) of the committed report."""
    n_numbers: int
    """Numeric leaves compared (claim rows and experiments)."""
    differences: tuple[Mismatch, ...]
    """Every difference (verdict, count, p-value, string, float beyond tolerance, row or
    experiment present on one side only)."""

    @property
    def agrees(self) -> bool:
        return not self.differences

    def summary_lines(self, *, max_lines: int = MAX_LINES, full_list: Path | None = None) -> list[str]:
        """What the session prints: one line, then at most ``max_lines`` differences."""
        tol = f"verdicts, counts and p-values exactly, other floats within {CROSS_MACHINE_REL_TOL:g} relative"
        if self.agrees:
            return [
                f"agrees with the committed report {self.committed} ({self.n_claim_rows} claim rows, "
                f"{self.n_numbers} numbers; {tol})"
            ]
        lines = [
            f"DIFFERS from the committed report {self.committed}: {len(self.differences)} difference(s) "
            f"({self.n_claim_rows} claim rows, {self.n_numbers} numbers; {tol}):"
        ]
        lines += [f"  {m}" for m in self.differences[:max_lines]]
        if len(self.differences) > max_lines:
            more = f"  ... and {len(self.differences) - max_lines} more"
            lines.append(more + (f" (all in {full_list})" if full_list is not None else ""))
        return lines


def _claim_key(row: dict[str, Any]) -> str:
    return f"{row.get('id')} {row.get('procedure')}"


def _numbers(x: Any) -> int:
    return sum(1 for _, v in _leaves(x) if isinstance(v, (int, float)) and not isinstance(v, bool))


def compare_reports(ours: dict[str, Any], committed: dict[str, Any], *, committed_dir: str | Path) -> ReportComparison:
    """Compare two ``results.json`` documents: claim rows matched by (claim id, procedure), then
    every experiment by name (:func:`harness.experiments.recompute.compare_records` with the
    cross-machine tolerance). Verdicts are strings, so they must be equal."""
    rows_ours = {_claim_key(r): r for r in ours.get("claims", [])}
    rows_theirs = {_claim_key(r): r for r in committed.get("claims", [])}
    diffs: list[Mismatch] = []
    for key in [k for k in rows_theirs if k not in rows_ours] + [k for k in rows_ours if k not in rows_theirs]:
        side = "committed" if key in rows_theirs else "this run"
        diffs.append(Mismatch(f"claim {key}", "<absent>", "<row>", f"claim row only in the {side} report"))

    def compare(ours_: Any, theirs_: Any) -> list[Mismatch]:
        found = compare_records(
            ours_, theirs_, rel_tol=CROSS_MACHINE_REL_TOL, abs_tol=CROSS_MACHINE_ABS_TOL, skip=SKIP_KEYS
        )
        # a text quoting a float at full precision differs in its last digits, not in what it says
        return [
            m
            for m in found
            if not (isinstance(m.ours, str) and isinstance(m.theirs, str) and _same_text(m.ours, m.theirs))
        ]

    # verdicts first, so the listing starts with what matters most
    shared = [k for k in rows_theirs if k in rows_ours]
    for key in shared:
        a, b = rows_ours[key].get("verdict"), rows_theirs[key].get("verdict")
        if a != b:
            diffs.append(Mismatch(f"claim {key}.verdict", a, b, "verdict differs"))
    for key in shared:
        diffs += [
            Mismatch(f"claim {key}.{m.path}", m.ours, m.theirs, m.why)
            for m in compare(rows_ours[key], rows_theirs[key])
            if m.path != "verdict"
        ]
    diffs += compare(ours.get("experiments", {}), committed.get("experiments", {}))
    return ReportComparison(
        committed=str(committed_dir),
        n_claim_rows=len(rows_theirs),
        n_numbers=_numbers(committed.get("claims", [])) + _numbers(committed.get("experiments", {})),
        differences=tuple(diffs),
    )


def compare_with_committed(
    written: Path,
    committed_dir: Path,
    *,
    committed_results: dict[str, Any] | None = None,
    label: str | None = None,
) -> ReportComparison | None:
    """Compare the report just written to ``written`` with the committed report in
    ``committed_dir`` (or with ``committed_results``, the committed ``results.json`` read before
    a ``--force-regen`` replaced it; ``label``: how to name the committed folder, default its
    path). None when there is no committed report to compare with. Writes the full list of
    differences to ``written / DIFFERENCES.txt`` when there are any and ``written`` is not the
    committed folder."""
    if committed_results is None:
        path = Path(committed_dir) / "results.json"
        if not path.exists():
            return None
        committed_results = json.loads(path.read_text())
    ours = json.loads((Path(written) / "results.json").read_text())
    cmp = compare_reports(ours, committed_results, committed_dir=label or str(committed_dir))
    if not cmp.agrees and Path(written).resolve() != Path(committed_dir).resolve():
        (Path(written) / DIFFERENCES_FILE).write_text("\n".join(str(m) for m in cmp.differences) + "\n")
    return cmp
