"""The typed schema of ``results.json`` and its strict-JSON writer.

The TypedDicts below describe what the report writes (:func:`harness.report.markdown.write_report`):
claim rows (:class:`ClaimRow`, from :mod:`harness.verdicts.recorder`) and experiment records
(:class:`Grid` / :class:`GridCell` from :func:`harness.experiments.grid.run_grid`,
:class:`SemanticTable` / :class:`SemanticCell` from :func:`harness.experiments.grid.run_semantic`,
:class:`Preflight` / :class:`PreflightSite` from the LoadedPair's pre-flight checks). The seed
experiment's overlap records (:class:`SeedOverlapRecord`) reach the report through claim rows'
``measured``.

``harness/report/results.schema.json`` is the JSON Schema generated from :class:`Results`
(``python -m harness.report.schema`` rewrites it; a test checks the committed file is current).

Strict JSON: an undefined or infinite score (NaN, +-inf in Python) is written as ``null``
(:func:`dumps`), so every JSON parser reads the file. A reader gets ``None`` where the run
had NaN (:func:`nan_if_null` turns it back).

Missing values: a field typed ``X | None`` (:data:`Missing`) may be ``null`` where the source of the
record does not give it -- e.g. a record built from the paper's printed numbers
(``examples/paper-printed-numbers.json``) has no unfiltered pair counts, dead-feature counts,
concept-feature counts or timings. The field must still be present (``null`` says "missing",
an absent key says the file is malformed); a rule that needs it says so ("not run: needs X").
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict  # pydantic needs typing_extensions' TypedDict before 3.12

from harness.config import Procedure
from harness.verdicts.recorder import ControlOutcome, Verdict

__all__ = [
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "ClaimRow",
    "Grid",
    "GridCell",
    "Preflight",
    "PreflightSite",
    "Results",
    "SeedOverlapRecord",
    "SemanticCell",
    "SemanticTable",
    "dumps",
    "json_schema",
    "nan_if_null",
    "strict",
]

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"

Score = float | None
"""A float that is ``null`` in the file where the value is undefined (NaN) or infinite."""
MissingInt = int | None
"""A count that is ``null`` where the record's source does not give it (e.g. the paper never prints it)."""
MissingFloat = float | None
"""A measurement (e.g. seconds) that is ``null`` where the record's source does not give it."""


class Expected(TypedDict):
    """The reviewed expectation of a smoke claim (``claims/expected/smoke.json``)."""

    verdict: Verdict
    control: ControlOutcome | None
    reason: str


class SeedStability(TypedDict):
    """How the claim's outcome held over the committed seed sweep (harness/verdicts/stability.py)."""

    n_seeds: int
    min_seeds: int
    same_outcome: int
    """Seeds giving the reference seed's verdict and control outcome."""
    same_verdict: int
    fraction: Score
    stable: bool | None
    """None: fewer seeds than ``min_seeds``."""
    note: str


class ClaimRow(TypedDict):
    """One (claim, procedure) verdict."""

    id: str
    statement: str
    source: str
    paper_values: str
    rule: str
    procedure: str
    profile: str
    verdict: Verdict
    rule_holds: NotRequired[bool | None]
    """Absent when the claim was not run; None when the data could not decide."""
    control_outcome: NotRequired[ControlOutcome | None]
    inconclusive: NotRequired[str | None]
    """Why the data cannot decide (verdict ``inconclusive``), else None."""
    inputs: NotRequired[dict[str, str]]
    """Role -> experiment name: the records the rule read (``sae-claims judge`` re-judges from them)."""
    seed_stability: NotRequired[SeedStability]
    """The claim's outcome over the committed seed sweep; an unstable one is ``inconclusive``."""
    measured: dict[str, Any]
    """The claim's own numbers (claim-specific keys; ``control`` holds its negative control's)."""
    detail: str
    expected: Expected | None


