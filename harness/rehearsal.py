"""Rehearsal of the paper tier: the gpu-tier code path against a staged offline hub.

The ``paper`` profile names its inputs by hub id (``EleutherAI/pythia-70m``,
``EleutherAI/sae-pythia-70m-32k`` / ``layers.L``, ``Skylion007/openwebtext`` at
``refs/convert/parquet``). :mod:`fixtures.stage_hub` writes random-weight stand-ins at the
real shapes under those names into a local hub cache. This module runs the same code a GPU
run runs — :class:`harness.runs.World`, :func:`harness.runs.run_grid`,
:func:`harness.runs.run_semantic`, :func:`harness.report.write_report` — with the
``rehearsal`` profile (the paper's hub names at 4 x 32 tokens, layers {0, 1}), under both
procedures, and writes ``summary.json``: what resolved from where, shapes, layer alignment,
pre-flight results, the pairing backend each procedure used, grid and semantic records and
the report files. Numbers mean nothing (random weights); the wiring is what is checked
(``claims/test_rehearsal.py``).

huggingface_hub reads ``HF_HOME`` / ``HF_HUB_CACHE`` when it is imported, so the run needs a
fresh process::

    python -m harness.rehearsal --hub DIR --out DIR [--stage] [--device cpu]

``--hub`` is the staged ``HF_HOME`` (``python -m fixtures.stage_hub --out DIR``, or
``--stage`` here); :func:`main` sets :func:`fixtures.stage_hub.hub_env` before importing any
hub library and refuses to run if one was imported with another cache.

Staging adds two steps to :func:`fixtures.stage_hub.stage_hub` (:func:`stage`):

- :func:`calibrate_saes` sets each stand-in SAE's ``b_dec`` to the mean block-output activation
  of its layer on the staged corpus (sparsify initialises ``b_dec`` from the data the same way
  before training). Purely random biases reconstruct worse than the mean (FVU > 1) and the
  pre-flight check rightly stops the run; a real SAE passes it.
- Model B's stand-in SAEs keep :data:`LIVE_LATENTS_B` live latents; the others get
  ``b_enc = -1e4`` (dead, as never-firing latents of a real SAE). With all 32,768 random
  latents alive, 128 positions correlate every B latent with some A latent above 0.1, the
  whole-space pipeline pairs ~24k of them, and RSA on 24k rows needs > 20 GB (see
  ``docs/paper-tier.md``, "Known problems"). Dead latents exercise the dead-feature policies.
  Under the paper procedure a dead latent's "top positions" are the first positions of the
  first document, so :func:`stage` picks the first staging seed whose first document opens
  with no Table-4 keyword (otherwise every dead latent would join that concept subspace).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, HarnessError

__all__ = ["CALIBRATION_NAME", "LIVE_LATENTS_B", "SUMMARY_NAME", "calibrate_saes", "first_keyword_free_seed", "main",
           "run_rehearsal", "stage"]

SUMMARY_NAME: str = "summary.json"
"""File the rehearsal writes into ``--out``."""

CALIBRATION_NAME: str = "rehearsal_calibration.json"
"""File :func:`calibrate_saes` writes next to the staged manifest."""

_PYTHIA = ("EleutherAI/pythia-70m", "EleutherAI/pythia-160m")

LIVE_LATENTS_B: int = 2048
"""Live latents of model B's stand-in SAEs (of 32,768); the rest are dead (``b_enc = -1e4``)."""

DEAD_BIAS: float = -1.0e4


# --------------------------------------------------------------------------------------
# Staging (runs in any process: files are written by path, no hub library resolves them)
# --------------------------------------------------------------------------------------


