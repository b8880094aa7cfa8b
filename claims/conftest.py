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

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from harness.config import get_procedure
from harness.verdicts.recorder import ClaimRecorder as _LibraryRecorder
from harness.report.run import RunProgress
from harness.verdicts.recorder import Expectations, RunStore

EXPECTED_DIR = Path(__file__).parent / "expected"
REPO_ROOT = Path(__file__).resolve().parents[1]
#: The residual cache of a cpu run (``--cache-dir`` moves it; a cuda run keeps residuals in memory).
DEFAULT_RESIDUAL_CACHE = REPO_ROOT / ".cache" / "activations"
_T0 = pytest.StashKey[float]()
"""The session's start time (progress lines, the report's wall time)."""


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_T0] = time.time()
    _check_options(config)
    if not config.getoption("--no-progress"):
        _show_progress(config)


class _ProgressLines(logging.Handler):
    """The library's INFO progress records (harness.experiments) as terminal lines, shown
    while tests run: pytest captures tqdm bars, so a long run otherwise shows only dots."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(logging.INFO)
        self.config = config

    def emit(self, record: logging.LogRecord) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
            reporter.write_line(f"[claims {time.time() - self.config.stash[_T0]:6.0f} s] {record.getMessage()}")


def _show_progress(config: pytest.Config) -> None:
    logger = logging.getLogger("harness.experiments")
    if not any(isinstance(h, _ProgressLines) for h in logger.handlers):
        logger.addHandler(_ProgressLines(config))
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)


def _usage(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a library check; its ConfigError becomes a pytest usage error (exit 4, no compute)."""
    from harness.errors import ConfigError

    try:
        return fn(*args, **kwargs)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_options(config: pytest.Config) -> None:
    """Bad options fail at session start, before any model is loaded (harness/report/run.py)."""
    from harness.report.run import check_device, check_writable_dir, parse_layers_option

    for opt in ("--layers-a", "--layers-b"):
        _usage(parse_layers_option, config.getoption(opt), option=opt)
    if config.getoption("--device"):
        _usage(check_device, config.getoption("--device"))
    _usage(
        check_writable_dir,
        Path(config.getoption("--cache-dir") or REPO_ROOT / ".cache" / "activations"),
        what="--cache-dir",
    )
    if not config.getoption("--no-report"):
        report_dir = config.getoption("--report-dir")
        # the report is written next to its folder and swapped in (or into <dir>-partial): the
        # folder holding it must be writable
        parent = Path(report_dir).absolute().parent if report_dir else REPO_ROOT / "reports"
        _usage(check_writable_dir, parent, what=f"--report-dir {report_dir or parent / '<profile>'}: its folder")
    from harness.executor import make_executor

    _usage(
        make_executor,
        config.getoption("--executor"),
        cell_cache=None,
        ray_address=config.getoption("--ray-address"),
    )  # Ray installed when asked for, --ray-address only with it (no cluster is started here)
    reseeds = config.getoption("--reseeds")
    if reseeds is not None and reseeds < 0:
        raise pytest.UsageError(f"--reseeds {reseeds}: use 0 (no reseed check) or a positive number of extra seeds")
    from harness.threads import pin_threads

    _usage(pin_threads, config.getoption("--threads"))  # reduction order independent of the machine's cores


# ----------------------------------------------------------------------------- run tracking
# Which claim tests of each profile were collected, deselected and finished: a run that did not
# cover everything writes its report to reports/<profile>-partial (harness/report/run.py).

_PROGRESS = RunProgress()
_ITEM_PROFILE: dict[str, str] = {}
CLAIMS_DIR = Path(__file__).parent


def _item_profile(item: pytest.Item) -> str | None:
    """The profile a claim test runs under (its profile parameter, or its module's PROFILE)."""
    if not str(item.path).startswith(str(CLAIMS_DIR)):
        return None
    params = getattr(getattr(item, "callspec", None), "params", {})
    for name in ("profile_name", "seed_profile"):
        if name in params:
            return str(params[name])
    return getattr(getattr(item, "module", None), "PROFILE", None)


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        profile = _item_profile(item)
        if profile is not None:
            _PROGRESS.add_deselected(profile, item.nodeid)


