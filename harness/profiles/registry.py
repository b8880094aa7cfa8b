"""Named profiles: which models, SAEs, layers, data and null sizes a run uses.

- ``smoke``: the offline fixture world (fixtures/world), CPU, minutes.
- ``paper``: Pythia-70m x Pythia-160m with EleutherAI residual SAEs on OpenWebText, at the
  paper's sizes (100 documents x 300 tokens; 100 / 1000 permutations), as in
  shared/reference/original-procedure.md. Gemma and Llama entries are listed in
  ``PAPER_PAIRS`` for the gpu/large tiers.

The registry refuses duplicate names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.config import Procedure
from harness.errors import UnknownIdError


@dataclass(frozen=True)
class Profile:
    """One runnable configuration (a model pair, its SAEs, layers, data and null sizes)."""

    name: str
    models: dict[str, dict[str, Any]]
    """"a"/"b" -> keyword arguments of harness.load.models.ModelSpec (plus a display ``label``)."""
    sae: Callable[[str, int], Any]
    """(which, layer) -> harness.load.saes spec for that model's SAE at that layer."""
    data: Any
    """harness.load.data.DataSpec of the shared tokens."""
    layers_a: tuple[int, ...]
    layers_b: tuple[int, ...]
    semantic_table: tuple[int, int]
    """The layer pair of the semantic table (Table 1: 70m L3 x 160m L5)."""
    semantic_layers_a: tuple[int, ...]
    semantic_layers_b: tuple[int, ...]
    permutations: int | None = None
    """Override of the grid null size for every procedure (None = the procedure's)."""
    paper_grid_permutations: int | None = None
    """Grid null size of the authors' code for this pair, used under the ``paper`` procedure
    only (the corrected procedure keeps its own, larger null)."""
    permutations_semantic: int | None = None
    random_subsets: int | None = None
    batch_size: int = 16
    paper_semantic_table: dict[str, dict[str, float]] = field(default_factory=dict)
    paper_pair_range: tuple[int, int] | None = None
    """Range of 1-1 pair counts over the paper's non-zero grid cells (Tables 5-8), for U8."""
    notes: tuple[str, ...] = ()

    def model_name(self, which: str) -> str:
        return str(self.models[which].get("label") or self.models[which]["name"])

    def model_spec(self, which: str, *, device: str) -> Any:
        from harness.load.models import ModelSpec

        kwargs = {k: v for k, v in self.models[which].items() if k != "label"}
        return ModelSpec(**kwargs, device=device)

    def sae_spec(self, which: str, layer: int) -> Any:
        return self.sae(which, layer)

    def n_permutations(self, procedure: Procedure) -> int:
        if self.paper_grid_permutations and procedure.name == "paper":
            return self.paper_grid_permutations
        return self.permutations or procedure.n_permutations

    def n_permutations_semantic(self, procedure: Procedure) -> int:
        return self.permutations_semantic or procedure.n_permutations_semantic

    def n_random_subsets(self, procedure: Procedure) -> int:
        return self.random_subsets or procedure.n_random_subsets


PROFILES: dict[str, Callable[[], Profile]] = {}


def register(name: str) -> Callable[[Callable[[], Profile]], Callable[[], Profile]]:
    def deco(fn: Callable[[], Profile]) -> Callable[[], Profile]:
        if name in PROFILES:
            raise ValueError(f"Duplicate profile {name!r}.")
        PROFILES[name] = fn
        return fn

    return deco


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]()
    except KeyError:
        raise UnknownIdError(f"Unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}.") from None


#: Table 1 (SVCCA, Pythia-70m L3 x 160m L5) and Table 9 (RSA) of the paper.
PAPER_TABLE1 = {
    "Time": {"n": 228, "svcca": 0.59, "null": 0.05}, "Calendar": {"n": 126, "svcca": 0.65, "null": 0.07},
    "Nature": {"n": 46, "svcca": 0.50, "null": 0.12}, "Countries": {"n": 32, "svcca": 0.72, "null": 0.14},
    "People/Roles": {"n": 31, "svcca": 0.50, "null": 0.15}, "Emotions": {"n": 24, "svcca": 0.83, "null": 0.15},
    "MonthNames": {"n": 32, "rsa": 0.76},
}


