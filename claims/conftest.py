"""Claims plugin: options, shared experiment fixtures, verdict recording, report writing.

pytest outcome = verdict. A claim is reproduced iff its rule holds and its negative control
does not (see ClaimRecorder.conclude). In the ``paper`` profile (gpu tier) a claim test
passes iff the claim reproduces. In the ``smoke`` profile the verdict and the control's
outcome on the fixture world are recorded as they are, and the test asserts they equal the
reviewed expectation in ``claims/expected/smoke.json`` (golden data, changed only by a
person, with the reason next to each entry); a missing or different expectation fails and
writes ``smoke.json.obtained``.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest

from harness.claim_records import CLAIMS
from harness.config import get_procedure

EXPECTED_DIR = Path(__file__).parent / "expected"
REPO_ROOT = Path(__file__).resolve().parents[1]
_RESULTS: list[dict[str, Any]] = []
_EXPERIMENTS: dict[str, Any] = {}
_OBTAINED: dict[str, dict[str, dict[str, str | None]]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config._claims_t0 = time.time()  # type: ignore[attr-defined]


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


CONTROL_OTHER_WAY = "other way"
CONTROL_SAME_WAY = "same way"
CONTROL_EMPTY = "empty"


class ClaimRecorder:
    """Collects one verdict per (claim, procedure, profile) for the report and golden check."""

    def __init__(self, profile: str) -> None:
        self.profile = profile

    def experiment(self, name: str, record: dict[str, Any]) -> None:
        _EXPERIMENTS[name] = record

    def conclude(self, claim_id: str, procedure: str, *, rule_holds: bool, measured: dict[str, Any],
                 control: dict[str, Any] | None, control_holds: bool | None, control_scored: bool = True,
                 detail: str = "") -> None:
        """Record the verdict and turn it into the pytest outcome.

        A claim is reproduced iff its rule holds AND its negative control does not satisfy the
        same rule (``control_holds`` False) on data it could score: when the control passes too,
        the rule cannot tell the effect from its absence on this data, and the claim is not
        reproduced. ``None`` means the check has no control of its own (guards only).

        Rule (changed in its own commit): a control that fails the rule only because it had
        nothing to score (``control_scored`` False: e.g. no misaligned pair survived the
        filters, or too few for SVCCA) is ``empty``, not ``other way`` -- it never exercised
        the statistic, so the rule's power is untested and the claim is not counted as
        reproduced. Before, an empty control counted as coming out the other way.
        """
        rec = CLAIMS[claim_id]
        if control_holds is None:
            ctrl_outcome = None
        elif control_holds:
            ctrl_outcome = CONTROL_SAME_WAY
        else:
            ctrl_outcome = CONTROL_OTHER_WAY if control_scored else CONTROL_EMPTY
        reproduced = bool(rule_holds) and ctrl_outcome in (None, CONTROL_OTHER_WAY)
        if control_holds:
            detail = (detail + "; " if detail else "") + (
                f"the negative control also satisfies the rule ({control}): the rule does not discriminate here")
        elif ctrl_outcome == CONTROL_EMPTY:
            detail = (detail + "; " if detail else "") + (
                f"the negative control had nothing to score ({control}): the rule's power is untested")
        if control is not None:
            measured = {**measured, "control": control}
        verdict = "reproduced" if reproduced else "not reproduced"
        _RESULTS.append({
            "id": claim_id, "statement": rec.statement, "source": rec.source, "paper_values": rec.paper_values,
            "rule": rec.rule, "procedure": procedure, "profile": self.profile, "verdict": verdict,
            "rule_holds": bool(rule_holds), "control_outcome": ctrl_outcome, "measured": measured, "detail": detail,
            "expected": expected_entry(self.profile, claim_id, procedure),
        })
        _OBTAINED.setdefault(claim_id, {})[procedure] = {"verdict": verdict, "control": ctrl_outcome}
        check_verdict(self.profile, claim_id, procedure, verdict, ctrl_outcome, f"{detail} {measured}")

    def not_run(self, claim_id: str, procedure: str, reason: str) -> None:
        rec = CLAIMS[claim_id]
        _RESULTS.append({"id": claim_id, "statement": rec.statement, "source": rec.source,
                         "paper_values": rec.paper_values, "rule": rec.rule, "procedure": procedure,
                         "profile": self.profile, "verdict": "not run", "measured": {}, "detail": reason,
                         "expected": None})


def load_expected(profile: str) -> dict[str, Any]:
    path = EXPECTED_DIR / f"{profile}.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    return {k: v for k, v in data.items() if not k.startswith("_")}


def expected_entry(profile: str, claim_id: str, procedure: str) -> dict[str, Any] | None:
    entry = load_expected(profile).get(claim_id, {}).get(procedure)
    return entry if isinstance(entry, dict) else None


def check_verdict(profile: str, claim_id: str, procedure: str, verdict: str, control: str | None,
                  detail: str) -> None:
    """Turn a verdict into a pytest outcome (see module docstring)."""
    if profile != "smoke":
        assert verdict == "reproduced", f"{claim_id} not reproduced under {procedure}: {detail}"
        return
    want = expected_entry(profile, claim_id, procedure)
    assert want is not None, (
        f"No reviewed expectation for {claim_id}/{procedure} in claims/expected/{profile}.json "
        f"(obtained: {verdict}, control {control}; see {profile}.json.obtained). A person must review and add it.")
    assert (verdict, control) == (want["verdict"], want.get("control")), (
        f"{claim_id}/{procedure} on the fixture world changed outcome: expected {want['verdict']} (control "
        f"{want.get('control')}), got {verdict} (control {control}). {detail}")


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
        prov["session_wall_s"] = round(time.time() - session.config._claims_t0, 1)  # type: ignore[attr-defined]
        prov["procedure_settings"] = {p: _jsonable(get_procedure(p)) for p in procedures(session.config)}
        w = _WORLDS.get(profile)
        if w is not None:
            prov["device"] = w.device
            if w._tokens is not None:
                prov["token_manifest"] = w._tokens.manifest
        prov["procedures"] = procedures(session.config)
        write_report(out, profile=profile, claim_results=results,
                     experiments={k.split(":", 1)[1]: v for k, v in exps.items()}, provenance=prov)
        changed = any(
            (e := expected_entry(profile, c, p)) is None or (e["verdict"], e.get("control")) != (v["verdict"], v["control"])
            for c, ps in _OBTAINED.items() for p, v in ps.items())
        if changed:
            EXPECTED_DIR.mkdir(exist_ok=True)
            (EXPECTED_DIR / f"{profile}.json.obtained").write_text(json.dumps(_OBTAINED, indent=1, sort_keys=True))


def _jsonable(procedure: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(procedure).items()}


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


# ----------------------------------------------------------------------------- profiles

#: Profiles every claim test runs under: the fixture world, and the paper's two model pairs
#: (Pythia-70m x 160m; Gemma-1-2B x Gemma-2-2B, gated) in the gpu tier.
GPU_PROFILES = ("paper", "gemma")
PROFILE_PARAMS = [pytest.param("smoke", marks=pytest.mark.smoke),
                  *(pytest.param(p, marks=pytest.mark.gpu) for p in GPU_PROFILES)]


@pytest.fixture(scope="session", params=PROFILE_PARAMS)
def profile_name(request: pytest.FixtureRequest) -> str:
    return request.param


def gpu_tier_unavailable(device: str | None) -> str | None:
    """Reason the gpu tier cannot run here, or None."""
    import torch

    if (device or "cuda").startswith("cuda") and not torch.cuda.is_available():
        return "gpu/large tier: no CUDA device (run on a GPU machine, or pass --device cpu to force the CPU)"
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not os.environ.get("SAE_CLAIMS_STAGED_HUB"):
        return ("gpu tier: HF_HUB_OFFLINE=1 (no hub access); unset it on a machine with hub access, or set "
                "SAE_CLAIMS_STAGED_HUB=1 with HF_HUB_CACHE pointing at a staged cache")
    return None


_WORLDS: dict[str, Any] = {}
_CACHE: dict[tuple, Any] = {}


def make_world(profile_name: str, claim_options: dict[str, Any]) -> Any:
    """The World of ``profile_name`` (one per session), or a pytest skip saying what is
    missing (CUDA, hub access, a token for gated models)."""
    from harness.errors import HubAccessError
    from harness.models import check_gated
    from harness.registry import get_profile
    from harness.runs import World

    if profile_name != "smoke":
        reason = gpu_tier_unavailable(claim_options["device"])
        if reason:
            pytest.skip(reason)
    if profile_name not in _WORLDS:
        profile = get_profile(profile_name)
        try:
            for which in ("a", "b"):
                check_gated(profile.models[which]["name"])
        except HubAccessError as exc:
            pytest.skip(f"{profile_name} profile: {exc}")
        device = claim_options["device"] or ("cpu" if profile_name == "smoke" else "cuda")
        _WORLDS[profile_name] = World(profile, cache_dir=claim_options["cache_dir"], device=device)
    return _WORLDS[profile_name]


@pytest.fixture(scope="session")
def world(profile_name: str, claim_options: dict[str, Any]) -> Any:
    return make_world(profile_name, claim_options)


@pytest.fixture(scope="session")
def recorder(profile_name: str, world: Any) -> ClaimRecorder:
    return ClaimRecorder(profile_name)


@pytest.fixture(scope="session")
def grids(world: Any, claim_options: dict[str, Any], recorder: ClaimRecorder):  # type: ignore[no-untyped-def]
    """grids(procedure, control=False) -> the layer-grid record, computed once per session."""
    from harness.runs import pair_counts, run_grid

    def get(procedure: Any, *, control: bool = False) -> dict[str, Any]:
        key = ("grid", world.profile.name, procedure.name, control)
        if key not in _CACHE:
            # the control scores, per cell, as many top-correlated misaligned pairs as the real cell kept
            match = pair_counts(get(procedure)) if control else None
            _CACHE[key] = run_grid(world, procedure, control=control, layers_a=claim_options["layers_a"],
                                   layers_b=claim_options["layers_b"], match_pairs=match)
            name = f"{world.profile.name}:grid {procedure.name}{' (control: B positions shuffled)' if control else ''}"
            recorder.experiment(name, _CACHE[key])
            recorder.experiment(f"{world.profile.name}:preflight", {"kind": "preflight", "sites": world.preflight})
        return _CACHE[key]

    return get


@pytest.fixture(scope="session")
def semantic(world: Any, recorder: ClaimRecorder):  # type: ignore[no-untyped-def]
    """semantic(procedure, control=False) -> the semantic table of the profile's table pair
    (Table 1 for ``paper``, Table 2 for ``gemma``)."""
    from harness.runs import run_semantic

    def get(procedure: Any, *, control: bool = False) -> dict[str, Any]:
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
