"""Seed overlap of two SAEs by Hungarian matching (Paulo & Belrose 2025, Sec. 3).

Paulo & Belrose decide whether a latent of SAE A is *shared* with SAE B as follows
(see ``shared/reference/seed-stability-facts.md``):

1. normalise every encoder row and every decoder row to unit length;
2. signed cosine similarities between the two SAEs, separately for encoders and decoders;
3. one-to-one Hungarian matching maximising the total cosine, separately for the encoder
   and for the decoder;
4. a latent of A is shared iff it is matched with cosine ``> threshold`` (0.7 in the paper)
   by **both** matchings (the two partners need not be the same latent);
5. looser variant: shared iff the encoder and decoder matchings pick the same partner;
6. PW-MCC (Song et al. 2025): the mean matched decoder cosine, no threshold.

Criteria: which cosines decide "shared" (``criterion=``, a closed vocabulary, :data:`CRITERIA`).
Not every published number of Paulo & Belrose uses the headline rule (step 4); per figure
(authors' notebook, 2025):

- ``"both"`` (default; the headline, width, k, token-count and nine-seed figures): latent i
  of A is shared iff its encoder-matching cosine AND its decoder-matching cosine exceed the
  threshold (the two partners may differ);
- ``"decoder_only"`` (the model and architecture figures, e.g. Gated 0.86, ReLU-L1 0.82,
  TopK 0.74): iff its decoder-matching cosine exceeds the threshold; the encoder is ignored;
- ``"decoder_partner_both"`` (the per-layer figure): iff, for its *decoder* partner j, both
  the decoder cosine and the encoder cosine of the pair (i, j) exceed the threshold (both
  index arrays read from the decoder matching). Always within ``decoder_only``; usually
  stricter than ``both`` (one partner must pass in both spaces), but not nested in it: the
  encoder matching maximises the *total* cosine and may give i a partner below the
  threshold even though i's decoder partner passes in encoder space too.

Conventions (``convention=``, :data:`CONVENTIONS`): the same criteria under two readings.

- ``"corrected"`` (default, this suite): float64 cosines; every condition is about one
  latent i of A; the fraction is over A's latents (denominator ``n_a``), so with
  ``n_a > n_b`` at most ``n_b / n_a`` can be shared.
- ``"paper"`` (the authors' computation): rows normalised and signed cosine matrices held in
  **float32**; dense :func:`scipy.optimize.linear_sum_assignment` (maximise); strict ``>``
  against the float32 threshold; the denominator is the number of matched pairs,
  ``min(n_a, n_b)``; and for ``both`` the encoder and decoder conditions are combined **by
  assignment position** (k-th pair of the encoder matching with the k-th pair of the
  decoder matching, each sorted by A's row). That is the same latent of A only when
  ``n_a <= n_b`` (the authors compared equal widths only); with ``n_a > n_b`` the two
  matchings cover different subsets of A and a "shared" position can pair the encoder
  condition of one latent with the decoder condition of another. With equal widths the two
  conventions differ only where float32 rounding moves a cosine across the threshold (a
  cosine within ~1e-7 of it) or reorders a near-tie in the assignment. Not reproduced: the
  architecture cells of the notebook also read the decoder cosine at the *encoder*
  matching's indices and skip row-normalising the decoders.

Two solvers compute the matchings:

- ``dense``: the full ``(n_a, n_b)`` float64 cosine matrix and
  :func:`scipy.optimize.linear_sum_assignment`. O(n^2) memory, O(n^3) time: fine up to a
  few thousand latents, a dense 131k Hungarian took the authors ~8 h and 300+ GB.
- ``sparse``: a candidate graph (every row's ``candidates`` most similar columns, found by
  a chunked float32 matmul that never holds more than ~2^26 similarities at once), exact
  float64 cosines on those edges (sampled dense-dense matmul), and the exact assignment on
  the candidate graph by
  :func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching` (LAPJVsp): it first
  matches as many rows as the candidate graph allows, then maximises the total cosine.
  Rows it cannot match get their candidate lists widened (doubling, exact float64) and the
  problem is solved again; rows still unmatched after ``max_refine_rounds`` (or at once
  with ``certify=False``) keep partner -1, count as not shared, and are reported in
  ``n_unmatched``.

When is the sparse result the dense one? Whenever a dense optimum uses only candidate
edges (it is then also optimal on the candidate graph). The sparse solver *checks* this
with an LP-duality certificate instead of assuming it: it derives dual prices from the
sparse optimum (shortest paths on the residual graph), bounds every non-candidate cosine
by ``min(tau_i, sigma_j)`` (the row's ``candidates``-th best float32 cosine and the
column's best float32 cosine outside the candidate edges, both recorded during the
candidate pass and widened by a rigorous float32 rounding bound; float32 matmuls run at
"highest" precision), recomputes in float64 only the few rows this bound cannot clear, adds the
edges that violate dual feasibility and solves again (up to ``max_refine_rounds``
re-solves). ``certified=True`` proves the matching is an optimal dense Hungarian
assignment: the same total cosine as ``method="dense"``, and the same partners whenever
the dense optimum is unique (almost surely, for continuous data). On SAE-like pairs the
certificate holds after zero or one refinement: shared latents are mutual near-neighbours
far above every non-candidate cosine, and the dual prices of the rest clear the bound.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, Literal, NamedTuple, get_args

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from harness.errors import ConfigError, DegenerateInputError, ResourceError, ShapeError

Method = Literal["auto", "dense", "sparse"]
#: Which cosines decide "shared" (see the module docstring): the headline rule, the model
#: and architecture figures' decoder-only rule, the per-layer figure's decoder-partner rule.
Criterion = Literal["both", "decoder_only", "decoder_partner_both"]
#: The closed vocabulary of criteria, derived from :data:`Criterion` (runtime checks use it).
CRITERIA: tuple[str, ...] = get_args(Criterion)
#: ``corrected``: float64, per latent of A, denominator n_a; ``paper``: the authors' float32
#: cosines, denominator min(n_a, n_b), conditions combined by assignment position.
Convention = Literal["corrected", "paper"]
#: The closed vocabulary of conventions, derived from :data:`Convention`.
CONVENTIONS: tuple[str, ...] = get_args(Convention)
Float64 = NDArray[np.float64]
Int64 = NDArray[np.int64]

#: ``method="auto"`` solves densely up to this many cosine pairs (4096 x 4096).
DENSE_AUTO_MAX_PAIRS: int = 4096 * 4096
#: ``method="dense"`` refuses more pairs than this (2^28 pairs = 2 GiB per float64 matrix).
DENSE_MAX_PAIRS: int = 1 << 28
#: Similarities held at once by the chunked float32 candidate pass (2^26 = 256 MiB).
_CHUNK_PAIRS: int = 1 << 26
#: Tolerance of the dual-feasibility test in float64.
_DUAL_TOL: float = 1e-9


class RowMatching(NamedTuple):
    """One-to-one matching of the rows of A to the rows of B (one of the two matchings)."""

    partner: Int64
    """(n_a,) index of the matched row of B, -1 where unmatched."""
    cos: Float64
    """(n_a,) cosine with the partner, NaN where unmatched."""
    method: str
    """``dense`` or ``sparse``."""
    n_unmatched: int
    """Rows of the smaller side left unmatched by the candidate graph (0 for dense)."""
    certified: bool | None
    """Sparse only: True if proven an optimal dense assignment, False if not; None for
    dense (exact by construction) or when certification was switched off."""
    refine_rounds: int
    """Sparse only: re-solves after adding dual-violating edges (0 for dense)."""
    n_candidate_edges: int
    """Edges of the final candidate graph (n_a * n_b for dense)."""


class OverlapResult(NamedTuple):
    """Seed overlap of SAE A with SAE B (Paulo & Belrose 2025, Sec. 3).

    ``corrected`` convention: fractions are over the latents of **A** (``denominator`` =
    ``n_latents``); when ``n_a > n_b`` at most ``n_b`` latents of A can be matched, the rest
    have partner -1. Swap the arguments for the fraction over B. ``paper`` convention: over
    the ``min(n_a, n_b)`` matched pairs (see the module docstring).
    """

    fraction_shared: float
    """n_shared / denominator under ``criterion`` (default ``both``: matched with cosine >
    threshold by encoder AND decoder)."""
    n_shared: int
    """Number of shared latents of A (``paper`` convention: shared assignment positions)."""
    n_latents: int
    """Latents of A."""
    n_latents_b: int
    """Latents of B."""
    criterion: str
    """The criterion behind ``fraction_shared``, ``n_shared`` and ``shared`` (one of
    :data:`CRITERIA`)."""
    convention: str
    """``corrected`` or ``paper`` (one of :data:`CONVENTIONS`)."""
    denominator: int
    """Denominator of every fraction: ``n_latents`` (corrected) or ``min(n_a, n_b)``
    (paper)."""
    fraction_by_criterion: dict[str, float]
    """The shared fraction under every criterion of :data:`CRITERIA` (same matchings, same
    convention), so a figure's criterion and the headline one can be reported side by side."""
    fraction_same_partner: float
    """Looser variant: fraction of A's latents whose encoder and decoder matchings pick the
    same latent of B (no threshold)."""
    mean_matched_decoder_cosine: float
    """PW-MCC: mean decoder cosine over matched latents of A (no threshold)."""
    mean_matched_encoder_cosine: float
    """Mean encoder cosine over matched latents of A (no threshold)."""
    shared: NDArray[np.bool_]
    """(n_a,) per-latent shared mask under ``criterion``. ``paper`` convention with
    ``n_a > n_b`` and ``both``: a shared position marks the decoder matching's latent of A
    at that position (the encoder condition may belong to another latent)."""
    enc_partner: Int64
    """(n_a,) encoder-matching partner in B, -1 where unmatched."""
    dec_partner: Int64
    """(n_a,) decoder-matching partner in B, -1 where unmatched."""
    enc_cos: Float64
    """(n_a,) encoder cosine with the encoder partner, NaN where unmatched."""
    dec_cos: Float64
    """(n_a,) decoder cosine with the decoder partner, NaN where unmatched."""
    threshold: float
    """Cosine threshold (strict: shared needs cos > threshold)."""
    method: str
    """Solver used: ``dense`` or ``sparse``."""
    candidates: int | None
    """Neighbours kept per row and per column (sparse), None for dense."""
    n_unmatched: int
    """Rows of the smaller SAE left without a partner by the encoder or the decoder
    matching because the candidate graph had no full matching (0 for dense). They are not
    shared and are left out of the mean cosines."""
    certified: bool | None
    """Sparse: True iff both matchings are certified optimal dense assignments; None for
    dense."""

    def scalars(self) -> dict[str, Any]:
        """The scalar fields (and the per-criterion fractions), for JSON records and reports."""
        return {
            name: (dict(v) if isinstance(v, dict) else v)
            for name in self._fields
            if not isinstance(v := getattr(self, name), np.ndarray)
        }


