"""Run a profile's experiments: layer grids and semantic tables (Lan et al. Sec. 4.2-4.3).

Ties the loading stages (data, models, saes, activations) to the engine (experiments):
for each (model, layer) a :class:`FeatureSpace` is built once per procedure and reused by
every layer pair that needs it. Results are plain dicts for claims and the report.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from harness.config import Procedure
from harness.errors import ConfigError
from harness.experiments.placebos import PLACEBO_FILTER_RUNS
from harness.experiments.random_partners import RANDOM_PARTNER_SETS
from harness.experiments.size_matched import SIZE_MATCHED_DRAWS
from harness.experiments.feature_space import FeatureSpace
from harness.experiments.semantic_subspaces import compare_concept
from harness.experiments.spaces import compare_spaces
from harness.pairing.concepts import CONCEPT_KEYWORDS, vocab_strings
from harness.profiles import Profile

if TYPE_CHECKING:
    from harness.executor.cell import CellResult, CellSpec, Executor

log = logging.getLogger(__name__)


def default_space_capacity(n_layers_a: int, n_layers_b: int) -> int:
    """FeatureSpaces a :class:`LoadedPair` keeps by default: max(n_layers_a, n_layers_b) + 2, a grid
    row's spaces (its A space and every B space) plus the previous row's A space. With one fewer,
    each row's new A space evicted the least recently used B space -- the first the row asks for
    -- and every B after it in turn (LRU under a sequential scan: the Pythia paper tier built 155
    spaces per procedure where 18 are needed)."""
    return max(n_layers_a, n_layers_b) + 2


@dataclass
class LoadedPair:
    """Loaded models, tokenizer and tokens of one profile, its cached residual streams, and a
    small LRU of FeatureSpaces (issue 12).

    Residuals: on the first space of a model, one forward pass per site takes every profile
    layer of that model at every site in ``sites`` (:func:`harness.activations.residuals.model_residuals`,
    cached on disk under ``cache_dir`` keyed by the model's full weights); they stay in host
    memory (1.1 GB per site for the Pythia paper tier). A FeatureSpace holds the masked
    residuals on ``device`` and encodes SAE codes from them on demand
    (:class:`harness.activations.encode.SaeCodes`); at most ``max_spaces`` spaces are kept
    (least recently used dropped; default: :func:`default_space_capacity`, which a grid's A-outer /
    B-inner loop reuses without rebuilding).
    """

    profile: Profile
    cache_dir: Path | None = None
    device: str = "cpu"
    sites: tuple[str, ...] | None = None
    """Residual sites taken in the forward pass (default: those of the built-in procedures)."""
    max_spaces: int | None = None
    _models: dict[str, Any] = field(default_factory=dict)
    _tokens: Any = None
    _vocab: list[str] | None = None
    _spaces: OrderedDict[tuple[str, int, str], FeatureSpace] = field(default_factory=OrderedDict)
    _residuals: dict[tuple[str, int, str], Any] = field(default_factory=dict)
    _hashes: dict[str, str] = field(default_factory=dict)
    preflight: list[dict[str, Any]] = field(default_factory=list)

    def model(self, which: str, processing: dict[str, bool] | None = None) -> Any:
        """Model ``which`` ("a"/"b"), unprocessed unless an SAE asks for weight processing."""
        from dataclasses import replace

        from harness.load.models import load_model

        flags = {k: v for k, v in (processing or {}).items() if v}
        key = f"{which}|{','.join(sorted(flags))}"
        if key not in self._models:
            spec = self.profile.model_spec(which, device=self.device)
            self._models[key] = load_model(replace(spec, processing=flags) if flags else spec)
        return self._models[key]

    def model_for(self, which: str, sae: Any) -> Any:
        """The model as the SAE was trained on it: the weight-processing flags of the SAE's
        ``model_from_pretrained_kwargs`` (sae-lens metadata) are applied (library-facts.md);
        other keys are recorded with the pre-flight, not applied."""
        from harness.load.models import PROCESSING_FLAGS

        kwargs = dict(sae.meta.model_from_pretrained_kwargs or {})
        return self.model(which, {k: bool(v) for k, v in kwargs.items() if k in PROCESSING_FLAGS})

    @property
    def tokenizer(self) -> Any:
        return self.model("a").tokenizer

    @property
    def tokens(self) -> Any:
        from harness.load.data import load_tokens

        if self._tokens is None:
            prepend_bos = bool(self.model("a").cfg.default_prepend_bos)
            self._tokens = load_tokens(self.profile.data, self.tokenizer, prepend_bos=prepend_bos)
        return self._tokens

    @property
    def vocab(self) -> list[str]:
        if self._vocab is None:
            self._vocab = vocab_strings(self.tokenizer)
        return self._vocab

    def junk_tokens(self, procedure: Procedure) -> tuple[str, ...]:
        names = [str(self.profile.models[w].get("name", "")) for w in ("a", "b")]
        junk = procedure.junk_for(*names, self.profile.model_name("a"), self.profile.model_name("b"))
        if procedure.junk_include_tokenizer_specials:
            junk += tuple(self.tokenizer.all_special_tokens)
        return junk

    @property
    def space_capacity(self) -> int:
        prof = self.profile
        return self.max_spaces or default_space_capacity(len(prof.layers_a), len(prof.layers_b))

    def residual(self, which: str, layer: int, site: str, model: Any, model_key: str) -> Any:
        """(n_samples * seq_len, d_model) float32 host residuals of ``model`` at (layer, site);
        the first request of a model runs its forward pass for all profile layers and sites."""
        from harness.activations.residuals import model_residuals, weights_hash
        from harness.config import PROCEDURES

        key = (model_key, int(layer), site)
        if key not in self._residuals:
            if model_key not in self._hashes:
                self._hashes[model_key] = weights_hash(model)
            layers = sorted(set(self.profile.layers_a if which == "a" else self.profile.layers_b) | {int(layer)})
            sites = set(self.sites or {self.profile.site(p) for p in PROCEDURES.values()}) | {site}
            got = model_residuals(
                model,
                self.tokens,
                layers,
                sites,
                batch_size=self.profile.batch_size,
                cache_dir=self.cache_dir,
                model_hash=self._hashes[model_key],
            )
            self._residuals.update({(model_key, lay, st): t for (lay, st), t in got.items()})
        return self._residuals[key]

    def _model_and_key(self, which: str, sae: Any) -> tuple[Any, str]:
        """The model as ``sae`` asks for it and the key of its residuals (model + applied flags)."""
        from harness.load.models import PROCESSING_FLAGS

        applied = sorted(
            k for k, v in (sae.meta.model_from_pretrained_kwargs or {}).items() if v and k in PROCESSING_FLAGS
        )
        return self.model_for(which, sae), f"{which}|{','.join(applied)}"

    def warm_residuals(self, which: str, site: str) -> None:
        """Run (or read from the cache) the forward pass of model ``which`` now: every profile
        layer at every site (as the SAE of its first layer asks the model to be processed)."""
        from harness.load.saes import load_sae

        layer = (self.profile.layers_a if which == "a" else self.profile.layers_b)[0]
        model, model_key = self._model_and_key(which, load_sae(self.profile.sae_spec(which, layer), device=self.device))
        self.residual(which, layer, site, model, model_key)

    def space(self, which: str, layer: int, procedure: Procedure) -> FeatureSpace:
        """FeatureSpace of model ``which`` ("a"/"b") at ``layer`` under ``procedure`` (LRU-cached)."""
        key = (which, layer, procedure.name)
        if key in self._spaces:
            self._spaces.move_to_end(key)
            return self._spaces[key]
        space = self._build_space(which, layer, procedure)
        self._spaces[key] = space
        while len(self._spaces) > self.space_capacity:
            self._spaces.popitem(last=False)
        return space

    def _build_space(self, which: str, layer: int, procedure: Procedure) -> FeatureSpace:
        """A new FeatureSpace (one encode pass of the SAE's top positions when first asked)."""
        from harness.activations.encode import ModuleEncoder, SaeCodes, SaeWeights
        from harness.activations.preflight import preflight
        from harness.load.saes import load_sae

        sae = load_sae(self.profile.sae_spec(which, layer), device=self.device)
        model, model_key = self._model_and_key(which, sae)
        tok = self.tokens
        if not any(p["model"] == self.profile.model_name(which) and p["layer"] == layer for p in self.preflight):
            site = self.profile.activation_site or "block_output"
            pf = preflight(model, sae, tok, layer, site=site, batch_size=self.profile.batch_size)
            self.preflight.append(
                {
                    "model": self.profile.model_name(which),
                    "layer": layer,
                    "model_from_pretrained_kwargs": dict(sae.meta.model_from_pretrained_kwargs),
                    **pf.to_dict(),
                }
            )
        flat = self.residual(which, layer, self.profile.site(procedure), model, model_key)
        n, seq = tok.tokens.shape
        keep = ~tok.special_mask if procedure.mask_special_positions else torch.ones_like(tok.special_mask)
        keep = keep.reshape(-1)
        if sae.is_topk:
            weights: Any = SaeWeights.from_loaded(sae, code=procedure.sae_code)
        else:

            def encode_fn(x: torch.Tensor, s: Any = sae, c: str = procedure.sae_code) -> torch.Tensor:
                return s.encode(x, code=c)

            weights = ModuleEncoder(fn=encode_fn, d_in=int(sae.meta.d_in), d_sae=int(sae.meta.d_sae), device=sae.device)
        codes = SaeCodes(
            flat[keep].to(self.device),
            weights,
            top_k=procedure.top_k_positions,
            require_active=procedure.top_positions_require_active,
        )
        sample_grid, pos_grid = np.meshgrid(np.arange(n), np.arange(seq), indexing="ij")
        keep_np = keep.numpy()
        space = FeatureSpace(
            name=f"{self.profile.model_name(which)}/L{layer}",
            codes=codes,
            decoder=sae.decoder_rows(),
            tokens=tok.tokens.cpu().numpy(),
            sample_index=sample_grid.reshape(-1)[keep_np].astype(np.int64),
            position_index=pos_grid.reshape(-1)[keep_np].astype(np.int64),
            vocab=self.vocab,
            junk_tokens=self.junk_tokens(procedure),
            top_k=procedure.top_k_positions,
            require_active=procedure.top_positions_require_active,
        )
        return space


#: Per-score fields copied from the 1-1 record into a grid cell: raw score, null mean, the
#: procedure's p, the judging +1 p, the paper's "k/N", and the effect over chance (excess,
#: null sd, z; harness.scoring.effects).
SCORE_FIELDS = tuple(
    f"{m}{f}"
    for m in ("svcca", "rsa")
    for f in ("", "_null_mean", "_p", "_p_plus_one", "_p_paper", "_excess", "_null_std", "_z")
)


#: The pair sets whose RSA a grid cell reads (:func:`_cell`: the 1-1 set's, and the control sets'
#: ``*_top`` / ``*_rp``); the many-to-1 and unfiltered sets' RSA and RSA nulls are not computed.
RSA_VARIANTS = ("one_to_one", "top_correlated", "random_partner")
#: The pair sets whose permutation nulls a grid computes (compare_spaces ``null_variants``): those a
#: rule or the report reads -- the 1-1 set (U1-U4, U7, W2) and the many-to-1 set (the report's
#: App. E excess) of a real grid; a shuffled-positions control grid's top-correlated set (U1, U2,
#: W2's control view). The unfiltered set (U6 reads its observed score), the single
#: random-partner set (U1/U2 read the contrast of 99 such sets instead) and a control's 1-1 /
#: many-to-1 sets (U8 reads their counts) get their observed SVCCA only.
GRID_NULL_VARIANTS = ("one_to_one", "many_to_one")
CONTROL_NULL_VARIANTS = ("top_correlated",)


def _scores(rec: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    return {f"{k}{suffix}": rec.get(k, math.nan) for k in SCORE_FIELDS}


def _cell(rec: dict[str, Any], layer_a: int, layer_b: int) -> dict[str, Any]:
    one, m21, unf = rec["one_to_one"], rec["many_to_one"], rec["unfiltered"]
    cell = {
        "layer_a": layer_a,
        "layer_b": layer_b,
        "mean_max_corr": rec["mean_max_corr"],
        "n_pairs": one["n_pairs"],
        **_scores(one),
        "svcca_k": f"{one.get('svcca_k_a', '-')},{one.get('svcca_k_b', '-')}",
        "n_permutations": one.get("n_permutations", math.nan),
        "n_pairs_m21": m21["n_pairs"],
        "svcca_m21": m21["svcca"],
        "svcca_m21_p": m21["svcca_p"],
        "svcca_m21_excess": m21.get("svcca_excess", math.nan),
        "n_pairs_unfiltered": unf["n_pairs"],
        "svcca_unfiltered": unf["svcca"],
        "svcca_unfiltered_excess": unf.get("svcca_excess", math.nan),
        "pairs_history": one["pairs_history"],
        "dead_a": rec["dead_a"],
        "dead_b": rec["dead_b"],
        "svcca_m21_null_mean": m21.get("svcca_null_mean", math.nan),
        "svcca_unfiltered_null_mean": unf.get("svcca_null_mean", math.nan),
        "svcca_excess_half1": one.get("svcca_excess_half1", math.nan),
        "svcca_excess_half2": one.get("svcca_excess_half2", math.nan),
    }
    top = rec.get("top_correlated")
    if top is not None:  # negative controls only (see compare_spaces)
        cell.update(n_pairs_top=top["n_pairs"], **_scores(top, "_top"))
    rp = rec.get("random_partner")
    if rp is not None:  # the filter-aware control (see random_partner_pairs)
        cell.update(n_pairs_rp=rp["n_pairs"], **_scores(rp, "_rp"))
    contrast = rec.get("random_partner_contrast")
    if contrast is not None:  # U1/U2's control: the real pairing ranked among random-partner sets
        cell.update(contrast)
    for superset, short in (("many_to_one", "m21"), ("unfiltered", "unfiltered")):
        sm = rec.get(f"one_to_one_vs_{superset}_size_matched", {})
        cell[f"size_matched_{short}_mean"] = sm.get("draws_mean", math.nan)
        cell[f"size_matched_{short}_p"] = sm.get("p", math.nan)
        cell[f"size_matched_{short}_holdout_p"] = sm.get("holdout_p", math.nan)
        cell[f"size_matched_{short}_p_plus_one"] = sm.get("p_plus_one", math.nan)
        cell[f"size_matched_{short}_holdout_p_plus_one"] = sm.get("holdout_p_plus_one", math.nan)
        cell[f"size_matched_{short}_n_draws"] = sm.get("n_draws", 0)
    po = rec.get("placebo_one_to_one")
    if po is not None:  # U5's placebo 1-1 rule (see placebo_one_to_one)
        cell.update({k: v for k, v in po.items() if k != "placebo_one_to_one_skipped"})
        sm = rec.get("one_to_one_vs_many_to_one_size_matched", {})
        cell["placebo_one_to_one_vs_siblings_p_plus_one"] = sm.get("placebo_p_plus_one", math.nan)
    pf = rec.get("placebo_filter")
    if pf is not None:  # U6's placebo filter (see placebo_filter)
        cell.update({k: v for k, v in pf.items() if k != "placebo_filter_skipped"})
    return cell


def pair_counts(grid: dict[str, Any]) -> dict[tuple[int, int], int]:
    """(layer_a, layer_b) -> number of 1-1 pairs of each cell (``match_pairs`` of a control)."""
    return {(c["layer_a"], c["layer_b"]): int(c["n_pairs"]) for c in grid["cells"]}


def top_correlated_view(control_grid: dict[str, Any]) -> dict[str, Any]:
    """The control grid with each cell's ``top_correlated`` scores in the main fields
    (``n_pairs`` and every field of :data:`SCORE_FIELDS`), so a claim's
    rule reads them as it reads the real grid."""
    keys = ("n_pairs", *SCORE_FIELDS)
    cells = []
    for c in control_grid["cells"]:
        if "svcca_top" not in c:
            raise ConfigError(
                "This control grid has no top-correlated sets: build it with run_grid(..., "
                "control=True, match_pairs=pair_counts(real_grid))."
            )
        cells.append({**c, **{k: c[f"{k}_top"] for k in keys}, "n_pairs_filtered": c["n_pairs"]})
    return {**control_grid, "cells": cells}


def random_partner_view(grid: dict[str, Any]) -> dict[str, Any]:
    """The real grid with each cell's random-partner scores (``*_rp``: random partners passing the
    same filters and threshold, :func:`harness.experiments.random_partners.random_partner_pairs`) in the main
    fields, so a claim's rule reads them as it reads the real grid."""
    keys = ("n_pairs", *SCORE_FIELDS)
    cells = []
    for c in grid["cells"]:
        if "svcca_rp" not in c:
            raise ConfigError("This grid has no random-partner sets: build it with run_grid(..., control=False).")
        cells.append({**c, **{k: c[f"{k}_rp"] for k in keys}, "n_pairs_filtered": c["n_pairs"]})
    return {**grid, "cells": cells}


def grid_cell(
    world: LoadedPair,
    procedure: Procedure,
    layer_a: int,
    layer_b: int,
    *,
    control: bool = False,
    n_top: int | None = None,
) -> dict[str, Any]:
    """One cell of the layer grid (:func:`run_grid`): A ``layer_a`` x B ``layer_b`` compared by
    :func:`compare_spaces` (``control``: B's positions shuffled with a per-cell seed; ``n_top``:
    the size of the cell's top-correlated set, a control's ``match_pairs`` entry). The cell's
    fields as :func:`run_grid` lists them; depends on nothing but its arguments (an executor
    may run the cells in any order, in any process: harness/executor)."""
    prof = world.profile
    sa = world.space("a", layer_a, procedure)
    sb = world.space("b", layer_b, procedure)
    if control:
        sb = sb.with_shuffled_positions(seed=procedure.seed + 17 * layer_b + 1)
    rec = compare_spaces(
        sa,
        sb,
        procedure,
        n_permutations=prof.n_permutations(procedure),
        device=world.device,
        null_device=world.device,
        n_top_correlated=n_top,
        split_halves=not control,
        random_partners=not control,
        placebos=not control,
        paper_permutations=prof.paper_permutations(procedure),
        n_size_matched=prof.size_matched_draws or SIZE_MATCHED_DRAWS,
        placebo_filter_runs=prof.placebo_filter_runs or PLACEBO_FILTER_RUNS,
        random_partner_sets=prof.random_partner_sets or RANDOM_PARTNER_SETS,
        rsa_variants=RSA_VARIANTS,
        null_variants=CONTROL_NULL_VARIANTS if control else GRID_NULL_VARIANTS,
        size_matched_sets=not control,  # the control's draws: no rule reads them
    )
    return _cell(rec, layer_a, layer_b)


def run_grid(
    world: LoadedPair,
    procedure: Procedure,
    *,
    control: bool = False,
    layers_a: list[int] | None = None,
    layers_b: list[int] | None = None,
    match_pairs: dict[tuple[int, int], int] | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Layer x layer whole-space comparison (Figs. 5-8, 11-14). ``control`` shuffles B's
    positions (negative control); ``match_pairs`` ((layer_a, layer_b) -> pair count of the
    real cell) adds each cell's ``top_correlated`` set of that size (``*_top`` fields), which a
    control can score even when no misaligned pair passes the filters. Each (layer_a, layer_b)
    is one cell (:func:`grid_cell`) that ``executor`` runs (default: in this process, no cache;
    :mod:`harness.executor`: a keyed on-disk cache, Ray tasks)."""
    from harness.executor.cell import CellSpec
    from harness.executor.local import LocalExecutor

    t0 = time.perf_counter()
    prof = world.profile
    la = layers_a if layers_a is not None else prof.layers_a
    lb = layers_b if layers_b is not None else prof.layers_b
    what = f"{prof.name}: grid {procedure.name}{' control' if control else ''}"
    specs = [
        CellSpec(
            kind="grid",
            procedure=procedure,
            layer_a=int(layer_a),
            layer_b=int(layer_b),
            control=control,
            n_top=None if match_pairs is None else match_pairs.get((layer_a, layer_b)),
        )
        for layer_a in la
        for layer_b in lb
    ]
    results = (executor or LocalExecutor()).run(world, specs, compute=compute_cell, what=what)
    return {
        "kind": "grid",
        "model_a": prof.model_name("a"),
        "model_b": prof.model_name("b"),
        "layers_a": list(la),
        "layers_b": list(lb),
        "procedure": procedure.name,
        "control": control,
        "cells": [r.value for r in results],
        "n_permutations": prof.n_permutations(procedure),
        "paper_permutations": prof.paper_permutations(procedure),
        "paper_pair_range": prof.paper_pair_range,
        "n_tokens": results[0].n_positions_a,  # the first space the walk asks for
        "elapsed_s": round(time.perf_counter() - t0, 2),
    }


def _shuffled_space(world: LoadedPair, layer_b: int, procedure: Procedure) -> FeatureSpace:
    """The semantic control's B space (positions shuffled with seed ``procedure.seed + 99``); the
    last one is kept on ``world``, so the categories of one control table share its encode pass."""
    seed = procedure.seed + 99
    key = (int(layer_b), repr(procedure))
    memo: dict[tuple[int, str], FeatureSpace] = vars(world).setdefault("_semantic_control_space", {})
    if key not in memo:
        memo.clear()
        memo[key] = world.space("b", layer_b, procedure).with_shuffled_positions(seed=seed)
    return memo[key]


def semantic_cell(
    world: LoadedPair,
    procedure: Procedure,
    layer_a: int,
    layer_b: int,
    category: str,
    *,
    control: bool = False,
    n_bootstrap: int = 0,
) -> dict[str, Any]:
    """One category of a semantic table (:func:`run_semantic`): :func:`compare_concept` of
    ``category``'s keywords (Table 4) between A ``layer_a`` and B ``layer_b`` (``control``: B's
    positions shuffled). Depends on nothing but its arguments (harness/executor)."""
    prof = world.profile
    sa = world.space("a", layer_a, procedure)
    sb = _shuffled_space(world, layer_b, procedure) if control else world.space("b", layer_b, procedure)
    return compare_concept(
        sa,
        sb,
        category,
        CONCEPT_KEYWORDS[category],
        procedure,
        n_permutations=prof.n_permutations_semantic(procedure),
        n_random_subsets=prof.n_random_subsets(procedure),
        null_device=world.device,
        n_bootstrap=n_bootstrap,
    )


def run_semantic(
    world: LoadedPair,
    procedure: Procedure,
    layer_a: int,
    layer_b: int,
    *,
    control: bool = False,
    paper_table: dict[str, dict[str, float]] | None = None,
    n_bootstrap: int = 0,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Semantic subspaces of one layer pair, every Table 4 category (Tables 1, 2, 9). ``n_bootstrap``:
    bootstrap resamples for the scores' standard errors (the semantic table of S2/S4; 0 = none).
    Each category is one cell (:func:`semantic_cell`) that ``executor`` runs (see :func:`run_grid`)."""
    from harness.executor.cell import CellSpec
    from harness.executor.local import LocalExecutor

    t0 = time.perf_counter()
    prof = world.profile
    what = f"{prof.name}: semantic A{layer_a} x B{layer_b} {procedure.name}{' control' if control else ''}"
    log.info("%s", what)
    specs = [
        CellSpec(
            kind="semantic",
            procedure=procedure,
            layer_a=int(layer_a),
            layer_b=int(layer_b),
            control=control,
            category=category,
            n_bootstrap=int(n_bootstrap),
        )
        for category in CONCEPT_KEYWORDS
    ]
    cells = []
    for result in (executor or LocalExecutor()).run(world, specs, compute=compute_cell, what=what):
        rec = dict(result.value)
        paper = (paper_table or {}).get(rec["category"], {})
        rec.update(paper_n=paper.get("n", math.nan), paper_svcca=paper.get("svcca", math.nan))
        cells.append(rec)
    return {
        "kind": "semantic",
        "layer_a": layer_a,
        "layer_b": layer_b,
        "procedure": procedure.name,
        "control": control,
        "cells": cells,
        "elapsed_s": round(time.perf_counter() - t0, 2),
    }


def compute_cell(world: LoadedPair, spec: CellSpec) -> CellResult:
    """One grid cell (:func:`grid_cell`) or semantic category (:func:`semantic_cell`) of ``spec`` on
    ``world``, as the executors take it (harness/executor: in this process or in a Ray worker)."""
    from harness.executor.work import cell_result

    # the A space first, as the cell itself asks for it (the same LRU order as a plain loop)
    n_positions = int(world.space("a", spec.layer_a, spec.procedure).n_positions)
    if spec.kind == "grid":
        value = grid_cell(world, spec.procedure, spec.layer_a, spec.layer_b, control=spec.control, n_top=spec.n_top)
    elif spec.kind == "semantic" and spec.category is not None:
        value = semantic_cell(
            world,
            spec.procedure,
            spec.layer_a,
            spec.layer_b,
            spec.category,
            control=spec.control,
            n_bootstrap=spec.n_bootstrap,
        )
    else:
        raise ConfigError(f"{spec.label}: grid.compute_cell runs grid and semantic cells only.")
    return cell_result(world, spec, value, n_positions)
