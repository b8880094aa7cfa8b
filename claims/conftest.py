"""Claims plugin: options, shared experiment fixtures, verdict recording, report writing.

pytest outcome = verdict. In the ``paper`` profile (gpu tier) a claim test passes iff the
claim reproduces. In the ``smoke`` profile the verdict on the fixture world is recorded as it
is, and the test asserts it equals the reviewed expected verdict in
``claims/expected/smoke.json`` (golden data, changed only by a person, with the reason next
to it); a missing or different expectation fails and writes ``smoke.json.obtained``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from harness.claim_records import CLAIMS
from harness.config import get_procedure

EXPECTED_DIR = Path(__file__).parent / "expected"
REPO_ROOT = Path(__file__).resolve().parents[1]
_RESULTS: list[dict[str, Any]] = []
_EXPERIMENTS: dict[str, Any] = {}
_OBTAINED: dict[str, dict[str, str]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("claims")
    g.addoption("--procedure", default="both", choices=["both", "paper", "corrected"],
                help="run claims under this procedure (default: both)")
    g.addoption("--device", default=None, help="torch device for the gpu tier (default: cuda if available)")
    g.addoption("--report-dir", default=None, help="where to write the report (default: reports/<profile>)")
    g.addoption("--cache-dir", default=None, help="activation cache directory (default: .cache/activations)")
    g.addoption("--layers-a", default=None, help="comma-separated A layers, to restrict a quick run")
    g.addoption("--layers-b", default=None, help="comma-separated B layers, to restrict a quick run")
    g.addoption("--no-report", action="store_true", help="do not write the report")


def procedures(config: pytest.Config) -> list[str]:
    choice = config.getoption("--procedure")
    return ["paper", "corrected"] if choice == "both" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "procedure" in metafunc.fixturenames:
        metafunc.parametrize("procedure", [get_procedure(p) for p in procedures(metafunc.config)],
                             ids=lambda p: p.name, scope="session")


def _layers(opt: str | None) -> list[int] | None:
    return None if not opt else [int(x) for x in opt.split(",")]


@pytest.fixture(scope="session")
def claim_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    c = request.config
    return {
        "device": c.getoption("--device"),
        "cache_dir": Path(c.getoption("--cache-dir") or REPO_ROOT / ".cache" / "activations"),
        "layers_a": _layers(c.getoption("--layers-a")),
        "layers_b": _layers(c.getoption("--layers-b")),
    }


class ClaimRecorder:
    """Collects one verdict per (claim, procedure, profile) for the report and golden check."""

    def __init__(self, profile: str) -> None:
        self.profile = profile

    def experiment(self, name: str, record: dict[str, Any]) -> None:
        _EXPERIMENTS[name] = record

    def verdict(self, claim_id: str, procedure: str, *, reproduced: bool, measured: dict[str, Any],
                detail: str = "", control: dict[str, Any] | None = None) -> None:
        rec = CLAIMS[claim_id]
        if control is not None:
            measured = {**measured, "control": control}
        _RESULTS.append({
            "id": claim_id, "statement": rec.statement, "source": rec.source, "paper_values": rec.paper_values,
            "rule": rec.rule, "procedure": procedure, "profile": self.profile,
            "verdict": "reproduced" if reproduced else "not reproduced", "measured": measured, "detail": detail,
            "expected_verdict": expected_verdict(self.profile, claim_id, procedure),
        })
        _OBTAINED.setdefault(claim_id, {})[procedure] = "reproduced" if reproduced else "not reproduced"

    def not_run(self, claim_id: str, procedure: str, reason: str) -> None:
        rec = CLAIMS[claim_id]
        _RESULTS.append({"id": claim_id, "statement": rec.statement, "source": rec.source,
                         "paper_values": rec.paper_values, "rule": rec.rule, "procedure": procedure,
                         "profile": self.profile, "verdict": "not run", "measured": {}, "detail": reason,
                         "expected_verdict": None})


def load_expected(profile: str) -> dict[str, Any]:
    path = EXPECTED_DIR / f"{profile}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def expected_verdict(profile: str, claim_id: str, procedure: str) -> str | None:
    entry = load_expected(profile).get(claim_id, {}).get(procedure)
    return entry["verdict"] if isinstance(entry, dict) else entry


def check_verdict(profile: str, claim_id: str, procedure: str, reproduced: bool, detail: str) -> None:
    """Turn a verdict into a pytest outcome (see module docstring)."""
    got = "reproduced" if reproduced else "not reproduced"
    if profile != "smoke":
        assert reproduced, f"{claim_id} not reproduced under {procedure}: {detail}"
        return
    want = expected_verdict(profile, claim_id, procedure)
    assert want is not None, (
        f"No reviewed expectation for {claim_id}/{procedure} in claims/expected/{profile}.json "
        f"(obtained: {got}; see {profile}.json.obtained). A person must review and add it.")
    assert got == want, (
        f"{claim_id}/{procedure} on the fixture world changed outcome: expected {want}, got {got}. {detail}")


@pytest.fixture(scope="session")
def recorder_smoke() -> ClaimRecorder:
    return ClaimRecorder("smoke")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _RESULTS or session.config.getoption("--no-report"):
        return
    from harness.provenance import provenance
    from harness.report import write_report

    profiles = sorted({r["profile"] for r in _RESULTS})
    for profile in profiles:
        out = Path(session.config.getoption("--report-dir") or REPO_ROOT / "reports" / profile)
        results = [r for r in _RESULTS if r["profile"] == profile]
        exps = {k: v for k, v in _EXPERIMENTS.items() if k.startswith(profile + ":")}
        prov = provenance()
        prov["profile"] = profile
        prov["procedures"] = procedures(session.config)
        write_report(out, profile=profile, claim_results=results,
                     experiments={k.split(":", 1)[1]: v for k, v in exps.items()}, provenance=prov)
        expected = load_expected(profile)
        obtained = {cid: {p: v for p, v in procs.items()} for cid, procs in _OBTAINED.items()}
        if any(expected.get(c, {}).get(p) is None or
               (expected[c][p]["verdict"] if isinstance(expected[c][p], dict) else expected[c][p]) != v
               for c, ps in obtained.items() for p, v in ps.items()):
            EXPECTED_DIR.mkdir(exist_ok=True)
            (EXPECTED_DIR / f"{profile}.json.obtained").write_text(json.dumps(obtained, indent=1, sort_keys=True))


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


# ----------------------------------------------------------------------------- profiles

PROFILE_PARAMS = [pytest.param("smoke", marks=pytest.mark.smoke), pytest.param("paper", marks=pytest.mark.gpu)]


@pytest.fixture(scope="session", params=PROFILE_PARAMS)
def profile_name(request: pytest.FixtureRequest) -> str:
    return request.param


def gpu_tier_unavailable(device: str | None) -> str | None:
    """Reason the gpu tier cannot run here, or None."""
    import torch

    if (device or "cuda").startswith("cuda") and not torch.cuda.is_available():
        return "gpu tier: no CUDA device (run on a GPU machine, or pass --device cpu to force the CPU)"
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not os.environ.get("SAE_CLAIMS_STAGED_HUB"):
        return ("gpu tier: HF_HUB_OFFLINE=1 (no hub access); unset it on a machine with hub access, or set "
                "SAE_CLAIMS_STAGED_HUB=1 with HF_HUB_CACHE pointing at a staged cache")
    return None


_WORLDS: dict[str, Any] = {}
_CACHE: dict[tuple, Any] = {}


@pytest.fixture(scope="session")
def world(profile_name: str, claim_options: dict[str, Any]) -> Any:
    from harness.registry import get_profile
    from harness.runs import World

    if profile_name == "paper":
        reason = gpu_tier_unavailable(claim_options["device"])
        if reason:
            pytest.skip(reason)
    if profile_name not in _WORLDS:
        device = claim_options["device"] or ("cuda" if profile_name == "paper" else "cpu")
        _WORLDS[profile_name] = World(get_profile(profile_name), cache_dir=claim_options["cache_dir"], device=device)
    return _WORLDS[profile_name]


@pytest.fixture(scope="session")
def recorder(profile_name: str, world: Any) -> ClaimRecorder:
    return ClaimRecorder(profile_name)


@pytest.fixture(scope="session")
def grids(world: Any, claim_options: dict[str, Any], recorder: ClaimRecorder):  # type: ignore[no-untyped-def]
    """grids(procedure, control=False) -> the layer-grid record, computed once per session."""
    from harness.runs import run_grid

    def get(procedure: Any, *, control: bool = False) -> dict[str, Any]:
        key = ("grid", world.profile.name, procedure.name, control)
        if key not in _CACHE:
            _CACHE[key] = run_grid(world, procedure, control=control, layers_a=claim_options["layers_a"],
                                   layers_b=claim_options["layers_b"])
            name = f"{world.profile.name}:grid {procedure.name}{' (control: B positions shuffled)' if control else ''}"
            recorder.experiment(name, _CACHE[key])
            recorder.experiment(f"{world.profile.name}:preflight", {"kind": "preflight", "sites": world.preflight})
        return _CACHE[key]

    return get


@pytest.fixture(scope="session")
def semantic(world: Any, recorder: ClaimRecorder):  # type: ignore[no-untyped-def]
    """semantic(procedure, control=False, pair=None) -> the semantic table of the table pair."""
    from harness.runs import run_semantic

    def get(procedure: Any, *, control: bool = False, pair: str | None = None) -> dict[str, Any]:
        la, lb = world.profile.semantic_table
        key = ("semantic", world.profile.name, procedure.name, control, la, lb)
        if key not in _CACHE:
            _CACHE[key] = run_semantic(world, procedure, la, lb, control=control,
                                       paper_table=world.profile.paper_semantic_table)
            recorder.experiment(f"{world.profile.name}:semantic A{la} x B{lb} {procedure.name}"
                                f"{' (control)' if control else ''}", _CACHE[key])
        return _CACHE[key]

    return get


@pytest.fixture(scope="session")
def semantic_grid(world: Any, semantic: Any, recorder: ClaimRecorder):  # type: ignore[no-untyped-def]
    """semantic_grid(procedure, control=False) -> semantic tables for every semantic layer pair."""
    from harness.runs import run_semantic

    def get(procedure: Any, *, control: bool = False) -> list[dict[str, Any]]:
        tables = []
        for la in world.profile.semantic_layers_a:
            for lb in world.profile.semantic_layers_b:
                key = ("semantic", world.profile.name, procedure.name, control, la, lb)
                if key not in _CACHE:
                    _CACHE[key] = run_semantic(world, procedure, la, lb, control=control)
                tables.append(_CACHE[key])
        return tables

    return get