def unit_rows(x: object, *, name: str) -> Float64:
    """Rows of ``x`` (n, d) as float64 unit vectors; clear errors for NaN and zero rows."""
    if isinstance(x, torch.Tensor):
        arr = x.detach().to("cpu", torch.float64).numpy()
    else:
        arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ShapeError(
            f"{name} must be a 2-D (n_latents, d_in) array; got shape {arr.shape}. "
            "Pass one row per latent (encoder rows = W_enc.T, decoder rows = W_dec)."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"{name} is empty (shape {arr.shape}); pass at least one latent of dimension >= 1.")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise DegenerateInputError(
            f"{name} has {bad.size} row(s) with NaN/inf values (first: {bad[:5].tolist()}); "
            "fix or drop those latents before matching."
        )
    norms = np.linalg.norm(arr, axis=1)
    zero = np.flatnonzero(~(norms > 0))
    if zero.size:
        raise DegenerateInputError(
            f"{name} has {zero.size} all-zero row(s) (first: {zero[:5].tolist()}) that cannot be "
            "normalised; drop those latents (e.g. dead latents with zeroed weights) first."
        )
    return arr / norms[:, None]


def match_rows(
    a: object,
    b: object,
    *,
    method: Method = "auto",
    candidates: int = 64,
    certify: bool = True,
    max_refine_rounds: int = 5,
) -> RowMatching:
    """Hungarian matching of rows of ``a`` (n_a, d) to rows of ``b`` (n_b, d) by cosine.

    Maximises the total signed cosine over one-to-one matchings of min(n_a, n_b) pairs.
    See the module docstring for the dense and sparse solvers.
    """
    ua, ub = unit_rows(a, name="a"), unit_rows(b, name="b")
    _check_pair(ua, ub, "a", "b")
    _check_options(method, candidates, max_refine_rounds)
    return _match_unit(
        ua,
        ub,
        method=_resolve(method, ua.shape[0], ub.shape[0]),
        candidates=candidates,
        certify=certify,
        max_refine_rounds=max_refine_rounds,
    )