def calibrate_saes(
    home: str | os.PathLike[str],
    *,
    n_samples: int,
    seq_len: int,
    live_latents: dict[str, int] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Set ``b_dec`` of every staged sparsify SAE to the mean block-output activation, and
    optionally kill all but ``live_latents[repo_id]`` latents of some SAE repos.

    For each staged ``layers.L`` of each staged Pythia stand-in: run the staged checkpoint
    (``transformers``, from the snapshot folder, float32) on the first ``n_samples`` staged
    documents truncated to ``seq_len`` tokens, take ``hidden_states[L + 1]`` (= output of
    block L, what ``layers.L`` SAEs read) averaged over positions, and write it as ``b_dec``
    (float32, ``(d_in,)``) into ``sae.safetensors``. For repos in ``live_latents``, a seeded
    random subset of that many latents keeps its ``encoder.bias``; the others get
    :data:`DEAD_BIAS`. Writes :data:`CALIBRATION_NAME`.

    Returns:
        ``{repo_id: {"layers.L": {"b_dec_norm_before", "b_dec_norm_after", "live_latents"}}}``.
    """
    import numpy as np
    import pyarrow.parquet as pq
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fixtures.stage_hub import (
        MANIFEST_NAME,
        OWT_PARQUET_FILE,
        OWT_REPO_ID,
        OWT_REVISION,
        SAE_REPOS,
        snapshot_dir,
    )

    home = Path(home)
    manifest_path = home / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ConfigError(f"{str(home)!r} holds no staged hub ({MANIFEST_NAME} missing); run "
                          "`python -m fixtures.stage_hub --out DIR` first.")
    staged = json.loads(manifest_path.read_text())
    hub = home / "hub"
    docs = pq.read_table(snapshot_dir(hub, "dataset", OWT_REPO_ID, OWT_REVISION) / OWT_PARQUET_FILE)
    texts = [str(t) for t in docs.column("text").to_pylist()[:n_samples]]
    out: dict[str, Any] = {}
    for name in staged["models"]:
        repo = SAE_REPOS[name]
        hookpoints = staged["saes"].get(repo.repo_id, {}).get("hookpoints", [])
        if not hookpoints:
            continue
        snap = snapshot_dir(hub, "model", name)
        tok = AutoTokenizer.from_pretrained(str(snap))
        model = AutoModelForCausalLM.from_pretrained(str(snap), dtype=torch.float32).eval()
        hidden: list[torch.Tensor] = []
        with torch.inference_mode():
            for text in texts:
                ids = tok(text, add_special_tokens=False, truncation=True, max_length=seq_len,
                          return_tensors="pt")["input_ids"]
                hs = model(ids, output_hidden_states=True).hidden_states
                hidden.append(torch.stack(hs)[:, 0])  # (n_layers + 1, seq, d_model)
        acts = torch.cat(hidden, dim=1)
        del model
        sae_snap = snapshot_dir(hub, "model", repo.repo_id)
        out[repo.repo_id] = {}
        for hookpoint in hookpoints:
            layer = int(hookpoint.split(".")[1])
            path = sae_snap / hookpoint / "sae.safetensors"
            tensors = load_file(str(path))
            before = float(tensors["b_dec"].norm())
            tensors["b_dec"] = acts[layer + 1].mean(0).to(torch.float32).contiguous()
            n_live = int(tensors["encoder.bias"].shape[0])
            if live_latents and repo.repo_id in live_latents:
                n_live = int(live_latents[repo.repo_id])
                rng = np.random.default_rng(seed * 1_000_003 + layer)
                dead = np.ones(tensors["encoder.bias"].shape[0], dtype=bool)
                dead[rng.choice(dead.size, size=n_live, replace=False)] = False
                bias = tensors["encoder.bias"].clone()
                bias[torch.from_numpy(dead)] = DEAD_BIAS
                tensors["encoder.bias"] = bias.contiguous()
            save_file(tensors, str(path))
            out[repo.repo_id][hookpoint] = {"b_dec_norm_before": before,
                                            "b_dec_norm_after": float(tensors["b_dec"].norm()),
                                            "live_latents": n_live}
    (home / CALIBRATION_NAME).write_text(json.dumps(
        {"what": "b_dec := mean block-output activation (hidden_states[L+1]) on the staged corpus; "
                 f"latents outside a seeded live subset get encoder.bias = {DEAD_BIAS}",
         "n_samples": n_samples, "seq_len": seq_len, "seed": seed, "saes": out}, indent=2))
    return out


def first_keyword_free_seed(*, start: int = 0, n_docs: int, n_positions: int = 5, tries: int = 100) -> int:
    """The first staging seed ``>= start`` whose first synthetic document's first
    ``n_positions`` tokens (stand-in tokenizer) hold no Table-4 keyword of any category."""
    import tempfile

    from transformers import AutoTokenizer

    from fixtures.stage_hub import synthetic_documents, write_tokenizer
    from harness.concepts import CONCEPT_KEYWORDS

    keywords = {w.lower() for words in CONCEPT_KEYWORDS.values() for w in words}
    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer(Path(tmp))
        tok = AutoTokenizer.from_pretrained(tmp)
    for seed in range(start, start + tries):
        first = synthetic_documents(n_docs, seed=seed)[0]
        ids = tok(first, add_special_tokens=False)["input_ids"][:n_positions]
        words = {tok.decode([i]).replace(" ", "").strip().lower() for i in ids}
        if not words & keywords:
            return seed
    raise ConfigError(f"No staging seed in {start}..{start + tries - 1} gives a keyword-free first document.")


def stage(home: str | os.PathLike[str], *, profile: str = "rehearsal", n_docs: int = 8, seed: int = 0) -> Path:
    """Stage exactly what ``profile`` needs (both Pythia stand-ins, SAE layers of its grid and
    semantic layers, an OpenWebText shard of ``n_docs`` documents), calibrate the SAEs (B keeps
    :data:`LIVE_LATENTS_B` live latents) and return the hub cache folder. The staging seed is
    :func:`first_keyword_free_seed` from ``seed`` (recorded in the calibration file)."""
    from fixtures.stage_hub import SAE_REPOS, stage_hub
    from harness.registry import get_profile

    prof = get_profile(profile)
    names = {which: prof.models[which]["name"] for which in ("a", "b")}
    if sorted(names.values()) != sorted(_PYTHIA):
        raise ConfigError(f"Profile {profile!r} uses {sorted(names.values())}; only {list(_PYTHIA)} can be "
                          "staged (fixtures.stage_hub).")
    layers = {names["a"]: sorted({*prof.layers_a, *prof.semantic_layers_a, prof.semantic_table[0]}),
              names["b"]: sorted({*prof.layers_b, *prof.semantic_layers_b, prof.semantic_table[1]})}
    if n_docs < prof.data.n_samples:
        raise ConfigError(f"n_docs={n_docs} < the profile's n_samples={prof.data.n_samples}.")
    seed = first_keyword_free_seed(start=seed, n_docs=n_docs)
    hub = stage_hub(home, pythia_layers=layers, n_docs=n_docs, seed=seed)
    calibrate_saes(home, n_samples=prof.data.n_samples, seq_len=prof.data.seq_len,
                   live_latents={SAE_REPOS[names["b"]].repo_id: LIVE_LATENTS_B}, seed=seed)
    return hub


# --------------------------------------------------------------------------------------
# The rehearsal run (needs hub_env(home) set before huggingface_hub is imported)
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _record_backends(log: list[dict[str, Any]]) -> Iterator[None]:
    """Record the backend and shapes of every max-correlation call the experiments make."""
    import harness.experiments as experiments

    original = experiments.max_correlation

    def spy(acts_a: Any, acts_b: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        mc = original(acts_a, acts_b, **kwargs)
        log.append({"backend": mc.backend, "shape_a": list(acts_a.shape), "shape_b": list(acts_b.shape),
                    "dead_policy": mc.dead_policy, "seconds": round(time.perf_counter() - t0, 3)})
        return mc

    experiments.max_correlation = spy  # type: ignore[assignment]
    try:
        yield
    finally:
        experiments.max_correlation = original  # type: ignore[assignment]


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

    from harness.models import residual_activations

    name = world.profile.models[which]["name"]
    tokens = world.tokens.tokens
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
    """Recompute one FeatureSpace's codes from scratch at the procedure's site with its code
    and compare with what World built (proves site, code and masking are wired through)."""
    import numpy as np
    import torch

    from harness.models import residual_activations
    from harness.saes import load_sae

    space = world.space(which, layer, procedure)
    tok = world.tokens
    sae = load_sae(world.profile.sae_spec(which, layer), device=world.device)
    acts = residual_activations(world.model(which), tok.tokens, [layer], site=procedure.activation_site,
                                batch_size=len(tok.tokens), attention_mask=tok.attention_mask)[layer]
    keep = (~tok.special_mask if procedure.mask_special_positions else torch.ones_like(tok.special_mask)).reshape(-1)
    flat = acts.reshape(-1, acts.shape[-1])[keep]
    ref = sae.encode(flat, code=procedure.sae_code).float().cpu().numpy()
    other = sae.encode(flat, code="sparse" if procedure.sae_code == "pre_topk" else "pre_topk").float().cpu().numpy()
    got = space.codes.toarray()
    nnz_rows = np.diff(space.codes.indptr)
    return {
        "codes_shape": list(space.codes.shape), "decoder_shape": list(space.decoder.shape),
        "n_positions": int(space.codes.shape[0]), "n_special_positions": int(tok.special_mask.sum()),
        "density": float(space.codes.nnz / max(1, space.codes.shape[0] * space.codes.shape[1])),
        "max_nnz_per_position": int(nnz_rows.max()), "min_nnz_per_position": int(nnz_rows.min()),
        "max_abs_diff_recomputed": float(np.abs(got - ref).max()),
        "max_abs_diff_other_code": float(np.abs(got - other).max()),
        "finite": bool(np.isfinite(space.codes.data).all() and np.isfinite(space.decoder).all()),
    }


def _negative_preflight(world: Any) -> dict[str, str]:
    """The pre-flight check must refuse a foreign SAE (d_in mismatch) and a badly centred one."""
    import torch

    from harness.preflight import preflight
    from harness.saes import load_sae

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
    from harness.claim_records import CLAIMS

    detail = ("rehearsal tier: random-weight stand-ins under the real hub names; the pipeline ran (see "
              "experiments) but a verdict on random weights means nothing")
    return [{"id": rec.id, "statement": rec.statement, "source": rec.source, "paper_values": rec.paper_values,
             "rule": rec.rule, "procedure": p, "profile": "rehearsal", "verdict": "not run", "measured": {},
             "detail": detail, "expected": None}
            for rec in CLAIMS.values() if "gpu" in rec.tiers for p in procedures]


def run_rehearsal(
    out_dir: str | os.PathLike[str],
    *,
    profile: str = "rehearsal",
    device: str = "cpu",
    procedures: Sequence[str] = ("paper", "corrected"),
    semantic: bool = True,
    control: Sequence[str] | bool = True,
) -> dict[str, Any]:
    """Run the gpu-tier code path of ``profile`` and write ``out_dir/summary.json``, the
    report (``out_dir/report``) and the activation cache (``out_dir/cache``).

    ``control``: procedures (or True = all, False = none) whose negative-control grid (B's
    positions shuffled) is run too.

    Must run in a process whose huggingface_hub was imported under the staged hub's
    environment (see :func:`main`). Returns the summary.
    """
    import huggingface_hub.constants as hf_constants
    import torch

    from harness.config import get_procedure
    from harness.provenance import provenance
    from harness.registry import get_profile
    from harness.report import write_report
    from harness.runs import World, pair_counts, run_grid, run_semantic
    from harness.saes import load_sae

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def timed(label: str, t0: float) -> None:
        timings[label] = round(timings.get(label, 0.0) + time.perf_counter() - t0, 3)

    prof = get_profile(profile)
    control_for = set(procedures) if control is True else set() if control is False else set(control)
    world = World(prof, cache_dir=out / "cache", device=device)
    summary: dict[str, Any] = {
        "profile": prof.name, "device": device, "notes": list(prof.notes), "procedures_run": list(procedures),
        "control_procedures": sorted(control_for), "semantic": bool(semantic),
        "env": {"HF_HOME": os.environ.get("HF_HOME"), "HF_HUB_CACHE": os.environ.get("HF_HUB_CACHE"),
                "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE"),
                "constants_hub_cache": str(hf_constants.HF_HUB_CACHE),
                "constants_offline": bool(hf_constants.HF_HUB_OFFLINE)},
    }

    # models: by hub name through harness.models.load_model (World.model)
    models: dict[str, Any] = {}
    for which in ("a", "b"):
        t0 = time.perf_counter()
        model = world.model(which)
        timed(f"load_model_{which}", t0)
        name = prof.models[which]["name"]
        models[which] = {
            "name": name, "cfg_model_name": model.cfg.model_name, "n_layers": int(model.cfg.n_layers),
            "d_model": int(model.cfg.d_model), "d_vocab": int(model.cfg.d_vocab),
            "dtype": str(model.cfg.dtype), "default_prepend_bos": bool(model.cfg.default_prepend_bos),
            "normalization_type": str(model.cfg.normalization_type),
            "tokenizer": type(model.tokenizer).__name__,
            "resolved_config": _resolved(name, "config.json"),
            "resolved_weights": _resolved(name, "model.safetensors"),
        }
    summary["models"] = models

    # tokens: hub dataset id + parquet revision + data file, via harness.data.load_tokens
    t0 = time.perf_counter()
    tok = world.tokens
    timed("load_tokens", t0)
    manifest = {k: v for k, v in tok.manifest.items() if k != "document_sha256"}
    summary["tokens"] = {
        "shape": list(tok.tokens.shape), "dtype": str(tok.tokens.dtype),
        "n_special": int(tok.special_mask.sum()), "key": tok.key, "manifest": manifest,
        "n_documents_hashed": len(tok.manifest["document_sha256"]),
        "resolved_file": _resolved(prof.data.source, str(prof.data.data_files), repo_type="dataset",
                                   revision=prof.data.effective_revision),
    }

    # SAEs: sparsify format by hub repo + hookpoint, via harness.saes.load_sae
    saes: dict[str, Any] = {}
    for which, layers in (("a", prof.layers_a), ("b", prof.layers_b)):
        for layer in layers:
            spec = prof.sae_spec(which, layer)
            t0 = time.perf_counter()
            sae = load_sae(spec, device=device)
            timed("load_sae", t0)
            saes[f"{which}/{layer}"] = {
                "repo_id": spec.repo_id, "hookpoint": spec.hookpoint, "meta": sae.meta.to_dict(),
                "W_enc": list(sae.sae.W_enc.shape), "W_dec": list(sae.sae.W_dec.shape),
                "b_enc": list(sae.sae.b_enc.shape), "b_dec": list(sae.sae.b_dec.shape),
                "resolved_cfg": _resolved(str(spec.repo_id), f"{spec.hookpoint}/cfg.json"),
                "resolved_weights": _resolved(str(spec.repo_id), f"{spec.hookpoint}/sae.safetensors"),
            }
            del sae
    summary["saes"] = saes

    # layer alignment: TL block output/input vs HF hidden states of the same staged checkpoint
    t0 = time.perf_counter()
    summary["alignment"] = {which: _alignment(world, which, layers)
                            for which, layers in (("a", prof.layers_a), ("b", prof.layers_b))}
    timed("alignment", t0)

    # the pipeline under each procedure: spaces (+ pre-flight), grid, control grid, semantic
    per_proc: dict[str, Any] = {}
    experiments: dict[str, Any] = {}
    for pname in procedures:
        proc = get_procedure(pname)
        rec: dict[str, Any] = {"procedure": proc.to_dict()}
        t0 = time.perf_counter()
        for which, layers in (("a", prof.layers_a), ("b", prof.layers_b)):
            for layer in layers:
                world.space(which, layer, proc)
        timed(f"spaces_{pname}", t0)
        t0 = time.perf_counter()
        rec["space_checks"] = {f"{which}/{layer}": _space_check(world, which, layer, proc)
                               for which, layer in (("a", prof.layers_a[-1]), ("b", prof.layers_b[-1]))}
        timed("space_checks", t0)
        backends: list[dict[str, Any]] = []
        with _record_backends(backends):
            t0 = time.perf_counter()
            grid = run_grid(world, proc)
            timed(f"grid_{pname}", t0)
            rec["grid_backends"] = list(backends)
            experiments[f"grid {pname}"] = grid
            rec["grid"] = grid
            if pname in control_for:
                t0 = time.perf_counter()
                ctrl = run_grid(world, proc, control=True, match_pairs=pair_counts(grid))
                timed(f"grid_control_{pname}", t0)
                experiments[f"grid {pname} (control: B positions shuffled)"] = ctrl
                rec["grid_control"] = ctrl
            if semantic:
                la, lb = prof.semantic_table
                t0 = time.perf_counter()
                sem = run_semantic(world, proc, la, lb, paper_table=prof.paper_semantic_table)
                timed(f"semantic_{pname}", t0)
                experiments[f"semantic A{la} x B{lb} {pname}"] = sem
                rec["semantic"] = sem
        per_proc[pname] = rec
    summary["procedures"] = per_proc
    summary["preflight"] = list(world.preflight)
    experiments["preflight"] = {"kind": "preflight", "sites": world.preflight}

    t0 = time.perf_counter()
    summary["negative_preflight"] = _negative_preflight(world)
    timed("negative_preflight", t0)

    # report
    t0 = time.perf_counter()
    prov = provenance()
    prov.update(profile=prof.name, procedures=list(procedures), staged_hub=os.environ.get("HF_HOME"))
    report_dir = out / "report"
    md = write_report(report_dir, profile=prof.name, claim_results=_not_run_claims(procedures),
                      experiments=experiments, provenance=prov)
    timed("report", t0)
    summary["report"] = {
        "dir": str(report_dir), "markdown": str(md),
        "files": sorted(str(p.relative_to(report_dir)) for p in report_dir.rglob("*") if p.is_file()),
    }
    summary["cache_files"] = sorted(p.name for p in (out / "cache").glob("*.npz"))
    timings["total"] = round(time.perf_counter() - t_all, 3)
    summary["timings"] = timings
    summary["torch_threads"] = torch.get_num_threads()
    (out / SUMMARY_NAME).write_text(json.dumps(summary, indent=1, default=_json_default, allow_nan=True))
    return summary


def _json_default(x: Any) -> Any:
    import numpy as np

    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (tuple, set)):
        return list(x)
    return str(x)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _set_hub_env(home: Path) -> None:
    from fixtures.stage_hub import hub_env

    env = hub_env(home)
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.constants as hf_constants

        if Path(hf_constants.HF_HUB_CACHE).resolve() != Path(env["HF_HUB_CACHE"]).resolve():
            raise ConfigError(
                "huggingface_hub was imported before the staged hub's environment was set "
                f"(its cache is {hf_constants.HF_HUB_CACHE!r}); run `python -m harness.rehearsal` in a "
                "fresh process.")
    os.environ.update(env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.rehearsal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", required=True, type=Path, help="staged HF_HOME (python -m fixtures.stage_hub --out)")
    parser.add_argument("--out", required=True, type=Path, help="where summary.json, report/ and cache/ go")
    parser.add_argument("--stage", action="store_true", help="stage (and calibrate) the hub into --hub first")
    parser.add_argument("--profile", default="rehearsal")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--procedures", nargs="+", default=["paper", "corrected"], choices=["paper", "corrected"])
    parser.add_argument("--no-semantic", action="store_true", help="skip the semantic table")
    parser.add_argument("--control-procedures", nargs="*", default=None, choices=["paper", "corrected"],
                        help="procedures whose shuffled-position control grid is run (default: all run; "
                             "none: give the flag with no value)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CI machines are shared)")
    args = parser.parse_args(argv)
    # BLAS thread pools: on a shared CPU an oversubscribed OpenBLAS pool makes one SVD of a
    # 1300 x 768 matrix take ~10 s instead of 0.3 s. Effective only before numpy is imported.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    _set_hub_env(args.hub)  # before anything imports huggingface_hub
    import torch

    torch.set_num_threads(args.threads)
    if args.stage:
        t0 = time.perf_counter()
        stage(args.hub, profile=args.profile)
        print(f"staged and calibrated {args.hub} in {time.perf_counter() - t0:.1f} s")
    summary = run_rehearsal(args.out, profile=args.profile, device=args.device, procedures=args.procedures,
                            semantic=not args.no_semantic,
                            control=args.procedures if args.control_procedures is None else args.control_procedures)
    print(json.dumps(summary["timings"], indent=1))
    print(f"wrote {args.out / SUMMARY_NAME} and {summary['report']['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