@register("paper")
def _paper() -> Profile:
    from harness.load.data import DataSpec
    from harness.load.saes import SaeSpec

    repos = {"a": "EleutherAI/sae-pythia-70m-32k", "b": "EleutherAI/sae-pythia-160m-32k"}

    def sae(which: str, layer: int) -> Any:
        return SaeSpec(source="sparsify", repo_id=repos[which], hookpoint=f"layers.{layer}")

    return Profile(
        name="paper",
        models={"a": {"name": "EleutherAI/pythia-70m"}, "b": {"name": "EleutherAI/pythia-160m"}},
        sae=sae,
        data=DataSpec(source="Skylion007/openwebtext", revision="refs/convert/parquet",
                      data_files="plain_text/train/0000.parquet", n_samples=100, seq_len=300),
        layers_a=tuple(range(0, 6)), layers_b=tuple(range(0, 12)),
        semantic_table=(3, 5), semantic_layers_a=(1, 2, 3, 4, 5), semantic_layers_b=(3, 5, 7, 9, 11),
        batch_size=8, paper_semantic_table=PAPER_TABLE1, paper_pair_range=(1879, 7553),
        # Grid null: the procedure's size (100 under `paper`, as the main notebooks and the text).
        # The authors' printed Pythia 1-1 grid used only 20 permutations (smallest non-zero p
        # 0.05, so "p < 0.05" meant p = 0); Profile(paper_grid_permutations=20) mimics that.
        notes=("Grid null: 100 permutations under `paper` (the main notebooks); the authors' printed Pythia "
               "1-1 grid used 20 (smallest non-zero p 0.05).",),
    )


#: Smoke-world sizes: 200 documents x 64 tokens (the fixture models' context) = 12,800 positions.
SMOKE_SAMPLES, SMOKE_SEQ_LEN = 200, 64