class GridCell(TypedDict):
    """One layer pair of a whole-space grid (``harness.experiments.grid._cell``)."""

    n_permutations: NotRequired[int | None]
    layer_a: int
    layer_b: int
    mean_max_corr: Score
    n_pairs: MissingInt
    svcca: Score
    svcca_null_mean: Score
    svcca_p: Score
    svcca_k: str | None
    """``"k_a,k_b"`` (``-`` where not scored; null where the source does not say)."""
    rsa: Score
    rsa_null_mean: Score
    rsa_p: Score
    n_pairs_m21: MissingInt
    svcca_m21: Score
    svcca_m21_p: Score
    n_pairs_unfiltered: MissingInt
    svcca_unfiltered: Score
    pairs_history: list[str] | None
    dead_a: MissingInt
    dead_b: MissingInt
    svcca_m21_null_mean: Score
    svcca_unfiltered_null_mean: Score
    size_matched_m21_mean: Score
    size_matched_m21_p: Score
    size_matched_m21_holdout_p: Score
    size_matched_unfiltered_mean: Score
    size_matched_unfiltered_p: Score
    size_matched_unfiltered_holdout_p: Score
    n_pairs_top: NotRequired[int]
    """``*_top``: negative controls built with ``match_pairs`` only (the top-correlated set)."""
    svcca_top: NotRequired[Score]
    svcca_p_top: NotRequired[Score]
    svcca_null_mean_top: NotRequired[Score]
    rsa_top: NotRequired[Score]
    rsa_p_top: NotRequired[Score]


class Grid(TypedDict):
    """A layer x layer whole-space grid (``run_grid``)."""

    kind: Literal["grid"]
    model_a: str
    model_b: str
    layers_a: list[int]
    layers_b: list[int]
    procedure: str
    control: bool
    cells: list[GridCell]
    n_permutations: MissingInt
    paper_permutations: NotRequired[int | None]
    """The authors' smaller grid null size where a profile pins one (the cells' ``k/N`` counts the
    first that many draws; the judging p uses all ``n_permutations``)."""
    paper_pair_range: list[int] | None
    """[low, high] 1-1 pair counts of the paper's grid cells, or null."""
    n_tokens: MissingInt
    elapsed_s: MissingFloat


class SemanticCell(TypedDict):
    """One concept category of a semantic table (``compare_concept`` + the paper's values)."""

    category: str
    a: str
    b: str
    procedure: str
    n_concept_a: MissingInt
    n_concept_b: MissingInt
    n_pairs: MissingInt
    paper_n: Score
    paper_svcca: Score
    skipped: NotRequired[str]
    """Why the category was not scored (too few concept features or pairs)."""
    pairs_history: NotRequired[list[str]]
    svcca: NotRequired[Score]
    svcca_null_mean: NotRequired[Score]
    svcca_null_std: NotRequired[Score]
    svcca_p: NotRequired[Score]
    svcca_k_a: NotRequired[int]
    svcca_k_b: NotRequired[int]
    svcca_error: NotRequired[str]
    rsa: NotRequired[Score]
    rsa_null_mean: NotRequired[Score]
    rsa_null_std: NotRequired[Score]
    rsa_p: NotRequired[Score]
    rsa_error: NotRequired[str]
    n_permutations: NotRequired[int | None]
    p_rule: NotRequired[str]
    mean_pair_corr: NotRequired[Score]
    test2_null_mean: NotRequired[Score]
    test2_p: NotRequired[Score]
    test2_failed: NotRequired[int]
    svcca_max_k: NotRequired[int | None]


class SemanticTable(TypedDict):
    """Every Table 4 category at one layer pair (``run_semantic``)."""

    kind: Literal["semantic"]
    layer_a: int
    layer_b: int
    procedure: str
    control: bool
    cells: list[SemanticCell]
    elapsed_s: MissingFloat


class PreflightSite(TypedDict):
    """Reconstruction check of one SAE at its site and the neighbouring one."""

    model: str
    layer: int
    model_from_pretrained_kwargs: dict[str, Any]
    site: str
    neighbour_site: str
    hook_name: str
    neighbour_hook_name: str
    fvu: Score
    l0: Score
    neighbour_fvu: Score
    neighbour_l0: Score
    better_site: str
    n_positions: int
    warnings: list[str]


class Preflight(TypedDict):
    kind: Literal["preflight"]
    sites: list[PreflightSite]


class SeedPairRecord(TypedDict):
    """Lan et al.'s statistics of one seed pair (``kind`` ``seed_pair``: :func:`harness.seeds.experiment.lan_record`)
    or Paulo & Belrose's (``seed_overlap``: :func:`harness.seeds.experiment.overlap_record`), a
    condition's seed pairs (``seed_overlaps``: :func:`harness.seeds.experiment.overlap_set`) or
    conditions along an axis (``seed_overlap_sweep``: :func:`harness.seeds.experiment.overlap_sweep`);
    their variant keys are claim-specific, so the record is open past ``kind``."""

    __pydantic_config__ = {"extra": "allow"}  # type: ignore[misc]  # read by pydantic's schema generator only
    kind: Literal["seed_pair", "seed_overlap", "seed_overlaps", "seed_overlap_sweep"]


