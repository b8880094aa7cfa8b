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
    """"a"/"b" -> keyword arguments of harness.models.ModelSpec (plus a display ``label``)."""
    sae: Callable[[str, int], Any]
    """(which, layer) -> harness.saes spec for that model's SAE at that layer."""
    data: Any
    """harness.data.DataSpec of the shared tokens."""
    layers_a: tuple[int, ...]
    layers_b: tuple[int, ...]
    semantic_table: tuple[int, int]
    """The layer pair of the semantic table (Table 1: 70m L3 x 160m L5)."""
    semantic_layers_a: tuple[int, ...]
    semantic_layers_b: tuple[int, ...]
    permutations: int | None = None
    """Override of the grid null size (None = the procedure's)."""
    permutations_semantic: int | None = None
    random_subsets: int | None = None
    batch_size: int = 16
    paper_semantic_table: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def model_name(self, which: str) -> str:
        return str(self.models[which].get("label") or self.models[which]["name"])

    def model_spec(self, which: str, *, device: str) -> Any:
        from harness.models import ModelSpec

        kwargs = {k: v for k, v in self.models[which].items() if k != "label"}
        return ModelSpec(**kwargs, device=device)

    def sae_spec(self, which: str, layer: int) -> Any:
        return self.sae(which, layer)

    def n_permutations(self, procedure: Procedure) -> int:
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
    from harness.data import DataSpec
    from harness.saes import SaeSpec

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
        batch_size=8, paper_semantic_table=PAPER_TABLE1,
    )


#: Smoke-world sizes: 200 documents x 64 tokens (the fixture models' context) = 12,800 positions.
SMOKE_SAMPLES, SMOKE_SEQ_LEN = 200, 64


@register("smoke")
def _smoke() -> Profile:
    import fixtures
    from harness.data import DataSpec
    from harness.saes import SaeSpec

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
