"""What a run profile is: a model pair, its SAE sets, layers, tokens and null sizes.

Profiles are data: TOML files read by :mod:`harness.profiles.loader` (the built-in ones are
in ``harness/profiles/builtin/``). This module holds only the types they load into.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness.config import Procedure
from harness.errors import ConfigError, UnknownIdError
from harness.vocab import ActivationSite

if TYPE_CHECKING:
    from harness.load.data import DataSpec
    from harness.load.models import ModelSpec
    from harness.load.saes import SaeSpec

Side = Literal["a", "b"]
SaeSetSource = Literal["release", "sparsify", "disk"]
Tier = Literal["smoke", "rehearsal", "gpu", "large"]


#: Fewest grid permutations behind a judged p when a profile pins the authors' smaller count
#: (issue 13): 999 gives p down to 0.001, enough for alpha = 0.05 and for a Benjamini-Hochberg
#: count over a few dozen cells.
MIN_GRID_PERMUTATIONS = 999


@dataclass(frozen=True)
class SaeSet:
    """The SAEs of one model, one per layer, named by a template or a per-layer table.

    ``{layer}`` in ``sae_id`` / ``hookpoint`` / ``path`` is replaced by the layer number, e.g.
    sparsify ``hookpoint = "layers.{layer}"`` or sae-lens ``sae_id = "layer_{layer}/width_16k/canonical"``.
    """

    source: SaeSetSource
    """``release`` (sae-lens pretrained release + id), ``sparsify`` (EleutherAI/sparsify
    repository or folder) or ``disk`` (one sae-lens ``save_model`` folder per layer)."""
    release: str | None = None
    sae_id: str | None = None
    """sae-lens SAE id template (source ``release``); or give ``ids``."""
    ids: Mapping[int, str] = field(default_factory=dict)
    """Layer -> sae-lens SAE id, for releases whose ids follow no template."""
    repo_id: str | None = None
    """Hub repository of a sparsify SAE set."""
    path: str | None = None
    """Local folder: the sparsify repository folder, or a ``disk`` template (absolute after loading)."""
    hookpoint: str | None = None
    """sparsify hookpoint template (``layers.{layer}``)."""
    revision: str | None = None
    dtype: str = "float32"
    layers: tuple[int, ...] | None = None
    """Layers that have an SAE (None: any layer the template names; ``ids`` implies its keys)."""

    def available(self) -> tuple[int, ...] | None:
        """The layers with an SAE, or None when the template covers any layer."""
        if self.ids:
            return tuple(sorted(self.ids))
        return self.layers

    def spec(self, layer: int) -> SaeSpec:
        """The :class:`harness.load.saes.SaeSpec` of this set's SAE at ``layer``."""
        from harness.load.saes import SaeSpec

        def fill(template: str | None) -> str | None:
            return None if template is None else template.format(layer=layer)

        if self.source == "release":
            sae_id = self.ids[layer] if self.ids else fill(self.sae_id)
            return SaeSpec(source="release", release=self.release, sae_id=sae_id, dtype=self.dtype)
        if self.source == "sparsify":
            return SaeSpec(
                source="sparsify",
                repo_id=self.repo_id,
                path=self.path,
                hookpoint=fill(self.hookpoint),
                revision=self.revision,
                dtype=self.dtype,
            )
        return SaeSpec(source="disk", path=fill(self.path), dtype=self.dtype)

    def releases(self) -> list[tuple[str, str, int]]:
        """Every (release, sae_id, layer) of a ``release`` set with known layers, by layer."""
        layers = self.available()
        if self.source != "release" or layers is None:
            return []
        return [(str(self.release), str(self.spec(layer).sae_id), layer) for layer in layers]


