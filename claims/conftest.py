"""Claims plugin (pytest glue only): options, session fixtures, the recorder whose outcome is
the test's, and the report at session end.

pytest outcome = verdict (pass = reproduced, fail = not reproduced, skip = not run, and a skip
whose reason starts with "inconclusive:" = inconclusive). A claim is reproduced iff its rule
holds and its negative control does not (the rule: harness/verdicts/recorder.py:conclude). In the ``paper`` profile (gpu tier) a claim test
passes iff the claim reproduces. In the ``smoke`` profile the verdict and the control's
outcome on the fixture world are recorded as they are, and the test asserts they equal the
reviewed expectation in ``claims/expected/smoke.json`` (golden data, changed only by a
person, with the reason next to each entry); a missing or different expectation fails and
writes ``smoke.json.obtained``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from harness.config import get_procedure
from harness.verdicts.recorder import ClaimRecorder as _LibraryRecorder
from harness.verdicts.recorder import Expectations, RunStore

EXPECTED_DIR = Path(__file__).parent / "expected"
REPO_ROOT = Path(__file__).resolve().parents[1]


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


_STORE = RunStore()
_EXPECTATIONS = Expectations(EXPECTED_DIR)


class ClaimRecorder(_LibraryRecorder):
    """The library's recorder (harness/verdicts/recorder.py) whose outcome is the test's:
    an outcome that differs from its expectation fails the test."""

    def __init__(self, profile: str) -> None:
        super().__init__(profile, store=_STORE, expectations=_EXPECTATIONS)

    def conclude(self, claim_id: str, procedure: str, **kwargs: Any) -> None:  # type: ignore[override]
        failure = super().conclude(claim_id, procedure, **kwargs)
        assert failure is None, failure
        # inconclusive is its own outcome, never a pass: a skip whose reason says so (design.md).
        # In the smoke tier the reviewed expectation has already pinned it above.
        if self.last is not None and self.last.verdict == "inconclusive":
            pytest.skip(f"inconclusive: {self.last.inconclusive}")


@pytest.fixture(scope="session")
def recorder_smoke() -> ClaimRecorder:
    return ClaimRecorder("smoke")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _STORE.results or session.config.getoption("--no-report"):
        return
    from harness.report.run import write_run_report

    for profile in sorted({r["profile"] for r in _STORE.results}):
        out = Path(session.config.getoption("--report-dir") or REPO_ROOT / "reports" / profile)
        w = _WORLDS.get(profile)
        write_run_report(out, profile=profile, store=_STORE, procedures=procedures(session.config),
                         wall_s=time.time() - session.config._claims_t0,  # type: ignore[attr-defined]
                         device=None if w is None else w.device,
                         token_manifest=None if w is None or w._tokens is None else w._tokens.manifest)
        _EXPECTATIONS.write_obtained_if_changed(profile, _STORE.obtained)


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
    from harness.load.models import check_gated
    from fixtures.profile import smoke_profile
    from harness.profiles import get_profile
    from harness.experiments.grid import World

    if profile_name != "smoke":
        reason = gpu_tier_unavailable(claim_options["device"])
        if reason:
            pytest.skip(reason)
    if profile_name not in _WORLDS:
        profile = smoke_profile() if profile_name == "smoke" else get_profile(profile_name)
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


def grid_name(procedure: Any, *, control: bool = False) -> str:
    """Name of a layer-grid record in the run's store and results.json (without the profile)."""
    return f"grid {procedure.name}{' (control: B positions shuffled)' if control else ''}"


def table_name(procedure: Any, layer_a: int, layer_b: int, *, control: bool = False) -> str:
    return f"semantic A{layer_a} x B{layer_b} {procedure.name}{' (control)' if control else ''}"


def semantic_grid_name(procedure: Any, *, control: bool = False) -> str:
    return f"semantic grid {procedure.name}{' (control)' if control else ''}"


@pytest.fixture(scope="session")
def grids(world: Any, claim_options: dict[str, Any], recorder: ClaimRecorder):  # type: ignore[no-untyped-def]
    """grids(procedure, control=False) -> the layer-grid record, computed once per session."""
    from harness.experiments.grid import pair_counts, run_grid

    def get(procedure: Any, *, control: bool = False) -> dict[str, Any]:
        key = ("grid", world.profile.name, procedure.name, control)
        if key not in _CACHE:
            # the control scores, per cell, as many top-correlated misaligned pairs as the real cell kept
            match = pair_counts(get(procedure)) if control else None
            _CACHE[key] = run_grid(world, procedure, control=control, layers_a=claim_options["layers_a"],
                                   layers_b=claim_options["layers_b"], match_pairs=match)
            recorder.experiment(f"{world.profile.name}:{grid_name(procedure, control=control)}", _CACHE[key])
            recorder.experiment(f"{world.profile.name}:preflight", {"kind": "preflight", "sites": world.preflight})
        return _CACHE[key]

    return get


@pytest.fixture(scope="session")
def semantic(world: Any, recorder: ClaimRecorder):  # type: ignore[no-untyped-def]
    """semantic(procedure, control=False) -> the semantic table of the profile's table pair
    (Table 1 for ``paper``, Table 2 for ``gemma``)."""
    from harness.experiments.grid import run_semantic

    def get(procedure: Any, *, control: bool = False) -> dict[str, Any]:
        la, lb = world.profile.semantic_table
        key = ("semantic", world.profile.name, procedure.name, control, la, lb)
        if key not in _CACHE:
            _CACHE[key] = run_semantic(world, procedure, la, lb, control=control,
                                       paper_table=world.profile.paper_semantic_table)
            recorder.experiment(f"{world.profile.name}:{table_name(procedure, la, lb, control=control)}", _CACHE[key])
        return _CACHE[key]

    return get


@pytest.fixture(scope="session")
def semantic_grid(world: Any, semantic: Any, recorder: ClaimRecorder):  # type: ignore[no-untyped-def]
    """semantic_grid(procedure, control=False) -> semantic tables for every semantic layer pair."""
    from harness.experiments.grid import run_semantic

    def get(procedure: Any, *, control: bool = False) -> list[dict[str, Any]]:
        tables = []
        for la in world.profile.semantic_layers_a:
            for lb in world.profile.semantic_layers_b:
                key = ("semantic", world.profile.name, procedure.name, control, la, lb)
                if key not in _CACHE:
                    _CACHE[key] = run_semantic(world, procedure, la, lb, control=control)
                tables.append(_CACHE[key])
        recorder.experiment(f"{world.profile.name}:{semantic_grid_name(procedure, control=control)}",
                            {"kind": "semantic_grid", "procedure": procedure.name, "control": control,
                             "tables": tables})
        return tables

    return get
