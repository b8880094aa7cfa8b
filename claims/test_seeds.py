"""Seed-stability claims P1-P3 (Paulo & Belrose 2025), W1 (Lan et al. App. A) and X1 (both
papers' statistics on the same seed pairs; this suite's own contribution).

Each PB number is judged with the overlap criterion of the figure it comes from
(``ClaimRecord.criterion``: the width figure and the abstract use the headline rule ``both``,
the architecture figure that P2 quotes counts decoder cosine only); the headline fraction is
recorded next to it (``shared_fraction_by_criterion``).

Smoke: SAEs trained (harness.seeds.training, sae-lens training classes) on fixture model A's block
output at a middle layer, differing only in seed; widths 128/256/512 (TopK, k = 8) and
ReLU+L1 at matched L0. Negative control: SAEs of the same recipe on a *different layer*.
gpu: Pythia-70m layer 3, 32k latents (PB-like). W1 and X1 score that same TopK seed pair at
the gpu tier: a *substitute* for App. A's setup (TinyStories-1Layer-21M, ReLU+L1, 16,384
latents), which is recorded in ``SEED_CONFIG["paper"]["w1_appendix_a_recipe"]`` but not
trained by this suite yet; the report says so next to W1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from claims.conftest import REPO_ROOT, gpu_tier_unavailable
from harness.verdicts.records import CLAIMS, HEADLINE_CRITERION
from harness.config import CORRECTED


#: Seed claims train SAEs (minutes on a CPU when the committed cache misses): `slow`, so the
#: default test run (CI) leaves them out; the main job (`bash .ci/reproduce-smoke`) runs them.
pytestmark = pytest.mark.slow

#: Seed-pair configurations per profile. The overlap depends strongly on training tokens
#: (PB: 0.07 at 0.8B tokens, 0.42 at 8B for 32k latents); the report states the budget.
SEED_CONFIG: dict[str, dict[str, Any]] = {
    "smoke": {
        "layer": "middle",
        "control_layer": "first",
        "k": 8,
        "widths": (128, 256, 512),
        "main_width": 256,
        "n_steps": 1500,
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
        "train_docs": 20_000,
        "eval_docs": 100,
        "seq_len": 256,
        # not trained yet: W1 runs on the Pythia TopK pair above as a substitute
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


def pair(profile: str, setup: Any, architecture: str, width: int, *, seeds: tuple[int, int] = (0, 1)) -> list[Any]:
    from harness.seeds.experiment import matched_l1, trained_pair

    cfg = SEED_CONFIG[profile]
    # Smoke seed SAEs are committed with the fixture world (deterministic; rebuilt by deleting
    # the folder and running the seed claims); gpu-tier ones go to the local cache.
    cache = (REPO_ROOT / "fixtures" / "seed-saes") if profile == "smoke" else REPO_ROOT / ".cache" / "seed-saes"
    key = (profile, setup.key, architecture, width, seeds)
    if key not in _PAIRS:
        if architecture == "topk":
            _PAIRS[key] = trained_pair(
                setup,
                architecture="topk",
                d_sae=width,
                seeds=seeds,
                k=cfg["k"],
                n_steps=cfg["n_steps"],
                cache_dir=cache,
            )
        else:
            # the L1 coefficient is matched once, on the main layer, and reused (control layer too)
            coef, _ = matched_l1(
                build_setup(profile, "main"), target_l0=cfg["k"], d_sae=width, n_steps=cfg["n_steps"], cache_dir=cache
            )
            _PAIRS[key] = trained_pair(
                setup,
                architecture="relu_l1",
                d_sae=width,
                seeds=seeds,
                l1_coefficient=coef,
                n_steps=cfg["n_steps"],
                cache_dir=cache,
            )
    return _PAIRS[key]


def overlap(profile: str, which: str, architecture: str, width: int) -> dict[str, Any]:
    from harness.seeds.experiment import overlap_record

    key = ("overlap", profile, which, architecture, width)
    if key not in _PAIRS:
        a, b = pair(profile, build_setup(profile, which), architecture, width)
        _PAIRS[key] = overlap_record(a, b)
    return _PAIRS[key]


def cross_layer_overlap(profile: str, architecture: str, width: int) -> dict[str, Any]:
    """Negative control: seed 0 at the main layer vs seed 1 at the control layer."""
    from harness.seeds.experiment import overlap_record

    key = ("cross", profile, architecture, width)
    if key not in _PAIRS:
        a = pair(profile, build_setup(profile, "main"), architecture, width)[0]
        b = pair(profile, build_setup(profile, "control"), architecture, width)[1]
        _PAIRS[key] = overlap_record(a, b)
    return _PAIRS[key]


def conclude(
    claim_id: str,
    procedure: str,
    profile: str,
    ok: bool,
    measured: dict[str, Any],
    control: dict[str, Any],
    control_holds: bool,
    *,
    control_scored: bool = True,
) -> None:
    from claims.conftest import ClaimRecorder

    ClaimRecorder(profile).conclude(
        claim_id,
        procedure,
        rule_holds=ok,
        measured=measured,
        control=control,
        control_holds=control_holds,
        control_scored=control_scored,
    )


PB = "PB method"


def criterion(claim_id: str) -> str:
    """The overlap criterion claim ``claim_id`` is judged with: that of the figure whose
    numbers it quotes (``ClaimRecord.criterion``)."""
    crit = CLAIMS[claim_id].criterion
    assert crit is not None, f"{claim_id} quotes no Paulo & Belrose figure"
    return crit


def judged(claim_id: str, ov: dict[str, Any]) -> float:
    """The shared fraction of an overlap record under the claim's criterion."""
    return float(ov["fraction_by_criterion"][criterion(claim_id)])