class SemanticGrid(TypedDict):
    """The semantic tables of every semantic layer pair (``kind`` ``semantic_grid``)."""

    kind: Literal["semantic_grid"]
    procedure: str
    control: bool
    tables: list[SemanticTable]


Experiment = Grid | SemanticTable | Preflight | SeedPairRecord | SemanticGrid

#: Score-family keys a grid or semantic cell may carry besides its declared ones: every score
#: comes with null mean / sd, excess over chance, z, +1 p, the paper's "k/N" and its seed, per
#: variant (``_top``, ``_rp``, ``_m21``, ...), U1/U2's random-partner sets (``random_partner_*``) and U5/U6's placebo controls (``placebo_*``). Typed as
#: numbers, "k/N" strings or null.
SCORE_KEY_PATTERN = r"^(svcca|rsa|test2|size_matched|n_pairs|split_half|placebo|random_partner)_"


class Provenance(TypedDict):
    """Where and how the run happened (:func:`harness.provenance.provenance` plus the run's settings)."""

    git_commit: str | None
    """None: the file was not written by a run of this suite (e.g. built from the paper's printed numbers)."""
    library_versions: dict[str, str | None] | None
    lock_differences: NotRequired[list[str]]
    """Pinned packages whose running version differs from ``constraints.txt`` (harness/lockfile.py);
    empty when the run used the locked environment."""
    python: str | None
    machine: str | None
    created_utc: str
    profile: str
    procedures: list[str]
    session_wall_s: NotRequired[float]
    procedure_settings: NotRequired[dict[str, Procedure]]
    device: NotRequired[str]
    token_manifest: NotRequired[dict[str, Any]]
    """:attr:`harness.load.data.TokenSet.manifest` (source, revision, sizes, per-document hashes)."""
    staged_hub: NotRequired[str | None]
    """Rehearsal only: the staged offline hub (HF_HOME)."""
    selection: NotRequired[dict[str, Any]]
    """What part of the suite ran (``-k``, markers, layers, procedures, deselected tests): a run
    that is not the whole suite is a partial report."""
    compute: NotRequired[dict[str, Any]]
    """The numeric environment (threads, BLAS, torch settings) the numbers were computed in."""
    compare: NotRequired[dict[str, Any]]
    """``sae-claims compare`` only: both sides (model, SAE set, layers), data, null size and
    controls of the comparison, and the profile file when given (harness/experiments/compare.py)."""


class Results(TypedDict):
    """``results.json``."""

    schema_version: Literal[1]
    profile: str
    provenance: Provenance
    claims: list[ClaimRow]
    experiments: dict[str, Experiment]


class SeedOverlapRecord(TypedDict):
    """:func:`harness.seeds.experiment.overlap_record` (Paulo & Belrose's statistics of one pair)."""

    fraction_shared: Score
    fraction_same_partner: Score
    pw_mcc_decoder: Score
    mean_matched_encoder_cosine: Score
    n_latents: int
    method: str
    l0_a: Score
    l0_b: Score
    explained_variance_a: Score
    explained_variance_b: Score
    dead_a: int
    dead_b: int
    fraction_by_criterion: dict[str, float]
    fraction_by_criterion_paper_float32: dict[str, float] | None


def strict(x: Any) -> Any:
    """``x`` with NaN / +-inf floats as None, numpy scalars and arrays as Python values, tuples as lists."""
    import numpy as np

    if isinstance(x, dict):
        return {str(k): strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [strict(v) for v in x]
    if isinstance(x, np.ndarray):
        return strict(x.tolist())
    if isinstance(x, (np.bool_, np.integer, np.floating)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def dumps(payload: Any, **kwargs: Any) -> str:
    """Strict JSON (``allow_nan=False``; NaN / inf written as null). Unknown objects become strings."""
    return json.dumps(strict(payload), allow_nan=False, default=str, **kwargs)


def nan_if_null(x: float | None) -> float:
    """A score read from results.json as a float (null -> NaN)."""
    return math.nan if x is None else float(x)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Results` (pydantic's generator; every object closed to unknown keys)."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(Results).json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
                if node.get("title") in ("GridCell", "SemanticCell"):
                    node["patternProperties"] = {SCORE_KEY_PATTERN: {"type": ["number", "integer", "string", "null"]}}
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def schema_text() -> str:
    """The committed file's exact text."""
    return json.dumps(json_schema(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")
