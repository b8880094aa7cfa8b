"""Rehearsal tier: the paper (gpu-tier) code path against a staged offline hub.

A session fixture stages random-weight stand-ins under the REAL hub names at the REAL shapes
(both Pythia models, sparsify SAEs for layers 0 and 1 with 32,768 latents, an OpenWebText
parquet shard; :func:`fixtures.rehearsal_hub.stage`) and runs ``python -m fixtures.rehearse`` in a
subprocess with ``fixtures.stage_hub.hub_env`` (HF_HUB_OFFLINE=1), so models, SAEs and tokens
resolve by hub name from the staged cache through the same loaders a GPU run uses. The
subprocess writes ``summary.json``; the tests below assert on it: where things resolved from,
shapes, layer alignment, pre-flight, site / code / masking / pairing backend per procedure,
grid, control and semantic records, and the report files. Numbers mean nothing (random
weights), so no test looks at a score's value — only at shapes, keys, finiteness and wiring.

The Gemma and Llama profiles (``harness/profiles/builtin/{gemma,llama}.toml``) are checked without downloads
against the installed sae-lens directory and transformer-lens's official model names.

Cost: staging ~15-25 s, the rehearsal ~2.5 min on one shared CPU thread (timings land in
``summary.json``; see docs/paper-tier.md).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config import CORRECTED, PAPER
from harness.profiles import get_profile

PAPER_PAIRS = ("gemma", "llama")
"""Profiles of the paper's gpu / large tier model pairs with sae-lens SAEs."""

pytestmark = pytest.mark.rehearsal

REPO_ROOT = Path(__file__).resolve().parents[1]
PROCEDURES = ("paper", "corrected")
D_MODEL = {"a": 512, "b": 768}
N_LAYERS = {"a": 6, "b": 12}
K = {"a": 16, "b": 32}
D_SAE = 32768
SAE_REPO = {"a": "EleutherAI/sae-pythia-70m-32k", "b": "EleutherAI/sae-pythia-160m-32k"}
MODEL = {"a": "EleutherAI/pythia-70m", "b": "EleutherAI/pythia-160m"}
#: The tiny rehearsal took ~12 min on one idle core of this 2-core machine (the whole profile,
#: both procedures with their control grids); the limit leaves room for a slower CI machine.
SUBPROCESS_TIMEOUT_S = 1800


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _blas_env() -> dict[str, str]:
    """One BLAS thread: an oversubscribed OpenBLAS pool is ~30x slower on a shared CPU."""
    return {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def _run_rehearsal(home: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    from fixtures.stage_hub import hub_env

    env = {
        **os.environ,
        **hub_env(home),
        **_blas_env(),
        "PYTHONPATH": str(REPO_ROOT),
        "TOKENIZERS_PARALLELISM": "false",
    }
    return subprocess.run(
        [sys.executable, "-m", "fixtures.rehearse", "--hub", str(home), "--out", str(out), *extra],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def staged_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, float]]:
    """The staged HF_HOME (random weights, real shapes, calibrated SAEs) and staging seconds."""
    import torch

    from fixtures.rehearsal_hub import stage

    home = tmp_path_factory.mktemp("staged-hub")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        stage(home, profile="rehearsal")
        seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    yield home, seconds
    shutil.rmtree(home, ignore_errors=True)  # ~1 GB: do not leave it to pytest's tmp rotation


def _no_nan(name: str) -> Any:
    """``json.loads`` hook: a bare NaN / Infinity in a rehearsal file is invalid JSON (issue 14, finding 8)."""
    raise AssertionError(f"non-strict JSON constant {name} (write null)")


@pytest.fixture(scope="session")
def rehearsal(
    staged_hub: tuple[Path, float], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, Any], Path]]:
    """Run the gpu-tier code path in a subprocess; return (summary.json, out dir)."""
    from harness.experiments.rehearsal import SUMMARY_NAME

    home, stage_seconds = staged_hub
    out = tmp_path_factory.mktemp("rehearsal-out")
    t0 = time.perf_counter()
    proc = _run_rehearsal(home, out, "--scale", "tiny")
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, f"rehearsal failed (rc {proc.returncode}):\n{proc.stderr[-6000:]}"
    summary = json.loads((out / SUMMARY_NAME).read_text(), parse_constant=_no_nan)
    summary["_test_timings"] = {"stage_s": round(stage_seconds, 1), "subprocess_wall_s": round(wall, 1)}
    print(
        f"\nrehearsal: staging {stage_seconds:.1f} s, subprocess {wall:.1f} s, stages {json.dumps(summary['timings'])}"
    )
    yield summary, out
    shutil.rmtree(out, ignore_errors=True)  # ~1.5 GB of activation cache