def pytest_collection_finish(session: pytest.Session) -> None:
    from harness.errors import UnknownIdError
    from harness.report.run import check_layers_option, parse_layers_option

    for item in session.items:
        profile = _item_profile(item)
        if profile is not None:
            _ITEM_PROFILE[item.nodeid] = profile
            _PROGRESS.add_collected(profile, item.nodeid)
    c = session.config
    for profile in sorted(_PROGRESS.collected):
        try:
            prof = profile_named(profile)
        except UnknownIdError:
            continue
        for opt, have in (("--layers-a", prof.layers_a), ("--layers-b", prof.layers_b)):
            _usage(
                check_layers_option,
                parse_layers_option(c.getoption(opt), option=opt),
                available=have,
                option=opt,
                profile=profile,
            )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    profile = _ITEM_PROFILE.get(item.nodeid)
    if profile is None:
        return
    exc = call.excinfo
    if call.when == "call" and exc is not None and not exc.errisinstance((AssertionError, pytest.skip.Exception)):
        _PROGRESS.add_errored(profile, item.nodeid)  # a crash, not a verdict that differs from its expectation


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    profile = _ITEM_PROFILE.get(report.nodeid)
    if profile is None:
        return
    if report.when == "call" or report.skipped:
        _PROGRESS.add_finished(profile, report.nodeid)
    elif report.failed:  # setup/teardown error
        _PROGRESS.add_errored(profile, report.nodeid)


