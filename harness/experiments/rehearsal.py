"""Rehearsal of the paper tier: the gpu-tier code path against a staged offline hub.

The ``paper`` profile names its inputs by hub id (``EleutherAI/pythia-70m``,
``EleutherAI/sae-pythia-70m-32k`` / ``layers.L``, ``Skylion007/openwebtext`` at
``refs/convert/parquet``). :mod:`fixtures.rehearsal_hub` stages random-weight stand-ins at the
real shapes under those names into a local hub cache. This module runs the same code a GPU
run runs — :class:`harness.experiments.grid.LoadedPair`, :func:`harness.experiments.grid.run_grid`,
:func:`harness.experiments.grid.run_semantic`, :func:`harness.report.markdown.write_report` — with the
``rehearsal`` profile (the paper's hub names at 4 x 32 tokens, layers {0, 1}), under both
procedures, and writes ``summary.json``: what resolved from where, shapes, layer alignment,
pre-flight results, the pairing backend each procedure used, grid and semantic records and
the report files. Numbers mean nothing (random weights); the wiring is what is checked
(``claims/test_rehearsal.py``).

The run must happen in a process whose huggingface_hub was imported under the staged hub's
environment: ``python -m fixtures.rehearse --hub DIR --out DIR [--stage]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

__all__ = ["BENCHMARK_NAME", "SUMMARY_NAME", "run_rehearsal"]

SUMMARY_NAME: str = "summary.json"
"""File the rehearsal writes into ``out_dir``."""

BENCHMARK_NAME: str = "benchmark.json"
"""Per-stage times and memory peaks (:mod:`harness.experiments.benchmark`), also in ``out_dir``."""

ALIGNMENT_SAMPLES: int = 8
"""Token rows of the HF-vs-transformer-lens layer alignment check (a wiring check; at paper
size the whole token set would cost an HF forward pass of both models on the host)."""

SPACE_CHECK_POSITIONS: int = 1024
"""Positions whose codes the space check recomputes with sae-lens (bounded at paper size)."""


# --------------------------------------------------------------------------------------
# The rehearsal run (needs hub_env(home) set before huggingface_hub is imported)
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _record_backends(log: list[dict[str, Any]]) -> Iterator[None]:
    """Record the backend and shapes of every whole-space pairing the experiments make."""
    import harness.experiments.spaces as experiments

    original = experiments.space_max_correlation

    def spy(space_a: Any, space_b: Any, procedure: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        mc = original(space_a, space_b, procedure, **kwargs)
        log.append(
            {
                "backend": mc.backend,
                "shape_a": list(space_a.codes.shape),
                "shape_b": list(space_b.codes.shape),
                "dead_policy": mc.dead_policy,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        return mc

    experiments.space_max_correlation = spy
    try:
        yield
    finally:
        experiments.space_max_correlation = original


def _resolved(repo_id: str, filename: str, *, repo_type: str = "model", revision: str | None = None) -> str | None:
    """Where huggingface_hub resolves ``repo_id/filename`` in its cache (None: not cached)."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo_id, filename, repo_type=repo_type, revision=revision)
    return hit if isinstance(hit, str) else None