@register("smoke")
def _smoke() -> Profile:
    import fixtures
    from harness.load.data import DataSpec
    from harness.load.saes import SaeSpec

    names = {"a": fixtures.MODEL_A, "b": fixtures.MODEL_B}

    def sae(which: str, layer: int) -> Any:
        return SaeSpec.from_sparsify(fixtures.sae_repo_dir(names[which]), f"layers.{layer}")

    fixtures.require_world()
    n_a, n_b = fixtures.n_layers(fixtures.MODEL_A), fixtures.n_layers(fixtures.MODEL_B)
    return Profile(
        name="smoke",
        models={w: {"name": n, "local_path": str(fixtures.model_dir(n)), "label": f"fixture-{n}"} for w, n in names.items()},
        sae=sae,
        data=DataSpec(source=str(fixtures.corpus_path()), n_samples=SMOKE_SAMPLES, seq_len=SMOKE_SEQ_LEN),
        layers_a=tuple(range(n_a)), layers_b=tuple(range(n_b)),
        # the paper's table pair sits at relative depth ~0.5 (70m L3 of 6, 160m L5 of 12)
        semantic_table=(n_a // 2, n_b // 2),
        semantic_layers_a=tuple(range(1, n_a)), semantic_layers_b=tuple(range(1, n_b, 2)),
        permutations=99, permutations_semantic=199, random_subsets=30, batch_size=32,
        notes=("smoke: null sizes 99 (grid) / 199 (semantic) / 30 Test-2 draws to fit CI; the paper used "
               "100 / 1000 / 100",),
    )


# --------------------------------------------------------------------------------------
# Rehearsal tier: the paper profile's hub names at toy sizes (see harness/experiments/rehearsal.py)
# --------------------------------------------------------------------------------------

#: Rehearsal sizes: 4 documents x 32 tokens (128 positions), SAE layers {0, 1} of each model.
REHEARSAL_SAMPLES, REHEARSAL_SEQ_LEN, REHEARSAL_LAYERS = 4, 32, (0, 1)


@register("rehearsal")
def _rehearsal() -> Profile:
    """The ``paper`` profile (same hub names, same loaders) shrunk to run on a CPU in CI
    against the staged offline hub of :mod:`fixtures.stage_hub` (random weights, real shapes).
    Numbers mean nothing; only the wiring is checked."""
    paper = _paper()
    from dataclasses import replace

    return replace(
        paper,
        name="rehearsal",
        data=replace(paper.data, n_samples=REHEARSAL_SAMPLES, seq_len=REHEARSAL_SEQ_LEN),
        layers_a=REHEARSAL_LAYERS, layers_b=REHEARSAL_LAYERS,
        semantic_table=(1, 1), semantic_layers_a=(1,), semantic_layers_b=(1,),
        permutations=3, permutations_semantic=3, random_subsets=2, batch_size=4,
        notes=("rehearsal: random-weight stand-ins under the real hub names (fixtures.stage_hub); "
               "4 x 32 tokens, layers {0, 1}, 3 permutations, 2 Test-2 draws: wiring only, no numbers",),
    )


# --------------------------------------------------------------------------------------
# Gemma and Llama (gpu / large tiers): the configurations as data
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperPair:
    """One model pair of Lan et al. 2024 with the sae-lens SAEs it uses (Sec. 4, App. B).

    Every SAE is a sae-lens release + SAE id; models are transformer-lens official names.
    ``harness.load.hub_names.check_saelens_release`` / ``check_tl_model_name`` resolve all of them
    without downloading (the rehearsal tier checks that).
    """

    name: str
    model_a: str
    """Official transformer-lens name of the smaller / older model (A)."""
    model_b: str
    sae_a: dict[int, tuple[str, str]]
    """Layer of A -> (sae-lens release, SAE id)."""
    sae_b: dict[int, tuple[str, str]]
    layers_a: tuple[int, ...]
    """Layers of the whole-space grid (each needs an entry in ``sae_a``)."""
    layers_b: tuple[int, ...]
    n_samples: int
    """Documents (OpenWebText, first ones, no shuffle)."""
    seq_len: int
    tokenizer: str
    """Model whose tokenizer the paper's code used for both sides."""
    tier: str
    """``gpu`` or ``large`` (pytest marker)."""
    gated: bool
    """Gated on the hub: accept the licence and set HF_TOKEN."""
    semantic_table: tuple[int, int] | None = None
    semantic_layers_a: tuple[int, ...] = ()
    semantic_layers_b: tuple[int, ...] = ()
    permutations: int | None = None
    """Grid null size the paper's code used (None = the procedure's)."""
    paper_semantic_table: dict[str, dict[str, float]] = field(default_factory=dict)
    paper_pair_range: tuple[int, int] | None = None
    """Range of 1-1 pair counts over the paper's non-zero grid cells (Tables 5-8)."""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for side, layers, saes in (("a", (*self.layers_a, *self.semantic_layers_a), self.sae_a),
                                   ("b", (*self.layers_b, *self.semantic_layers_b), self.sae_b)):
            missing = sorted({layer for layer in layers if layer not in saes})
            if missing:
                raise ValueError(f"PaperPair {self.name!r}: layers {missing} of model {side.upper()} (grid or "
                                 f"semantic) have no SAE in sae_{side}.")
        if self.semantic_table is not None:
            la, lb = self.semantic_table
            if la not in self.sae_a or lb not in self.sae_b:
                raise ValueError(f"PaperPair {self.name!r}: semantic_table {self.semantic_table} has no SAEs.")

    def releases(self) -> list[tuple[str, str, str, int]]:
        """Every SAE as (side, release, sae_id, layer), A first."""
        return ([("a", *self.sae_a[layer], layer) for layer in sorted(self.sae_a)]
                + [("b", *self.sae_b[layer], layer) for layer in sorted(self.sae_b)])

    def model_names(self) -> tuple[str, str]:
        return self.model_a, self.model_b


#: Table 2 of the paper (SVCCA, Gemma-1-2B L12 x Gemma-2-2B L14, 1000 permutations).
PAPER_TABLE2 = {
    "Time": {"n": 228, "svcca": 0.46, "null": 0.06}, "Calendar": {"n": 105, "svcca": 0.54, "null": 0.07},
    "Nature": {"n": 51, "svcca": 0.30, "null": 0.11}, "Countries": {"n": 21, "svcca": 0.39, "null": 0.17},
    "People/Roles": {"n": 36, "svcca": 0.66, "null": 0.15}, "Emotions": {"n": 35, "svcca": 0.60, "null": 0.12},
}

_GEMMA1_LAYERS = (0, 6, 10, 12, 17)
_GEMMA2_LAYERS = (0, 2, 6, 10, 14, 18, 22, 25)

PAPER_PAIRS: dict[str, PaperPair] = {
    "gemma": PaperPair(
        name="gemma",
        model_a="google/gemma-2b",
        model_b="google/gemma-2-2b",
        sae_a={layer: ("gemma-2b-res-jb", f"blocks.{layer}.hook_resid_post") for layer in _GEMMA1_LAYERS},
        sae_b={layer: ("gemma-scope-2b-pt-res-canonical", f"layer_{layer}/width_16k/canonical")
               for layer in sorted({*_GEMMA2_LAYERS, 17})},
        layers_a=_GEMMA1_LAYERS, layers_b=_GEMMA2_LAYERS,
        n_samples=150, seq_len=150, tokenizer="google/gemma-2-2b", tier="gpu", gated=True,
        semantic_table=(12, 14), semantic_layers_a=(6, 10, 12, 17), semantic_layers_b=(6, 10, 14, 17),
        permutations=10, paper_semantic_table=PAPER_TABLE2, paper_pair_range=(801, 4650),
        notes=(
            "Sec. 4: Gemma-1-2B (18 layers, d_model 2048) x Gemma-2-2B (26 layers, d_model 2304), 16384-latent "
            "residual SAEs: gemma-2b-res-jb (ReLU; layer 12 has a norm scaling factor folded in at load) and "
            "Gemma Scope canonical (JumpReLU, apply_b_dec_to_input=False).",
            "150 documents x 150 tokens; the authors' code tokenized both sides with google/gemma-2-2b's "
            "tokenizer (same 256k vocabulary as Gemma-1); this harness uses model A's tokenizer for both.",
            "Semantic layers as in the authors' code: Gemma-1 {6, 10, 12, 17} x Gemma-2 {6, 10, 14, 17} (Gemma-2 "
            "L17 is off the whole-space grid, so sae_b lists it too). Grid null: 10 permutations, as in the "
            "code's Gemma grids.",
            "Gated models: accept the licences of google/gemma-2b and google/gemma-2-2b and set HF_TOKEN.",
        ),
    ),
    "llama": PaperPair(
        name="llama",
        model_a="meta-llama/Meta-Llama-3-8B",
        model_b="meta-llama/Llama-3.1-8B",
        sae_a={25: ("llama-3-8b-it-res-jh", "blocks.25.hook_resid_post")},
        sae_b={25: ("llama_scope_lxr_8x", "l25r_8x")},
        layers_a=(25,), layers_b=(25,),
        n_samples=100, seq_len=100, tokenizer="meta-llama/Llama-3.1-8B", tier="large", gated=True,
        notes=(
            "Appendix B: layer-25 residual stream of Llama-3-8B vs Llama-3.1-8B, 100 x 100 tokens; the paper "
            "reports SVCCA ~0.3 after filtering. It names a Gated-ReLU SAE of width 65536 for Llama 3 and a "
            "JumpReLU SAE of width 32768 for Llama 3.1.",
            "Llama-3.1-8B: Llama Scope llama_scope_lxr_8x / l25r_8x (fnlp/Llama3_1-8B-Base-LXR-8x, residual "
            "stream after block 25, 32768 latents).",
            "SUBSTITUTION: sae-lens has no SAE for the Llama-3-8B *base* model. The closest published one is "
            "llama-3-8b-it-res-jh / blocks.25.hook_resid_post (Juliushanhanhan/llama-3-8b-it-res), trained on "
            "Meta-Llama-3-8B-Instruct. It is applied here to the base model's layer 25, as the paper's "
            "Appendix B appears to do; the pre-flight FVU check shows how well it reconstructs base-model "
            "activations. Swap in another SAE via sae_a if a base-model SAE is published.",
            "Large tier: two 8B models in fp32 need ~64 GB of accelerator memory (or run them one at a time).",
        ),
    ),
}


def profile_from_pair(pair: PaperPair, *, name: str | None = None) -> Profile:
    """A runnable :class:`Profile` for a :data:`PAPER_PAIRS` entry (SAEs via
    ``SaeSpec.from_release``, OpenWebText's parquet shard as in the ``paper`` profile)."""
    from harness.load.data import DataSpec
    from harness.load.saes import SaeSpec

    saes = {"a": pair.sae_a, "b": pair.sae_b}

    def sae(which: str, layer: int) -> Any:
        try:
            release, sae_id = saes[which][layer]
        except KeyError:
            raise UnknownIdError(
                f"{pair.name}: no SAE for model {which.upper()} layer {layer}; layers with SAEs: "
                f"{sorted(saes[which]) if which in saes else []}.") from None
        return SaeSpec.from_release(release, sae_id)

    return Profile(
        name=name or pair.name,
        models={"a": {"name": pair.model_a}, "b": {"name": pair.model_b}},
        sae=sae,
        data=DataSpec(source="Skylion007/openwebtext", revision="refs/convert/parquet",
                      data_files="plain_text/train/0000.parquet", n_samples=pair.n_samples, seq_len=pair.seq_len),
        layers_a=pair.layers_a, layers_b=pair.layers_b,
        semantic_table=pair.semantic_table or (pair.layers_a[-1], pair.layers_b[-1]),
        semantic_layers_a=pair.semantic_layers_a or pair.layers_a,
        semantic_layers_b=pair.semantic_layers_b or pair.layers_b,
        paper_grid_permutations=pair.permutations, batch_size=8, paper_semantic_table=dict(pair.paper_semantic_table),
        paper_pair_range=pair.paper_pair_range, notes=pair.notes,
    )


@register("gemma")
def _gemma() -> Profile:
    return profile_from_pair(PAPER_PAIRS["gemma"])


@register("llama")
def _llama() -> Profile:
    """Appendix B (claim W2, ``large`` tier): Llama-3-8B x Llama-3.1-8B at layer 25."""
    return profile_from_pair(PAPER_PAIRS["llama"])