@pytest.fixture(scope="session")
def summary(rehearsal: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return rehearsal[0]


# ----------------------------------------------------------------------------- resolution


def test_everything_resolves_from_the_staged_hub_by_hub_name(summary: dict[str, Any], staged_hub) -> None:
    from fixtures.stage_hub import OWT_REPO_ID, OWT_REVISION, fake_commit_hash

    home = staged_hub[0].resolve()
    hub = home / "hub"
    env = summary["env"]
    assert Path(env["constants_hub_cache"]).resolve() == hub, "huggingface_hub read another cache"
    assert env["constants_offline"] is True and env["HF_HUB_OFFLINE"] == "1"
    for which in ("a", "b"):
        m = summary["models"][which]
        assert m["name"] == MODEL[which]
        commit = fake_commit_hash("model", MODEL[which], "main")
        snap = hub / f"models--{MODEL[which].replace('/', '--')}" / "snapshots" / commit
        assert Path(m["resolved_config"]).resolve() == snap / "config.json"
        assert Path(m["resolved_weights"]).resolve() == snap / "model.safetensors"
    for key, sae in summary["saes"].items():
        which, layer = key.split("/")
        commit = fake_commit_hash("model", SAE_REPO[which], "main")
        folder = hub / f"models--{SAE_REPO[which].replace('/', '--')}" / "snapshots" / commit / f"layers.{layer}"
        assert sae["repo_id"] == SAE_REPO[which] and sae["hookpoint"] == f"layers.{layer}"
        assert Path(sae["resolved_cfg"]).resolve() == folder / "cfg.json"
        assert Path(sae["resolved_weights"]).resolve() == folder / "sae.safetensors"
    tok = summary["tokens"]
    commit = fake_commit_hash("dataset", OWT_REPO_ID, OWT_REVISION)
    assert Path(tok["resolved_file"]).resolve() == (
        hub / "datasets--Skylion007--openwebtext" / "snapshots" / commit / "plain_text/train/0000.parquet"
    )
    manifest = tok["manifest"]
    assert (manifest["source"], manifest["revision"], manifest["data_file"]) == (
        "Skylion007/openwebtext",
        "refs/convert/parquet",
        "plain_text/train/0000.parquet",
    )


def test_models_load_unprocessed_at_the_real_shapes(summary: dict[str, Any]) -> None:
    for which in ("a", "b"):
        m = summary["models"][which]
        assert (m["n_layers"], m["d_model"], m["d_vocab"]) == (N_LAYERS[which], D_MODEL[which], 50304)
        assert m["dtype"] == "torch.float32" and m["normalization_type"] == "LN"  # LN not folded: no processing
        assert m["default_prepend_bos"] is False  # GPT-NeoX configs
        assert m["tokenizer"] == "GPTNeoXTokenizer"


def test_saes_convert_to_topk_at_the_real_shapes(summary: dict[str, Any]) -> None:
    assert sorted(summary["saes"]) == ["a/0", "a/1", "b/0", "b/1"]
    for key, sae in summary["saes"].items():
        which, layer = key.split("/")
        d = D_MODEL[which]
        meta = sae["meta"]
        assert (meta["architecture"], meta["k"], meta["d_in"], meta["d_sae"]) == ("topk", K[which], d, D_SAE)
        assert meta["hook_name"] == f"blocks.{layer}.hook_resid_post"  # layers.L = output of block L
        assert (meta["site"], meta["layer"]) == ("block_output", int(layer))
        assert meta["apply_b_dec_to_input"] is True
        assert sae["W_enc"] == [d, D_SAE] and sae["W_dec"] == [D_SAE, d]
        assert sae["b_enc"] == [D_SAE] and sae["b_dec"] == [d]


def test_tokens_follow_the_paper_recipe(summary: dict[str, Any]) -> None:
    prof = get_profile("rehearsal")
    tok = summary["tokens"]
    assert tok["shape"] == [prof.data.n_samples, prof.data.seq_len] and tok["dtype"] == "torch.int64"
    m = tok["manifest"]
    assert m["prepend_bos"] is False and m["pad_token_id"] == 0  # pad = EOS (id 0 in Pythia)
    assert m["tokenizer"] == "EleutherAI/pythia-70m"  # model A's tokenizer for both sides
    assert tok["n_documents_hashed"] == prof.data.n_samples
    assert tok["n_special"] == m["n_padding"]  # no BOS for Pythia: specials are padding only
    assert m["n_truncated_documents"] >= 1


# ----------------------------------------------------------------------------- alignment, pre-flight


def test_layer_alignment_block_output_vs_input(summary: dict[str, Any]) -> None:
    """TL blocks.L.hook_resid_post == HF hidden_states[L+1]; hook_resid_pre == hidden_states[L];
    and the two sites really differ (so an off-by-one would show)."""
    for which in ("a", "b"):
        for layer in ("0", "1"):
            al = summary["alignment"][which][layer]
            tol = 1e-4 * max(1.0, al["scale"])
            assert al["output_vs_hf_next"] < tol, al
            assert al["input_vs_hf_same"] < tol, al
            assert al["output_vs_input"] > 100 * tol, al


def test_preflight_runs_for_every_sae_and_rejects_mismatches(summary: dict[str, Any]) -> None:
    prof = get_profile("rehearsal")
    pf = summary["preflight"]
    covered = {(p["model"], p["layer"]) for p in pf}
    assert covered == {
        (MODEL[w], layer) for w, layers in (("a", prof.layers_a), ("b", prof.layers_b)) for layer in layers
    }
    n_positions = prof.data.n_samples * prof.data.seq_len - summary["tokens"]["n_special"]
    for p in pf:
        assert p["site"] == "block_output" and p["hook_name"] == f"blocks.{p['layer']}.hook_resid_post"
        assert _finite(p["fvu"]) and 0.0 < p["fvu"] < 1.0, p  # calibrated stand-ins pass max_fvu = 1
        assert _finite(p["neighbour_fvu"]) and p["better_site"] == "block_output", p
        assert 0 < p["l0"] <= K["a" if p["model"] == MODEL["a"] else "b"]
        assert p["n_positions"] == n_positions  # BOS/pad masked in the pre-flight
    neg = summary["negative_preflight"]
    assert neg["foreign_sae"].startswith("ShapeError") and "d_in=512" in neg["foreign_sae"]
    assert neg["shifted_b_dec"].startswith("HarnessError") and "FVU" in neg["shifted_b_dec"]


# ----------------------------------------------------------------------------- procedures


def test_procedures_drive_site_code_masking_and_pairing_backend(summary: dict[str, Any]) -> None:
    """Paper: block input, dense pre-TopK codes, no masking -> the exact dense pairing from the
    on-the-fly encoder (TF32 screen + fp64 recheck at these sizes). Corrected: block output, the
    TopK code, BOS/pad masked -> the exact sparse pairing path."""
    from harness.pairing.matching import SPARSE_DENSITY_LIMIT

    prof = get_profile("rehearsal")
    n_all = prof.data.n_samples * prof.data.seq_len
    n_kept = n_all - summary["tokens"]["n_special"]
    assert summary["procedures_run"] == list(PROCEDURES)
    expected = {
        "paper": ("block_input", "pre_topk", False, "exact-tf32-nearest", n_all),
        "corrected": ("block_output", "sparse", True, "sparse", n_kept),
    }
    for name, (site, code, mask, backend, n_pos) in expected.items():
        rec = summary["procedures"][name]
        proc = rec["procedure"]
        assert (proc["name"], proc["activation_site"], proc["sae_code"], proc["mask_special_positions"]) == (
            name,
            site,
            code,
            mask,
        )
        assert rec["grid"]["procedure"] == name and rec["grid"]["n_tokens"] == n_pos
        assert [b["backend"] for b in rec["grid_backends"]] == [backend] * 4, rec["grid_backends"]
        for b in rec["grid_backends"]:
            assert b["shape_a"] == [n_pos, D_SAE] and b["shape_b"] == [n_pos, D_SAE]
            assert b["dead_policy"] == proc["dead_features"]
        for key, chk in rec["space_checks"].items():
            which = key.split("/")[0]
            assert chk["codes_shape"] == [n_pos, D_SAE] and chk["decoder_shape"] == [D_SAE, D_MODEL[which]]
            assert chk["finite"]
            # LoadedPair's codes equal a from-scratch encode at the procedure's site with its code ...
            assert chk["max_abs_diff_recomputed"] < 1e-5, chk
            # ... and differ from the other code (so the comparison can fail)
            assert chk["max_abs_diff_other_code"] > 1e-3, chk
            if code == "sparse":
                assert chk["max_nnz_per_position"] <= K[which]
            else:
                assert chk["max_nnz_per_position"] > K[which]
        dense_a = rec["space_checks"]["a/1"]["density"]
        assert (dense_a >= SPARSE_DENSITY_LIMIT) == (backend != "sparse")


# ----------------------------------------------------------------------------- grids and tables


def test_grid_records_have_every_cell_and_field(summary: dict[str, Any]) -> None:
    from fixtures.rehearsal_hub import LIVE_LATENTS_B

    prof = get_profile("rehearsal")
    for name in PROCEDURES:
        grid = summary["procedures"][name]["grid"]
        assert grid["kind"] == "grid" and grid["control"] is False
        assert (grid["model_a"], grid["model_b"]) == (MODEL["a"], MODEL["b"])
        assert grid["layers_a"] == list(prof.layers_a) and grid["layers_b"] == list(prof.layers_b)
        assert grid["n_permutations"] == prof.permutations
        cells = grid["cells"]
        assert sorted((c["layer_a"], c["layer_b"]) for c in cells) == [(0, 0), (0, 1), (1, 0), (1, 1)]
        for c in cells:
            assert _finite(c["mean_max_corr"]) and -1.0 <= c["mean_max_corr"] <= 1.0
            assert 3 <= c["n_pairs"] <= c["n_pairs_m21"]  # 1-1 pairs are a subset of many-to-1 pairs
            assert c["n_pairs_unfiltered"] >= 3
            # the profile's draw counts reach the cells (placebos run, at the rehearsal's small counts)
            assert 0 < c["size_matched_m21_n_draws"] <= prof.size_matched_draws
            assert c["placebo_filter_runs"] <= prof.placebo_filter_runs
            assert c["random_partner_sets"] == prof.random_partner_sets
            for key in ("svcca", "svcca_null_mean", "rsa", "rsa_null_mean", "svcca_m21", "svcca_unfiltered"):
                assert _finite(c[key]), (name, key, c[key])
            for key in ("svcca_p", "rsa_p", "svcca_m21_p"):
                assert 0.0 <= c[key] <= 1.0
            # paper: dead B features still get partner 0; corrected: only live B features pair
            n_b = D_SAE if name == "paper" else D_SAE - c["dead_b"]
            assert c["pairs_history"][0] == f"many-to-1: {n_b}"
            assert any(h.startswith("1-1 " + ("first_seen" if name == "paper" else "best")) for h in c["pairs_history"])
            # B keeps LIVE_LATENTS_B live latents: dead-feature counting is wired through
            assert D_SAE - LIVE_LATENTS_B <= c["dead_b"] < D_SAE
            k_a, k_b = (int(x) for x in c["svcca_k"].split(","))
            if name == "paper":
                assert (k_a, k_b) == (1, 1)  # the paper code's k = 1 threshold bug, as configured
            else:
                assert 1 < k_a <= c["n_pairs"] // 4 and 1 < k_b <= c["n_pairs"] // 4  # 99 % variance, cap n/4
    # --scale tiny runs the whole profile: the control grid of every procedure (as the gpu tier does)
    assert summary["control_procedures"] == sorted(PROCEDURES)
    for name in PROCEDURES:
        ctrl = summary["procedures"][name]["grid_control"]
        assert ctrl["control"] is True and len(ctrl["cells"]) == 4


def test_semantic_tables_cover_every_category(summary: dict[str, Any]) -> None:
    from harness.pairing.concepts import CONCEPT_KEYWORDS

    prof = get_profile("rehearsal")
    for name in PROCEDURES:
        sem = summary["procedures"][name]["semantic"]
        assert sem["kind"] == "semantic" and (sem["layer_a"], sem["layer_b"]) == prof.semantic_table
        cells = {c["category"]: c for c in sem["cells"]}
        assert list(cells) == list(CONCEPT_KEYWORDS)
        scored = [c for c in cells.values() if "skipped" not in c and _finite(c.get("svcca"))]
        assert scored, f"no category scored under {name}"
        for c in scored:
            assert 3 <= c["n_pairs"] <= min(c["n_concept_a"], c["n_concept_b"])
            for key in ("svcca", "svcca_null_mean", "rsa", "rsa_null_mean", "test2_null_mean"):
                assert _finite(c[key]), (name, c["category"], key)
            assert 0.0 <= c["svcca_p"] <= 1.0 and 0.0 <= c["test2_p"] <= 1.0
            assert c["n_permutations"] == prof.permutations_semantic
        for c in cells.values():  # an unscored category says why, never a silent number
            if c not in scored:
                assert "skipped" in c or "svcca_error" in c, c
        assert cells["Time"]["paper_n"] == get_profile("paper").paper_semantic_table["Time"]["n"] == 228


def test_report_and_cache_are_written(rehearsal: tuple[dict[str, Any], Path]) -> None:
    summary, out = rehearsal
    report = out / "report"
    files = set(summary["report"]["files"])
    assert {"REPORT.md", "results.json"} <= files
    assert all((report / f).is_file() and (report / f).stat().st_size > 0 for f in files)
    from harness.report.figures import safe_name

    for grid in (
        "grid paper",
        "grid corrected",
        "grid paper (control: B positions shuffled)",
        "grid corrected (control: B positions shuffled)",
    ):
        values = ["svcca", "svcca_excess", "svcca_p", "rsa", "rsa_p"] + ([] if "control" in grid else ["svcca_m21"])
        for value in values:
            assert f"figures/{safe_name(grid)}-{safe_name(value)}.png" in files
    assert "REPORT.html" in files
    results = json.loads((report / "results.json").read_text(), parse_constant=_no_nan)
    assert results["schema_version"] == 1 and results["profile"] == "rehearsal"
    assert results["provenance"]["profile"] == "rehearsal" and results["provenance"]["procedures"] == list(PROCEDURES)
    assert results["provenance"]["library_versions"]["sae-lens"]
    assert set(results["experiments"]) == {
        "grid paper",
        "grid corrected",
        "grid paper (control: B positions shuffled)",
        "grid corrected (control: B positions shuffled)",
        "semantic A1 x B1 paper",
        "semantic A1 x B1 corrected",
        "semantic A1 x B1 paper (control)",
        "semantic A1 x B1 corrected (control)",
        "preflight",
    }
    assert results["claims"] and {c["verdict"] for c in results["claims"]} == {"not run"}
    assert {c["procedure"] for c in results["claims"]} == set(PROCEDURES)
    md = (report / "REPORT.md").read_text()
    assert "profile `rehearsal`" in md and "### grid paper" in md and "Layers A1 x B1." in md
    # residual cache: one file per (model, layer, site); no SAE codes are cached
    assert len(summary["cache_files"]) == 2 * 4 and all(f.startswith("residuals/") for f in summary["cache_files"])
    assert all((out / "cache" / f).stat().st_size > 0 for f in summary["cache_files"])
    assert summary["timings"]["total"] > 0


def test_benchmark_json_lists_every_stage(rehearsal: tuple[dict[str, Any], Path]) -> None:
    """``--scale tiny`` writes benchmark.json: the schema of issue 12, every stage the run went
    through, consistent totals and peaks, and the residual cache's size on disk."""
    from harness.experiments.benchmark import STAGE_KEYS
    from harness.experiments.rehearsal import BENCHMARK_NAME

    summary, out = rehearsal
    bench = json.loads((out / BENCHMARK_NAME).read_text(), parse_constant=_no_nan)
    assert {"scale", "device", "total_seconds", "peak_host_bytes", "peak_device_bytes", "cache_bytes", "stages"} <= set(
        bench
    )
    assert bench["scale"] == "tiny" and isinstance(bench["device"], str) and bench["device"]
    names = [st["name"] for st in bench["stages"]]
    expected = ["load_model_a", "load_model_b", "load_tokens", "load_sae", "alignment", "forward_residuals"]
    for p in PROCEDURES:
        expected += [
            f"spaces_{p}",
            "space_checks",
            f"grid_{p}",
            f"grid_control_{p}",
            f"semantic_{p}",
            f"semantic_control_{p}",
        ]
    expected += ["negative_preflight", "report"]
    assert names == expected, names
    for st in bench["stages"]:
        assert set(STAGE_KEYS) <= set(st) and st["seconds"] >= 0 and st["peak_host_bytes"] > 0
        assert st["peak_device_bytes"] == 0  # cpu run
    assert bench["total_seconds"] == pytest.approx(sum(st["seconds"] for st in bench["stages"]), abs=0.01)
    assert bench["peak_host_bytes"] == max(st["peak_host_bytes"] for st in bench["stages"])
    cache = sum(p.stat().st_size for p in (out / "cache").rglob("*") if p.is_file())
    assert bench["cache_bytes"] == cache > 0
    assert summary["benchmark"] == bench


# ----------------------------------------------------------------------------- rehearsal profile


def test_rehearsal_profile_uses_the_paper_hub_names_at_toy_sizes() -> None:
    paper, reh = get_profile("paper"), get_profile("rehearsal")
    assert reh.models == paper.models
    for which in ("a", "b"):
        for layer in (0, 1):
            p, r = paper.sae_spec(which, layer), reh.sae_spec(which, layer)
            assert (
                (r.source, r.repo_id, r.hookpoint)
                == (p.source, p.repo_id, p.hookpoint)
                == ("sparsify", SAE_REPO[which], f"layers.{layer}")
            )
    assert (reh.data.source, reh.data.revision, reh.data.data_files) == (
        paper.data.source,
        paper.data.revision,
        paper.data.data_files,
    )
    assert reh.data.n_samples * reh.data.seq_len <= 256 < paper.data.n_samples * paper.data.seq_len
    assert set(reh.layers_a) == set(reh.layers_b) == {0, 1}
    assert max(reh.permutations or 0, reh.permutations_semantic or 0) <= 5


# ----------------------------------------------------------------------------- Gemma / Llama names


@pytest.mark.parametrize("pair_name", PAPER_PAIRS)
def test_paper_pair_ids_resolve_without_downloads(pair_name: str) -> None:
    """Every sae-lens release + id of the profile exists in the installed sae-lens directory,
    and every model name is an official transformer-lens name."""
    from harness.load.hub_names import check_saelens_release, check_tl_model_name

    prof = get_profile(pair_name)
    models = {"a": prof.models["a"]["name"], "b": prof.models["b"]["name"]}
    for name in models.values():
        assert check_tl_model_name(name) == name
    assert prof.paper_tokenizer is not None
    assert check_tl_model_name(prof.paper_tokenizer) in models.values()
    releases = prof.releases()
    used = {
        (w, layer)
        for w, layers in (
            ("a", (*prof.layers_a, *prof.semantic_layers_a)),
            ("b", (*prof.layers_b, *prof.semantic_layers_b)),
        )
        for layer in layers
    }
    assert used <= {(which, layer) for which, _, _, layer in releases}
    for which, release, sae_id, layer in releases:
        entry = check_saelens_release(release, sae_id)
        assert entry.repo_id and entry.path
        if pair_name == "llama" and which == "a":
            # recorded substitution: no sae-lens SAE for the Llama-3-8B base model
            assert entry.tl_model_name == "meta-llama/Meta-Llama-3-8B-Instruct"
            assert any("SUBSTITUTION" in n and "Instruct" in n for n in prof.notes)
        else:
            assert entry.tl_model_name == models[which], (release, sae_id, entry.tl_model_name)
        assert str(layer) in sae_id


def test_gemma_entry_matches_the_paper_setup() -> None:
    gemma = get_profile("gemma")
    assert (gemma.model_name("a"), gemma.model_name("b")) == ("google/gemma-2b", "google/gemma-2-2b")
    by_side = {w: {layer: (rel, sid) for side, rel, sid, layer in gemma.releases() if side == w} for w in "ab"}
    assert by_side["a"] == {L: ("gemma-2b-res-jb", f"blocks.{L}.hook_resid_post") for L in (0, 6, 10, 12, 17)}
    assert by_side["b"] == {
        L: ("gemma-scope-2b-pt-res-canonical", f"layer_{L}/width_16k/canonical")
        for L in (0, 2, 6, 10, 14, 17, 18, 22, 25)
    }
    assert (gemma.data.n_samples, gemma.data.seq_len, gemma.semantic_table) == (150, 150, (12, 14))
    assert gemma.gated and gemma.tier == "gpu" and gemma.paper_tokenizer == "google/gemma-2-2b"
    # Table 2 of the paper
    assert gemma.paper_semantic_table["Time"] == {"n": 228, "svcca": 0.46, "null": 0.06}
    assert sorted(gemma.paper_semantic_table) == ["Calendar", "Countries", "Emotions", "Nature", "People/Roles", "Time"]
    llama = get_profile("llama")
    assert (llama.model_name("a"), llama.model_name("b")) == ("meta-llama/Meta-Llama-3-8B", "meta-llama/Llama-3.1-8B")
    assert [r for r in llama.releases() if r[0] == "b"] == [("b", "llama_scope_lxr_8x", "l25r_8x", 25)]
    assert llama.tier == "large" and llama.gated


def test_gemma_profile_constructs_from_release_specs() -> None:
    from harness.load.data import DataSpec
    from harness.errors import UnknownIdError
    from harness.load.saes import SaeSpec

    prof = get_profile("gemma")
    layers_a = {*prof.layers_a, *prof.semantic_layers_a, prof.semantic_table[0]}
    layers_b = {*prof.layers_b, *prof.semantic_layers_b, prof.semantic_table[1]}
    table = {(side, layer): (rel, sid) for side, rel, sid, layer in prof.releases()}
    for which, layers in (("a", layers_a), ("b", layers_b)):
        for layer in layers:
            assert prof.sae_spec(which, layer) == SaeSpec.from_release(*table[which, layer])
    with pytest.raises(UnknownIdError, match="layers with SAEs"):
        prof.sae_spec("a", 3)
    assert isinstance(prof.data, DataSpec) and (prof.data.n_samples, prof.data.seq_len) == (150, 150)
    assert prof.data.revision == "refs/convert/parquet"
    # The authors' Gemma grids used a 10-permutation null: under the paper procedure it is the
    # reported k/N, the judging null has 999 draws (no +1 p from 10 draws can pass alpha).
    assert prof.paper_grid_permutations == 10 and prof.paper_permutations(PAPER) == 10
    assert prof.n_permutations(PAPER) == 999 and prof.paper_permutations(CORRECTED) is None
    assert prof.n_permutations(CORRECTED) == CORRECTED.n_permutations > 10
    llama = get_profile("llama")
    assert llama.sae_spec("a", 25) == SaeSpec.from_release("llama-3-8b-it-res-jh", "blocks.25.hook_resid_post")
    assert llama.sae_spec("b", 25) == SaeSpec.from_release("llama_scope_lxr_8x", "l25r_8x")


def test_a_misspelt_release_id_would_be_caught() -> None:
    """Negative control of the name check: a one-character typo in an id fails with the fix."""
    from harness.errors import UnknownIdError
    from harness.load.hub_names import check_saelens_release

    spec = get_profile("gemma").sae_spec("b", 14)
    assert spec.release and spec.sae_id
    with pytest.raises(UnknownIdError, match="Closest"):
        check_saelens_release(spec.release, spec.sae_id.replace("16k", "61k"))


# ----------------------------------------------------------------------------- the CLI's --stage path


@pytest.mark.slow
def test_cli_stages_and_runs_in_one_call(tmp_path: Path) -> None:
    """``python -m fixtures.rehearse --stage`` stages, calibrates and runs (corrected only,
    no semantic table: the rest is covered above)."""
    from fixtures.rehearsal_hub import CALIBRATION_NAME, LIVE_LATENTS_B
    from harness.experiments.rehearsal import SUMMARY_NAME

    home, out = tmp_path / "home", tmp_path / "out"
    try:
        proc = _run_rehearsal(
            home, out, "--stage", "--procedures", "corrected", "--no-semantic", "--control-procedures"
        )
        assert proc.returncode == 0, proc.stderr[-6000:]
        calibration = json.loads((home / CALIBRATION_NAME).read_text())
        live = {
            repo: {hp: v["live_latents"] for hp, v in layers.items()} for repo, layers in calibration["saes"].items()
        }
        assert live == {
            SAE_REPO["a"]: {"layers.0": D_SAE, "layers.1": D_SAE},
            SAE_REPO["b"]: {"layers.0": LIVE_LATENTS_B, "layers.1": LIVE_LATENTS_B},
        }
        s = json.loads((out / SUMMARY_NAME).read_text(), parse_constant=_no_nan)
        assert list(s["procedures"]) == ["corrected"] and s["control_procedures"] == [] and s["semantic"] is False
        assert "semantic" not in s["procedures"]["corrected"]
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