@dataclass(frozen=True)
class Profile:
    """One runnable configuration (a model pair, its SAEs, layers, data and null sizes)."""

    name: str
    models: dict[str, dict[str, Any]]
    """"a"/"b" -> keyword arguments of harness.load.models.ModelSpec (plus a display ``label``)."""
    saes: dict[str, SaeSet]
    """"a"/"b" -> that model's SAEs."""
    data: DataSpec
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
    """Grid null size of the authors' code for this pair, under the ``paper`` procedure only: the
    reported ``k/N`` uses it, the judging null has at least :data:`MIN_GRID_PERMUTATIONS` draws
    (:meth:`n_permutations`)."""
    permutations_semantic: int | None = None
    random_subsets: int | None = None
    size_matched_draws: int | None = None
    """Random same-size subsets (and U5 placebo 1-1 sets) per grid cell (None = 99,
    :func:`harness.experiments.spaces.compare_spaces`); the rehearsal shrinks it (wiring only)."""
    placebo_filter_runs: int | None = None
    """Runs of U6's placebo filter per grid cell (None = the paper's 10,
    :data:`harness.experiments.placebos.PLACEBO_FILTER_RUNS`)."""
    random_partner_sets: int | None = None
    """Filter-aware random-partner sets per grid cell that the real 1-1 pairing is ranked among (U1/U2's
    contrast; None = 99, :data:`harness.experiments.random_partners.RANDOM_PARTNER_SETS`); the rehearsal shrinks it."""
    batch_size: int = 16
    paper_semantic_table: dict[str, dict[str, float]] = field(default_factory=dict)
    """The paper's semantic-subspace values for this pair, category -> {n, svcca, null, rsa}
    (Pythia: Table 1's SVCCA rows plus Table 9's RSA; Gemma: Table 2)."""
    paper_pair_range: tuple[int, int] | None = None
    """Range of 1-1 pair counts over the paper's non-zero grid cells (Tables 5-8), for U8."""
    notes: tuple[str, ...] = ()
    tier: Tier | None = None
    """The pytest tier this profile runs in (informational; the claims' markers decide)."""
    gated: bool = False
    """Gated on the hub: accept the licences and set HF_TOKEN."""
    paper_tokenizer: str | None = None
    """Model whose tokenizer the authors' code used for both sides (None: each model its own)."""
    activation_site: ActivationSite | None = None
    """The site every procedure reads, for SAE sets trained elsewhere than the residual stream
    (``mlp_output``: MLP-output SAEs); None: each procedure's own ``activation_site``."""

    def site(self, procedure: Procedure) -> ActivationSite:
        """The activation site ``procedure``'s spaces read on this profile."""
        return self.activation_site or procedure.activation_site

    def model_name(self, which: str) -> str:
        return str(self.models[which].get("label") or self.models[which]["name"])

    def model_spec(self, which: str, *, device: str) -> ModelSpec:
        from harness.load.models import ModelSpec

        kwargs = {k: v for k, v in self.models[which].items() if k != "label"}
        return ModelSpec(**kwargs, device=device)

    def sae_spec(self, which: str, layer: int) -> SaeSpec:
        """The SAE of model ``which`` at ``layer``.

        Raises:
            UnknownIdError: the profile lists no SAE for that layer.
        """
        saes = self.saes.get(which)
        available = None if saes is None else saes.available()
        if saes is None or (available is not None and layer not in available):
            raise UnknownIdError(
                f"{self.name}: no SAE for model {which.upper()} layer {layer}; layers with SAEs: "
                f"{list(available or [])}."
            )
        return saes.spec(layer)

    def releases(self) -> list[tuple[str, str, str, int]]:
        """Every sae-lens SAE as (side, release, sae_id, layer), A first."""
        return [(side, *entry) for side in ("a", "b") for entry in self.saes[side].releases()]

    def n_permutations(self, procedure: Procedure) -> int:
        """Grid null size. Where the authors' grids used fewer than :data:`MIN_GRID_PERMUTATIONS`
        (``paper_grid_permutations`` under ``paper``, e.g. Gemma's 10, with which no +1-rule p can
        pass alpha = 0.05, let alone a corrected count), the null gets that many; the authors' own
        count survives as the reported ``k/N`` (:meth:`paper_permutations`)."""
        if self.paper_grid_permutations and procedure.name == "paper":
            return max(self.paper_grid_permutations, MIN_GRID_PERMUTATIONS)
        return self.permutations or procedure.n_permutations

    def paper_permutations(self, procedure: Procedure) -> int | None:
        """The authors' grid null size under ``paper`` where the profile pins one: the reported
        ``k/N`` counts the first N draws of the (larger) null, the draws the authors' N-permutation
        run would have made with the same seed. None: ``k/N`` is over the whole null."""
        if self.paper_grid_permutations and procedure.name == "paper":
            return int(self.paper_grid_permutations)
        return None

    def n_permutations_semantic(self, procedure: Procedure) -> int:
        return self.permutations_semantic or procedure.n_permutations_semantic

    def n_random_subsets(self, procedure: Procedure) -> int:
        return self.random_subsets or procedure.n_random_subsets

    def check_layers(self) -> None:
        """Every grid, semantic and table layer has an SAE.

        Raises:
            ConfigError: naming the layers without SAEs.
        """
        table_a, table_b = self.semantic_table
        for side, layers in (
            ("a", (*self.layers_a, *self.semantic_layers_a, table_a)),
            ("b", (*self.layers_b, *self.semantic_layers_b, table_b)),
        ):
            available = self.saes[side].available()
            missing = [] if available is None else sorted({layer for layer in layers if layer not in available})
            if missing:
                raise ConfigError(
                    f"Profile {self.name!r}: layers {missing} of model {side.upper()} (grid, semantic or "
                    f"semantic_table) have no SAE in saes.{side}; add them to its layers/ids or drop them."
                )
