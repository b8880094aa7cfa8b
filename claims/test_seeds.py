"""Seed-stability claims P1-P3 (Paulo & Belrose 2025), W1 (Lan et al. App. A) and X1 (both
papers' statistics on the same seed pairs; this suite's own contribution).

Thin callers for P1-P3: each test computes the ``seed_overlaps`` records of its conditions (>= 3
seed-disjoint pairs each) and its control's, records them, and judges the claim with its pure
rule (``harness/verdicts/seed_rules.py``, registered in ``harness.verdicts.rules``; intervals
over seed pairs; ``sae-claims judge results.json`` applies the same rule to a saved run). Each
PB number is judged with the overlap criterion of the figure it comes from
(``ClaimRecord.criterion``: the width figure and the abstract use the headline rule ``both``,
the architecture figure that P2 quotes counts decoder cosine only); the headline fraction is
reported next to it.

Smoke: SAEs trained (harness.seeds.training, sae-lens training classes) on fixture model A's block
output at a middle layer, differing only in seed; widths 128/256/512 (TopK, k = 8) and
ReLU+L1 at matched L0, seed pairs (0, 1), (2, 3), (4, 5) per condition. Controls: P1, B's rows
randomly rotated (unrelated SAEs); P2, a second TopK seed set (6, 7), (8, 9), (10, 11) in the
ReLU+L1 role; P3, nine main-width pairs dealt into groups carrying the width labels. SAEs of a
*different layer* are shown as a sanity check, not counted. gpu: Pythia-70m layer 3, widths up to
32k latents (PB-like), the same seed structure. W1 scores the ReLU+L1 seed pair (0, 1) of the main
width (App. A's pair is ReLU+L1; the TopK pair calibrated to power 0 at shared fractions <= 0.6), X1
the TopK seed pair (0, 1), whose shared fraction it reports. At the gpu tier the ReLU+L1 pair is a
*substitute* for App. A's setup (TinyStories-1Layer-21M, ReLU+L1, 16,384 latents), which is recorded
in ``SEED_CONFIG["paper"]["w1_appendix_a_recipe"]`` but not trained by this suite yet.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from claims.conftest import REPO_ROOT, gpu_tier_unavailable
from harness.config import CORRECTED


#: Seed claims train SAEs (minutes on a CPU when the committed cache misses): `slow`, so the
#: default test run (CI) leaves them out; the main job (`bash .ci/reproduce-smoke`) runs them.
pytestmark = pytest.mark.slow

#: The seed pairs of every P condition (disjoint: independent replicates), the second TopK set
#: (P2's control) and the main-width pool dealt into width labels (P3's control: 3 per label).
SEED_PAIRS = ((0, 1), (2, 3), (4, 5))
CONTROL_SEED_PAIRS = ((6, 7), (8, 9), (10, 11))
P3_CONTROL_SEED_PAIRS = SEED_PAIRS + CONTROL_SEED_PAIRS + ((12, 13), (14, 15), (16, 17))

#: Seed-pair configurations per profile. The overlap depends strongly on training tokens
#: (PB: 0.07 at 0.8B tokens, 0.42 at 8B for 32k latents); every P record states the budget
#: (``training_budget``): smoke 1500 x 1024 = 1.5M activations (~34 epochs of ~45k tokens);
#: gpu 50k x 1024 = 51M activations (~10 epochs of ~5M tokens), 6% of the 0.8B tokens at which
#: PB's 32k SAEs shared only 0.07, so a low gpu fraction is expected from the budget alone.
SEED_CONFIG: dict[str, dict[str, Any]] = {
    "smoke": {
        "layer": "middle",
        "control_layer": "first",
        "k": 8,
        "widths": (128, 256, 512),
        "main_width": 256,
        "n_steps": 1500,
        "batch_size": 1024,
        "seed_pairs": SEED_PAIRS,
        "control_seed_pairs": CONTROL_SEED_PAIRS,
        "p3_control_seed_pairs": P3_CONTROL_SEED_PAIRS,
        "train_docs": 800,
        "eval_docs": 150,
        "seq_len": 64,
    },
    "paper": {
        "model": "EleutherAI/pythia-70m",
        "layer": 3,
        "control_layer": 1,
        "k": 32,
        "widths": (4096, 16384, 32768),
        "main_width": 32768,
        "n_steps": 50_000,
        "batch_size": 1024,
        "seed_pairs": SEED_PAIRS,
        "control_seed_pairs": CONTROL_SEED_PAIRS,
        "p3_control_seed_pairs": P3_CONTROL_SEED_PAIRS,
        "train_docs": 20_000,
        "eval_docs": 100,
        "seq_len": 256,
        # not trained yet: W1 runs on the Pythia ReLU+L1 pair above as a substitute
        "w1_appendix_a_recipe": "TinyStories-1Layer-21M, 16384 latents, ReLU+L1 coefficient 5, lr 1e-5, "
        "30k steps, batch 4096 tokens (App. A)",
    },
}

_SETUPS: dict[tuple[str, str], Any] = {}
_PAIRS: dict[tuple, Any] = {}


def seed_profile_params() -> list[Any]:
    return [pytest.param("smoke", marks=pytest.mark.smoke), pytest.param("paper", marks=pytest.mark.gpu)]


@pytest.fixture(scope="module", params=seed_profile_params())
def seed_profile(request: pytest.FixtureRequest, claim_options: dict[str, Any]) -> str:
    if request.param == "paper":
        reason = gpu_tier_unavailable(claim_options["device"])
        if reason:
            pytest.skip(reason)
    return request.param


def build_setup(profile: str, which_layer: str) -> Any:
    """Activations of the profile's seed model at the main or control layer (cached)."""
    key = (profile, which_layer)
    if key in _SETUPS:
        return _SETUPS[key]
    import fixtures
    from harness.pairing.concepts import vocab_strings
    from harness.load.data import DataSpec, load_tokens
    from harness.load.models import ModelSpec, load_model, residual_activations
    from harness.seeds.experiment import SeedSetup

    cfg = SEED_CONFIG[profile]
    if profile == "smoke":
        spec = ModelSpec(name=fixtures.MODEL_A, local_path=str(fixtures.model_dir(fixtures.MODEL_A)))
        n_layers = fixtures.n_layers(fixtures.MODEL_A)
        source = str(fixtures.corpus_path())
        layer = {"middle": n_layers // 2, "first": 0}[cfg["layer"] if which_layer == "main" else cfg["control_layer"]]
    else:
        spec = ModelSpec(name=cfg["model"], device="cuda")
        source = "Skylion007/openwebtext"
        layer = cfg["layer"] if which_layer == "main" else cfg["control_layer"]
    model = load_model(spec)
    n_docs = cfg["train_docs"] + cfg["eval_docs"]
    data = DataSpec(
        source=source,
        n_samples=n_docs,
        seq_len=cfg["seq_len"],
        **({} if profile == "smoke" else {"data_files": "plain_text/train/0000.parquet"}),
    )
    tok = load_tokens(data, model.tokenizer, prepend_bos=bool(model.cfg.default_prepend_bos))
    acts = residual_activations(model, tok.tokens, [layer], site="block_output", batch_size=32)[layer]
    keep = ~tok.special_mask
    train_rows = slice(0, cfg["train_docs"])
    eval_rows = slice(cfg["train_docs"], n_docs)
    train = acts[train_rows][keep[train_rows]].float()
    ev = acts[eval_rows][keep[eval_rows]].float()
    eval_tokens = tok.tokens[eval_rows].numpy()
    s_idx, p_idx = np.nonzero(keep[eval_rows].numpy())
    assert model.tokenizer is not None
    junk = CORRECTED.junk_tokens + tuple(model.tokenizer.all_special_tokens)
    setup = SeedSetup(
        name=f"{spec.name}/L{layer}",
        train=train,
        eval=ev,
        tokens=eval_tokens,
        sample_index=s_idx,
        position_index=p_idx,
        vocab=vocab_strings(model.tokenizer),
        junk_tokens=junk,
        key=f"{spec.name}|{layer}|{tok.key}",
    )
    _SETUPS[key] = setup
    return setup


def _train(
    profile: str, setup: Any, architecture: str, width: int, seeds: tuple[int, ...], *, keep_codes: bool = True
) -> list[Any]:
    """SAEs of the profile's recipe, one per seed (harness.seeds.experiment.trained_pair, cached)."""
    from harness.seeds.experiment import matched_l1, trained_pair

    cfg = SEED_CONFIG[profile]
    # Smoke seed SAEs are committed with the fixture world (deterministic; rebuilt by deleting
    # the folder and running the seed claims); gpu-tier ones go to the local cache.
    cache = (REPO_ROOT / "fixtures" / "seed-saes") if profile == "smoke" else REPO_ROOT / ".cache" / "seed-saes"
    if architecture == "topk":
        kw: dict[str, Any] = {"k": cfg["k"]}
    else:
        # the L1 coefficient is matched once, on the main layer, and reused (control layer too)
        coef, _ = matched_l1(
            build_setup(profile, "main"), target_l0=cfg["k"], d_sae=width, n_steps=cfg["n_steps"], cache_dir=cache
        )
        kw = {"l1_coefficient": coef}
    return trained_pair(
        setup,
        architecture=architecture,  # type: ignore[arg-type]  # "topk" or "relu_l1", the Architecture vocabulary
        d_sae=width,
        seeds=seeds,
        n_steps=cfg["n_steps"],
        cache_dir=cache,
        keep_codes=keep_codes,
        **kw,
    )


def pair(profile: str, setup: Any, architecture: str, width: int) -> list[Any]:
    """Seeds 0 and 1 of a condition, with their held-out codes (W1 and X1 read them)."""
    key = (profile, setup.key, architecture, width, (0, 1))
    if key not in _PAIRS:
        _PAIRS[key] = _train(profile, setup, architecture, width, (0, 1))
    return _PAIRS[key]


def overlap(profile: str, which: str, architecture: str, width: int) -> dict[str, Any]:
    from harness.seeds.experiment import overlap_record

    key = ("overlap", profile, which, architecture, width)
    if key not in _PAIRS:
        a, b = pair(profile, build_setup(profile, which), architecture, width)
        _PAIRS[key] = overlap_record(a, b)
    return _PAIRS[key]


# ----------------------------------------------------------------------------- P1-P3: sets of seed pairs


def seed_item(profile: str, which: str, architecture: str, width: int, seed: int) -> dict[str, Any]:
    """One trained SAE (arrays) of the profile's recipe; seeds 0 and 1 keep their held-out codes
    (W1/X1 read them), the others only encoder and decoder rows (P1-P3 read nothing else)."""
    key = ("sae", profile, which, architecture, width, seed)
    if key not in _PAIRS:
        if seed in (0, 1):
            _PAIRS[key] = pair(profile, build_setup(profile, which), architecture, width)[seed]
        else:
            _PAIRS[key] = _train(profile, build_setup(profile, which), architecture, width, (seed,), keep_codes=False)[
                0
            ]
    return _PAIRS[key]


def overlap_set(
    profile: str, which: str, architecture: str, width: int, seed_pairs: tuple[tuple[int, int], ...]
) -> dict[str, Any]:
    """``seed_overlaps`` record of one condition over ``seed_pairs`` (harness.verdicts.seed_rules)."""
    from harness.seeds.experiment import overlap_set as build

    key = ("set", profile, which, architecture, width, seed_pairs)
    if key not in _PAIRS:
        items = [
            (seed_item(profile, which, architecture, width, a), seed_item(profile, which, architecture, width, b))
            for a, b in seed_pairs
        ]
        cond = {"architecture": architecture, "width": width, "layer": which, "training": training_budget(profile)}
        _PAIRS[key] = build(cond, items)
    return _PAIRS[key]


def training_budget(profile: str) -> dict[str, Any]:
    """The seed SAEs' training budget, stated against the paper's (PB's 32k-latent SAEs saw 8B
    tokens for 0.42 shared; 0.8B tokens gave 0.07)."""
    cfg = SEED_CONFIG[profile]
    samples = cfg["n_steps"] * cfg["batch_size"]
    unique = (
        int(build_setup(profile, "main").train.shape[0]) if profile == "smoke" else cfg["train_docs"] * cfg["seq_len"]
    )
    return {
        "steps": cfg["n_steps"],
        "batch_size": cfg["batch_size"],
        "activations_seen": samples,
        "unique_training_tokens": unique,
        "epochs": samples / unique,
        "paper_tokens": "8B (0.42 shared at 32k latents); 0.8B gave 0.07, 80B 0.61",
        "fraction_of_paper_0_8b": samples / 0.8e9,
    }


def _record(profile: str, name: str, record: dict[str, Any]) -> str:
    from claims.conftest import ClaimRecorder

    ClaimRecorder(profile).experiment(f"{profile}:{name}", record)
    return name


def _judge(claim_id: str, profile: str, inputs: dict[str, str]) -> None:
    from claims.conftest import ClaimRecorder
    from harness.verdicts.seed_rules import PB_METHOD

    ClaimRecorder(profile).judge(claim_id, PB_METHOD, inputs)


def main_set(profile: str, architecture: str = "topk", width: int | None = None) -> str:
    """Record the main seed pairs of a condition; its name in the run's store."""
    cfg = SEED_CONFIG[profile]
    width = cfg["main_width"] if width is None else width
    rec = overlap_set(profile, "main", architecture, width, cfg["seed_pairs"])
    return _record(profile, f"seed overlaps {architecture} {width}", rec)


def test_P1_seeds_share_a_fraction(seed_profile: str) -> None:
    from harness.scoring.effects import cell_seed
    from harness.seeds.experiment import overlap_set as build
    from harness.seeds.experiment import rotated

    cfg = SEED_CONFIG[seed_profile]
    width = cfg["main_width"]
    # control: each pair with B turned by a random rotation (unrelated SAEs of the same geometry)
    items = [
        (
            seed_item(seed_profile, "main", "topk", width, a),
            rotated(seed_item(seed_profile, "main", "topk", width, b), cell_seed(0, "P1 rotation", width, a, b)),
        )
        for a, b in cfg["seed_pairs"]
    ]
    control = build({"architecture": "topk", "width": width, "layer": "main", "b": "randomly rotated"}, items)
    # sanity check (not evidence): seed 0 of the main layer against seed 1 of another layer
    a0 = seed_item(seed_profile, "main", "topk", width, 0)
    b1 = pair(seed_profile, build_setup(seed_profile, "control"), "topk", width)[1]
    sanity = build({"architecture": "topk", "width": width, "layer": "main vs control layer"}, [(a0, b1)])
    _judge(
        "P1",
        seed_profile,
        {
            "overlaps": main_set(seed_profile),
            "control_overlaps": _record(seed_profile, f"seed overlaps topk {width} (control: B rotated)", control),
            "sanity_different_layers": _record(
                seed_profile, f"seed overlaps topk {width} (sanity: different layers)", sanity
            ),
        },
    )


def test_P2_relu_more_stable_than_topk(seed_profile: str) -> None:
    from harness.seeds.experiment import overlap_set as build

    cfg = SEED_CONFIG[seed_profile]
    width = cfg["main_width"]
    second = overlap_set(seed_profile, "main", "topk", width, cfg["control_seed_pairs"])
    # sanity check (not evidence): ReLU+L1 seed 0 of the main layer against seed 1 of another layer
    a0 = seed_item(seed_profile, "main", "relu_l1", width, 0)
    b1 = pair(seed_profile, build_setup(seed_profile, "control"), "relu_l1", width)[1]
    sanity = build({"architecture": "relu_l1", "width": width, "layer": "main vs control layer"}, [(a0, b1)])
    _judge(
        "P2",
        seed_profile,
        {
            "relu_l1": main_set(seed_profile, "relu_l1"),
            "topk": main_set(seed_profile),
            "control_topk": _record(seed_profile, f"seed overlaps topk {width} (control: second seed set)", second),
            "sanity_relu_l1_different_layers": _record(
                seed_profile, f"seed overlaps relu_l1 {width} (sanity: different layers)", sanity
            ),
        },
    )


def test_P3_overlap_falls_with_width(seed_profile: str) -> None:
    from harness.scoring.effects import cell_seed
    from harness.seeds.experiment import overlap_sweep, shuffled_label_sweep

    cfg = SEED_CONFIG[seed_profile]
    widths = list(cfg["widths"])
    sweep = overlap_sweep(
        "width", widths, [overlap_set(seed_profile, "main", "topk", w, cfg["seed_pairs"]) for w in widths]
    )
    # control: pairs of one width dealt at random into groups carrying the width labels
    pool = overlap_set(seed_profile, "main", "topk", cfg["main_width"], cfg["p3_control_seed_pairs"])
    control = shuffled_label_sweep(pool, "width", widths, seed=cell_seed(0, "P3 width labels", cfg["main_width"]))
    _judge(
        "P3",
        seed_profile,
        {
            "width_sweep": _record(seed_profile, "seed overlaps topk by width", sweep),
            "control_width_sweep": _record(
                seed_profile, f"seed overlaps topk {cfg['main_width']} (control: width labels shuffled)", control
            ),
        },
    )


def _lan(profile: str, procedure: Any, *, shuffle_b: bool = False, architecture: str = "topk") -> dict[str, Any]:
    """Lan et al.'s statistics of the main seed pair of ``architecture``; ``shuffle_b``: the negative
    control (B's positions shuffled; the filtered pairings replaced by top-correlated sets of the real sizes)."""
    key = ("lan", profile, procedure.name, shuffle_b, architecture)
    if key not in _PAIRS:
        match = None
        if shuffle_b:
            match = lan_match_pairs(_lan(profile, procedure, architecture=architecture))
        _PAIRS[key] = compute_lan(profile, procedure, shuffle_b=shuffle_b, match_pairs=match, architecture=architecture)
    return _PAIRS[key]


def lan_match_pairs(real: dict[str, Any]) -> dict[str, int]:
    """Pair counts of the real record's filtered pairings: the control's top-correlated sets get these sizes."""
    return {v: real[v]["n_pairs"] for v in ("many_to_one_filtered", "one_to_one_filtered")}


def compute_lan(
    profile: str,
    procedure: Any,
    *,
    shuffle_b: bool = False,
    match_pairs: dict[str, int] | None = None,
    architecture: str = "topk",
) -> dict[str, Any]:
    """Lan et al.'s statistics of the main seed pair of ``architecture`` ("topk": X1's; "relu_l1":
    W1's, App. A's architecture) under ``procedure`` (its seed included), uncached; the claims cache
    it per procedure name (:func:`_lan`), the seed sweep (harness/verdicts/stability.py) calls it once
    per seed."""
    from harness.seeds.experiment import lan_record

    width = SEED_CONFIG[profile]["main_width"]
    setup = build_setup(profile, "main")
    a, b = pair(profile, setup, architecture, width)
    n_perm = 99 if profile == "smoke" else procedure.n_permutations
    return lan_record(setup, a, b, procedure, n_permutations=n_perm, shuffle_b=shuffle_b, match_pairs=match_pairs)


def seed_pair_records(profile: str, procedure: Any) -> dict[str, dict[str, Any]]:
    """W1/X1's records (X1: roles ``lan``, ``control_lan``, ``overlap``, the TopK pair; W1:
    ``lan_relu_l1``, ``control_lan_relu_l1``, the ReLU+L1 pair) at ``procedure``, uncached (the
    overlap is seed-free and cached): what the seed sweep judges W1 and X1 on."""
    real = compute_lan(profile, procedure)
    ctrl = compute_lan(profile, procedure, shuffle_b=True, match_pairs=lan_match_pairs(real))
    relu = compute_lan(profile, procedure, architecture="relu_l1")
    relu_ctrl = compute_lan(
        profile, procedure, shuffle_b=True, match_pairs=lan_match_pairs(relu), architecture="relu_l1"
    )
    width = SEED_CONFIG[profile]["main_width"]
    return {
        "lan": {"kind": "seed_pair", **real},
        "control_lan": {"kind": "seed_pair", **ctrl},
        "lan_relu_l1": {"kind": "seed_pair", **relu},
        "control_lan_relu_l1": {"kind": "seed_pair", **relu_ctrl},
        "overlap": {"kind": "seed_overlap", **overlap(profile, "main", "topk", width)},
    }


def _record_lan(profile: str, procedure: Any, architecture: str = "topk") -> dict[str, str]:
    """Record the ``architecture`` seed pair's Lan statistics (and the control's) in the run's store;
    role -> name (roles ``lan``/``control_lan`` for TopK, ``lan_relu_l1``/``control_lan_relu_l1`` for
    ReLU+L1)."""
    from claims.conftest import ClaimRecorder

    recorder = ClaimRecorder(profile)
    role = "lan" if architecture == "topk" else f"lan_{architecture}"
    pair_name = "seed pair" if architecture == "topk" else f"seed pair {architecture}"
    names = {
        role: f"{pair_name} {procedure.name}",
        f"control_{role}": f"{pair_name} {procedure.name} (control: B positions shuffled)",
    }
    recorder.experiment(
        f"{profile}:{names[role]}", {"kind": "seed_pair", **_lan(profile, procedure, architecture=architecture)}
    )
    recorder.experiment(
        f"{profile}:{names[f'control_{role}']}",
        {"kind": "seed_pair", **_lan(profile, procedure, shuffle_b=True, architecture=architecture)},
    )
    return names


def test_W1_seed_pair_feature_spaces_similar(seed_profile: str, procedure: Any) -> None:
    from claims.conftest import ClaimRecorder

    ClaimRecorder(seed_profile).judge("W1", procedure, _record_lan(seed_profile, procedure, "relu_l1"))


def test_X1_both_papers_on_one_pair(seed_profile: str, procedure: Any) -> None:
    from claims.conftest import ClaimRecorder

    width = SEED_CONFIG[seed_profile]["main_width"]
    recorder = ClaimRecorder(seed_profile)
    name = f"seed overlap topk {width}"
    recorder.experiment(
        f"{seed_profile}:{name}", {"kind": "seed_overlap", **overlap(seed_profile, "main", "topk", width)}
    )
    recorder.judge("X1", procedure, {**_record_lan(seed_profile, procedure), "overlap": name})


def test_seed_setup_is_what_it_claims(seed_profile: str) -> None:
    """Guard: the two SAEs of a pair saw identical activations and differ (seed only)."""
    setup = build_setup(seed_profile, "main")
    a, b = pair(seed_profile, setup, "topk", SEED_CONFIG[seed_profile]["main_width"])
    assert a["seed"] != b["seed"] and a["d_sae"] == b["d_sae"]
    assert not np.allclose(a["dec"], b["dec"])
    assert min(a["ev"], b["ev"]) > 0.7, f"seed SAEs reconstruct poorly: {a['ev']:.3f}, {b['ev']:.3f}"
    assert math.isfinite(a["l0"]) and abs(a["l0"] - SEED_CONFIG[seed_profile]["k"]) < 1.5


@pytest.mark.smoke
def test_seed_pair_sets_are_independent_replicates() -> None:
    """Guard: within a condition's set no seed appears twice (pairs are independent), the second
    TopK set (P2's control) shares no seed with the main one, and P3's control pool holds three
    pairs per width label."""
    for pairs in (SEED_PAIRS, CONTROL_SEED_PAIRS, P3_CONTROL_SEED_PAIRS):
        seeds = [s for p in pairs for s in p]
        assert len(seeds) == len(set(seeds)), pairs
    assert not {s for p in SEED_PAIRS for s in p} & {s for p in CONTROL_SEED_PAIRS for s in p}
    for cfg in SEED_CONFIG.values():
        assert len(cfg["p3_control_seed_pairs"]) >= 3 * len(cfg["widths"])
        assert min(len(cfg["seed_pairs"]), len(cfg["control_seed_pairs"])) >= 3