def _selection(config: pytest.Config, profile: str, exitstatus: int) -> Any:
    from harness.report.run import parse_layers_option

    narrowed = []
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path != CLAIMS_DIR and CLAIMS_DIR in path.parents:
            narrowed.append(arg)
    return _PROGRESS.selection(
        profile,
        procedures=tuple(procedures(config)),
        layers_a=parse_layers_option(config.getoption("--layers-a"), option="--layers-a"),
        layers_b=parse_layers_option(config.getoption("--layers-b"), option="--layers-b"),
        keyword=config.getoption("keyword") or "",
        markexpr=config.getoption("markexpr") or "",
        args=tuple(config.invocation_params.args),
        paths=tuple(narrowed),
        interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("claims")
    g.addoption(
        "--procedure",
        default="both",
        choices=["both", "paper", "corrected"],
        help="run claims under this procedure (default: both)",
    )
    g.addoption("--device", default=None, help="torch device for the gpu tier (default: cuda if available)")
    g.addoption(
        "--report-dir",
        default=None,
        help="where to write the report (default: reports/<profile>-local, git-ignored, compared with the "
        "committed reports/<profile>)",
    )
    g.addoption(
        "--force-regen",
        action="store_true",
        help="replace the committed report reports/<profile>/ with this run's (a complete run only; "
        "default: write reports/<profile>-local/ and say whether it agrees with the committed one)",
    )
    g.addoption(
        "--cache-dir",
        default=None,
        help="residual cache directory (default: .cache/activations on the cpu; on cuda none -- the residuals "
        "stay in memory: a GPU's forward passes take seconds, the cache gigabytes of disk)",
    )
    g.addoption("--layers-a", default=None, help="comma-separated A layers, to restrict a quick run")
    g.addoption("--layers-b", default=None, help="comma-separated B layers, to restrict a quick run")
    g.addoption("--no-report", action="store_true", help="do not write the report")
    g.addoption(
        "--no-progress",
        action="store_true",
        help="do not print progress lines (grid rows, semantic tables) during the run",
    )
    g.addoption(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="who computes the cells: local (this process, default) or ray (Ray tasks, one GPU each on cuda; "
        "pip install .[distributed]; harness/executor)",
    )
    g.addoption(
        "--ray-address",
        default=None,
        help="with --executor ray: the cluster to join (auto, or ray://HOST:10001; default: start a local one)",
    )
    g.addoption(
        "--cell-cache",
        default=None,
        help="folder of the cell results, keyed by everything they depend on, so an interrupted run resumes "
        "(default: .cache/cells; 'none': keep nothing)",
    )
    g.addoption(
        "--reseeds",
        type=int,
        default=None,
        help="gpu tier: recompute each claim's records at this many more seeds (nulls, controls and every "
        "other draw re-seeded) and report the claim inconclusive unless >= 90%% of the seeds give its verdict "
        "(default 1; 0: no check; harness/verdicts/reseed.py). The smoke tier reads the committed sweep instead",
    )
    g.addoption(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch and BLAS (default 1: the same numbers whatever the core count; harness/threads.py)",
    )


def procedures(config: pytest.Config) -> list[str]:
    choice = config.getoption("--procedure")
    return ["paper", "corrected"] if choice == "both" else [choice]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "procedure" in metafunc.fixturenames:
        metafunc.parametrize(
            "procedure", [get_procedure(p) for p in procedures(metafunc.config)], ids=lambda p: p.name, scope="session"
        )


def _layers(opt: str | None, option: str) -> list[int] | None:
    from harness.report.run import parse_layers_option

    layers = parse_layers_option(opt, option=option)  # already checked at session start
    return None if layers is None else list(layers)


@pytest.fixture(scope="session")
def claim_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    c = request.config
    return {
        "device": c.getoption("--device"),
        "cache_dir": None if c.getoption("--cache-dir") is None else Path(c.getoption("--cache-dir")),
        "layers_a": _layers(c.getoption("--layers-a"), "--layers-a"),
        "layers_b": _layers(c.getoption("--layers-b"), "--layers-b"),
    }


@pytest.fixture(scope="session")
def cell_executor(request: pytest.FixtureRequest) -> Any:
    """The session's executor of grid and semantic cells (--executor, --ray-address, --cell-cache)."""
    from harness.executor import make_executor

    c = request.config
    cache = c.getoption("--cell-cache")
    return make_executor(
        c.getoption("--executor"),
        cell_cache=None if cache == "none" else Path(cache or REPO_ROOT / ".cache" / "cells"),
        ray_address=c.getoption("--ray-address"),
    )


_STORE = RunStore()
_EXPECTATIONS = Expectations(EXPECTED_DIR)


class ClaimRecorder(_LibraryRecorder):
    """The library's recorder (harness/verdicts/recorder.py) whose outcome is the test's:
    an outcome that differs from its expectation fails the test."""

    def __init__(self, profile: str, stability: Any = None) -> None:
        from harness.verdicts.stability import load_stability

        # the committed seed sweep (reports/stability/stability.json): a smoke claim whose outcome
        # is not stable over seeds is inconclusive ("unstable over seeds"), as its expectation says;
        # a gpu-tier profile passes its own reseed check (``--reseeds``, harness/verdicts/reseed.py)
        if stability is None:
            stability = load_stability(profile=profile)
        super().__init__(profile, store=_STORE, expectations=_EXPECTATIONS, stability=stability)

    def conclude(self, claim_id: str, procedure: str, **kwargs: Any) -> None:
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
    from harness.report.regression import report_target
    from harness.report.run import write_run_report

    profiles = sorted({r["profile"] for r in _STORE.results})
    report_dir = session.config.getoption("--report-dir")
    reports = REPO_ROOT / "reports"
    for profile in profiles:
        # default: reports/<profile>-local (git-ignored); the committed reports/<profile> only with
        # --force-regen; --report-dir holds one profile's report (several: one folder each inside it)
        out = report_target(
            reports,
            profile,
            report_dir=report_dir,
            force_regen=session.config.getoption("--force-regen"),
            n_profiles=len(profiles),
        )
        committed = reports / profile
        before = _read_json(committed / "results.json")  # read before a --force-regen replaces it
        w = _WORLDS.get(profile)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        try:
            written = write_run_report(
                out,
                profile=profile,
                store=_STORE,
                procedures=procedures(session.config),
                wall_s=time.time() - session.config.stash[_T0],
                device=None if w is None else w.device,
                token_manifest=None if w is None or w._tokens is None else w._tokens.manifest,
                selection=_selection(session.config, profile, exitstatus),
            )
        except OSError as exc:  # e.g. the disk filled up: say so, keep the test summary, fail the run
            if reporter is not None:
                reporter.write_line(f"claims report ({profile}) NOT written to {out}: {exc}", red=True)
            if session.exitstatus == 0:
                session.exitstatus = 1
        else:
            if reporter is not None:
                reporter.write_line(f"claims report ({profile}): {_shown(written / 'REPORT.md')}")
                _say_agreement(reporter, written, out, committed, before)
        _EXPECTATIONS.write_obtained_if_changed(profile, _STORE.obtained)
    _warn_lock_drift(session)


def _warn_lock_drift(session: pytest.Session) -> None:
    """A console warning when the running library versions differ from constraints.txt (harness/lockfile.py)."""
    from harness.lockfile import lock_differences

    drift = lock_differences()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if drift and reporter is not None:
        reporter.write_line(
            f"warning: not the locked environment ({len(drift)} package(s) differ from constraints.txt: "
            + ", ".join(drift[:10])
            + (", ..." if len(drift) > 10 else "")
            + "); install with `pip install -c constraints.txt` to reproduce the committed numbers",
            yellow=True,
        )


def _read_json(path: Path) -> Any:
    import json

    return json.loads(path.read_text()) if path.exists() else None


def _shown(path: Path) -> str:
    """A path relative to the repository when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _say_agreement(reporter: Any, written: Path, out: Path, committed: Path, before: Any) -> None:
    """The session's last lines: does this run agree with the committed report (harness/report/regression.py)?"""
    from harness.report.regression import DIFFERENCES_FILE, compare_with_committed

    if written != out:
        reporter.write_line(f"partial run: not compared with the committed report {_shown(committed)}")
        return
    if before is None:
        reporter.write_line(f"no committed report {_shown(committed)} to compare with")
        return
    cmp = compare_with_committed(written, committed, committed_results=before, label=_shown(committed))
    if cmp is None:  # pragma: no cover - before is not None here
        return
    full = None if written.resolve() == committed.resolve() else Path(_shown(written / DIFFERENCES_FILE))
    for i, line in enumerate(cmp.summary_lines(full_list=full)):
        reporter.write_line(line, green=cmp.agrees and i == 0, yellow=not cmp.agrees and i == 0)
    if written.resolve() == committed.resolve():
        reporter.write_line(f"the committed report {_shown(committed)} was replaced (--force-regen)")


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


# ----------------------------------------------------------------------------- profiles

#: Profiles every claim test runs under: the fixture world, and the paper's two model pairs
#: (Pythia-70m x 160m; Gemma-1-2B x Gemma-2-2B, gated) in the gpu tier.
GPU_PROFILES = ("paper", "gemma")
PROFILE_PARAMS = [
    pytest.param("smoke", marks=pytest.mark.smoke),
    *(pytest.param(p, marks=pytest.mark.gpu) for p in GPU_PROFILES),
]


@pytest.fixture(scope="session", params=PROFILE_PARAMS)
def profile_name(request: pytest.FixtureRequest) -> str:
    return request.param


def gpu_tier_unavailable(device: str | None) -> str | None:
    """Reason the gpu tier cannot run here, or None."""
    import torch

    if (device or "cuda").startswith("cuda") and not torch.cuda.is_available():
        return "gpu/large tier: no CUDA device (run on a GPU machine, or pass --device cpu to force the CPU)"
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not os.environ.get("SAE_CLAIMS_STAGED_HUB"):
        return (
            "gpu tier: HF_HUB_OFFLINE=1 (no hub access); unset it on a machine with hub access, or set "
            "SAE_CLAIMS_STAGED_HUB=1 with HF_HUB_CACHE pointing at a staged cache"
        )
    return None


_WORLDS: dict[str, Any] = {}
_CACHE: dict[tuple, Any] = {}


def profile_named(name: str) -> Any:
    """The run profile ``name``: the fixture world's for ``smoke`` (fixtures/smoke.toml), else a
    built-in one (harness/profiles/builtin/)."""
    from fixtures.profile import smoke_profile
    from harness.profiles import get_profile

    return smoke_profile() if name == "smoke" else get_profile(name)


def make_world(profile_name: str, claim_options: dict[str, Any]) -> Any:
    """The LoadedPair of ``profile_name`` (one per session), or a pytest skip saying what is
    missing (CUDA, hub access, a token for gated models)."""
    from harness.errors import HubAccessError
    from harness.experiments.grid import LoadedPair
    from harness.load.models import check_gated

    if profile_name != "smoke":
        reason = gpu_tier_unavailable(claim_options["device"])
        if reason:
            pytest.skip(reason)
    if profile_name not in _WORLDS:
        profile = profile_named(profile_name)
        try:
            for which in ("a", "b"):
                check_gated(profile.models[which]["name"])
        except HubAccessError as exc:
            pytest.skip(f"{profile_name} profile: {exc}")
        device = claim_options["device"] or ("cpu" if profile_name == "smoke" else "cuda")
        cache_dir = claim_options["cache_dir"]
        if cache_dir is None and device == "cpu":  # on cuda the residuals stay in memory (--cache-dir)
            cache_dir = DEFAULT_RESIDUAL_CACHE
        _WORLDS[profile_name] = LoadedPair(profile, cache_dir=cache_dir, device=device)
    return _WORLDS[profile_name]


@pytest.fixture(scope="session")
def world(profile_name: str, claim_options: dict[str, Any]) -> Any:
    return make_world(profile_name, claim_options)


@pytest.fixture(scope="session")
def recorder(
    profile_name: str, world: Any, claim_options: dict[str, Any], cell_executor: Any, request: pytest.FixtureRequest
) -> ClaimRecorder:
    if profile_name == "smoke":
        return ClaimRecorder(profile_name)
    return ClaimRecorder(profile_name, stability=reseed_check(world, claim_options, cell_executor, request.config))


def reseed_check(world: Any, claim_options: dict[str, Any], executor: Any, config: pytest.Config) -> Any:
    """The gpu tier's own seed-stability check (``--reseeds``; harness/verdicts/reseed.py): a claim's
    records at the reference seed are the ones its test recorded (this session's cache); at other
    seeds they are computed as the fixtures compute them (same layers, executor and cell store)."""
    from harness.verdicts.reseed import DEFAULT_RESEEDS, ReseedCheck
    from harness.verdicts.stability import REFERENCE_SEED, group_records

    n = config.getoption("--reseeds")
    prof = world.profile

    def recorded(procedure: Any, group: str) -> dict[str, Any] | None:
        """The group's records this session already holds at the reference seed (None: not all of them)."""
        name = prof.name
        keys: dict[str, tuple[Any, ...]]
        if group == "grid":
            grid = _CACHE.get(("grid", name, procedure.name, False))
            if grid is None:
                return None
            control = _CACHE.get(("grid", name, procedure.name, True))
            if control is None:  # the claims judged so far read the grid alone: its control as the fixture makes it
                from harness.experiments.grid import pair_counts, run_grid

                control = run_grid(
                    world,
                    procedure,
                    control=True,
                    layers_a=claim_options["layers_a"],
                    layers_b=claim_options["layers_b"],
                    match_pairs=pair_counts(grid),
                    executor=executor,
                )
            return {"grid": grid, "control_grid": control}
        if group == "semantic_table":
            la, lb = prof.semantic_table
            keys = {
                r: ("semantic", name, procedure.name, c, la, lb) for r, c in (("table", False), ("control_table", True))
            }
            return {r: _CACHE[k] for r, k in keys.items()} if all(k in _CACHE for k in keys.values()) else None
        if group == "semantic_grid":
            out = {}
            for role, control in (("semantic_grid", False), ("control_semantic_grid", True)):
                ks = [
                    ("semantic", name, procedure.name, control, la, lb)
                    for la in prof.semantic_layers_a
                    for lb in prof.semantic_layers_b
                ]
                if not all(k in _CACHE for k in ks):
                    return None
                tables = [_CACHE[k] for k in ks]
                out[role] = {"kind": "semantic_grid", "procedure": procedure.name, "control": control, "tables": tables}
            return out
        return None

    def records(procedure: Any, group: str) -> dict[str, Any]:
        held = recorded(procedure, group) if procedure.seed == REFERENCE_SEED else None
        if held is not None:
            return held
        return group_records(
            world,
            procedure,
            group,
            executor=executor,
            layers_a=claim_options["layers_a"],
            layers_b=claim_options["layers_b"],
        )

    log = logging.getLogger("harness.experiments").info
    return ReseedCheck(
        prof.name,
        DEFAULT_RESEEDS if n is None else n,
        records,
        {p: get_procedure(p) for p in procedures(config)},
        log=log,
    )


def grid_name(procedure: Any, *, control: bool = False) -> str:
    """Name of a layer-grid record in the run's store and results.json (without the profile)."""
    return f"grid {procedure.name}{' (control: B positions shuffled)' if control else ''}"


def table_name(procedure: Any, layer_a: int, layer_b: int, *, control: bool = False) -> str:
    return f"semantic A{layer_a} x B{layer_b} {procedure.name}{' (control)' if control else ''}"


def semantic_grid_name(procedure: Any, *, control: bool = False) -> str:
    return f"semantic grid {procedure.name}{' (control)' if control else ''}"


@pytest.fixture(scope="session")
def grids(world: Any, claim_options: dict[str, Any], recorder: ClaimRecorder, cell_executor: Any):
    """grids(procedure, control=False) -> the layer-grid record, computed once per session."""
    from harness.experiments.grid import pair_counts, run_grid

    def get(procedure: Any, *, control: bool = False) -> dict[str, Any]:
        key = ("grid", world.profile.name, procedure.name, control)
        if key not in _CACHE:
            # the control scores, per cell, as many top-correlated misaligned pairs as the real cell kept
            match = pair_counts(get(procedure)) if control else None
            _CACHE[key] = run_grid(
                world,
                procedure,
                control=control,
                layers_a=claim_options["layers_a"],
                layers_b=claim_options["layers_b"],
                match_pairs=match,
                executor=cell_executor,
            )
            recorder.experiment(f"{world.profile.name}:{grid_name(procedure, control=control)}", _CACHE[key])
            recorder.experiment(f"{world.profile.name}:preflight", {"kind": "preflight", "sites": world.preflight})
        return _CACHE[key]

    return get


@pytest.fixture(scope="session")
def semantic(world: Any, recorder: ClaimRecorder, cell_executor: Any):
    """semantic(procedure, control=False) -> the semantic table of the profile's table pair
    (Table 1 for ``paper``, Table 2 for ``gemma``)."""
    from harness.experiments.grid import run_semantic
    from harness.experiments.semantic_subspaces import SEMANTIC_BOOTSTRAP

    def get(procedure: Any, *, control: bool = False) -> dict[str, Any]:
        la, lb = world.profile.semantic_table
        key = ("semantic", world.profile.name, procedure.name, control, la, lb)
        if key not in _CACHE:
            _CACHE[key] = run_semantic(
                world,
                procedure,
                la,
                lb,
                control=control,
                paper_table=world.profile.paper_semantic_table,
                n_bootstrap=SEMANTIC_BOOTSTRAP,  # S2/S4's intervals: the scores' bootstrap standard errors
                executor=cell_executor,
            )
            recorder.experiment(f"{world.profile.name}:{table_name(procedure, la, lb, control=control)}", _CACHE[key])
        return _CACHE[key]

    return get


@pytest.fixture(scope="session")
def semantic_grid(world: Any, semantic: Any, recorder: ClaimRecorder, cell_executor: Any):
    """semantic_grid(procedure, control=False) -> semantic tables for every semantic layer pair."""
    from harness.experiments.grid import run_semantic

    def get(procedure: Any, *, control: bool = False) -> list[dict[str, Any]]:
        tables = []
        for la in world.profile.semantic_layers_a:
            for lb in world.profile.semantic_layers_b:
                key = ("semantic", world.profile.name, procedure.name, control, la, lb)
                if key not in _CACHE:
                    _CACHE[key] = run_semantic(world, procedure, la, lb, control=control, executor=cell_executor)
                tables.append(_CACHE[key])
        recorder.experiment(
            f"{world.profile.name}:{semantic_grid_name(procedure, control=control)}",
            {"kind": "semantic_grid", "procedure": procedure.name, "control": control, "tables": tables},
        )
        return tables

    return get
