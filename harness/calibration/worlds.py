"""Known-answer worlds: two "models" with planted structure, built at the level the pipeline
consumes (per layer a :class:`~harness.experiments.spaces.FeatureSpace`: sparse codes on shared
token positions, decoder rows, token ids and vocabulary strings). No transformer is involved,
so a whole layer grid costs seconds on one CPU core.

What is planted (all knobs in :class:`WorldKnobs`):

- **Shared features.** A fraction of each layer's features fire on the same trigger token in
  both models (codes co-fire, so max-correlation pairing finds them), and their decoder rows
  are linear images (a random ``d_true -> d_model`` map per model and layer) of latent
  directions whose correlation across the two models is planted: the canonical correlation
  between paired decoder rows of A layer i and B layer j is, in expectation,
  ``strength * amp_A(u_i) * amp_B(v_j) * K(u_i, v_j)`` (u, v relative depth; ``amp`` the
  layer-similarity profile; ``K`` a depth kernel, 1 when ``depth_drift`` is 0). SVCCA is
  invariant to the per-side linear maps, so the planted number is what SVCCA should see.
- **Null twin.** ``strength = 0`` is the null twin by construction: every random draw is made
  whatever the strength, and B's shared rows become the independent redraws they are mixed
  with, so codes, tokens, feature order and every row's distribution are identical and only
  the cross-model decoder structure is gone (:meth:`WorldKnobs.null_twin`).
- **Layer-similarity profile.** ``flat`` (every layer alike) or ``middle`` (a bump at mid
  depth, the paper's Figs. 5-8 shape), optionally with layer 0 unrelated in both models.
- **Many-to-1 structure.** ``split_fraction`` of B's shared features get a "split" twin that
  fires on half of the trigger's positions with an unrelated decoder row: many-to-1 pairing
  keeps those pairs, the best-correlation 1-1 rule drops them (U5, App. E).
- **Concept subspaces.** Per Table 4 category a number of shared features triggered by that
  category's keywords (``harness.pairing.concepts.CONCEPT_KEYWORDS``), each with its own share
  factor (e.g. Emotions 1.0 = shared at full strength, Countries 0.0 = co-firing but decoder
  rows unrelated, the pattern of Table 2).
- **Junk features.** Features that co-fire across models on non-concept tokens (".", ",",
  newline) with unrelated decoder rows: the token filters should remove them (U6, App. F).
- **Seed pairs** (:func:`seed_pair`): two "SAEs" of one layer that share a planted fraction
  of latents (same encoder and decoder rows up to noise), the rest redrawn, for the seed claims.

Everything is seeded (``WorldKnobs.seed``) and float64.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from harness.config import Procedure
from harness.errors import ConfigError
from harness.experiments.feature_space import FeatureSpace
from harness.pairing.concepts import CONCEPT_KEYWORDS
from harness.profiles import Profile

LayerProfile = Literal["flat", "middle"]

#: Non-concept tokens the junk features fire on (all in the paper's Appendix F list).
JUNK_STRINGS: tuple[str, ...] = (".", ",", "\n")
#: Tokenizer specials of the synthetic vocabulary (never placed in the token stream).
SPECIALS: tuple[str, ...] = ("<|endoftext|>",)

#: Table 1 / Table 9 categories, all shared at full strength (the S1/S4 world).
ALL_SHARED: tuple[tuple[str, float], ...] = (
    ("Calendar", 1.0),
    ("Time", 1.0),
    ("Nature", 1.0),
    ("Countries", 1.0),
    ("People/Roles", 1.0),
    ("Emotions", 1.0),
    ("MonthNames", 1.0),
    ("Biology", 1.0),
)


@dataclass(frozen=True)
class WorldKnobs:
    """Planted structure of a two-model known-answer world (validated on construction)."""

    strength: float = 0.7
    """Peak planted canonical correlation of paired shared decoder rows, in [0, 1]; 0 = null twin."""
    profile: LayerProfile = "middle"
    """Layer-similarity profile: ``flat`` or ``middle`` (bump at mid depth, floor ``profile_floor``)."""
    profile_floor: float = 0.6
    """``middle`` profile: the amplitude far from mid depth (1 at mid depth)."""
    layer0_unrelated: bool = True
    """Layer 0 of both models shares nothing (amplitude 0), as the paper's layer-0 rows."""
    depth_drift: float = 0.5
    """Share of each latent direction that drifts with depth (0: the same direction at every
    layer, so ``flat`` is exactly flat; 0.5: half drifts, so a model's late layers resemble the
    other model's late layers more than its early ones, Figs. 5/7)."""
    shared_fraction: float = 0.25
    """Fraction of each layer's features that are shared generic features (concept features
    are shared too and come on top)."""
    n_features: int = 256
    """Features per SAE (every layer, both models)."""
    split_fraction: float = 0.3
    """Fraction of B's generic shared features with a many-to-1 "split" twin (unrelated decoder)."""
    n_junk: int = 32
    """Co-firing junk features per SAE on non-concept tokens (unrelated decoders). 32 of 256
    (12%): the filters' effect is large in the paper (App. A: many-to-1 SVCCA 0.73 unfiltered
    -> 0.94 filtered)."""
    concepts: tuple[tuple[str, float], ...] = ALL_SHARED
    """(Table 4 category, share factor in [0, 1]) of each planted concept subspace."""
    n_per_concept: int = 12
    """Concept features per category, at most: one keyword each, keywords distinct across
    categories (taken in list order, so a category with fewer unused keywords gets fewer, e.g.
    MonthNames 12, Countries 19)."""
    concept_rank: int = 3
    """A category's latent directions lie mostly (``concept_coherence`` of their variance) in a
    category subspace of this rank: a semantic subspace is low-dimensional, so its top singular
    directions are the category's in both models (what subspace SVCCA can align)."""
    concept_coherence: float = 0.8
    fire_prob: float = 0.9
    """Probability that a shared feature fires at an occurrence of its trigger (activation noise)."""
    activation_tracks_profile: bool = False
    """Scale each shared feature's firing probability by its layer's profile amplitude
    (``0.4 + 0.6 * amp``), so activation correlation rises and falls with the planted decoder
    similarity: the world in which mean max correlation *does* track SVCCA (U7 false)."""
    value_noise: float = 0.3
    """Activation value = 1 + value_noise * Exp(1) at a trigger."""
    spurious_rate: float = 0.2
    """Spurious firings (at random positions, small values) per trigger occurrence."""
    decoder_noise: float = 0.1
    """Isotropic noise added to each unit decoder row (relative norm) before renormalising."""
    n_layers_a: int = 5
    """Layers 0..n-1; five, so that the mid-depth layer (2) is the interior peak of A's
    semantic layers 1-3 (S5) and every relative-depth block of U4 is populated."""
    n_layers_b: int = 5
    d_true: int = 16
    """Dimension of the latent directions (the planted subspace)."""
    d_model_a: int = 32
    d_model_b: int = 48
    n_samples: int = 48
    seq_len: int = 64
    occurrences: int = 10
    """Occurrences of each trigger token in the token stream."""
    junk_token_fraction: float = 0.1
    features_per_token: int = 1
    """Generic shared features per trigger token. 1: each has its own token. More: consecutive
    features share one token and fire on disjoint occurrences of it (so max-correlation pairing
    still tells them apart), and they pass the shared-top-token filter with each other: the
    token-structured world in which a filter-aware random partner is a real candidate."""
    token_coherence: float = 0.0
    """Share of a token-sharing feature's latent direction that is its token group's (common to
    the features of one trigger token), in [0, 1]; 0 with ``features_per_token`` 1."""
    semantic_layers_a: tuple[int, ...] | None = None
    """A's layers of the semantic grid (None: every interior layer)."""
    semantic_layers_b: tuple[int, ...] | None = None
    """B's layers of the semantic grid (None: the middle layer)."""
    semantic_table: tuple[int, int] | None = None
    """(A layer, B layer) of the semantic table (Tables 1-2; None: both middle layers)."""
    group_strength: float = 0.0
    """Cross-model correlation of the token-group part of the decoders, in [0, 1]: B's token-sharing
    rows carry their group's direction with this coefficient whatever ``strength`` is, so at
    strength 0 the real partners are no more alike than random partners sharing their token (the
    filters alone make paired decoders similar: U1/U2/W1's filter-aware control must bite)."""
    seed: int = 0

    def __post_init__(self) -> None:
        def bad(option: str, allowed: str) -> ConfigError:
            return ConfigError(f"WorldKnobs: {option}={getattr(self, option)!r} is invalid; use {allowed}.")

        for unit in (
            "strength",
            "profile_floor",
            "depth_drift",
            "shared_fraction",
            "split_fraction",
            "fire_prob",
            "junk_token_fraction",
            "concept_coherence",
            "token_coherence",
            "group_strength",
        ):
            if not 0.0 <= float(getattr(self, unit)) <= 1.0:
                raise bad(unit, "a number in [0, 1]")
        if self.profile not in ("flat", "middle"):
            raise bad("profile", "'flat' or 'middle'")
        for cat, share in self.concepts:
            if cat not in CONCEPT_KEYWORDS:
                raise ConfigError(
                    f"WorldKnobs: unknown concept category {cat!r}; use one of {sorted(CONCEPT_KEYWORDS)}."
                )
            if not 0.0 <= share <= 1.0:
                raise ConfigError(f"WorldKnobs: share factor of {cat!r} is {share}; use a number in [0, 1].")
        if self.features_per_token < 1:
            raise bad("features_per_token", "an integer >= 1")
        if (self.token_coherence > 0 or self.group_strength > 0) and self.features_per_token == 1:
            raise ConfigError(
                "WorldKnobs: token_coherence / group_strength plant structure shared by features of one trigger "
                "token; set features_per_token > 1 too."
            )
        if min(self.n_layers_a, self.n_layers_b) < 2:
            raise ConfigError("WorldKnobs: each model needs at least 2 layers (layer 0 and one more).")
        table = self.semantic_table or (0, 0)
        for option, layers, n in (
            ("semantic_layers_a", (*(self.semantic_layers_a or ()), table[0]), self.n_layers_a),
            ("semantic_layers_b", (*(self.semantic_layers_b or ()), table[1]), self.n_layers_b),
        ):
            if any(not 0 <= la < n for la in layers):
                raise bad(option, f"layers (and semantic_table's) within the model's 0..{n - 1}")
        if self.n_private < 0:
            raise ConfigError(
                f"WorldKnobs: {self.n_features} features cannot hold {self.n_shared} shared + {self.n_split} split + "
                f"{self.n_concept} concept + {self.n_junk} junk features; raise n_features or lower the others."
            )
        n_pos = self.n_samples * self.seq_len
        need = (self.n_shared + self.n_concept) * self.occurrences + int(self.junk_token_fraction * n_pos)
        if need > 0.9 * n_pos:
            raise ConfigError(
                f"WorldKnobs: {need} trigger/junk positions do not fit in {n_pos} positions; "
                f"raise n_samples or seq_len, or lower occurrences."
            )

    # derived sizes
    @property
    def n_shared(self) -> int:
        return int(round(self.shared_fraction * self.n_features))

    @property
    def n_trigger_tokens(self) -> int:
        """Trigger tokens of the generic shared features (``features_per_token`` features each)."""
        return math.ceil(self.n_shared / self.features_per_token)

    @property
    def n_split(self) -> int:
        return int(round(self.split_fraction * self.n_shared))

    @property
    def concept_words(self) -> dict[str, tuple[str, ...]]:
        """Category -> its planted keywords (the first ``n_per_concept`` of its Table 4 list
        not taken by an earlier category: Calendar's words are Time's too, so order matters)."""
        used: set[str] = set()
        out = {}
        for cat, _share in self.concepts:
            words = tuple(w for w in dict.fromkeys(CONCEPT_KEYWORDS[cat]) if w.lower() not in used)[
                : self.n_per_concept
            ]
            used.update(w.lower() for w in words)
            out[cat] = words
        return out

    @property
    def concept_sizes(self) -> tuple[int, ...]:
        return tuple(len(w) for w in self.concept_words.values())

    @property
    def n_concept(self) -> int:
        return sum(self.concept_sizes)

    @property
    def n_private(self) -> int:
        return self.n_features - self.n_shared - self.n_split - self.n_concept - self.n_junk

    def null_twin(self) -> WorldKnobs:
        """The same world with the cross-model structure destroyed (strength 0)."""
        return self.replace(strength=0.0)

    def replace(self, **changes: Any) -> WorldKnobs:
        return dataclasses.replace(self, **changes)