def _alignment(world: Any, which: str, layers: Sequence[int]) -> dict[str, Any]:
    """Compare transformer-lens residuals of the unprocessed model with HF hidden states.

    ``block_output`` of L must equal ``hidden_states[L + 1]`` and ``block_input`` of L
    ``hidden_states[L]`` (max abs difference, float32); the HF model is loaded by hub name,
    i.e. from the same (staged) cache.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from harness.load.models import residual_activations

    name = world.profile.models[which]["name"]
    tokens = world.tokens.tokens[:ALIGNMENT_SAMPLES]
    hf = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32).eval()
    with torch.inference_mode():
        hs = hf(tokens, output_hidden_states=True).hidden_states
    del hf
    model = world.model(which)
    out: dict[str, Any] = {}
    post = residual_activations(model, tokens, layers, site="block_output", batch_size=len(tokens))
    pre = residual_activations(model, tokens, layers, site="block_input", batch_size=len(tokens))
    for layer in layers:
        out[str(layer)] = {
            "output_vs_hf_next": float((post[layer] - hs[layer + 1]).abs().max()),
            "input_vs_hf_same": float((pre[layer] - hs[layer]).abs().max()),
            "output_vs_input": float((post[layer] - pre[layer]).abs().max()),
            "scale": float(hs[layer + 1].abs().max()),
        }
    return out


def _space_check(world: Any, which: str, layer: int, procedure: Any) -> dict[str, Any]:
    """Recompute the first :data:`SPACE_CHECK_POSITIONS` code rows of one FeatureSpace with
    sae-lens from a fresh forward pass at the procedure's site with its code, and compare with
    what LoadedPair encodes from its residual cache (proves site, code and masking are wired)."""
    import numpy as np
    import torch

    from harness.load.models import residual_activations
    from harness.load.saes import load_sae

    space = world.space(which, layer, procedure)
    tok = world.tokens
    sae = load_sae(world.profile.sae_spec(which, layer), device=world.device)
    acts = residual_activations(
        world.model(which),
        tok.tokens,
        [layer],
        site=procedure.activation_site,
        batch_size=world.profile.batch_size,
        attention_mask=tok.attention_mask,
    )[layer]
    keep = (~tok.special_mask if procedure.mask_special_positions else torch.ones_like(tok.special_mask)).reshape(-1)
    m = min(SPACE_CHECK_POSITIONS, space.n_positions)
    flat = acts.reshape(-1, acts.shape[-1])[keep][:m]
    ref = sae.encode(flat, code=procedure.sae_code).float().cpu().numpy()
    other = sae.encode(flat, code="sparse" if procedure.sae_code == "pre_topk" else "pre_topk").float().cpu().numpy()
    got = space.source().block(0, m).float().cpu().numpy()
    nnz_rows = (got != 0).sum(axis=1)
    return {
        "codes_shape": list(space.codes.shape),
        "decoder_shape": list(space.decoder.shape),
        "n_positions": int(space.n_positions),
        "n_special_positions": int(tok.special_mask.sum()),
        "positions_checked": int(m),
        "density": float((got != 0).mean()),
        "max_nnz_per_position": int(nnz_rows.max()),
        "min_nnz_per_position": int(nnz_rows.min()),
        "max_abs_diff_recomputed": float(np.abs(got - ref).max()),
        "max_abs_diff_other_code": float(np.abs(got - other).max()),
        "finite": bool(np.isfinite(got).all() and np.isfinite(space.decoder).all()),
    }


def _negative_preflight(world: Any) -> dict[str, str]:
    """The pre-flight check must refuse a foreign SAE (d_in mismatch) and a badly centred one."""
    import torch

    from harness.activations.preflight import preflight
    from harness.load.saes import load_sae

    out: dict[str, str] = {}
    sae_a = load_sae(world.profile.sae_spec("a", 0), device=world.device)
    for label, model, sae in (("foreign_sae", world.model("b"), sae_a),):
        try:
            preflight(model, sae, world.tokens, 0, site="block_output", batch_size=world.profile.batch_size)
            out[label] = "accepted"
        except HarnessError as exc:
            out[label] = f"{type(exc).__name__}: {exc}"
    with torch.no_grad():
        sae_a.sae.b_dec.add_(1000.0)  # reconstruction far off the data: FVU >> 1
    try:
        preflight(world.model("a"), sae_a, world.tokens, 0, site="block_output", batch_size=world.profile.batch_size)
        out["shifted_b_dec"] = "accepted"
    except HarnessError as exc:
        out["shifted_b_dec"] = f"{type(exc).__name__}: {exc}"
    return out


def _not_run_claims(procedures: Sequence[str]) -> list[dict[str, Any]]:
    from harness.verdicts.records import CLAIMS

    detail = (
        "rehearsal tier: random-weight stand-ins under the real hub names; the pipeline ran (see "
        "experiments) but a verdict on random weights means nothing"
    )
    return [
        {
            "id": rec.id,
            "statement": rec.statement,
            "source": rec.source,
            "paper_values": rec.paper_values,
            "rule": rec.rule,
            "procedure": p,
            "profile": "rehearsal",
            "verdict": "not run",
            "measured": {},
            "detail": detail,
            "expected": None,
        }
        for rec in CLAIMS.values()
        if "gpu" in rec.tiers
        for p in procedures
    ]


def run_rehearsal(
    out_dir: str | os.PathLike[str],
    *,
    profile: str = "rehearsal",
    device: str = "cpu",
    procedures: Sequence[str] = ("paper", "corrected"),
    semantic: bool = True,
    control: Sequence[str] | bool = True,
    meter: Any = None,
    scale: str | None = None,
) -> dict[str, Any]:
    """Run the gpu-tier code path of ``profile`` and write ``out_dir/summary.json``, the
    report (``out_dir/report``), the residual cache (``out_dir/cache``) and
    ``out_dir/benchmark.json`` (per-stage seconds and memory peaks, :mod:`harness.experiments.benchmark`).

    Per procedure: the whole grid, the negative-control grid (``control``: procedures, or True =
    all, False = none), the semantic tables of every semantic layer pair of the profile and
    the control of the profile's table pair (``semantic``). ``meter``: a
    :class:`harness.experiments.benchmark.StageMeter` that already holds earlier stages (e.g.
    staging the hub); ``scale``: the label written into benchmark.json (default: the profile).

    Must run in a process whose huggingface_hub was imported under the staged hub's
    environment (see :func:`main`). Returns the summary.
    """
    import huggingface_hub.constants as hf_constants
    import torch

    from harness.config import get_procedure
    from harness.experiments.benchmark import StageMeter, tree_bytes
    from harness.provenance import provenance
    from harness.profiles import get_profile
    from harness.report.markdown import write_report
    from harness.experiments.grid import LoadedPair, pair_counts, run_grid, run_semantic
    from harness.load.saes import load_sae
    from harness.report.run import check_device

    check_device(device)  # a clear ConfigError naming the fix, before any loading
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meter = meter if meter is not None else StageMeter(device=device)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    @contextlib.contextmanager
    def stage(label: str) -> Iterator[None]:
        t0 = time.perf_counter()
        with meter.stage(label):
            yield
        timings[label] = round(timings.get(label, 0.0) + time.perf_counter() - t0, 3)

    prof = get_profile(profile)
    control_for = set(procedures) if control is True else set() if control is False else set(control)
    world = LoadedPair(prof, cache_dir=out / "cache", device=device)
    summary: dict[str, Any] = {
        "profile": prof.name,
        "device": device,
        "notes": list(prof.notes),
        "procedures_run": list(procedures),
        "control_procedures": sorted(control_for),
        "semantic": bool(semantic),
        "env": {
            "HF_HOME": os.environ.get("HF_HOME"),
            "HF_HUB_CACHE": os.environ.get("HF_HUB_CACHE"),
            "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE"),
            "constants_hub_cache": str(hf_constants.HF_HUB_CACHE),
            "constants_offline": bool(hf_constants.HF_HUB_OFFLINE),
        },
    }

    # models: by hub name through harness.load.models.load_model (LoadedPair.model)
    models: dict[str, Any] = {}
    for which in ("a", "b"):
        with stage(f"load_model_{which}"):
            model = world.model(which)
        name = prof.models[which]["name"]
        models[which] = {
            "name": name,
            "cfg_model_name": model.cfg.model_name,
            "n_layers": int(model.cfg.n_layers),
            "d_model": int(model.cfg.d_model),
            "d_vocab": int(model.cfg.d_vocab),
            "dtype": str(model.cfg.dtype),
            "default_prepend_bos": bool(model.cfg.default_prepend_bos),
            "normalization_type": str(model.cfg.normalization_type),
            "tokenizer": type(model.tokenizer).__name__,
            "resolved_config": _resolved(name, "config.json"),
            "resolved_weights": _resolved(name, "model.safetensors"),
        }
    summary["models"] = models

    # tokens: hub dataset id + parquet revision + data file, via harness.load.data.load_tokens
    with stage("load_tokens"):
        tok = world.tokens
    manifest = {k: v for k, v in tok.manifest.items() if k != "document_sha256"}
    summary["tokens"] = {
        "shape": list(tok.tokens.shape),
        "dtype": str(tok.tokens.dtype),
        "n_special": int(tok.special_mask.sum()),
        "key": tok.key,
        "manifest": manifest,
        "n_documents_hashed": len(tok.manifest["document_sha256"]),
        "resolved_file": _resolved(
            prof.data.source, str(prof.data.data_files), repo_type="dataset", revision=prof.data.effective_revision
        ),
    }

    # SAEs: sparsify format by hub repo + hookpoint, via harness.load.saes.load_sae
    saes: dict[str, Any] = {}
    with stage("load_sae"):
        for which, layers in (("a", prof.layers_a), ("b", prof.layers_b)):
            for layer in layers:
                spec = prof.sae_spec(which, layer)
                sae = load_sae(spec, device=device)
                saes[f"{which}/{layer}"] = {
                    "repo_id": spec.repo_id,
                    "hookpoint": spec.hookpoint,
                    "meta": sae.meta.to_dict(),
                    "W_enc": list(sae.sae.W_enc.shape),
                    "W_dec": list(sae.sae.W_dec.shape),
                    "b_enc": list(sae.sae.b_enc.shape),
                    "b_dec": list(sae.sae.b_dec.shape),
                    "resolved_cfg": _resolved(str(spec.repo_id), f"{spec.hookpoint}/cfg.json"),
                    "resolved_weights": _resolved(str(spec.repo_id), f"{spec.hookpoint}/sae.safetensors"),
                }
                del sae
    summary["saes"] = saes

    # layer alignment: TL block output/input vs HF hidden states of the same staged checkpoint
    with stage("alignment"):
        summary["alignment"] = {
            which: _alignment(world, which, layers) for which, layers in (("a", prof.layers_a), ("b", prof.layers_b))
        }

    # the pipeline under each procedure: spaces (+ pre-flight, + forward passes the first
    # time), grid, control grid, semantic tables
    per_proc: dict[str, Any] = {}
    experiments: dict[str, Any] = {}
    with stage("forward_residuals"):
        for which in ("a", "b"):
            world.warm_residuals(which, get_procedure(procedures[0]).activation_site)
    for pname in procedures:
        proc = get_procedure(pname)
        rec: dict[str, Any] = {"procedure": proc.to_dict()}
        with stage(f"spaces_{pname}"):
            for which, layers in (("a", prof.layers_a), ("b", prof.layers_b)):
                for layer in layers:
                    world.space(which, layer, proc).top  # noqa: B018 -- the encode pass
        with stage("space_checks"):
            rec["space_checks"] = {
                f"{which}/{layer}": _space_check(world, which, layer, proc)
                for which, layer in (("a", prof.layers_a[-1]), ("b", prof.layers_b[-1]))
            }
        backends: list[dict[str, Any]] = []
        with _record_backends(backends):
            with stage(f"grid_{pname}"):
                grid = run_grid(world, proc)
            rec["grid_backends"] = list(backends)
            experiments[f"grid {pname}"] = grid
            rec["grid"] = grid
            if pname in control_for:
                with stage(f"grid_control_{pname}"):
                    ctrl = run_grid(world, proc, control=True, match_pairs=pair_counts(grid))
                experiments[f"grid {pname} (control: B positions shuffled)"] = ctrl
                rec["grid_control"] = ctrl
            if semantic:
                la, lb = prof.semantic_table
                tables = []
                with stage(f"semantic_{pname}"):
                    pairs = sorted(
                        {(a, b) for a in prof.semantic_layers_a for b in prof.semantic_layers_b} | {(la, lb)}
                    )
                    for a, b in pairs:
                        sem = run_semantic(
                            world, proc, a, b, paper_table=prof.paper_semantic_table if (a, b) == (la, lb) else None
                        )
                        experiments[f"semantic A{a} x B{b} {pname}"] = sem
                        tables.append(sem)
                        if (a, b) == (la, lb):
                            rec["semantic"] = sem
                with stage(f"semantic_control_{pname}"):
                    sem_ctrl = run_semantic(world, proc, la, lb, control=True)
                experiments[f"semantic A{la} x B{lb} {pname} (control)"] = sem_ctrl
                rec["semantic_tables"] = [(t["layer_a"], t["layer_b"]) for t in tables]
                rec["semantic_control"] = sem_ctrl
        per_proc[pname] = rec
    summary["procedures"] = per_proc
    summary["preflight"] = list(world.preflight)
    experiments["preflight"] = {"kind": "preflight", "sites": world.preflight}

    with stage("negative_preflight"):
        summary["negative_preflight"] = _negative_preflight(world)

    # report
    with stage("report"):
        prov = provenance()
        prov.update(profile=prof.name, procedures=list(procedures), staged_hub=os.environ.get("HF_HOME"))
        report_dir = out / "report"
        md = write_report(
            report_dir,
            profile=prof.name,
            claim_results=_not_run_claims(procedures),
            experiments=experiments,
            provenance=prov,
        )
    summary["report"] = {
        "dir": str(report_dir),
        "markdown": str(md),
        "files": sorted(str(p.relative_to(report_dir)) for p in report_dir.rglob("*") if p.is_file()),
    }
    summary["cache_files"] = sorted(str(p.relative_to(out / "cache")) for p in (out / "cache").rglob("*.pt"))
    timings["total"] = round(time.perf_counter() - t_all, 3)
    summary["timings"] = timings
    summary["torch_threads"] = torch.get_num_threads()
    bench = meter.benchmark(scale=scale or prof.name, cache_bytes=tree_bytes(out / "cache"))
    summary["benchmark"] = bench
    write_json(out / BENCHMARK_NAME, bench)
    write_json(out / SUMMARY_NAME, summary)
    return summary


def write_json(path: Path, payload: Any) -> None:
    """``payload`` as strict JSON (issue 14, finding 8): NaN / inf as null, numpy scalars and
    arrays as Python values, tuples and sets as lists, other objects as their ``str``. Written to
    a sibling temporary file, flushed and renamed over ``path`` (issue 20): a run killed at any
    moment leaves the previous whole file or the new one, never half of either."""
    text = json.dumps(_strict_json(payload), indent=1, allow_nan=False, default=str)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _strict_json(x: Any) -> Any:
    from harness.report.schema import strict

    if isinstance(x, dict):
        return {str(k): _strict_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_strict_json(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return [_strict_json(v) for v in sorted(x, key=repr)]
    return strict(x)
