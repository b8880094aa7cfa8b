"""Write the report of one run from its :class:`~harness.verdicts.recorder.RunStore`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.calibration.run import DEFAULT_CALIBRATION_FILE, calibration_notes
from harness.config import get_procedure
from harness.provenance import provenance
from harness.report.markdown import write_report
from harness.verdicts.recorder import RunStore

__all__ = ["procedure_settings", "write_run_report"]


def procedure_settings(name: str) -> dict[str, Any]:
    """The named procedure's fields as JSON-ready values (tuples as lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(get_procedure(name)).items()}


def write_run_report(out: Path, *, profile: str, store: RunStore, procedures: list[str], wall_s: float,
                     device: str | None = None, token_manifest: dict[str, Any] | None = None,
                     calibration_file: Path = DEFAULT_CALIBRATION_FILE) -> None:
    """REPORT.md + results.json + figures for ``profile``'s rows of ``store`` into ``out``; each
    verdict is shown next to its rule's calibration (``calibration_file``, when it exists)."""
    results = [r for r in store.results if r["profile"] == profile]
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
    write_report(out, profile=profile, claim_results=results, experiments=exps, provenance=prov,
                 calibration=calibration_notes(calibration_file))