def amplitude(depth: NDArray[np.float64], knobs: WorldKnobs) -> NDArray[np.float64]:
    """Layer-similarity amplitude in [0, 1] at relative depths ``depth`` (layers / (n_layers - 1))."""
    d = np.asarray(depth, dtype=np.float64)
    if knobs.profile == "flat":
        amp = np.ones_like(d)
    else:
        amp = knobs.profile_floor + (1 - knobs.profile_floor) * np.exp(-((d - 0.5) ** 2) / (2 * 0.25**2))
    if knobs.layer0_unrelated:
        amp = np.where(d == 0.0, 0.0, amp)
    return amp


_N_BUMPS, _BUMP_WIDTH = 6, 0.15


def _bumps(depth: float) -> NDArray[np.float64]:
    """(n_bumps,) unit-norm Gaussian-bump weights at ``depth`` (the drifting part of a direction)."""
    centres = np.linspace(0.0, 1.0, _N_BUMPS)
    w = np.exp(-((depth - centres) ** 2) / (2 * _BUMP_WIDTH**2))
    return w / np.linalg.norm(w)


def depth_kernel(u: float, v: float, knobs: WorldKnobs) -> float:
    """Correlation of a latent direction at depths ``u`` and ``v``."""
    return float((1 - knobs.depth_drift) + knobs.depth_drift * _bumps(u) @ _bumps(v))