def by_criterion(claim_id: str, **overlaps: Any) -> dict[str, Any]:
    """Shared fractions of the named overlap records (or lists of them) under the headline
    criterion and under the claim's own (the report shows both)."""
    crit = criterion(claim_id)

    def get(ov: Any, c: str) -> Any:
        return [o["fraction_by_criterion"][c] for o in ov] if isinstance(ov, list) else ov["fraction_by_criterion"][c]

    return {
        "judged_with": crit,
        **{c: {label: get(ov, c) for label, ov in overlaps.items()} for c in dict.fromkeys((HEADLINE_CRITERION, crit))},
    }


def p1(fraction: float) -> bool:
    return 0.05 < fraction < 0.95


def test_P1_seeds_share_a_fraction(seed_profile: str) -> None:
    width = SEED_CONFIG[seed_profile]["main_width"]
    ov = overlap(seed_profile, "main", "topk", width)
    ctrl = cross_layer_overlap(seed_profile, "topk", width)  # control: SAEs of different layers
    conclude(
        "P1",
        PB,
        seed_profile,
        p1(judged("P1", ov)),
        {"shared_fraction_by_criterion": by_criterion("P1", topk=ov), "width": width, **ov},
        {"different_layer_fraction": judged("P1", ctrl)},
        p1(judged("P1", ctrl)),
    )