def check_criterion(criterion: object) -> str:
    """``criterion`` if it is one of :data:`CRITERIA`, else a :class:`ConfigError`."""
    if not isinstance(criterion, str) or criterion not in CRITERIA:
        raise ConfigError(
            f"criterion={criterion!r} is invalid; use one of {', '.join(map(repr, CRITERIA))} "
            "(headline rule; model/architecture figures; per-layer figure)."
        )
    return criterion


def check_convention(convention: object) -> str:
    """``convention`` if it is one of :data:`CONVENTIONS`, else a :class:`ConfigError`."""
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        raise ConfigError(f"convention={convention!r} is invalid; use one of {', '.join(map(repr, CONVENTIONS))}.")
    return convention


def seed_overlap(
    enc_a: object,
    dec_a: object,
    enc_b: object,
    dec_b: object,
    *,
    threshold: float = 0.7,
    criterion: Criterion = "both",
    convention: Convention = "corrected",
    method: Method = "auto",
    candidates: int = 64,
    certify: bool = True,
    max_refine_rounds: int = 5,
) -> OverlapResult:
    """Fraction of SAE A's latents shared with SAE B (Paulo & Belrose 2025, Sec. 3).

    Args:
        enc_a, dec_a: (n_a, d_in) encoder rows (``W_enc.T``) and decoder rows (``W_dec``)
            of SAE A; numpy arrays or torch tensors (float64 internally).
        enc_b, dec_b: (n_b, d_in) the same for SAE B; n_b may differ from n_a.
        threshold: cosine in [-1, 1]; a matched cosine counts iff it exceeds it (strictly).
            The paper uses 0.7.
        criterion: which cosines decide "shared" (:data:`CRITERIA`): ``both`` (headline:
            encoder-matching AND decoder-matching cosine > threshold), ``decoder_only``
            (model and architecture figures), ``decoder_partner_both`` (per-layer figure:
            encoder and decoder cosine of the *decoder* partner). ``fraction_by_criterion``
            holds all three whatever is chosen.
        convention: ``corrected`` (float64, per latent of A, denominator n_a) or ``paper``
            (the authors' float32 cosines, dense Hungarian, denominator min(n_a, n_b),
            conditions combined by assignment position); see the module docstring.
        method: ``dense``, ``sparse``, or ``auto`` (dense up to 4096 x 4096 pairs). The
            ``paper`` convention is dense only (``auto`` means dense there).
        candidates: sparse only, neighbours kept per row and per column.
        certify: sparse only, run the LP-duality optimality certificate (cheap).
        max_refine_rounds: sparse only, re-solves after adding violating edges.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not -1.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold={threshold!r} is not a cosine; use a number in [-1, 1] (the paper uses 0.7).")
    check_criterion(criterion)
    check_convention(convention)
    _check_options(method, candidates, max_refine_rounds)
    ea, da = unit_rows(enc_a, name="enc_a"), unit_rows(dec_a, name="dec_a")
    eb, db = unit_rows(enc_b, name="enc_b"), unit_rows(dec_b, name="dec_b")
    for (x, nx), (y, ny) in (((ea, "enc_a"), (da, "dec_a")), ((eb, "enc_b"), (db, "dec_b"))):
        if x.shape != y.shape:
            raise ShapeError(
                f"{nx} {x.shape} and {ny} {y.shape} must have the same shape (one encoder and one "
                "decoder row per latent); pass W_enc.T and W_dec of the same SAE."
            )
    _check_pair(ea, eb, "enc_a", "enc_b")
    if convention == "paper":
        if method == "sparse":
            raise ConfigError(
                "convention='paper' is the authors' dense float32 Hungarian; use method='dense' "
                "or 'auto' (the sparse solver works on exact float64 cosines)."
            )
        raw = [_float32_rows(x) for x in (enc_a, dec_a, enc_b, dec_b)]
        return _paper_overlap(*raw, threshold=float(threshold), criterion=criterion)
    n_a, n_b = ea.shape[0], eb.shape[0]
    used = _resolve(method, n_a, n_b)
    kw = dict(method=used, candidates=candidates, certify=certify, max_refine_rounds=max_refine_rounds)
    enc = _match_unit(ea, eb, **kw)  # type: ignore[arg-type]  # kw holds _match_unit keywords of mixed types
    dec = _match_unit(da, db, **kw)  # type: ignore[arg-type]  # kw holds _match_unit keywords of mixed types

    # encoder cosine of each latent with its *decoder* partner (per-layer figure's criterion)
    enc_at_dec = np.full(n_a, np.nan)
    dm = dec.partner >= 0
    enc_at_dec[dm] = np.einsum("ij,ij->i", ea[dm], eb[dec.partner[dm]])
    with np.errstate(invalid="ignore"):
        enc_ok = (enc.partner >= 0) & (enc.cos > threshold)
        dec_ok = dm & (dec.cos > threshold)
        masks = {
            "both": enc_ok & dec_ok,
            "decoder_only": dec_ok,
            "decoder_partner_both": dec_ok & (enc_at_dec > threshold),
        }
    assert set(masks) == set(CRITERIA)
    shared = masks[criterion]
    same = (enc.partner >= 0) & (enc.partner == dec.partner)
    n_shared = int(shared.sum())
    if used == "sparse":
        if n_a <= n_b:
            n_unmatched = int(((enc.partner < 0) | (dec.partner < 0)).sum())
        else:
            covered = np.zeros(n_b, dtype=bool)
            ok = enc.partner >= 0
            covered[enc.partner[ok]] = True
            covered_dec = np.zeros(n_b, dtype=bool)
            covered_dec[dec.partner[dec.partner >= 0]] = True
            n_unmatched = int((~(covered & covered_dec)).sum())
        certified: bool | None = None if not certify else bool(enc.certified) and bool(dec.certified)
    else:
        n_unmatched, certified = 0, None
    return OverlapResult(
        fraction_shared=n_shared / n_a,
        n_shared=n_shared,
        n_latents=n_a,
        n_latents_b=n_b,
        criterion=criterion,
        convention="corrected",
        denominator=n_a,
        fraction_by_criterion={c: int(masks[c].sum()) / n_a for c in CRITERIA},
        fraction_same_partner=float(same.sum()) / n_a,
        mean_matched_decoder_cosine=_nanmean(dec.cos),
        mean_matched_encoder_cosine=_nanmean(enc.cos),
        shared=shared,
        enc_partner=enc.partner,
        dec_partner=dec.partner,
        enc_cos=enc.cos,
        dec_cos=dec.cos,
        threshold=float(threshold),
        method=used,
        candidates=candidates if used == "sparse" else None,
        n_unmatched=n_unmatched,
        certified=certified,
    )


def _float32_rows(x: object) -> NDArray[np.float32]:
    """Rows of ``x`` as float32 unit vectors, normalised in float32 (the authors' way);
    call after :func:`unit_rows` has validated ``x``."""
    if isinstance(x, torch.Tensor):
        arr = x.detach().to("cpu", torch.float32).numpy()
    else:
        arr = np.asarray(x, dtype=np.float32)
    return arr / np.linalg.norm(arr, axis=1, keepdims=True)


def _paper_overlap(
    ea: NDArray[np.float32],
    da: NDArray[np.float32],
    eb: NDArray[np.float32],
    db: NDArray[np.float32],
    *,
    threshold: float,
    criterion: str,
) -> OverlapResult:
    """The authors' computation (``convention="paper"``, module docstring), for every
    criterion: float32 cosine matrices, dense Hungarian, strict ``>`` against the float32
    threshold, denominator min(n_a, n_b), conditions combined by assignment position."""
    n_a, n_b = ea.shape[0], eb.shape[0]
    if n_a * n_b > DENSE_MAX_PAIRS:
        raise ResourceError(
            f"convention='paper' builds two dense {n_a} x {n_b} float32 cosine matrices "
            f"({2 * n_a * n_b * 4 / 2**30:.1f} GiB, O(n^3) Hungarian); use convention='corrected', which can "
            "solve sparsely."
        )
    t32 = np.float32(threshold)
    c_enc = ea @ eb.T  # (n_a, n_b) float32
    c_dec = da @ db.T
    # row indices come back sorted, so position k is the k-th matched row of A in each matching
    r_enc, k_enc = linear_sum_assignment(c_enc, maximize=True)
    r_dec, k_dec = linear_sum_assignment(c_dec, maximize=True)
    m = int(r_dec.size)  # min(n_a, n_b): the number of matched pairs
    enc_ok = c_enc[r_enc, k_enc] > t32  # by position
    dec_ok = c_dec[r_dec, k_dec] > t32
    by_position = {
        "both": enc_ok & dec_ok,
        "decoder_only": dec_ok,
        "decoder_partner_both": dec_ok & (c_enc[r_dec, k_dec] > t32),
    }
    assert set(by_position) == set(CRITERIA)
    shared = np.zeros(n_a, dtype=bool)
    shared[r_dec[by_position[criterion]]] = True
    enc_partner = np.full(n_a, -1, dtype=np.int64)
    dec_partner = np.full(n_a, -1, dtype=np.int64)
    enc_cos = np.full(n_a, np.nan)
    dec_cos = np.full(n_a, np.nan)
    enc_partner[r_enc], enc_cos[r_enc] = k_enc, c_enc[r_enc, k_enc].astype(np.float64)
    dec_partner[r_dec], dec_cos[r_dec] = k_dec, c_dec[r_dec, k_dec].astype(np.float64)
    same = (enc_partner >= 0) & (enc_partner == dec_partner)
    n_shared = int(by_position[criterion].sum())
    return OverlapResult(
        fraction_shared=n_shared / m,
        n_shared=n_shared,
        n_latents=n_a,
        n_latents_b=n_b,
        criterion=criterion,
        convention="paper",
        denominator=m,
        fraction_by_criterion={c: int(by_position[c].sum()) / m for c in CRITERIA},
        fraction_same_partner=float(same.sum()) / m,
        mean_matched_decoder_cosine=_nanmean(dec_cos),
        mean_matched_encoder_cosine=_nanmean(enc_cos),
        shared=shared,
        enc_partner=enc_partner,
        dec_partner=dec_partner,
        enc_cos=enc_cos,
        dec_cos=dec_cos,
        threshold=float(threshold),
        method="dense",
        candidates=None,
        n_unmatched=0,
        certified=None,
    )


# --------------------------------------------------------------------------- helpers


def _nanmean(x: Float64) -> float:
    ok = ~np.isnan(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def _check_pair(a: Float64, b: Float64, name_a: str, name_b: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ShapeError(
            f"{name_a} has d_in={a.shape[1]} but {name_b} has d_in={b.shape[1]}; seed overlap "
            "compares SAEs trained on the same activations, so d_in must agree."
        )


def _check_options(method: object, candidates: object, max_refine_rounds: object) -> None:
    if method not in ("auto", "dense", "sparse"):
        raise ConfigError(f"method={method!r} is invalid; use 'auto', 'dense' or 'sparse'.")
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < 1:
        raise ConfigError(f"candidates={candidates!r} is invalid; use a positive integer (e.g. 64).")
    rounds_ok = isinstance(max_refine_rounds, (int, np.integer)) and not isinstance(max_refine_rounds, bool)
    if not rounds_ok or max_refine_rounds < 0:  # type: ignore[operator]  # rounds_ok proved it an integer
        raise ConfigError(f"max_refine_rounds={max_refine_rounds!r} is invalid; use an integer >= 0.")


def _resolve(method: str, n_a: int, n_b: int) -> str:
    if method == "auto":
        return "dense" if n_a * n_b <= DENSE_AUTO_MAX_PAIRS else "sparse"
    return method


def _match_unit(
    a: Float64, b: Float64, *, method: str, candidates: int, certify: bool, max_refine_rounds: int
) -> RowMatching:
    if method == "dense":
        return _dense_match(a, b)
    if a.shape[0] <= b.shape[0]:
        return _sparse_match(a, b, candidates=int(candidates), certify=certify, max_refine_rounds=max_refine_rounds)
    # More rows than columns: solve the transposed problem so every row of the smaller
    # side can be matched, then read the partners back from A's side.
    t = _sparse_match(b, a, candidates=int(candidates), certify=certify, max_refine_rounds=max_refine_rounds)
    partner = np.full(a.shape[0], -1, dtype=np.int64)
    cos = np.full(a.shape[0], np.nan)
    ok = t.partner >= 0
    partner[t.partner[ok]] = np.flatnonzero(ok)
    cos[t.partner[ok]] = t.cos[ok]
    return t._replace(partner=partner, cos=cos)


def _dense_match(a: Float64, b: Float64) -> RowMatching:
    n_a, n_b = a.shape[0], b.shape[0]
    if n_a * n_b > DENSE_MAX_PAIRS:
        raise ResourceError(
            f"method='dense' would build a {n_a} x {n_b} float64 cosine matrix "
            f"({n_a * n_b * 8 / 2**30:.1f} GiB, O(n^3) Hungarian); use method='sparse' (or 'auto')."
        )
    c = a @ b.T
    rows, cols = linear_sum_assignment(c, maximize=True)
    partner = np.full(n_a, -1, dtype=np.int64)
    cos = np.full(n_a, np.nan)
    partner[rows] = cols
    cos[rows] = c[rows, cols]
    return RowMatching(
        partner=partner,
        cos=cos,
        method="dense",
        n_unmatched=0,
        certified=None,
        refine_rounds=0,
        n_candidate_edges=n_a * n_b,
    )


@contextlib.contextmanager
def _full_fp32_matmul() -> Iterator[None]:
    """Keep float32 matmuls in true float32 (the rounding bound assumes it)."""
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


class _Candidates(NamedTuple):
    rows: Int64  # (E,) sorted by key rows * n_b + cols
    cols: Int64  # (E,)
    tau: Float64  # (n_a,) k-th best float32 cosine of each row: bounds its non-candidates
    sigma: Float64  # (n_b,) best float32 non-candidate cosine of each column
    complete: bool  # every pair is a candidate


def _candidate_graph(a32: torch.Tensor, b32: torch.Tensor, k: int) -> _Candidates:
    """The top-``k`` columns of every row (float32, chunked over rows so at most
    ~_CHUNK_PAIRS similarities exist at once), plus the bounds the certificate needs: each
    row's k-th best cosine and each column's best cosine outside the candidate edges."""
    n_a, n_b = a32.shape[0], b32.shape[0]
    chunk = max(1, min(n_a, _CHUNK_PAIRS // n_b))
    cols, taus = [], []
    sigma = torch.full((n_b,), -torch.inf)
    bt = b32.T.contiguous()
    for s in range(0, n_a, chunk):
        c = a32[s : s + chunk] @ bt  # (m, n_b)
        top = torch.topk(c, k, dim=1, sorted=False)
        cols.append(np.sort(top.indices.numpy().astype(np.int64), axis=1).ravel())
        taus.append(top.values.min(dim=1).values.numpy())
        if k < n_b:
            c.scatter_(1, top.indices, -torch.inf)
            sigma = torch.maximum(sigma, torch.amax(c, dim=0))
        del c
    rows = np.repeat(np.arange(n_a, dtype=np.int64), k)
    return _Candidates(
        rows=rows,
        cols=np.concatenate(cols),
        tau=np.concatenate(taus).astype(np.float64),
        sigma=sigma.numpy().astype(np.float64),
        complete=k >= n_b,
    )


def _not_in(new: Int64, keys: Int64) -> Int64:
    """Unique values of ``new`` absent from the sorted unique array ``keys``."""
    new = np.unique(new)
    if keys.size == 0 or new.size == 0:
        return new
    idx = np.minimum(np.searchsorted(keys, new), keys.size - 1)
    return new[keys[idx] != new]


def _edge_cos(a: Float64, b: Float64, rows: Int64, cols: Int64) -> Float64:
    """Exact float64 cosines of the edges (rows sorted ascending): a sampled dense-dense
    matmul (``torch.sparse.sampled_addmm``) touches only the E requested dot products."""
    n_a = a.shape[0]
    if rows.size == 0:
        return np.empty(0)
    crow = np.searchsorted(rows, np.arange(n_a + 1, dtype=np.int64)).astype(np.int64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
        pattern = torch.sparse_csr_tensor(
            torch.from_numpy(crow),
            torch.from_numpy(np.ascontiguousarray(cols)),
            torch.zeros(rows.size, dtype=torch.float64),
            size=(n_a, b.shape[0]),
            check_invariants=False,
        )
        out = torch.sparse.sampled_addmm(pattern, torch.from_numpy(a), torch.from_numpy(b).T, beta=0.0)
    return out.values().numpy().copy()


def _solve_sparse(n_a: int, n_b: int, rows: Int64, cols: Int64, cos: Float64) -> Int64:
    """Max-cardinality, then max-total-cosine matching of rows on the candidate graph.

    Each row i also gets a private dummy column (cost ``penalty``) so a full matching always
    exists; ``penalty > 2 * n_a + 1`` makes covering one more row with a real edge always
    worth more than any gain in cosine (real edges cost 2 - cos in [1, 3], never 0).
    """
    penalty = 4.0 * n_a + 10.0
    data = np.concatenate([2.0 - cos, np.full(n_a, penalty)])
    r = np.concatenate([rows, np.arange(n_a, dtype=np.int64)])
    c = np.concatenate([cols, n_b + np.arange(n_a, dtype=np.int64)])
    graph = sp.csr_matrix((data, (r, c)), shape=(n_a, n_b + n_a))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    partner = np.full(n_a, -1, dtype=np.int64)
    real = col_ind < n_b
    partner[row_ind[real]] = col_ind[real]
    return partner


def _column_prices(n_b: int, src: Int64, dst: Int64, w: Float64) -> Float64 | None:
    """Shortest distances from a virtual root with 0-arcs to every column (Bellman-Ford,
    vectorised Jacobi sweeps). None if it does not settle within n_b + 1 sweeps (a
    negative cycle, i.e. the matching is not optimal on its own graph)."""
    dist = np.zeros(n_b)
    if src.size == 0:
        return dist
    order = np.argsort(dst, kind="stable")
    src, dst, w = src[order], dst[order], w[order]
    starts = np.flatnonzero(np.concatenate([[True], dst[1:] != dst[:-1]]))
    targets = dst[starts]
    for _ in range(n_b + 1):
        best_in = np.minimum.reduceat(dist[src] + w, starts)
        new = np.minimum(dist[targets], best_in)
        if not (dist[targets] - new > 1e-12).any():
            return dist
        dist[targets] = new
    return None


def _certificate(
    a: Float64, b: Float64, cand: _Candidates, cos: Float64, partner: Int64, keys: Int64, per_row: int
) -> tuple[bool, Int64, Int64]:
    """LP-duality check that ``partner`` (all rows matched) is an optimal dense assignment.

    Dual of min sum(-cos) over row-covering matchings: row prices a_i, column prices
    b_j <= 0 (= 0 on free columns) with a_i + b_j <= -cos_ij for all pairs and equality on
    the matching. Column prices are shortest-path distances on the residual graph (arc
    M(i) -> j of weight cos_iM(i) - cos_ij for every candidate edge); a_i follows from
    equality. Dual feasibility on a pair reads ``cos_ij + b_j <= u_i`` with
    ``u_i = cos_iM(i) + b_M(i)``. Returns (ok, violating rows, violating cols), at most
    ``per_row`` violators per row (the largest violations).
    """
    n_a, n_b = a.shape[0], b.shape[0]
    matched_key = np.arange(n_a, dtype=np.int64) * np.int64(n_b) + partner
    cm = cos[np.searchsorted(keys, matched_key)]
    off = cand.cols != partner[cand.rows]
    prices = _column_prices(n_b, partner[cand.rows[off]], cand.cols[off], cm[cand.rows[off]] - cos[off])
    empty = np.empty(0, dtype=np.int64)
    if prices is None:
        return False, empty, empty
    free = np.ones(n_b, dtype=bool)
    free[partner] = False
    if (prices[free] < -_DUAL_TOL).any():
        return False, empty, empty
    u = cm + prices[partner]
    if cand.complete:
        return True, empty, empty
    # Bound every non-candidate pair: cos_ij <= min(tau_i, sigma_j) + eps, where eps bounds
    # the float32 error of a dot product of unit vectors (conversion + d-term sum).
    eps = (a.shape[1] + 4) * 2.0**-24 * 1.01
    tau, sigma = cand.tau + eps, cand.sigma + eps
    order = np.argsort(sigma)
    s_sorted, p_sorted = sigma[order], prices[order]
    prefix = np.maximum.accumulate(s_sorted + p_sorted)  # max over sigma_j < tau of sigma_j + b_j
    suffix = np.maximum.accumulate(p_sorted[::-1])[::-1]  # max over sigma_j >= tau of b_j
    k = np.searchsorted(s_sorted, tau)
    bound = np.full(n_a, -np.inf)
    low = k > 0
    bound[low] = prefix[k[low] - 1]
    high = k < n_b
    bound[high] = np.maximum(bound[high], tau[high] + suffix[k[high]])
    check = np.flatnonzero(bound > u - _DUAL_TOL)
    bad_r, bad_c = [], []
    step = max(1, _CHUNK_PAIRS // (2 * n_b))
    for s in range(0, check.size, step):
        r = check[s : s + step]
        slack = a[r] @ b.T + prices[None, :] - u[r, None]
        if per_row < n_b:  # keep only the most violating columns of each row
            top = np.argpartition(-slack, per_row - 1, axis=1)[:, :per_row]
            ri = np.repeat(np.arange(r.size), per_row)
            ci = top.ravel()
            hit = slack[ri, ci] > _DUAL_TOL
            ri, ci = ri[hit], ci[hit]
        else:
            ri, ci = np.nonzero(slack > _DUAL_TOL)
        bad_r.append(r[ri])
        bad_c.append(ci.astype(np.int64))
    vr = np.concatenate(bad_r) if bad_r else empty
    vc = np.concatenate(bad_c) if bad_c else empty
    return vr.size == 0, vr, vc


def _top_columns(a: Float64, b: Float64, rows: Int64, k: int) -> tuple[Int64, Int64]:
    """(rows, cols) of the top-``k`` float64 cosines of each of ``rows``."""
    n_b = b.shape[0]
    out_r, out_c = [], []
    step = max(1, _CHUNK_PAIRS // (2 * n_b))
    for s in range(0, rows.size, step):
        r = rows[s : s + step]
        c = a[r] @ b.T
        top = np.argpartition(-c, k - 1, axis=1)[:, :k] if k < n_b else np.tile(np.arange(n_b), (r.size, 1))
        out_r.append(np.repeat(r, top.shape[1]))
        out_c.append(top.ravel().astype(np.int64))
    return np.concatenate(out_r), np.concatenate(out_c)


def _sparse_match(a: Float64, b: Float64, *, candidates: int, certify: bool, max_refine_rounds: int) -> RowMatching:
    """Sparse candidate-graph Hungarian for n_a <= n_b (see module docstring)."""
    n_a, n_b = a.shape[0], b.shape[0]
    with _full_fp32_matmul():
        a32 = torch.from_numpy(a.astype(np.float32))
        b32 = torch.from_numpy(b.astype(np.float32))
        cand = _candidate_graph(a32, b32, min(candidates, n_b))
    rows, cols = cand.rows, cand.cols
    cos = _edge_cos(a, b, rows, cols)
    rounds = 0
    certified: bool | None = None
    while True:
        partner = _solve_sparse(n_a, n_b, rows, cols, cos)
        if not certify:
            break
        keys = rows * np.int64(n_b) + cols
        unmatched = np.flatnonzero(partner < 0)
        if unmatched.size:
            # No full matching within candidates: widen the lists of the unmatched rows
            # (doubling each round) and solve again.
            widen = min(n_b, candidates << (rounds + 1))
            while True:
                vr, vc = _top_columns(a, b, unmatched, widen)
                new_keys = _not_in(vr * np.int64(n_b) + vc, keys)
                if new_keys.size or widen >= n_b:
                    break
                widen = min(n_b, 2 * widen)
        else:
            ok, vr, vc = _certificate(
                a, b, cand._replace(rows=rows, cols=cols), cos, partner, keys, per_row=min(candidates, n_b)
            )
            if ok:
                certified = True
                break
            new_keys = _not_in(vr * np.int64(n_b) + vc, keys)
        if new_keys.size == 0 or rounds >= max_refine_rounds:
            certified = False
            break
        rounds += 1
        new_cos = _edge_cos(a, b, new_keys // n_b, new_keys % n_b)
        keys = np.concatenate([keys, new_keys])
        order = np.argsort(keys, kind="stable")
        keys, cos = keys[order], np.concatenate([cos, new_cos])[order]
        rows, cols = keys // n_b, keys % n_b
    matched = partner >= 0
    out_cos = np.full(n_a, np.nan)
    keys = rows * np.int64(n_b) + cols
    out_cos[matched] = cos[np.searchsorted(keys, np.flatnonzero(matched) * np.int64(n_b) + partner[matched])]
    return RowMatching(
        partner=partner,
        cos=out_cos,
        method="sparse",
        n_unmatched=int((~matched).sum()),
        certified=certified,
        refine_rounds=rounds,
        n_candidate_edges=int(rows.size),
    )