def planted_correlation(layer_a: int, layer_b: int, knobs: WorldKnobs, *, share: float = 1.0) -> float:
    """Expected canonical correlation of paired shared decoder rows of A ``layer_a`` and B
    ``layer_b`` (``share``: a concept's share factor)."""
    u, v = layer_a / (knobs.n_layers_a - 1), layer_b / (knobs.n_layers_b - 1)
    amp_a, amp_b = amplitude(np.array([u]), knobs)[0], amplitude(np.array([v]), knobs)[0]
    return float(knobs.strength * share * amp_a * amp_b * depth_kernel(u, v, knobs))


@dataclass(frozen=True)
class Roles:
    """Which column of one SAE plays which planted role (for tests and diagnostics).

    Each array holds column indices of the space's codes/decoder, aligned by latent index
    (``shared[g]`` of A and ``shared[g]`` of B are the same planted feature)."""

    shared: NDArray[np.int64]
    concept: dict[str, NDArray[np.int64]]
    junk: NDArray[np.int64]
    split: NDArray[np.int64]
    private: NDArray[np.int64]


@dataclass
class SyntheticWorld:
    """A two-model known-answer world that :func:`harness.experiments.grid.run_grid` and
    :func:`~harness.experiments.grid.run_semantic` accept in place of a loaded ``LoadedPair``
    (same ``profile`` / ``device`` / ``space`` interface), so records come out of the exact
    pipeline code.

    Attributes:
        knobs: the planted structure.
        profile: a :class:`Profile` naming the layers and null sizes of the run.
    """

    knobs: WorldKnobs
    n_permutations: int = 99
    n_permutations_semantic: int = 99
    n_random_subsets: int = 30
    semantic_layers_a: tuple[int, ...] | None = None
    semantic_layers_b: tuple[int, ...] | None = None
    device: str = "cpu"
    preflight: list[dict[str, Any]] = field(default_factory=list)
    _raw: dict[tuple[str, int], tuple[sp.csr_matrix, NDArray[np.float64], Roles]] = field(
        default_factory=dict, repr=False
    )
    _spaces: dict[tuple[str, int, str], FeatureSpace] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        k = self.knobs
        la = tuple(range(k.n_layers_a))
        lb = tuple(range(k.n_layers_b))
        sem_a = self.semantic_layers_a or k.semantic_layers_a or la[1:-1]
        sem_b = self.semantic_layers_b or k.semantic_layers_b or (lb[len(lb) // 2],)
        self.profile = Profile(
            name="calibration",
            models={"a": {"name": "synthetic-A"}, "b": {"name": "synthetic-B"}},
            saes={},
            data=None,  # type: ignore[arg-type]  # no SAEs or tokens: spaces are built directly
            layers_a=la,
            layers_b=lb,
            semantic_table=k.semantic_table or (la[len(la) // 2], lb[len(lb) // 2]),
            semantic_layers_a=tuple(sem_a),
            semantic_layers_b=tuple(sem_b),
            permutations=self.n_permutations,
            permutations_semantic=self.n_permutations_semantic,
            random_subsets=self.n_random_subsets,
        )
        self._build_shared()

    # ------------------------------------------------------------------ shared draws
    def _rng(self, *key: object) -> np.random.Generator:
        """A generator keyed by the world seed and ``key`` (independent of the strength)."""
        words = [self.knobs.seed] + [sum((i + 1) * ord(c) for i, c in enumerate(str(x))) for x in key]
        return np.random.default_rng(words)

    def _build_shared(self) -> None:
        k = self.knobs
        rng = self._rng("tokens")
        # vocabulary: fillers, generic triggers, concept keywords, junk, specials
        fillers = [f" f{i}" for i in range(64)]
        triggers = [f" s{g}" for g in range(k.n_trigger_tokens)]
        self.concept_keywords: dict[str, list[str]] = {c: list(w) for c, w in k.concept_words.items()}
        keyword_tokens = [f" {w}" for cat, _ in k.concepts for w in self.concept_keywords[cat]]
        self.vocab: list[str] = fillers + triggers + keyword_tokens + list(JUNK_STRINGS) + list(SPECIALS)
        first_trigger = len(fillers)
        first_junk = first_trigger + len(triggers) + len(keyword_tokens)
        n_pos = k.n_samples * k.seq_len
        order = rng.permutation(n_pos)
        flat = rng.integers(0, len(fillers), size=n_pos)
        n_trig = k.n_shared + len(keyword_tokens)
        #: (n_trig, occurrences) positions of each shared feature's trigger (generic features first,
        #: then keywords); with features_per_token > 1, feature g's positions hold token g // features_per_token
        self.trigger_positions = order[: n_trig * k.occurrences].reshape(n_trig, k.occurrences)
        #: generic shared feature -> its trigger token group
        self.token_group = np.arange(k.n_shared) // k.features_per_token
        for t in range(n_trig):
            tok = self.token_group[t] if t < k.n_shared else k.n_trigger_tokens + (t - k.n_shared)
            flat[self.trigger_positions[t]] = first_trigger + tok
        n_junk_pos = int(k.junk_token_fraction * n_pos)
        junk_pos = order[n_trig * k.occurrences : n_trig * k.occurrences + n_junk_pos]
        flat[junk_pos] = first_junk + np.arange(junk_pos.size) % len(JUNK_STRINGS)
        self.junk_groups = np.array_split(rng.permutation(junk_pos), max(k.n_junk, 1))
        self.flat_tokens = flat
        #: positions holding filler tokens, split in two halves: A's private features fire only
        #: in the first, B's only in the second, so a private feature never co-fires with a
        #: shared, junk or other model's private feature by accident (with a 64-word filler
        #: vocabulary, chance co-firing pairs would also pass the shared-top-token filter): every
        #: extra many-to-1 or unfiltered pair is one the knobs planted
        fill = rng.permutation(order[n_trig * k.occurrences + n_junk_pos :])
        self.filler_positions = {"a": np.sort(fill[: fill.size // 2]), "b": np.sort(fill[fill.size // 2 :])}
        self.tokens = flat.reshape(k.n_samples, k.seq_len).astype(np.int64)
        self.sample_index = np.repeat(np.arange(k.n_samples), k.seq_len).astype(np.int64)
        self.position_index = np.tile(np.arange(k.seq_len), k.n_samples).astype(np.int64)
        # split twins: which generic shared features, and which half of their positions
        self.split_of = rng.choice(k.n_shared, size=k.n_split, replace=False)
        self.split_half = [rng.choice(k.occurrences, size=k.occurrences // 2, replace=False) for _ in self.split_of]
        # latent directions of every shared feature (generic then concept): constant + drifting parts
        n_lat = k.n_shared + k.n_concept
        self.latent = rng.standard_normal((n_lat, _N_BUMPS + 1, k.d_true)) / math.sqrt(k.d_true)
        starts = k.n_shared + np.cumsum((0,) + k.concept_sizes)
        for i, size in enumerate(k.concept_sizes):
            lo = starts[i]
            basis = rng.standard_normal((k.concept_rank, _N_BUMPS + 1, k.d_true)) / math.sqrt(k.d_true)
            mix = rng.standard_normal((size, k.concept_rank)) / math.sqrt(k.concept_rank)
            self.latent[lo : lo + size] = (
                math.sqrt(k.concept_coherence) * np.einsum("gr,rkd->gkd", mix, basis)
                + math.sqrt(1 - k.concept_coherence) * self.latent[lo : lo + size]
            )
        self.share = np.concatenate(
            [np.ones(k.n_shared)] + [np.full(n, s) for n, (_, s) in zip(k.concept_sizes, k.concepts, strict=True)]
        )
        # token groups: a direction per trigger token (drawn from its own generator, so a world without
        # token structure draws exactly what it drew before), and each feature's share of it
        grng = self._rng("token groups")
        self.group_latent = grng.standard_normal((k.n_trigger_tokens, _N_BUMPS + 1, k.d_true)) / math.sqrt(k.d_true)
        self.coherence = np.zeros(n_lat)
        if k.features_per_token > 1:
            self.coherence[: k.n_shared] = k.token_coherence

    def _at_depth(self, latent: NDArray[np.float64], depth: float) -> NDArray[np.float64]:
        k = self.knobs
        return math.sqrt(1 - k.depth_drift) * latent[:, 0] + math.sqrt(k.depth_drift) * np.einsum(
            "k,gkd->gd", _bumps(depth), latent[:, 1:]
        )

    def direction_parts(self, depth: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(own, group), each (n_latent, d_true): a shared feature's own latent direction at relative
        ``depth`` and its token group's (zeros for features without a token group)."""
        k = self.knobs
        own = self._at_depth(self.latent, depth)
        group = np.zeros_like(own)
        if k.features_per_token > 1:
            group[: k.n_shared] = self._at_depth(self.group_latent, depth)[self.token_group]
        return own, group

    def direction(self, depth: float) -> NDArray[np.float64]:
        """(n_latent, d_true) latent directions of the shared features at relative ``depth`` (own part
        and token-group part mixed by ``token_coherence``)."""
        own, group = self.direction_parts(depth)
        c = self.coherence[:, None]
        return np.sqrt(1 - c) * own + np.sqrt(c) * group

    # ------------------------------------------------------------------ one SAE
    def raw(self, which: str, layer: int) -> tuple[sp.csr_matrix, NDArray[np.float64], Roles]:
        """(codes (positions, F), decoder (F, d_model) float64, roles) of model ``which`` at ``layer``."""
        key = (which, layer)
        if key not in self._raw:
            self._raw[key] = self._make(which, layer)
        return self._raw[key]

    def _make(self, which: str, layer: int) -> tuple[sp.csr_matrix, NDArray[np.float64], Roles]:
        if which not in ("a", "b"):
            raise ConfigError(f"which={which!r}: use 'a' or 'b'.")
        k = self.knobs
        n_layers = k.n_layers_a if which == "a" else k.n_layers_b
        if not 0 <= layer < n_layers:
            raise ConfigError(f"model {which} has layers 0..{n_layers - 1}; got {layer}.")
        rng = self._rng("space", which, layer)
        n_pos = k.n_samples * k.seq_len
        n_lat = k.n_shared + k.n_concept
        n_split = k.n_split if which == "b" else 0
        n_private = k.n_features - n_lat - n_split - k.n_junk  # A has no splits: more private features
        cols = rng.permutation(k.n_features)  # feature order of this SAE
        rows_l, cols_l, vals_l = [], [], []

        depth = layer / (n_layers - 1)
        amp = float(amplitude(np.array([depth]), k)[0])
        p_shared = k.fire_prob * (0.4 + 0.6 * amp) if k.activation_tracks_profile else k.fire_prob

        def fire(feature: int, positions: NDArray[np.int64], *, big: bool, prob: float = k.fire_prob) -> None:
            keep = positions[rng.random(positions.size) < prob]
            vals = 1.0 + k.value_noise * rng.exponential(size=keep.size) if big else rng.exponential(size=keep.size)
            rows_l.append(keep)
            cols_l.append(np.full(keep.size, cols[feature]))
            vals_l.append(vals)

        n_spur = int(round(k.spurious_rate * k.occurrences))
        for g in range(n_lat):
            fire(g, self.trigger_positions[g], big=True, prob=p_shared)
            spur = rng.choice(n_pos, size=n_spur, replace=False)
            rows_l.append(spur)
            cols_l.append(np.full(n_spur, cols[g]))
            vals_l.append(0.5 * rng.random(n_spur))
        for s, g in enumerate(self.split_of[:n_split]):
            fire(n_lat + s, self.trigger_positions[g][self.split_half[s]], big=True)
        for j in range(k.n_junk):
            fire(n_lat + n_split + j, self.junk_groups[j], big=True)
        for p in range(n_private):
            fire(
                n_lat + n_split + k.n_junk + p,
                rng.choice(self.filler_positions[which], size=k.occurrences, replace=False),
                big=False,
            )
        rows = np.concatenate(rows_l)
        codes = sp.coo_matrix(
            (np.concatenate(vals_l), (rows, np.concatenate(cols_l))), shape=(n_pos, k.n_features)
        ).tocsr()
        codes.sum_duplicates()
        # decoder: latent x -> d_model by this SAE's random map, plus isotropic noise, unit rows
        own = rng.standard_normal((k.n_features, k.d_true)) / math.sqrt(k.d_true)  # independent redraws
        x = own.copy()
        if which == "a":
            coef = np.full(n_lat, amp)
            x[:n_lat] = coef[:, None] * self.direction(depth) + np.sqrt(1 - coef**2)[:, None] * own[:n_lat]
        else:  # strength 0 leaves B's rows at their independent redraws (but for the token-group part)
            u, grp = self.direction_parts(depth)
            c = self.coherence
            own_coef = k.strength * self.share * amp * np.sqrt(1 - c)  # of the feature's own direction
            group_coef = k.group_strength * amp * np.sqrt(c)  # of its token group's direction
            rest = np.sqrt(1 - own_coef**2 - group_coef**2)
            x[:n_lat] = own_coef[:, None] * u + group_coef[:, None] * grp + rest[:, None] * own[:n_lat]
        d_model = k.d_model_a if which == "a" else k.d_model_b
        m = rng.standard_normal((k.d_true, d_model))
        y = x @ m
        y /= np.linalg.norm(y, axis=1, keepdims=True)
        noise = rng.standard_normal((k.n_features, d_model))
        y += k.decoder_noise * noise / np.linalg.norm(noise, axis=1, keepdims=True)
        y /= np.linalg.norm(y, axis=1, keepdims=True)
        decoder = np.empty_like(y)
        decoder[cols] = y
        ranges = np.cumsum([0, k.n_shared, *k.concept_sizes])
        roles = Roles(
            shared=cols[:n_lat],
            concept={cat: cols[ranges[i + 1] : ranges[i + 2]] for i, (cat, _) in enumerate(k.concepts)},
            split=cols[n_lat : n_lat + n_split],
            junk=cols[n_lat + n_split : n_lat + n_split + k.n_junk],
            private=cols[n_lat + n_split + k.n_junk :],
        )
        return codes, decoder, roles

    def space(self, which: str, layer: int, procedure: Procedure) -> FeatureSpace:
        """FeatureSpace of model ``which`` at ``layer`` under ``procedure`` (the ``LoadedPair.space`` interface)."""
        key = (which, layer, procedure.name)
        if key not in self._spaces:
            codes, decoder, _ = self.raw(which, layer)
            junk = tuple(procedure.junk_tokens) + (SPECIALS if procedure.junk_include_tokenizer_specials else ())
            self._spaces[key] = FeatureSpace(
                name=f"{self.profile.model_name(which)}/L{layer}",
                codes=codes,
                decoder=decoder,
                tokens=self.tokens,
                sample_index=self.sample_index,
                position_index=self.position_index,
                vocab=self.vocab,
                junk_tokens=junk,
                top_k=procedure.top_k_positions,
                require_active=procedure.top_positions_require_active,
            )
        return self._spaces[key]


# ---------------------------------------------------------------------- seed pairs
@dataclass(frozen=True)
class SeedKnobs:
    """Two SAEs of one layer differing only in seed, with a planted shared fraction."""

    shared_fraction: float = 0.25
    """Fraction of latents both SAEs learned (same trigger, encoder and decoder rows up to
    ``row_noise``); the others fire on the same triggers but with independently redrawn rows.
    0 = the null twin (no latent shared)."""
    n_latents: int = 256
    d_model: int = 32
    row_noise: float = 0.3
    """Mean relative noise on a shared latent's rows (uniform in [0, 2 row_noise) per latent and
    seed; at 0.3 a shared pair's decoder cosine stays above PB's 0.7 threshold)."""
    encoder_noise: float = 0.3
    """Relative noise between a latent's encoder and decoder rows."""
    fire_prob: float = 0.9
    value_noise: float = 0.3
    architecture: str = "topk"
    n_samples: int = 40
    seq_len: int = 64
    occurrences: int = 8
    subspaces: bool = False
    """Shared latents' true rows lie in the first half of the ``d_model`` coordinates, the others'
    in the second half, so that a linear map of the second half leaves the shared latents alone
    (the X1 world; off: rows anywhere, as before)."""
    unshared_linear: float = 0.0
    """Fraction of the non-shared latents whose second-seed rows are the first seed's true rows
    under one fixed rotation of the second half of the coordinates (a linear image: cosine, and so
    the shared criterion, says unrelated; SVCCA, invariant to linear maps, says the same) instead of
    independent redraws. Needs ``subspaces``. With a low shared fraction, the world in which X1
    (low shared fraction and high paired SVCCA coexist) is true."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.shared_fraction <= 1.0:
            raise ConfigError(f"SeedKnobs: shared_fraction={self.shared_fraction!r}; use a number in [0, 1].")
        if not 0.0 <= self.unshared_linear <= 1.0:
            raise ConfigError(f"SeedKnobs: unshared_linear={self.unshared_linear!r}; use a number in [0, 1].")
        if self.unshared_linear > 0 and not self.subspaces:
            raise ConfigError("SeedKnobs: unshared_linear rotates the non-shared latents' half; set subspaces=True.")
        if self.n_latents * self.occurrences > 0.9 * self.n_samples * self.seq_len:
            raise ConfigError("SeedKnobs: the triggers do not fit in the token stream; raise n_samples or seq_len.")

    def replace(self, **changes: Any) -> SeedKnobs:
        return dataclasses.replace(self, **changes)


def seed_pair(knobs: SeedKnobs, *, layer_key: str = "main") -> tuple[Any, list[dict[str, Any]]]:
    """(setup, [item_a, item_b]) in the shapes :func:`harness.seeds.experiment.overlap_record`
    and :func:`~harness.seeds.experiment.lan_record` consume (``setup`` a ``SeedSetup``;
    items carry ``enc``/``dec`` (F, d_model), ``codes`` (positions, F), ``l0``, ...).

    ``layer_key`` other than ``"main"`` draws an unrelated layer (same token stream, other
    latent directions): the seed claims' different-layer control."""
    import torch

    from harness.config import CORRECTED
    from harness.seeds.experiment import SeedSetup

    k = knobs
    base = np.random.default_rng([k.seed, 7])
    n_pos = k.n_samples * k.seq_len
    fillers = [f" f{i}" for i in range(64)]
    vocab = fillers + [f" s{g}" for g in range(k.n_latents)] + list(JUNK_STRINGS) + list(SPECIALS)
    flat = base.integers(0, len(fillers), size=n_pos)
    trig = base.permutation(n_pos)[: k.n_latents * k.occurrences].reshape(k.n_latents, k.occurrences)
    for g in range(k.n_latents):
        flat[trig[g]] = len(fillers) + g
    tokens = flat.reshape(k.n_samples, k.seq_len).astype(np.int64)
    layer_rng = np.random.default_rng([k.seed, 11, sum(map(ord, layer_key))])
    truth = layer_rng.standard_normal((k.n_latents, k.d_model))
    # which latents a seed pair shares is a draw (binomial count): the sampling noise of the
    # shared fraction that PB's statistic sees when comparing architectures or widths
    shared = base.random(k.n_latents) < k.shared_fraction
    # the X1 world: shared latents in the first half of the coordinates, the others in the second,
    # and a share of the others learned by the second seed as a rotation of the second half
    linear = np.zeros(k.n_latents, dtype=bool)
    rotation = np.eye(k.d_model)
    if k.subspaces:
        half = k.d_model // 2
        truth[shared, half:] = 0.0
        truth[~shared, :half] = 0.0
        xrng = np.random.default_rng([k.seed, 17, sum(map(ord, layer_key))])
        linear = ~shared & (xrng.random(k.n_latents) < k.unshared_linear)
        q, r = np.linalg.qr(xrng.standard_normal((k.d_model - half, k.d_model - half)))
        rotation[half:, half:] = q * np.sign(np.diag(r))

    def unit(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    items = []
    for s in (0, 1):
        rs = np.random.default_rng([k.seed, 13, s, sum(map(ord, layer_key))])
        own = rs.standard_normal((k.n_latents, k.d_model))  # what this seed learned instead
        noise = rs.standard_normal((k.n_latents, k.d_model))
        scale = 2 * k.row_noise * rs.random((k.n_latents, 1))  # per-latent noise in [0, 2 row_noise)
        dec = np.where(shared[:, None], unit(truth) + scale * unit(noise), unit(own))
        if linear.any():  # seed 0 learned the true rows, seed 1 their rotated image
            image = unit(truth[linear] @ (rotation if s == 1 else np.eye(k.d_model)))
            dec[linear] = image + scale[linear] * unit(noise[linear])
        dec = unit(dec)
        enc = unit(dec + k.encoder_noise * unit(rs.standard_normal((k.n_latents, k.d_model))))
        order = rs.permutation(k.n_latents)
        rows, cols, vals = [], [], []
        for g in range(k.n_latents):
            keep = trig[g][rs.random(k.occurrences) < k.fire_prob]
            rows.append(keep)
            cols.append(np.full(keep.size, order[g]))
            vals.append(1.0 + k.value_noise * rs.exponential(size=keep.size))
        codes = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_pos, k.n_latents)
        )
        dec_o, enc_o = np.empty_like(dec), np.empty_like(enc)
        dec_o[order], enc_o[order] = dec, enc
        l0 = float(codes.getnnz() / n_pos)
        items.append(
            {
                "enc": enc_o,
                "dec": dec_o,
                "codes": codes,
                "l0": l0,
                "ev": math.nan,
                "dead": 0.0,
                "seed": s,
                "architecture": k.architecture,
                "d_sae": k.n_latents,
            }
        )
    setup = SeedSetup(
        name=f"synthetic-seed/{layer_key}",
        train=torch.empty(0),
        eval=torch.empty(0),
        tokens=tokens,
        sample_index=np.repeat(np.arange(k.n_samples), k.seq_len),
        position_index=np.tile(np.arange(k.seq_len), k.n_samples),
        vocab=vocab,
        junk_tokens=CORRECTED.junk_tokens + SPECIALS,
        key=f"synthetic|{k}|{layer_key}",
    )
    return setup, items