def p2(relu: dict[str, Any], topk: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """ReLU+L1 shares more than TopK at matched L0, under the architecture figure's criterion."""
    l0_ratio = float(np.mean([relu["l0_a"], relu["l0_b"]]) / np.mean([topk["l0_a"], topk["l0_b"]]))
    matched = 0.75 <= l0_ratio <= 1.25
    r, t = judged("P2", relu), judged("P2", topk)
    return bool(matched and r > t), {
        "criterion": criterion("P2"),
        "relu_l1": r,
        "topk": t,
        "l0_ratio_relu_over_topk": l0_ratio,
        "l0_matched": matched,
    }


def test_P2_relu_more_stable_than_topk(seed_profile: str) -> None:
    width = SEED_CONFIG[seed_profile]["main_width"]
    topk = overlap(seed_profile, "main", "topk", width)
    relu = overlap(seed_profile, "main", "relu_l1", width)
    ok, measured = p2(relu, topk)
    # control: the ReLU pair replaced by ReLU SAEs of different layers (same recipe, same L1)
    cross = cross_layer_overlap(seed_profile, "relu_l1", width)
    ctrl_ok, ctrl = p2(cross, topk)
    ctrl["relu_l1_headline"] = cross["fraction_by_criterion"][HEADLINE_CRITERION]
    conclude(
        "P2",
        PB,
        seed_profile,
        ok,
        {"shared_fraction_by_criterion": by_criterion("P2", relu_l1=relu, topk=topk), **measured},
        ctrl,
        ctrl_ok,
    )


def p3(fracs: list[float]) -> bool:
    return all(x > y for x, y in zip(fracs, fracs[1:], strict=False))


def test_P3_overlap_falls_with_width(seed_profile: str) -> None:
    from harness.seeds.experiment import overlap_record

    widths = SEED_CONFIG[seed_profile]["widths"]
    ovs = [overlap(seed_profile, "main", "topk", w) for w in widths]
    fracs = [judged("P3", ov) for ov in ovs]
    # control: seed 0 against itself with its latents permuted -> every latent is shared at
    # every width, so "falls with width" must not hold
    ctrl = []
    for w in widths:
        a = pair(seed_profile, build_setup(seed_profile, "main"), "topk", w)[0]
        perm = np.random.default_rng(w).permutation(a["dec"].shape[0])
        ctrl.append(judged("P3", overlap_record(a, {**a, "enc": a["enc"][perm], "dec": a["dec"][perm]})))
    conclude(
        "P3",
        PB,
        seed_profile,
        p3(fracs),
        {
            "shared_fraction_by_criterion": by_criterion("P3", topk=ovs),
            "widths": list(widths),
            "fraction_shared": fracs,
            "fraction_by_criterion_paper_float32": [ov["fraction_by_criterion_paper_float32"] for ov in ovs],
        },
        {"permuted_self_fraction_shared": ctrl},
        p3(ctrl),
    )


def _lan(profile: str, procedure: Any, *, shuffle_b: bool = False) -> dict[str, Any]:
    """Lan et al.'s statistics of the main seed pair; ``shuffle_b``: the negative control (B's
    positions shuffled; the filtered pairings replaced by top-correlated sets of the real sizes)."""
    key = ("lan", profile, procedure.name, shuffle_b)
    if key not in _PAIRS:
        match = None
        if shuffle_b:
            match = lan_match_pairs(_lan(profile, procedure))
        _PAIRS[key] = compute_lan(profile, procedure, shuffle_b=shuffle_b, match_pairs=match)
    return _PAIRS[key]


def lan_match_pairs(real: dict[str, Any]) -> dict[str, int]:
    """Pair counts of the real record's filtered pairings: the control's top-correlated sets get these sizes."""
    return {v: real[v]["n_pairs"] for v in ("many_to_one_filtered", "one_to_one_filtered")}


def compute_lan(
    profile: str, procedure: Any, *, shuffle_b: bool = False, match_pairs: dict[str, int] | None = None
) -> dict[str, Any]:
    """Lan et al.'s statistics of the main TopK seed pair under ``procedure`` (its seed included),
    uncached; the claims cache it per procedure name (:func:`_lan`), the seed sweep
    (harness/verdicts/stability.py) calls it once per seed."""
    from harness.seeds.experiment import lan_record

    width = SEED_CONFIG[profile]["main_width"]
    setup = build_setup(profile, "main")
    a, b = pair(profile, setup, "topk", width)
    n_perm = 99 if profile == "smoke" else procedure.n_permutations
    return lan_record(setup, a, b, procedure, n_permutations=n_perm, shuffle_b=shuffle_b, match_pairs=match_pairs)


def seed_pair_records(profile: str, procedure: Any) -> dict[str, dict[str, Any]]:
    """W1/X1's records (roles ``lan``, ``control_lan``, ``overlap``) at ``procedure``, uncached
    (the overlap is seed-free and cached): what the seed sweep judges W1 and X1 on."""
    real = compute_lan(profile, procedure)
    ctrl = compute_lan(profile, procedure, shuffle_b=True, match_pairs=lan_match_pairs(real))
    width = SEED_CONFIG[profile]["main_width"]
    return {
        "lan": {"kind": "seed_pair", **real},
        "control_lan": {"kind": "seed_pair", **ctrl},
        "overlap": {"kind": "seed_overlap", **overlap(profile, "main", "topk", width)},
    }


def _record_lan(profile: str, procedure: Any) -> dict[str, str]:
    """Record the seed pair's Lan statistics (and the control's) in the run's store; their names."""
    from claims.conftest import ClaimRecorder

    recorder = ClaimRecorder(profile)
    names = {
        "lan": f"seed pair {procedure.name}",
        "control_lan": f"seed pair {procedure.name} (control: B positions shuffled)",
    }
    recorder.experiment(f"{profile}:{names['lan']}", {"kind": "seed_pair", **_lan(profile, procedure)})
    recorder.experiment(
        f"{profile}:{names['control_lan']}", {"kind": "seed_pair", **_lan(profile, procedure, shuffle_b=True)}
    )
    return names


def test_W1_seed_pair_feature_spaces_similar(seed_profile: str, procedure: Any) -> None:
    from claims.conftest import ClaimRecorder

    ClaimRecorder(seed_profile).judge("W1", procedure, _record_lan(seed_profile, procedure))


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
