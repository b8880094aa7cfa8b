"""The claim inventory (shared/reference/claims.md) as typed records, read from a data file.

``harness/verdicts/claims.toml`` holds one table per claim: the claim in one sentence, where the
paper makes it, the paper's numbers, the comparison rule and the reason for it, the tiers it
runs in and its negative control (like SAELens's ``pretrained_saes.yaml`` or an
lm-evaluation-harness task file). :func:`load_claims` reads and checks it; rules stay code
(:mod:`harness.verdicts.rules`, registered by claim id). Tests in ``claims/`` evaluate the rule
on measured results; the report prints records next to verdicts. Ids are stable: reports and
users refer to them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.seeds.overlap import CRITERIA, check_criterion

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (the tomli backport, a declared dependency there)
    import tomli as tomllib

__all__ = ["ALL_TIERS", "CLAIMS", "CLAIMS_FILE", "TIERS", "ClaimRecord", "PaperFigure", "load_claims", "register"]

CLAIMS_FILE = Path(__file__).with_name("claims.toml")
"""The built-in claim inventory."""

TIERS = ("smoke", "gpu", "large")
"""Tiers a claim can run in: ``smoke`` (fixture world, CPU), ``gpu`` (paper scale), ``large``
(gated 8B models, optional)."""

ALL_TIERS = ("smoke", "gpu")


@dataclass(frozen=True)
class PaperFigure:
    """One published number (or set of numbers) of Paulo & Belrose 2025 and the overlap
    criterion that produced it (authors' notebook; ``harness.seeds.overlap`` module docstring)."""

    figure: str
    """Where the number is published, e.g. "architecture figure"."""
    values: str
    """The published numbers."""
    criterion: str
    """One of :data:`harness.seeds.overlap.CRITERIA`."""

    def __post_init__(self) -> None:
        check_criterion(self.criterion)


@dataclass(frozen=True)
class ClaimRecord:
    id: str
    """Stable id, e.g. "U1"."""
    slug: str
    statement: str
    """The claim in one sentence."""
    source: str
    """Section / table / figure in the paper."""
    paper_values: str
    """The paper's numbers (and the original code's printout, where it differs)."""
    rule: str
    """The comparison rule applied to our measurements."""
    reason: str
    """Why this rule (threshold, tolerance, ordering)."""
    tiers: tuple[str, ...]
    negative_control: str
    """What must come out the other way."""
    paper: str = "Lan et al. 2024"
    notes: tuple[str, ...] = field(default=())
    paper_figures: tuple[PaperFigure, ...] = field(default=())
    """Claims quoting Paulo & Belrose numbers: each quoted figure with its criterion."""
    criterion: str | None = None
    """Claims quoting Paulo & Belrose numbers: the overlap criterion the claim is judged with
    -- that of the figure whose number it is compared with (one of ``paper_figures``)."""

    def __post_init__(self) -> None:
        unknown = [t for t in self.tiers if t not in TIERS]
        if unknown:
            raise ValueError(f"{self.id}: unknown tiers {unknown}; use {', '.join(TIERS)}.")
        if self.criterion is not None:
            check_criterion(self.criterion)
            if self.criterion not in {f.criterion for f in self.paper_figures}:
                raise ValueError(f"{self.id}: judged with {self.criterion!r}, but no quoted figure uses it.")
        elif self.paper_figures:
            raise ValueError(f"{self.id}: quotes Paulo & Belrose figures but names no criterion to judge with.")

    def figures_for(self, criterion: str) -> list[str]:
        """Names of the quoted figures produced by ``criterion``."""
        return [f.figure for f in self.paper_figures if f.criterion == criterion]


#: The headline criterion of Paulo & Belrose (reported next to every figure's own criterion).
HEADLINE_CRITERION = CRITERIA[0]

_REQUIRED = ("slug", "statement", "source", "paper_values", "rule", "reason", "tiers", "negative_control")
_FIELDS = {f.name for f in fields(ClaimRecord)} - {"id"}
_FIGURE_FIELDS = {f.name for f in fields(PaperFigure)}


def _record(claim_id: str, entry: Any, path: Path) -> ClaimRecord:
    where = f"{path}: [{claim_id}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table of fields ({', '.join(_REQUIRED)}).")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise ConfigError(f"{where} lacks {missing}; every claim states {', '.join(_REQUIRED)}.")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where} has unknown fields {unknown}; known: {', '.join(sorted(_FIELDS))}.")
    for key, value in entry.items():
        ok = (
            isinstance(value, list) and all(isinstance(v, dict if key == "paper_figures" else str) for v in value)
            if key in ("tiers", "notes", "paper_figures")
            else isinstance(value, str)
        )
        if not ok:
            raise ConfigError(f"{where}.{key} has the wrong type ({type(value).__name__}).")
    figures = []
    for i, fig in enumerate(entry.get("paper_figures", [])):
        if set(fig) != _FIGURE_FIELDS or not all(isinstance(v, str) for v in fig.values()):
            raise ConfigError(
                f"{where}.paper_figures[{i}] must have exactly the string fields {sorted(_FIGURE_FIELDS)}."
            )
        figures.append(PaperFigure(**fig))
    values = dict(entry, tiers=tuple(entry["tiers"]), notes=tuple(entry.get("notes", ())), paper_figures=tuple(figures))
    try:
        return ClaimRecord(id=claim_id, **values)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_claims(path: str | Path = CLAIMS_FILE) -> dict[str, ClaimRecord]:
    """Read a claim inventory file (TOML, one table per claim id, in report order).

    Raises:
        ConfigError: a missing, unknown or mistyped field, an unknown tier or criterion (naming
            the file and the claim)."""
    path = Path(path)
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    return {claim_id: _record(claim_id, entry, path) for claim_id, entry in data.items()}


CLAIMS: dict[str, ClaimRecord] = load_claims()
"""The built-in inventory, by id, in report order."""


def register(record: ClaimRecord) -> ClaimRecord:
    """Add a record to :data:`CLAIMS` (e.g. a test's own claim); duplicate ids are refused."""
    if record.id in CLAIMS:
        raise ValueError(f"Duplicate claim id {record.id!r}.")
    CLAIMS[record.id] = record
    return record
