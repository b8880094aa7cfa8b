"""Experiments: pair two SAE feature spaces and score them (Lan et al. 2024, Sec. 3-4).

Inputs are :class:`FeatureSpace` objects (one SAE at one layer of one model, run on the
shared tokens): sparse codes, decoder rows, and what the token filters need. Outputs are
plain records (dicts of numbers) that claims and reports read.

Whole-space pipeline (Sec. 3, App. D-F), in the order of the authors' code:
many-to-1 max-correlation pairs -> non-concept filter -> shared-top-token filter -> 1-1 rule
-> correlation > threshold -> SVCCA and RSA of the paired decoder rows with shuffled-pairing
nulls.

Semantic pipeline (Sec. 4.3): concept features on each side (Table 4 keywords, whole-word
rule) -> pairing restricted to the concept features -> 1-1 rule -> SVCCA/RSA with Test 1
(shuffled pairing) and Test 2 (random same-size subsets paired the same way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from harness.pairing.concepts import (
    concept_features,
    filter_nonconcept,
    filter_shared_token,
    nonconcept_mask,
    top_positions,
    top_strings,
)
from harness.config import Procedure
from harness.errors import ConfigError, DegenerateInputError, ResourceError, ShapeError
from harness.pairing.matching import (
    MaxCorrelation,
    Pairs,
    correlation_submatrix,
    many_to_one_pairs,
    max_correlation,
    one_to_one,
    pair_within,
    threshold_pairs,
    top_pairs,
)
from harness.scoring.effects import cell_seed, effect_fields, excess_over_chance, p_plus_one
from harness.scoring.nulls import permutation_test, random_subset_test, size_matched_test
from harness.vocab import OneToOneRule


@dataclass
class FeatureSpace:
    """One SAE's features on the run's token positions.

    Attributes:
        name: label, e.g. "pythia-70m/L3".
        codes: (positions, F) sparse codes on the shared positions.
        decoder: (F, d_model) decoder rows, float64.
        tokens: (n_samples, seq_len) token ids of the run.
        sample_index, position_index: (positions,) location of each flattened position.
        vocab: decoded string per token id.
        junk_tokens: non-concept strings for this space (procedure list + tokenizer specials).
        top_k: positions per feature for the token filters.
        require_active: see :func:`harness.pairing.concepts.top_positions`.
    """

    name: str
    codes: sp.csr_matrix
    decoder: NDArray[np.float64]
    tokens: NDArray[np.int64]
    sample_index: NDArray[np.int64]
    position_index: NDArray[np.int64]
    vocab: Sequence[str]
    junk_tokens: tuple[str, ...]
    top_k: int = 5
    require_active: bool = True
    _top: NDArray[np.int64] | None = field(default=None, repr=False)
    _strings: list[tuple[str, ...]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.codes = sp.csr_matrix(self.codes)
        self.decoder = np.asarray(self.decoder, dtype=np.float64)
        if self.codes.shape[1] != self.decoder.shape[0]:
            raise ShapeError(
                f"{self.name}: codes have {self.codes.shape[1]} features but the decoder has "
                f"{self.decoder.shape[0]} rows; codes and decoder must come from the same SAE."
            )
        if self.sample_index.shape[0] != self.codes.shape[0]:
            raise ShapeError(f"{self.name}: {self.codes.shape[0]} code rows vs {self.sample_index.shape[0]} positions.")

    @property
    def n_features(self) -> int:
        return int(self.codes.shape[1])

    @property
    def top(self) -> NDArray[np.int64]:
        """(F, top_k) top activating flattened positions (cached)."""
        if self._top is None:
            self._top = top_positions(self.codes, k=self.top_k, require_active=self.require_active)
        return self._top

    @property
    def strings(self) -> list[tuple[str, ...]]:
        """Decoded top-token strings per feature (cached)."""
        if self._strings is None:
            flat = self.tokens[self.sample_index, self.position_index]
            self._strings = top_strings(self.top, flat, self.vocab)
        return self._strings

    def with_shuffled_positions(self, seed: int) -> FeatureSpace:
        """Negative control: the same features, misaligned with the other model's positions.

        Rows of ``codes`` are permuted together with the position bookkeeping, so each
        feature keeps its own top tokens but row i no longer is the token the other model saw.
        """
        perm = np.random.default_rng(seed).permutation(self.codes.shape[0])
        return FeatureSpace(name=f"{self.name} (positions shuffled)", codes=self.codes[perm], decoder=self.decoder,
                            tokens=self.tokens, sample_index=self.sample_index[perm],
                            position_index=self.position_index[perm], vocab=self.vocab,
                            junk_tokens=self.junk_tokens, top_k=self.top_k, require_active=self.require_active)

    def junk_mask(self) -> NDArray[np.bool_]:
        return nonconcept_mask(self.strings, self.junk_tokens)

    def concept(self, keywords: Sequence[str], *, rule: str = "punctuation",
                order: str = "ascending") -> NDArray[np.int64]:
        """Concept features (Sec. 4.3) among the features active at least once on the run's
        tokens. A never-active feature has no top positions of its own (under the paper's
        topk-over-all-positions they are arbitrary ones), so it is left out under both
        procedures: otherwise every dead latent joins whatever concept document 0 starts with.

        ``rule`` / ``order``: see :func:`harness.pairing.concepts.concept_features`. Under
        ``python_set`` the set is built from all matching ids (never-active ones included, as
        the authors' set held them) and those are dropped afterwards, so the remaining ids keep
        the relative order they had in the authors' list."""
        feats = concept_features(self.top, tokens=self.tokens, sample_index=self.sample_index,
                                 position_index=self.position_index, vocab=self.vocab, keywords=keywords,
                                 rule=rule, order=order)
        live = sp.csr_matrix(self.codes).getnnz(axis=0) > 0
        return feats[live[feats]]


def _positive(value: int, name: str) -> int:
    """``value`` if it is a positive int, else ConfigError (0 used to mean "the default")."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name}={value!r}: use a positive number of draws, or None for the procedure's default.")
    return int(value)


def _max_k(procedure: Procedure, n: int) -> int | None:
    if procedure.svcca_max_k_fraction is None:
        return None
    return max(1, int(math.floor(procedure.svcca_max_k_fraction * n)))


def score_pairs(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    pairs: Pairs,
    procedure: Procedure,
    *,
    n_permutations: int,
    seed_offset: int = 0,
    identity: Sequence[object] | None = None,
    null_device: str | None = None,
) -> dict[str, Any]:
    """SVCCA and RSA of the paired decoder rows with shuffled-pairing nulls (Test 1).

    Returns a record with observed scores, null means, p-values (the procedure's rule in
    ``*_p``; the judging +1 rule in ``*_p_plus_one``; the paper's rule as ``"k/N"`` in
    ``*_p_paper``), effects over chance (``*_excess``, ``*_null_std``, ``*_z``; see
    :mod:`harness.scoring.effects`), k used and n. A pair set too small to score gives NaN
    scores and a ``skipped`` reason (never a silent number).
    ``null_device``: None = the numpy nulls (:func:`harness.scoring.nulls.permutation_test`); a torch
    device ("cpu", "cuda") = the batched nulls of :mod:`harness.scoring.device_nulls` (same permutations,
    same numbers to ~1e-13; RSA there is not limited to RSA_MAX_ROWS).

    The nulls are seeded from the cell's identity (:func:`harness.scoring.effects.cell_seed` of
    ``identity`` -- e.g. ``("grid", variant)`` -- plus both space names, which carry model and
    layer), so no two cells share their permutations; ``seed_offset`` only separates variants
    of callers that pass no ``identity``.
    """
    n = len(pairs)
    rec: dict[str, Any] = {"n_pairs": n, "pairs_history": list(pairs.history)}
    nan_fields = {f"{m}_{f}": math.nan for m in ("svcca", "rsa") for f in ("excess", "null_std", "z", "p_plus_one")}
    if n < max(procedure.min_subspace_size, 3):
        rec.update(svcca=math.nan, rsa=math.nan, svcca_p=math.nan, rsa_p=math.nan,
                   svcca_null_mean=math.nan, rsa_null_mean=math.nan, **nan_fields, skipped=f"only {n} pairs")
        return rec
    ident = (*(identity if identity is not None else ("offset", seed_offset)), space_a.name, space_b.name)
    a = space_a.decoder[pairs.a_idx]
    b = space_b.decoder[pairs.b_idx]
    rec.update(nan_fields)
    test: Any = permutation_test
    if null_device is not None:
        from functools import partial

        from harness.scoring.device_nulls import permutation_test_device

        test = partial(permutation_test_device, device=null_device)
    svcca_device_options = {} if null_device is None else {"basis_on_device": True}
    try:
        sv = test(a, b, metric="svcca", n_permutations=n_permutations,
                  seed=cell_seed(procedure.seed, *ident, "svcca"),
                  p_rule=procedure.p_rule, keep=procedure.svcca_keep, max_k=_max_k(procedure, n),
                  **svcca_device_options)
        rec.update(svcca=sv.observed, svcca_null_mean=sv.null_mean, svcca_p=sv.p_value,
                   svcca_k_a=sv.details["k_a"], svcca_k_b=sv.details["k_b"], svcca_seed=sv.seed,
                   **effect_fields("svcca", sv.observed, sv.null))
    except DegenerateInputError as exc:
        rec.update(svcca=math.nan, svcca_null_mean=math.nan, svcca_p=math.nan, svcca_error=str(exc))
    try:
        rs = test(a, b, metric="rsa", n_permutations=n_permutations,
                  seed=cell_seed(procedure.seed, *ident, "rsa"),
                  p_rule=procedure.p_rule, inner=procedure.rsa_inner)
        rec.update(rsa=rs.observed, rsa_null_mean=rs.null_mean, rsa_p=rs.p_value, rsa_seed=rs.seed,
                   **effect_fields("rsa", rs.observed, rs.null))
    except ResourceError as exc:  # too many pairs for an n x n RDM: reported, not crashed
        rec.update(rsa=math.nan, rsa_null_mean=math.nan, rsa_p=math.nan, rsa_error=str(exc))
    rec.update(n_permutations=n_permutations, p_rule=procedure.p_rule)
    rec["mean_pair_corr"] = float(np.mean(pairs.corr))
    return rec


def split_half(space_a: FeatureSpace, space_b: FeatureSpace, pairs: Pairs, procedure: Procedure, *,
               n_permutations: int, identity: Sequence[object]) -> dict[str, Any]:
    """SVCCA excess over chance of two random disjoint halves of ``pairs`` (each against its own
    shuffled-pairing null), for the split-half reliability of a grid of scores (U7): a grid whose
    halves disagree cannot say what does or does not track it. Halves too small to score give NaN."""
    n = len(pairs)
    half = n // 2
    out: dict[str, Any] = {"split_half_n": half}
    rng = np.random.default_rng(cell_seed(procedure.seed, "split half", *identity, space_a.name, space_b.name))
    order = rng.permutation(n)
    for i, idx in enumerate((order[:half], order[half:2 * half]), start=1):
        sub = Pairs(pairs.a_idx[idx], pairs.b_idx[idx], pairs.corr[idx], (*pairs.history, f"half {i}: {half}"))
        out[f"svcca_excess_half{i}"] = math.nan
        if half < max(procedure.min_subspace_size, 3):
            continue
        try:
            sv = permutation_test(space_a.decoder[sub.a_idx], space_b.decoder[sub.b_idx], metric="svcca",
                                  n_permutations=n_permutations,
                                  seed=cell_seed(procedure.seed, "split half null", i, *identity, space_a.name,
                                                 space_b.name),
                                  p_rule=procedure.p_rule, keep=procedure.svcca_keep, max_k=_max_k(procedure, half))
            out[f"svcca_excess_half{i}"] = excess_over_chance(sv.observed, sv.null_mean)
        except DegenerateInputError:
            pass
    return out


def random_partner_pairs(space_a: FeatureSpace, space_b: FeatureSpace, pairs: Pairs, procedure: Procedure, *,
                         seed: int) -> Pairs:
    """Filter-aware negative control (U1/U2): for each A feature of ``pairs``, a *random* B partner
    that passes the same token filters as a real partner -- live, not a non-concept feature, sharing
    a top-token string with the A feature (each as the procedure enables it) -- other than its real
    partner, drawn 1-1 (no B feature twice), A features in random order.

    The real pairs take the most correlated partner; these take any partner the token filters
    would accept. If the filters alone made paired decoders similar (App. F credits them for the
    high scores), this set would be significant too. The correlation threshold is not applied:
    choosing by correlation is the pairing itself (on a clean world only the real partner passes
    it). A features with no eligible partner are dropped (counted in the history)."""
    rng = np.random.default_rng(seed)
    ok_b = sp.csr_matrix(space_b.codes).getnnz(axis=0) > 0
    if procedure.filter_nonconcept:
        ok_b &= ~space_b.junk_mask()
    eligible = np.flatnonzero(ok_b)
    by_string: dict[str, set[int]] = {}
    if procedure.filter_shared_token:
        for e in eligible.tolist():
            for t in space_b.strings[e]:
                by_string.setdefault(t, set()).add(int(e))
    a_feats = np.asarray(pairs.a_idx, dtype=np.int64)
    real = np.asarray(pairs.b_idx, dtype=np.int64)
    used: set[int] = set()
    out_a, out_b = [], []
    for i in rng.permutation(a_feats.size):
        a = int(a_feats[i])
        if procedure.filter_shared_token:
            cands = set().union(*(by_string.get(t, set()) for t in space_a.strings[a]))
        else:
            cands = set(eligible.tolist())
        options = sorted(cands - used - {int(real[i])})
        if not options:
            continue
        j = int(options[int(rng.integers(len(options)))])
        used.add(j)
        out_a.append(a)
        out_b.append(j)
    ia, ib = np.asarray(out_a, dtype=np.int64), np.asarray(out_b, dtype=np.int64)
    corr = np.array([correlation_submatrix(space_a.codes, space_b.codes, ia[k:k + 1], ib[k:k + 1])[0, 0]
                     for k in range(ia.size)], dtype=np.float64)
    return Pairs(ia, ib, corr, (f"random partner passing the token filters: {ia.size} of {a_feats.size} A features",))


def pair_spaces(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    mc: MaxCorrelation | None = None,
    one_to_one_rule: OneToOneRule | None = None,
    token_filters: bool = True,
) -> tuple[Pairs, MaxCorrelation]:
    """Whole-space pairs under ``procedure`` (Sec. 3), optionally overriding the 1-1 rule
    (``"none"`` = many-to-1, App. E) or switching the token filters off (App. F)."""
    if mc is None:
        mc = max_correlation(space_a.codes, space_b.codes, dead=procedure.dead_features)
    pairs = many_to_one_pairs(mc)
    if token_filters and procedure.filter_nonconcept:
        pairs = filter_nonconcept(pairs, space_a.junk_mask(), space_b.junk_mask())
    if token_filters and procedure.filter_shared_token:
        pairs = filter_shared_token(pairs, space_a.strings, space_b.strings)
    rule = one_to_one_rule or procedure.one_to_one
    if rule == "hungarian":
        ua, ub = np.unique(pairs.a_idx), np.unique(pairs.b_idx)
        pairs = one_to_one(pairs, rule="hungarian",
                           corr_matrix=correlation_submatrix(space_a.codes, space_b.codes, ua, ub))
    else:
        pairs = one_to_one(pairs, rule=rule)
    pairs = threshold_pairs(pairs, min_corr=procedure.corr_threshold)
    return pairs, mc


def top_correlated_pairs(space_a: FeatureSpace, space_b: FeatureSpace, procedure: Procedure, *,
                         mc: MaxCorrelation, n: int, one_to_one_rule: OneToOneRule | None = None) -> Pairs:
    """The ``n`` most correlated pairs of the procedure's pairing with token filters and the
    correlation threshold off (negative controls: on misaligned tokens nothing passes them,
    and this set still exercises the statistic at the real pair count)."""
    pairs, _ = pair_spaces(space_a, space_b, procedure.replace(corr_threshold=-1.0), mc=mc,
                           one_to_one_rule=one_to_one_rule, token_filters=False)
    return top_pairs(pairs, n=int(n))


def compare_spaces(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    variants: Sequence[str] = ("one_to_one", "many_to_one", "unfiltered"),
    n_permutations: int | None = None,
    n_size_matched: int = 99,
    n_top_correlated: int | None = None,
    split_halves: bool = False,
    random_partners: bool = False,
    device: str = "cpu",
    null_device: str | None = None,
) -> dict[str, Any]:
    """Whole-space comparison of two SAEs (Figs. 2-3, 5-14): one record per variant.

    Variants: ``one_to_one`` (the main text), ``many_to_one`` (App. E), ``unfiltered``
    (1-1 without the token filters, App. F). ``n_size_matched`` random same-size subsets of
    the many-to-1 and the unfiltered pairs score the 1-1 set against its own pair count.
    ``n_top_correlated`` adds the variant ``top_correlated`` (for negative controls): the 1-1
    rule without token filters and without the correlation threshold, keeping the
    ``n_top_correlated`` most correlated pairs -- on misaligned tokens nothing passes the
    filters, and this is the set that still exercises the statistic at the real pair count.
    ``null_device``: see :func:`score_pairs` (also used for the size-matched draws).
    ``split_halves`` adds the 1-1 set's split-half excesses (:func:`split_half`); ``random_partners``
    the variant ``random_partner`` (:func:`random_partner_pairs`, a filter-aware control).
    """
    n_perm = procedure.n_permutations if n_permutations is None else _positive(n_permutations, "n_permutations")
    # device: the dense pairing path runs on the GPU in the gpu tier (64 TFLOP per Pythia pair)
    mc = max_correlation(space_a.codes, space_b.codes, dead=procedure.dead_features, device=device)
    out: dict[str, Any] = {
        "a": space_a.name, "b": space_b.name, "procedure": procedure.name,
        "mean_max_corr": mc.mean_max_corr_b, "n_features_a": space_a.n_features,
        "n_features_b": space_b.n_features, "dead_a": int(mc.dead_a.sum()), "dead_b": int(mc.dead_b.sum()),
        "n_tokens": mc.n_tokens, "backend": mc.backend,
    }
    settings = {
        "one_to_one": {"one_to_one_rule": None, "token_filters": True},
        "many_to_one": {"one_to_one_rule": "none", "token_filters": True},
        "unfiltered": {"one_to_one_rule": None, "token_filters": False},
    }
    kept: dict[str, Pairs] = {}
    for variant in variants:
        pairs, _ = pair_spaces(space_a, space_b, procedure, mc=mc, **settings[variant])  # type: ignore[arg-type]  # settings hold pair_spaces keywords of mixed types
        kept[variant] = pairs
        out[variant] = score_pairs(space_a, space_b, pairs, procedure, n_permutations=n_perm,
                                   identity=("whole space", variant), null_device=null_device)
    if split_halves and "one_to_one" in kept:  # U7's split-half reliability
        out["one_to_one"].update(split_half(space_a, space_b, kept["one_to_one"], procedure, n_permutations=n_perm,
                                            identity=("whole space", "one_to_one")))
    if random_partners and "one_to_one" in kept:  # U1/U2's filter-aware control
        rp = random_partner_pairs(space_a, space_b, kept["one_to_one"], procedure,
                                  seed=cell_seed(procedure.seed, "random partner", space_a.name, space_b.name))
        out["random_partner"] = score_pairs(space_a, space_b, rp, procedure, n_permutations=n_perm,
                                            identity=("whole space", "random_partner"), null_device=null_device)
    if n_top_correlated is not None:
        pairs = top_correlated_pairs(space_a, space_b, procedure, mc=mc, n=n_top_correlated)
        out["top_correlated"] = score_pairs(space_a, space_b, pairs, procedure, n_permutations=n_perm,
                                            identity=("whole space", "top_correlated"), null_device=null_device)
    # App. E and F compare pair sets of different sizes; SVCCA rises as n falls, so the 1-1
    # (filtered) score is also compared with same-size random subsets of the larger set.
    if "one_to_one" in kept:
        for superset in ("many_to_one", "unfiltered"):
            if superset in kept:
                out[f"one_to_one_vs_{superset}_size_matched"] = size_matched(
                    space_a, space_b, kept["one_to_one"], out["one_to_one"].get("svcca", math.nan), kept[superset],
                    procedure, n_draws=n_size_matched,
                    seed=cell_seed(procedure.seed, "size matched", superset, space_a.name, space_b.name),
                    null_device=null_device)
    return out


def size_matched(space_a: FeatureSpace, space_b: FeatureSpace, pairs: Pairs, observed: float, superset: Pairs,
                 procedure: Procedure, *, n_draws: int, seed: int, null_device: str | None = None) -> dict[str, Any]:
    """SVCCA of ``pairs`` versus random subsets of ``superset`` with as many pairs (control
    for the pair-count bias of SVCCA; see :class:`harness.scoring.nulls.SizeMatchedResult`).
    ``null_device``: None = numpy draws one by one; a torch device = batched draws
    (:func:`harness.scoring.device_nulls.size_matched_test_device`, same subsets and numbers)."""
    rec: dict[str, Any] = {"n": len(pairs), "n_superset": len(superset)}
    if not np.isfinite(observed):
        return {**rec, "skipped": "observed score is NaN"}

    def score_rows(idx: NDArray[np.int64]) -> float:
        from harness.scoring.metrics import svcca

        try:
            return svcca(space_a.decoder[superset.a_idx[idx]], space_b.decoder[superset.b_idx[idx]],
                         keep=procedure.svcca_keep, max_k=_max_k(procedure, idx.size)).score
        except DegenerateInputError:
            return math.nan

    try:
        if null_device is None:
            res = size_matched_test(observed, score_rows, n=len(pairs), n_superset=len(superset), n_draws=n_draws,
                                    seed=seed, p_rule=procedure.p_rule)
        else:
            from harness.scoring.device_nulls import size_matched_test_device

            res = size_matched_test_device(observed, space_a.decoder[superset.a_idx], space_b.decoder[superset.b_idx],
                                           n=len(pairs), n_draws=n_draws, seed=seed, keep=procedure.svcca_keep,
                                           max_k=_max_k(procedure, len(pairs)), p_rule=procedure.p_rule,
                                           device=null_device)
    except DegenerateInputError as exc:
        return {**rec, "skipped": str(exc)}
    k = int(np.sum(res.draws >= res.observed))
    k_hold = int(np.sum(res.draws[1:] >= res.draws[0]))
    return {**rec, "observed": res.observed, "draws_mean": float(res.draws.mean()),
            "draws_std": float(res.draws.std(ddof=1)), "p": res.p_value, "holdout_p": res.holdout_p,
            "p_plus_one": p_plus_one(k, int(res.draws.size)),
            "holdout_p_plus_one": p_plus_one(k_hold, int(res.draws.size) - 1), "n_draws": int(res.draws.size)}


def compare_concept(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    category: str,
    keywords: Sequence[str],
    procedure: Procedure,
    *,
    n_permutations: int | None = None,
    n_random_subsets: int | None = None,
) -> dict[str, Any]:
    """Semantic-subspace comparison for one concept category (Tables 1, 2, 9).

    Test 1: shuffled pairing within the subspace. Test 2: random feature subsets of the same
    sizes (from all live features), paired by correlation within the subsets with the same
    1-1 rule, scored the same way.
    """
    if n_permutations is not None:
        _positive(n_permutations, "n_permutations")  # before any work
    python_set = procedure.semantic_column_order == "python_set"
    order = "python_set" if python_set else "ascending"
    feats_a = space_a.concept(keywords, rule=procedure.whole_word_rule, order=order)
    feats_b = space_b.concept(keywords, rule=procedure.whole_word_rule, order=order)
    rec: dict[str, Any] = {"category": category, "a": space_a.name, "b": space_b.name,
                           "procedure": procedure.name, "n_concept_a": int(feats_a.size),
                           "n_concept_b": int(feats_b.size)}
    if min(feats_a.size, feats_b.size) < procedure.min_subspace_size:
        rec.update(skipped=f"too few concept features ({feats_a.size}, {feats_b.size})", n_pairs=0)
        return rec
    rule = procedure.one_to_one
    # Paper: columns in the authors' list(set) order, and "first seen" walks B in that order.
    pairs = pair_within(space_a.codes, space_b.codes, feats_a, feats_b, rule=rule,
                        order="given" if python_set else "sorted")
    n_perm = procedure.n_permutations_semantic if n_permutations is None else n_permutations
    rec.update(score_pairs(space_a, space_b, pairs, procedure, n_permutations=n_perm, identity=("semantic", category)))
    if "skipped" in rec or not np.isfinite(rec.get("svcca", math.nan)):
        return rec
    live_a = np.flatnonzero(space_a.codes.getnnz(axis=0) > 0)
    live_b = np.flatnonzero(space_b.codes.getnnz(axis=0) > 0)
    n = len(pairs)
    max_k = _max_k(procedure, n)

    def score_subsets(ia: NDArray[np.int64], ib: NDArray[np.int64]) -> float:
        p = pair_within(space_a.codes, space_b.codes, ia, ib, rule=rule)
        if len(p) < max(procedure.min_subspace_size, 3):
            return math.nan
        from harness.scoring.metrics import svcca

        try:
            return svcca(space_a.decoder[p.a_idx], space_b.decoder[p.b_idx], keep=procedure.svcca_keep,
                         max_k=_max_k(procedure, len(p))).score
        except DegenerateInputError:
            return math.nan

    t2 = random_subset_test(rec["svcca"], score_subsets, size_a=int(feats_a.size), size_b=int(feats_b.size),
                            pool_a=live_a, pool_b=live_b, n_draws=n_random_subsets or procedure.n_random_subsets,
                            seed=cell_seed(procedure.seed, "test 2", category, space_a.name, space_b.name),
                            p_rule=procedure.p_rule)
    k2 = int(np.sum(t2.null >= t2.observed))
    rec.update(test2_null_mean=float(t2.null.mean()), test2_p=t2.p_value, test2_failed=t2.n_failed,
               test2_n=int(t2.null.size), test2_p_plus_one=p_plus_one(k2, int(t2.null.size)),
               test2_p_paper=f"{k2}/{t2.null.size}", test2_excess=excess_over_chance(t2.observed, float(t2.null.mean())),
               svcca_max_k=max_k)
    return rec
