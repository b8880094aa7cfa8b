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
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import NDArray

from harness.pairing.concepts import (
    filter_nonconcept,
    filter_shared_token_incidence,
)
from harness.config import Procedure
from harness.activations.encode import SaeCodes
from harness.errors import ConfigError, DegenerateInputError, ResourceError
from harness.pairing.exact import exact_max_correlation
from harness.pairing.matching import (
    MaxCorrelation,
    Pairs,
    MAX_DENSE_SUBMATRIX,
    SPARSE_DENSITY_LIMIT,
    correlation_submatrix,
    many_to_one_pairs,
    max_correlation,
    one_to_one,
    pair_from_correlation,
    subset_order,
    threshold_pairs,
    top_pairs,
)
from harness.scoring.effects import (
    TIE_ATOL,
    cell_seed,
    count_at_or_above,
    count_below,
    effect_fields,
    excess_over_chance,
    p_plus_one,
    rank_sum_p,
)
from harness.scoring.metrics import svcca
from harness.scoring.nulls import permutation_test, random_subset_test, size_matched_test
from harness.experiments.feature_space import FeatureSpace
from harness.threads import single_threaded
from harness.vocab import OneToOneRule


@single_threaded
def subset_correlation(
    space_a: FeatureSpace, space_b: FeatureSpace, idx_a: NDArray[np.int64], idx_b: NDArray[np.int64]
) -> NDArray[np.float64]:
    """(len(idx_a), len(idx_b)) fp64 Pearson correlation of the selected features, from their
    columns only (:meth:`FeatureSpace.columns`), computed where the columns are (the GPU in the
    gpu tier: only the small matrix comes back). The arithmetic of
    :func:`harness.pairing.matching.correlation_submatrix` (population statistics, the same
    dead-column guard, dead columns correlate 0) in torch fp64. One BLAS / torch thread
    (:func:`harness.threads.single_threaded`): with two, OpenBLAS's GEMM moved concept pairs'
    correlations by 1 ulp (the smoke semantic table's mean_pair_corr, tests/experiments/test_recompute.py)."""
    if idx_a.size * idx_b.size > MAX_DENSE_SUBMATRIX:
        raise ResourceError(
            f"A {idx_a.size} x {idx_b.size} correlation sub-matrix exceeds the dense limit "
            f"({MAX_DENSE_SUBMATRIX} entries)."
        )
    ca = space_a.columns(idx_a)
    cb = space_b.columns(idx_b).to(ca.device)
    if ca.device.type == "cpu":
        # numpy's summation order, as before: mathematically tied correlations (e.g. every feature
        # active at exactly one position, not co-active with the partner, has the same one) are
        # split by rounding, so another order would pick other partners among those ties
        every_a, every_b = np.arange(ca.shape[1]), np.arange(cb.shape[1])
        return correlation_submatrix(ca.numpy(), cb.numpy(), every_a, every_b)
    n = ca.shape[0]

    def zscore(x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(0)
        var = ((x * x).sum(0) / n - mean * mean).clamp_min(0.0)
        std = var.sqrt()
        std[var <= 1e-12 * (mean * mean).clamp_min(1e-300)] = 0.0
        return (x - mean) * torch.where(std > 0, 1.0 / torch.where(std > 0, std, 1.0), 0.0)

    return ((zscore(ca).T @ zscore(cb)) / n).cpu().numpy()


def paired_correlation(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    idx_a: NDArray[np.int64],
    idx_b: NDArray[np.int64],
    *,
    chunk: int = 1024,
) -> NDArray[np.float64]:
    """(n,) fp64 Pearson correlation of feature ``idx_a[i]`` of A with ``idx_b[i]`` of B (population
    statistics; a dead column correlates 0, as :func:`harness.pairing.matching.correlation_submatrix`),
    from their columns only, ``chunk`` pairs at a time, where the columns are."""
    out = np.zeros(idx_a.size, dtype=np.float64)
    for s in range(0, idx_a.size, chunk):
        ca = space_a.columns(idx_a[s : s + chunk]).double()
        cb = space_b.columns(idx_b[s : s + chunk]).to(ca.device).double()
        za, zb = ca - ca.mean(0), cb - cb.mean(0)
        den = za.pow(2).mean(0).sqrt() * zb.pow(2).mean(0).sqrt()
        r = torch.where(den > 0, (za * zb).mean(0) / torch.where(den > 0, den, 1.0), 0.0)
        out[s : s + chunk] = r.clamp(-1.0, 1.0).cpu().numpy()
    return out


def pair_subsets(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    idx_a: NDArray[np.int64],
    idx_b: NDArray[np.int64],
    *,
    rule: str,
    order: str = "sorted",
) -> Pairs:
    """:func:`harness.pairing.matching.pair_within` on two spaces, encoding only the subset columns."""
    ia, ib = subset_order(idx_a, idx_b, order=order)  # type: ignore[arg-type]  # order: a ColumnWalk value
    corr = subset_correlation(space_a, space_b, ia, ib) if ia.size and ib.size else np.zeros((ia.size, ib.size))
    return pair_from_correlation(corr, ia, ib, rule=rule, order=order)  # type: ignore[arg-type]  # the procedure's vocabularies


#: Dense pairings above this many multiply-adds (positions x F_A x F_B) use the TF32 screen
#: on the cpu too: same partners (the screen's bound + fp64 recheck, harness.pairing.exact),
#: about half the time of the fp64 Gram. Below it the plain fp64 Gram is as fast.
SCREEN_ABOVE_MACS: int = 1 << 33

#: Host memory for the fp64 Gram block of the exact pairing on the cpu (F_A x b_group x 8 bytes).
CPU_GRAM_BYTES: int = 1 << 28


def _sparse_codes(space: FeatureSpace) -> sp.csr_matrix | None:
    """The space's codes as CSR when the exact sparse pairing applies (TopK codes, or a sparse
    matrix below :data:`harness.pairing.matching.SPARSE_DENSITY_LIMIT`), else None."""
    if isinstance(space.codes, SaeCodes):
        return space.codes.to_csr() if space.codes.is_topk else None
    density = space.codes.nnz / max(1, space.codes.shape[0] * space.codes.shape[1])
    return space.codes if density < SPARSE_DENSITY_LIMIT else None


def space_max_correlation(
    space_a: FeatureSpace, space_b: FeatureSpace, procedure: Procedure, *, device: str = "cpu"
) -> MaxCorrelation:
    """Exact (fp64-equal) max-correlation partners of two whole spaces.

    On the cpu, sparse codes (TopK, or a sparse matrix below the density limit): the exact fp64
    sparse path of :func:`harness.pairing.matching.max_correlation` on the CSR codes (k non-zeros
    per position: a few million products instead of positions x F_A x F_B). Dense codes, and
    every pairing on cuda (the sparse path is host scipy; the screened GEMM is faster there):
    :func:`harness.pairing.exact.exact_max_correlation` on ``device`` from the on-the-fly encoder, with the TF32 screen + fp64 recheck on cuda (and on the cpu above
    :data:`SCREEN_ABOVE_MACS`), the whole fp64 Gram at once on cuda when a quarter of the free
    device memory holds it, else in B groups of :data:`CPU_GRAM_BYTES` / that budget."""
    cuda = str(device).startswith("cuda")
    # The sparse path runs in scipy on the host: ~4 s per Pythia layer pair on one core, 144 pairs
    # ~10 min; on a GPU the dense TF32-screened path does the same pair in well under a second.
    ca, cb = (None, None) if cuda else (_sparse_codes(space_a), _sparse_codes(space_b))
    if ca is not None and cb is not None:
        return max_correlation(ca, cb, backend="sparse", dead=procedure.dead_features)
    fa, fb, n = space_a.n_features, space_b.n_features, space_a.n_positions
    screen = "tf32" if cuda or n * fa * fb > SCREEN_ABOVE_MACS else None
    budget = torch.cuda.mem_get_info(torch.device(device))[0] // 4 if cuda else CPU_GRAM_BYTES
    b_group = max(1, min(fb, int(budget) // (8 * fa)))
    return exact_max_correlation(
        space_a.source(),
        space_b.source(),
        screen=screen,  # type: ignore[arg-type]  # screen: None or a Screen value
        dead=procedure.dead_features,
        device=device,
        b_group=b_group,
    ).max_correlation


def _positive(value: int, name: str) -> int:
    """``value`` if it is a positive int, else ConfigError (0 used to mean "the default")."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name}={value!r}: use a positive number of draws, or None for the procedure's default.")
    return int(value)


def _max_k(procedure: Procedure, n: int) -> int | None:
    if procedure.svcca_max_k_fraction is None:
        return None
    return max(1, int(math.floor(procedure.svcca_max_k_fraction * n)))


RSA_NOT_READ = "not computed: no rule or report reads this set's RSA"
"""``rsa_skipped`` of a pair set whose RSA was not asked for (:func:`score_pairs` ``rsa=False``)."""


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
    paper_permutations: int | None = None,
    rsa: bool = True,
    null: bool = True,
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
    of callers that pass no ``identity``. ``paper_permutations``: the authors' smaller null size,
    for the reported ``"k/N"`` only (:func:`harness.scoring.effects.effect_fields`).
    ``rsa=False``: RSA and its null are not computed (no rule or report reads them for this set:
    at paper scale the many-to-1 and unfiltered sets' RSA nulls were ~30 GB of device memory and
    15-60 min, never read); the ``rsa*`` fields stay NaN and ``rsa_skipped`` says why.
    ``null=False``: the observed SVCCA only (the same bases and number as with its null), no RSA,
    no null: for a set whose score a rule reads but whose null none does (the unfiltered set, the
    shuffled-positions control's 1-1 / many-to-1 sets); the null fields stay NaN and
    ``null_skipped`` says why.
    """
    n = len(pairs)
    rec: dict[str, Any] = {"n_pairs": n, "pairs_history": list(pairs.history)}
    nan_fields = {f"{m}_{f}": math.nan for m in ("svcca", "rsa") for f in ("excess", "null_std", "z", "p_plus_one")}
    if n < max(procedure.min_subspace_size, 3):
        rec.update(
            svcca=math.nan,
            rsa=math.nan,
            svcca_p=math.nan,
            rsa_p=math.nan,
            svcca_null_mean=math.nan,
            rsa_null_mean=math.nan,
            **nan_fields,
            skipped=f"only {n} pairs",
        )
        return rec
    ident = (*(identity if identity is not None else ("offset", seed_offset)), space_a.name, space_b.name)
    a = space_a.decoder[pairs.a_idx]
    b = space_b.decoder[pairs.b_idx]
    rec.update(nan_fields)
    if not null:
        return {**rec, **_observed_only(a, b, procedure, n, null_device)}
    test: Any = permutation_test
    if null_device is not None:
        from functools import partial

        from harness.scoring.device_nulls import permutation_test_device

        test = partial(permutation_test_device, device=null_device)
    svcca_device_options = {} if null_device is None else {"basis_on_device": True}
    try:
        sv = test(
            a,
            b,
            metric="svcca",
            n_permutations=n_permutations,
            seed=cell_seed(procedure.seed, *ident, "svcca"),
            p_rule=procedure.p_rule,
            keep=procedure.svcca_keep,
            max_k=_max_k(procedure, n),
            **svcca_device_options,
        )
        rec.update(
            svcca=sv.observed,
            svcca_null_mean=sv.null_mean,
            svcca_p=sv.p_value,
            svcca_k_a=sv.details["k_a"],
            svcca_k_b=sv.details["k_b"],
            svcca_seed=sv.seed,
            **effect_fields("svcca", sv.observed, sv.null, paper_n=paper_permutations),
        )
    except DegenerateInputError as exc:
        rec.update(svcca=math.nan, svcca_null_mean=math.nan, svcca_p=math.nan, svcca_error=str(exc))
    if not rsa:
        rec.update(rsa=math.nan, rsa_null_mean=math.nan, rsa_p=math.nan, rsa_skipped=RSA_NOT_READ)
    else:
        try:
            rs = test(
                a,
                b,
                metric="rsa",
                n_permutations=n_permutations,
                seed=cell_seed(procedure.seed, *ident, "rsa"),
                p_rule=procedure.p_rule,
                inner=procedure.rsa_inner,
            )
            rec.update(
                rsa=rs.observed,
                rsa_null_mean=rs.null_mean,
                rsa_p=rs.p_value,
                rsa_seed=rs.seed,
                **effect_fields("rsa", rs.observed, rs.null, paper_n=paper_permutations),
            )
        except ResourceError as exc:  # too many pairs for an n x n RDM: reported, not crashed
            rec.update(rsa=math.nan, rsa_null_mean=math.nan, rsa_p=math.nan, rsa_error=str(exc))
    rec.update(n_permutations=n_permutations, p_rule=procedure.p_rule)
    rec["mean_pair_corr"] = float(np.mean(pairs.corr))
    return rec


#: Why a set's nulls were not computed (``null_skipped``; score_pairs ``null=False``).
NULL_NOT_READ = "null not computed: no rule or report reads this set's null (its observed score only)"


def _observed_only(
    a: NDArray[np.float64], b: NDArray[np.float64], procedure: Procedure, n: int, null_device: str | None
) -> dict[str, Any]:
    """score_pairs' record for ``null=False``: the observed SVCCA of a (n, d_a), b (n, d_b) by the
    code path its null would use (numpy bases, or the device's), k per side, every null field NaN."""
    rec: dict[str, Any] = {
        "svcca_null_mean": math.nan,
        "svcca_p": math.nan,
        "rsa": math.nan,
        "rsa_null_mean": math.nan,
        "rsa_p": math.nan,
        "null_skipped": NULL_NOT_READ,
        "n_permutations": 0,
        "p_rule": procedure.p_rule,
    }
    try:
        if null_device is None:
            res = svcca(a, b, keep=procedure.svcca_keep, max_k=_max_k(procedure, n))
        else:
            from harness.scoring.device_nulls import svcca_observed_device

            res = svcca_observed_device(
                a, b, keep=procedure.svcca_keep, max_k=_max_k(procedure, n), device=null_device, basis_on_device=True
            )
        rec.update(svcca=res.score, svcca_k_a=res.k_a, svcca_k_b=res.k_b)
    except DegenerateInputError as exc:
        rec.update(svcca=math.nan, svcca_error=str(exc))
    return rec


def split_half(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    pairs: Pairs,
    procedure: Procedure,
    *,
    n_permutations: int,
    identity: Sequence[object],
    null_device: str | None = None,
) -> dict[str, Any]:
    """SVCCA excess over chance of two random disjoint halves of ``pairs`` (each against its own
    shuffled-pairing null), for the split-half reliability of a grid of scores (U7): a grid whose
    halves disagree cannot say what does or does not track it. Halves too small to score give NaN.
    ``null_device``: as :func:`score_pairs` (None: numpy; a torch device: the batched fixed-basis
    null of :func:`harness.scoring.device_nulls.permutation_test_device`, same permutations)."""
    n = len(pairs)
    half = n // 2
    out: dict[str, Any] = {"split_half_n": half}
    rng = np.random.default_rng(cell_seed(procedure.seed, "split half", *identity, space_a.name, space_b.name))
    order = rng.permutation(n)
    test: Any = permutation_test
    device_options: dict[str, Any] = {}
    if null_device is not None:
        from harness.scoring.device_nulls import permutation_test_device

        test = permutation_test_device
        device_options = {"device": null_device, "basis_on_device": True}
    for i, idx in enumerate((order[:half], order[half : 2 * half]), start=1):
        sub = Pairs(pairs.a_idx[idx], pairs.b_idx[idx], pairs.corr[idx], (*pairs.history, f"half {i}: {half}"))
        out[f"svcca_excess_half{i}"] = math.nan
        if half < max(procedure.min_subspace_size, 3):
            continue
        try:
            sv = test(
                space_a.decoder[sub.a_idx],
                space_b.decoder[sub.b_idx],
                metric="svcca",
                n_permutations=n_permutations,
                seed=cell_seed(procedure.seed, "split half null", i, *identity, space_a.name, space_b.name),
                p_rule=procedure.p_rule,
                keep=procedure.svcca_keep,
                max_k=_max_k(procedure, half),
                **device_options,
            )
            out[f"svcca_excess_half{i}"] = excess_over_chance(sv.observed, sv.null_mean)
        except DegenerateInputError:
            pass
    return out


def random_partner_draws(
    space_a: FeatureSpace, space_b: FeatureSpace, pairs: Pairs, procedure: Procedure, *, seed: int, n_sets: int
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """``n_sets`` filter-aware random-partner sets of ``pairs`` (U1/U2's control), each as
    (a_idx (m,), b_idx (m,)), m <= len(pairs): for each A feature of ``pairs``, a *random* B
    partner that passes the same token filters as a real partner -- live, not a non-concept
    feature, sharing a top-token string with the A feature (each as the procedure enables it) --
    other than its real partner, drawn 1-1 (no B feature twice), A features in random order.

    The real pairs take the most correlated partner; these take any partner the token filters
    would accept. If the filters alone made paired decoders similar (App. F credits them for the
    high scores), these sets would score like the real one. The correlation threshold is not
    applied: choosing by correlation is the pairing itself (on a clean world only the real partner
    passes it). A features with no eligible partner left are dropped.

    Computation: the candidates are built once (one sparse product of string incidences). Each set
    has its own generator (``SeedSequence(seed).spawn``: set s is the same whatever ``n_sets``; set
    0 is :func:`random_partner_pairs`' set), which draws the set's A order and its uniform numbers
    up front; the sets then advance together, one vectorized step per A feature: each set tries
    :data:`PARTNER_TRIES` uniform candidates and keeps the first that is neither used nor the real
    partner (rejection sampling: uniform over the valid options), and a set whose tries all fail
    picks uniformly among its valid options exactly (a per-set step, rare)."""
    ok_b = space_b.live.copy()
    if procedure.filter_nonconcept:
        ok_b &= ~space_b.junk_mask()
    eligible = np.flatnonzero(ok_b)
    a_feats = np.asarray(pairs.a_idx, dtype=np.int64)
    real = np.asarray(pairs.b_idx, dtype=np.int64)
    n_a = a_feats.size
    # each A feature's candidates as a slice of ``flat``: the eligible B features sharing a top-token
    # string with it (CSR rows, columns ascending), or every eligible one (one shared slice)
    if procedure.filter_shared_token:
        cands = space_a.string_incidence.shared_candidates(space_b.string_incidence, a_feats, eligible)
        flat, offs = cands.indices.astype(np.int64), cands.indptr[:-1].astype(np.int64)
        lens = np.diff(cands.indptr).astype(np.int64)
    else:
        flat, offs, lens = eligible, np.zeros(n_a, dtype=np.int64), np.full(n_a, eligible.size, dtype=np.int64)
    return [
        (a_feats[steps], b)
        for steps, b in one_to_one_partner_draws(flat, offs, lens, real, space_b.n_features, seed=seed, n_sets=n_sets)
    ]


def one_to_one_partner_draws(
    flat: NDArray[np.int64],
    offs: NDArray[np.int64],
    lens: NDArray[np.int64],
    real: NDArray[np.int64],
    n_b: int,
    *,
    seed: int,
    n_sets: int,
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """The draws of :func:`random_partner_draws` from candidate lists: A feature i (of n) may take
    the B features ``flat[offs[i] : offs[i] + lens[i]]`` except ``real[i]``; B features are 0..n_b-1.
    Per set: (indices into the n A features in the order they were served (m,), their B partners
    (m,)), A features left without a valid option dropped. Law: A features in uniformly random
    order, each taking a uniformly random valid option (not used by the set, not its real partner)."""
    n_a, n_sets = int(lens.size), int(n_sets)
    if not flat.size:  # no A feature has a candidate
        return [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)) for _ in range(n_sets)]
    gens = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_sets)]
    orders = np.stack([g.permutation(n_a) for g in gens]) if n_a else np.zeros((n_sets, 0), dtype=np.int64)
    tries = np.stack([g.random((n_a, PARTNER_TRIES)) for g in gens]) if n_a else np.zeros((n_sets, 0, 1))
    exact = np.stack([g.random(n_a) for g in gens]) if n_a else np.zeros((n_sets, 0))
    used = np.zeros((n_sets, n_b), dtype=bool)
    picked = np.full((n_a, n_sets), -1, dtype=np.int64)  # B partner per (step, set); -1: none left
    sets = np.arange(n_sets)
    # every step's tries, up front (n_a, S, R): candidate, and whether it can be valid at all
    step_of = orders.T  # (n_a, S): the A feature each set serves at each step
    length = lens[step_of]
    cand = flat[
        np.minimum(
            offs[step_of][..., None] + (tries.transpose(1, 0, 2) * length[..., None]).astype(np.int64), flat.size - 1
        )
    ]
    possible = (length[..., None] > 0) & (cand != real[step_of][..., None])
    slot = sets[None, :, None] * n_b + cand  # (n_a, S, R) entries of ``used`` (flattened)
    used_flat = used.reshape(-1)  # a view: writes land in ``used``
    served = length > 0
    for t in range(n_a):  # the 1-1 draw is sequential within a set (each pick removes a B feature)
        ok = possible[t] & ~used_flat[slot[t]]
        first = ok.argmax(axis=1)[:, None]
        hit = np.take_along_axis(ok, first, axis=1)[:, 0]
        pick = np.where(hit, np.take_along_axis(cand[t], first, axis=1)[:, 0], -1)
        missed = ~hit & served[t]
        if missed.any():
            for s_ in np.flatnonzero(missed).tolist():  # every try failed: the exact choice
                i = step_of[t, s_]
                opts = flat[offs[i] : offs[i] + lens[i]]
                opts = opts[~used[s_, opts] & (opts != real[i])]
                if opts.size:
                    pick[s_] = opts[int(exact[s_, t] * opts.size)]
        got = pick >= 0
        used_flat[sets[got] * n_b + pick[got]] = True
        picked[t] = pick
    picked = picked.T
    out = []
    for s_ in range(n_sets):
        keep = picked[s_] >= 0
        out.append((orders[s_][keep].astype(np.int64), picked[s_][keep]))
    return out


#: Uniform candidates each random-partner set tries per A feature before the exact choice
#: (:func:`random_partner_draws`).
PARTNER_TRIES = 4


def random_partner_pairs(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    pairs: Pairs,
    procedure: Procedure,
    *,
    seed: int,
    draw: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
) -> Pairs:
    """One filter-aware random-partner set of ``pairs`` (set 0 of :func:`random_partner_draws`,
    or ``draw``, one already made), with each pair's activation correlation; A features with no
    eligible partner are dropped (counted in the history)."""
    ((ia, ib),) = (
        [draw] if draw is not None else random_partner_draws(space_a, space_b, pairs, procedure, seed=seed, n_sets=1)
    )
    corr = paired_correlation(space_a, space_b, ia, ib)
    return Pairs(ia, ib, corr, (f"random partner passing the token filters: {ia.size} of {len(pairs)} A features",))


#: Filter-aware random-partner sets per grid cell that the real 1-1 pairing is ranked among (U1/U2's
#: contrast, :func:`random_partner_contrast`; p >= 1/100). Profiles may change it
#: (``random_partner_sets``).
RANDOM_PARTNER_SETS = 99


@single_threaded
def rsa_of_sets(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    sets: Sequence[tuple[NDArray[np.int64], NDArray[np.int64]]],
    procedure: Procedure,
    *,
    device: str | None = None,
) -> NDArray[np.float64]:
    """(len(sets),) RSA (Spearman of the decoder similarity upper triangles, the procedure's inner
    similarity) of the paired decoder rows of each (a_idx, b_idx) set, on ``device`` (default cpu),
    with :func:`harness.scoring.device_nulls.centred_doubled_ranks` (exact integer ranks): consecutive
    sets with the same A rows reuse A's ranks, so equal rows give bitwise-equal scores. One torch
    thread (:func:`harness.threads.single_threaded`, as every scoring entry point). NaN for a set
    too small to score or degenerate."""
    from harness.scoring.device_nulls import centred_doubled_ranks

    dev = torch.device(device or "cpu")
    out = np.full(len(sets), np.nan)
    last: tuple[bytes, torch.Tensor | None] = (b"", None)
    for i, (ia, ib) in enumerate(sets):
        if ia.size < max(procedure.min_subspace_size, 3):
            continue
        try:
            key = np.ascontiguousarray(ia).tobytes()
            if last[0] != key or last[1] is None:
                ca, _ = centred_doubled_ranks(
                    torch.as_tensor(space_a.decoder[ia], device=dev), inner=procedure.rsa_inner
                )
                last = (key, ca.to(torch.float64))
            ca64 = last[1]
            cb, _ = centred_doubled_ranks(torch.as_tensor(space_b.decoder[ib], device=dev), inner=procedure.rsa_inner)
            cb64 = cb.to(torch.float64)
            assert ca64 is not None
            out[i] = float((ca64 @ cb64) / (torch.linalg.vector_norm(ca64) * torch.linalg.vector_norm(cb64)))
        except DegenerateInputError:
            continue
    return out


def random_partner_contrast(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    pairs: Pairs,
    procedure: Procedure,
    *,
    n_sets: int,
    seed: int,
    device: str | None = None,
    rsa: bool = True,
    draws: Sequence[tuple[NDArray[np.int64], NDArray[np.int64]]] | None = None,
) -> dict[str, Any]:
    """U1/U2's filter-aware control as a contrast, judged by the claim's own statistic: the real 1-1
    pairing ``pairs`` ranked among ``n_sets`` random-partner sets (:func:`random_partner_draws`),
    per metric (SVCCA; RSA unless ``rsa`` is False).

    Each draw is compared with the real pairing on the same A features (the whole real set when
    every A feature found a partner, else its rows of the A features the draw kept, so both have
    the same pair count: SVCCA's chance level moves with n), both scored by the same batched code
    (:func:`svcca_of_sets`, :func:`rsa_of_sets`). ``<m>_rp_contrast_p`` =
    (1 + #{draws scoring >= the real pairing}) / (1 + #draws scored) (+1 rule): small when the
    correlation pairing beats partners that the token filters alone would accept.

    Returns ``random_partner_sets`` (draws made: the cost model counts them),
    ``random_partner_sets_n_pairs_mean`` / ``_min``, and per metric ``<m>_rp_contrast_p``,
    ``<m>_rp_contrast_n`` (draws scored), ``<m>_rp_contrast_observed`` (the real set's score by this
    code), ``<m>_rp_sets_mean`` / ``<m>_rp_sets_std`` (the draws' scores). ``draws``: the
    ``n_sets`` draws already made (with ``seed``), else they are drawn here."""
    if draws is None:
        draws = random_partner_draws(space_a, space_b, pairs, procedure, seed=seed, n_sets=n_sets)
    elif len(draws) != n_sets:
        raise ConfigError(f"random_partner_contrast: {len(draws)} draws given for n_sets={n_sets}.")
    row_of = {a: i for i, a in enumerate(np.asarray(pairs.a_idx).tolist())}
    ordered: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = []
    real_rows: list[NDArray[np.int64]] = []
    for ia, ib in draws:  # each draw in the real set's row order, so a full draw has the real set's A rows
        rows = np.asarray([row_of[a] for a in ia.tolist()], dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        ordered.append((ia[order], ib[order]))
        real_rows.append(rows[order])
    distinct: dict[bytes, int] = {}
    which = [distinct.setdefault(r.tobytes(), len(distinct)) for r in real_rows]
    real_sets: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = [
        (np.asarray(pairs.a_idx)[r], np.asarray(pairs.b_idx)[r])
        for r in (np.frombuffer(k, dtype=np.int64) for k in distinct)
    ]
    sizes = [ia.size for ia, _ in draws]
    rec: dict[str, Any] = {
        "random_partner_sets": int(n_sets),
        "random_partner_sets_n_pairs_mean": float(np.mean(sizes)) if sizes else math.nan,
        "random_partner_sets_n_pairs_min": int(min(sizes)) if sizes else 0,
    }
    scorers = {"svcca": svcca_of_sets, **({"rsa": rsa_of_sets} if rsa else {})}
    for metric, score in scorers.items():
        real = score(space_a, space_b, real_sets, procedure, device=device)[np.asarray(which, dtype=np.int64)]
        rp = score(space_a, space_b, ordered, procedure, device=device)
        ok = np.isfinite(rp) & np.isfinite(real)
        n_ok = int(ok.sum())
        rec.update(
            {
                f"{metric}_rp_contrast_n": n_ok,
                # a draw within TIE_ATOL of the real set's score is a tie (effects.count_at_or_above)
                f"{metric}_rp_contrast_p": p_plus_one(int(np.sum(rp[ok] >= real[ok] - TIE_ATOL)), n_ok)
                if n_ok
                else math.nan,
                f"{metric}_rp_contrast_observed": float(real[ok].mean()) if n_ok else math.nan,
                f"{metric}_rp_sets_mean": float(rp[ok].mean()) if n_ok else math.nan,
                f"{metric}_rp_sets_std": float(rp[ok].std(ddof=1)) if n_ok > 1 else math.nan,
            }
        )
    return rec


def svcca_of_sets(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    sets: Sequence[tuple[NDArray[np.int64], NDArray[np.int64]]],
    procedure: Procedure,
    *,
    device: str | None = None,
) -> NDArray[np.float64]:
    """(len(sets),) SVCCA of the paired decoder rows of each (a_idx, b_idx) set, all sets in one
    ragged batched call whatever their sizes (:func:`harness.experiments.subset_pairing.svcca_of_pair_sets`
    on ``device``, default cpu; equal to the per-set numpy SVCCA to 1e-10). NaN for a set too small
    to score or degenerate."""
    from harness.experiments.subset_pairing import svcca_of_pair_sets

    out = np.full(len(sets), np.nan)
    rows = [i for i, (ia, _) in enumerate(sets) if ia.size >= max(procedure.min_subspace_size, 3)]
    if rows:
        out[rows] = svcca_of_pair_sets(
            space_a.decoder,
            space_b.decoder,
            np.concatenate([sets[i][0] for i in rows]),
            np.concatenate([sets[i][1] for i in rows]),
            np.array([sets[i][0].size for i in rows]),
            procedure,
            device or "cpu",
        )
    return out


def placebo_one_to_one(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    one: Pairs,
    many: Pairs,
    procedure: Procedure,
    *,
    n_draws: int,
    seed: int,
    device: str | None = None,
) -> dict[str, Any]:
    """U5's placebo 1-1 rule (App. E): for each A feature of the real 1-1 set ``one``, ONE RANDOM
    partner among its many-to-1 candidates (the pairs of ``many`` -- the filtered, thresholded
    many-to-1 set -- with that A feature), instead of the procedure's choice; same A features,
    same count. ``n_draws + 1`` placebo sets: set 0 is held out (the control scores it against the
    real set's size-matched siblings, :func:`size_matched`'s ``others``), sets 1..n_draws are the
    real set's placebo null.

    Returns ``placebo_one_to_one_*`` fields: ``svcca`` (held-out set), ``mean`` (the null's mean),
    ``p_plus_one`` (the real 1-1 SVCCA against the null, +1 rule; a draw identical to the real set
    counts as a tie, i.e. as at or above it), ``n_draws``, ``n_with_choice`` (A features with more
    than one candidate: with none, every placebo is the real set and nothing is judged: NaN p)."""
    pre = "placebo_one_to_one"
    rng = np.random.default_rng(seed)
    a_feats = np.asarray(one.a_idx, dtype=np.int64)
    # each A feature's candidates: the rows of ``many`` with that A feature, a slice of ``by_a``
    # (rows grouped by A feature, ascending within a group)
    many_a, many_b = np.asarray(many.a_idx, dtype=np.int64), np.asarray(many.b_idx, dtype=np.int64)
    by_a = np.argsort(many_a, kind="stable")
    start = np.searchsorted(many_a[by_a], a_feats, side="left")
    count = np.searchsorted(many_a[by_a], a_feats, side="right") - start
    # the real partner's row of ``many`` (the first row with the same (a, b)), -1 if absent
    width = int(max(many_b.max(initial=0), np.max(one.b_idx, initial=0))) + 1
    keys = many_a * width + many_b
    by_key = np.argsort(keys, kind="stable")
    want = a_feats * width + np.asarray(one.b_idx, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys[by_key], want), max(keys.size - 1, 0))
    real_rows = np.where(keys.size and (keys[by_key][at] == want), by_key[at] if keys.size else -1, -1)
    n_choice = int(np.sum(count > 1))
    rec: dict[str, Any] = {
        f"{pre}_n_with_choice": int(n_choice),
        f"{pre}_n_draws": 0,
        f"{pre}_svcca": math.nan,
        f"{pre}_mean": math.nan,
        f"{pre}_p_plus_one": math.nan,
    }
    if not a_feats.size or np.any(count == 0):
        rec[f"{pre}_skipped"] = "an A feature of the 1-1 set has no many-to-1 candidate"
        return rec
    # (n_draws + 1, n) rows of ``many``: one uniform candidate per A feature per draw
    picks = by_a[start[None, :] + rng.integers(0, count[None, :], size=(n_draws + 1, a_feats.size))]
    sets = [(many_a[p], many_b[p]) for p in picks]
    real = real_rows
    scores = svcca_of_sets(space_a, space_b, [(a_feats, np.asarray(one.b_idx)), *sets], procedure, device=device)
    observed, held, null = scores[0], scores[1], scores[2:]
    same = np.all(picks[1:] == real[None, :], axis=1)
    ok = np.isfinite(null)
    rec.update({f"{pre}_svcca": float(held), f"{pre}_n_draws": int(ok.sum())})
    if ok.any():
        rec[f"{pre}_mean"] = float(null[ok].mean())
    if n_choice and ok.any() and np.isfinite(observed):
        k = int(np.sum((null[ok] >= observed - TIE_ATOL) | same[ok]))
        rec[f"{pre}_p_plus_one"] = p_plus_one(k, int(ok.sum()))
    return rec


SIZE_MATCHED_DRAWS = 99
"""Random same-size subsets per grid cell that the 1-1 set is ranked among (p >= 1/100)."""

#: U6's placebo (App. F): tokens filtered instead of the non-concept list, and runs.
PLACEBO_FILTER_TOKENS = 7
PLACEBO_FILTER_RUNS = 10
#: Random same-size subsets of the unfiltered 1-1 pairs each placebo run is ranked among.
PLACEBO_FILTER_SIBLINGS = 9


def placebo_filter(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    mc: MaxCorrelation,
    unfiltered: Pairs,
    seed: int,
    n_runs: int = PLACEBO_FILTER_RUNS,
    n_tokens: int = PLACEBO_FILTER_TOKENS,
    n_siblings: int = PLACEBO_FILTER_SIBLINGS,
    device: str | None = None,
) -> dict[str, Any]:
    """U6's placebo, the paper's own (App. A/F: "for 10 random runs where we randomly choose 7
    tokens that are not part of the non-concept tokens, the filtering ... does not change the
    unfiltered SVCCA score"): the filtered 1-1 set rebuilt with ``n_tokens`` random non-junk
    tokens in place of the non-concept list (every other stage as in the real filtered set: the
    shared-top-token filter, the 1-1 rule, the threshold), ``n_runs`` times.

    Tokens are drawn without replacement from the non-junk strings among the live features' top
    tokens (both spaces), with probability proportional to how many features list them, so a
    placebo removes a share of pairs comparable to a list of common tokens (uniform draws from the
    vocabulary would remove almost nothing and could never raise the score).

    "Does not change the score", judged without the pair-count bias: each run's SVCCA is ranked
    among ``n_siblings`` random subsets of the ``unfiltered`` 1-1 pairs of the run's size;
    ``placebo_filter_p`` is the exact rank-sum p over the runs
    (:func:`harness.scoring.effects.rank_sum_p`): small when the random filter raises the score
    as well."""
    pre = "placebo_filter"
    rng = np.random.default_rng(seed)
    junk = set(space_a.junk_tokens) | set(space_b.junk_tokens)
    counts: dict[str, int] = {}
    for space in (space_a, space_b):
        for t, c in space.string_incidence.feature_counts(space.live).items():
            if t not in junk:
                counts[t] = counts.get(t, 0) + c
    pool = sorted(counts)
    rec: dict[str, Any] = {
        f"{pre}_runs": 0,
        f"{pre}_siblings": int(n_siblings),
        f"{pre}_mean": math.nan,
        f"{pre}_siblings_mean": math.nan,
        f"{pre}_n_pairs_mean": math.nan,
        f"{pre}_p": math.nan,
    }
    if len(pool) < n_tokens or len(unfiltered) < 2:
        rec[f"{pre}_skipped"] = f"{len(pool)} non-junk top-token strings, {len(unfiltered)} unfiltered pairs"
        return rec
    weights = np.array([counts[t] for t in pool], dtype=np.float64)
    below, placebo_scores, sibling_scores, sizes = [], [], [], []
    for _ in range(n_runs):
        tokens = [pool[i] for i in rng.choice(len(pool), size=n_tokens, replace=False, p=weights / weights.sum())]
        masks = (space_a.token_mask(tokens), space_b.token_mask(tokens))
        pairs, _ = pair_spaces(space_a, space_b, procedure, mc=mc, junk_masks=masks)
        n = len(pairs)
        sizes.append(n)
        if not 0 < n < len(unfiltered):
            continue
        subsets = [np.sort(rng.choice(len(unfiltered), size=n, replace=False)) for _ in range(n_siblings)]
        sets = [(pairs.a_idx, pairs.b_idx)] + [(unfiltered.a_idx[i], unfiltered.b_idx[i]) for i in subsets]
        scores = svcca_of_sets(space_a, space_b, sets, procedure, device=device)
        if not np.isfinite(scores).all():
            continue
        below.append(count_below(scores[1:], float(scores[0])))
        placebo_scores.append(float(scores[0]))
        sibling_scores.extend(scores[1:].tolist())
    rec.update({f"{pre}_runs": len(below), f"{pre}_n_pairs_mean": float(np.mean(sizes))})
    if below:
        rec.update(
            {
                f"{pre}_mean": float(np.mean(placebo_scores)),
                f"{pre}_siblings_mean": float(np.mean(sibling_scores)),
                f"{pre}_p": rank_sum_p(below, n_siblings),
            }
        )
    return rec


def pair_spaces(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    mc: MaxCorrelation | None = None,
    one_to_one_rule: OneToOneRule | None = None,
    token_filters: bool = True,
    junk_masks: tuple[NDArray[np.bool_], NDArray[np.bool_]] | None = None,
) -> tuple[Pairs, MaxCorrelation]:
    """Whole-space pairs under ``procedure`` (Sec. 3), optionally overriding the 1-1 rule
    (``"none"`` = many-to-1, App. E) or switching the token filters off (App. F).
    ``junk_masks``: (F_A,), (F_B,) non-concept masks used instead of the spaces' own (U6's
    placebo filters random tokens instead of the non-concept list)."""
    if mc is None:
        mc = space_max_correlation(space_a, space_b, procedure)
    pairs = many_to_one_pairs(mc)
    if token_filters and procedure.filter_nonconcept:
        ja, jb = junk_masks if junk_masks is not None else (space_a.junk_mask(), space_b.junk_mask())
        pairs = filter_nonconcept(pairs, ja, jb)
    if token_filters and procedure.filter_shared_token:
        pairs = filter_shared_token_incidence(pairs, space_a.string_incidence, space_b.string_incidence)
    rule = one_to_one_rule or procedure.one_to_one
    if rule == "hungarian":
        ua, ub = np.unique(pairs.a_idx), np.unique(pairs.b_idx)
        pairs = one_to_one(pairs, rule="hungarian", corr_matrix=subset_correlation(space_a, space_b, ua, ub))
    else:
        pairs = one_to_one(pairs, rule=rule)
    pairs = threshold_pairs(pairs, min_corr=procedure.corr_threshold)
    return pairs, mc


def top_correlated_pairs(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    mc: MaxCorrelation,
    n: int,
    one_to_one_rule: OneToOneRule | None = None,
) -> Pairs:
    """The ``n`` most correlated pairs of the procedure's pairing with token filters and the
    correlation threshold off (negative controls: on misaligned tokens nothing passes them,
    and this set still exercises the statistic at the real pair count)."""
    pairs, _ = pair_spaces(
        space_a,
        space_b,
        procedure.replace(corr_threshold=-1.0),
        mc=mc,
        one_to_one_rule=one_to_one_rule,
        token_filters=False,
    )
    return top_pairs(pairs, n=int(n))


def compare_spaces(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    *,
    variants: Sequence[str] = ("one_to_one", "many_to_one", "unfiltered"),
    n_permutations: int | None = None,
    n_size_matched: int = SIZE_MATCHED_DRAWS,
    n_top_correlated: int | None = None,
    split_halves: bool = False,
    random_partners: bool = False,
    random_partner_sets: int = RANDOM_PARTNER_SETS,
    placebos: bool = False,
    placebo_filter_runs: int = PLACEBO_FILTER_RUNS,
    device: str = "cpu",
    null_device: str | None = None,
    paper_permutations: int | None = None,
    rsa_variants: Collection[str] | None = None,
    null_variants: Collection[str] | None = None,
    size_matched_sets: bool = True,
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
    the variant ``random_partner`` (one set, :func:`random_partner_pairs`, scored against its own
    null: reported) and ``random_partner_contrast`` (the real 1-1 pairing ranked among
    ``random_partner_sets`` such sets, :func:`random_partner_contrast`: U1/U2's control).
    ``placebos`` adds U5's and U6's placebo controls: ``placebo_one_to_one`` (one random many-to-1
    partner per A feature, ``n_size_matched`` draws + 1 held out; :func:`placebo_one_to_one`) and
    ``placebo_filter`` (random tokens filtered instead of the non-concept list; :func:`placebo_filter`),
    each seeded from the cell's identity. ``paper_permutations``: see :func:`score_pairs`.
    ``rsa_variants``: the pair sets (variant names, ``random_partner``, ``top_correlated``) whose RSA
    and RSA null are computed; None = every set. A grid passes the sets its cells read
    (:data:`harness.experiments.grid.RSA_VARIANTS`); the others' ``rsa*`` fields are NaN with
    ``rsa_skipped`` (:func:`score_pairs` ``rsa=False``). ``null_variants``: the pair sets whose
    permutation nulls are computed; the others get their observed SVCCA only (``null_skipped``,
    :func:`score_pairs` ``null=False``); None = every set. ``size_matched_sets=False`` skips the
    size-matched draws (a grid's shuffled-positions control, whose draws nothing reads).
    """
    n_perm = procedure.n_permutations if n_permutations is None else _positive(n_permutations, "n_permutations")
    # device: the exact pairing runs on the GPU in the gpu tier (64 TFLOP per Pythia pair)
    mc = space_max_correlation(space_a, space_b, procedure, device=device)
    out: dict[str, Any] = {
        "a": space_a.name,
        "b": space_b.name,
        "procedure": procedure.name,
        "mean_max_corr": mc.mean_max_corr_b,
        "n_features_a": space_a.n_features,
        "n_features_b": space_b.n_features,
        "dead_a": int(mc.dead_a.sum()),
        "dead_b": int(mc.dead_b.sum()),
        "n_tokens": mc.n_tokens,
        "backend": mc.backend,
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
        out[variant] = score_pairs(
            space_a,
            space_b,
            pairs,
            procedure,
            n_permutations=n_perm,
            identity=("whole space", variant),
            null_device=null_device,
            paper_permutations=paper_permutations,
            rsa=rsa_variants is None or variant in rsa_variants,
            null=null_variants is None or variant in null_variants,
        )
    if split_halves and "one_to_one" in kept:  # U7's split-half reliability
        out["one_to_one"].update(
            split_half(
                space_a,
                space_b,
                kept["one_to_one"],
                procedure,
                n_permutations=n_perm,
                identity=("whole space", "one_to_one"),
                null_device=null_device,
            )
        )
    if random_partners and "one_to_one" in kept:  # U1/U2's filter-aware control
        n_rp = _positive(random_partner_sets, "random_partner_sets")
        rp_seed = cell_seed(procedure.seed, "random partner sets", space_a.name, space_b.name)
        rp_draws = random_partner_draws(space_a, space_b, kept["one_to_one"], procedure, seed=rp_seed, n_sets=n_rp)
        # the reported single set is the contrast's set 0 (its observed score; drawn once)
        rp = random_partner_pairs(space_a, space_b, kept["one_to_one"], procedure, seed=rp_seed, draw=rp_draws[0])
        out["random_partner"] = score_pairs(
            space_a,
            space_b,
            rp,
            procedure,
            n_permutations=n_perm,
            identity=("whole space", "random_partner"),
            null_device=null_device,
            paper_permutations=paper_permutations,
            rsa=rsa_variants is None or "random_partner" in rsa_variants,
            null=null_variants is None or "random_partner" in null_variants,
        )
        out["random_partner_contrast"] = random_partner_contrast(
            space_a,
            space_b,
            kept["one_to_one"],
            procedure,
            n_sets=n_rp,
            seed=rp_seed,
            device=null_device,
            rsa=rsa_variants is None or "random_partner" in rsa_variants,
            draws=rp_draws,
        )
    if n_top_correlated is not None:
        pairs = top_correlated_pairs(space_a, space_b, procedure, mc=mc, n=n_top_correlated)
        out["top_correlated"] = score_pairs(
            space_a,
            space_b,
            pairs,
            procedure,
            n_permutations=n_perm,
            identity=("whole space", "top_correlated"),
            null_device=null_device,
            paper_permutations=paper_permutations,
            rsa=rsa_variants is None or "top_correlated" in rsa_variants,
            null=null_variants is None or "top_correlated" in null_variants,
        )
    others: dict[str, dict[str, float]] = {}
    if placebos and "one_to_one" in kept and "many_to_one" in kept:  # U5's placebo 1-1 rule
        out["placebo_one_to_one"] = placebo_one_to_one(
            space_a,
            space_b,
            kept["one_to_one"],
            kept["many_to_one"],
            procedure,
            n_draws=n_size_matched,
            seed=cell_seed(procedure.seed, "placebo one to one", space_a.name, space_b.name),
            device=null_device,
        )
        others["many_to_one"] = {"placebo": out["placebo_one_to_one"]["placebo_one_to_one_svcca"]}
    if placebos and "unfiltered" in kept:  # U6's placebo filter (App. F)
        out["placebo_filter"] = placebo_filter(
            space_a,
            space_b,
            procedure,
            mc=mc,
            unfiltered=kept["unfiltered"],
            seed=cell_seed(procedure.seed, "placebo filter", space_a.name, space_b.name),
            device=null_device,
            n_runs=placebo_filter_runs,
        )
    # App. E and F compare pair sets of different sizes; SVCCA rises as n falls, so the 1-1
    # (filtered) score is also compared with same-size random subsets of the larger set.
    if "one_to_one" in kept and size_matched_sets:
        for superset in ("many_to_one", "unfiltered"):
            if superset in kept:
                out[f"one_to_one_vs_{superset}_size_matched"] = size_matched(
                    space_a,
                    space_b,
                    kept["one_to_one"],
                    out["one_to_one"].get("svcca", math.nan),
                    kept[superset],
                    procedure,
                    n_draws=n_size_matched,
                    seed=cell_seed(procedure.seed, "size matched", superset, space_a.name, space_b.name),
                    null_device=null_device,
                    others=others.get(superset),
                )
    return out


def rows_in(pairs: Pairs, superset: Pairs) -> NDArray[np.int64] | None:
    """(len(pairs),) rows of ``superset`` holding the (a, b) pairs of ``pairs``, or None when some
    pair is not in it."""
    where = {
        (int(a), int(b)): i
        for i, (a, b) in enumerate(zip(superset.a_idx.tolist(), superset.b_idx.tolist(), strict=True))
    }
    rows = [where.get((int(a), int(b)), -1) for a, b in zip(pairs.a_idx.tolist(), pairs.b_idx.tolist(), strict=True)]
    return None if -1 in rows else np.asarray(rows, dtype=np.int64)


def size_matched(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    pairs: Pairs,
    observed: float,
    superset: Pairs,
    procedure: Procedure,
    *,
    n_draws: int,
    seed: int,
    null_device: str | None = None,
    others: dict[str, float] | None = None,
) -> dict[str, Any]:
    """SVCCA of ``pairs`` versus random subsets of ``superset`` with as many pairs (control
    for the pair-count bias of SVCCA; see :class:`harness.scoring.nulls.SizeMatchedResult`).
    ``null_device``: None = numpy draws one by one; a torch device = batched draws
    (:func:`harness.scoring.device_nulls.size_matched_test_device`, same subsets and numbers).
    ``others``: name -> SVCCA of another set of the same size (e.g. U5's placebo 1-1 set), each
    judged against the same draws: ``<name>_p_plus_one`` (+1 rule).
    Ties: when ``pairs`` is a subset of ``superset`` (the 1-1 set of the many-to-1 set), a draw of
    exactly its pairs is counted as at or above the observed score: the two scores come from
    different code paths (whole-set bases vs batched subset bases) and may differ by rounding."""
    rec: dict[str, Any] = {"n": len(pairs), "n_superset": len(superset)}
    if not np.isfinite(observed):
        return {**rec, "skipped": "observed score is NaN"}

    def score_rows(idx: NDArray[np.int64]) -> float:
        try:
            return svcca(
                space_a.decoder[superset.a_idx[idx]],
                space_b.decoder[superset.b_idx[idx]],
                keep=procedure.svcca_keep,
                max_k=_max_k(procedure, idx.size),
            ).score
        except DegenerateInputError:
            return math.nan

    observed_idx = rows_in(pairs, superset)
    try:
        if null_device is None:
            res = size_matched_test(
                observed,
                score_rows,
                n=len(pairs),
                n_superset=len(superset),
                n_draws=n_draws,
                seed=seed,
                p_rule=procedure.p_rule,
                observed_idx=observed_idx,
            )
        else:
            from harness.scoring.device_nulls import size_matched_test_device

            res = size_matched_test_device(
                observed,
                space_a.decoder[superset.a_idx],
                space_b.decoder[superset.b_idx],
                n=len(pairs),
                n_draws=n_draws,
                seed=seed,
                keep=procedure.svcca_keep,
                max_k=_max_k(procedure, len(pairs)),
                p_rule=procedure.p_rule,
                device=null_device,
                observed_idx=observed_idx,
            )
    except DegenerateInputError as exc:
        return {**rec, "skipped": str(exc)}
    k = res.n_at_or_above(res.observed)  # a draw of the observed set itself is a tie
    k_hold = count_at_or_above(res.draws[1:], float(res.draws[0]))
    return {
        **rec,
        "observed": res.observed,
        "draws_mean": float(res.draws.mean()),
        "draws_std": float(res.draws.std(ddof=1)),
        "p": res.p_value,
        "holdout_p": res.holdout_p,
        "p_plus_one": p_plus_one(k, int(res.draws.size)),
        "holdout_p_plus_one": p_plus_one(k_hold, int(res.draws.size) - 1),
        "n_draws": int(res.draws.size),
        **{
            f"{name}_p_plus_one": p_plus_one(count_at_or_above(res.draws, v), int(res.draws.size))
            if np.isfinite(v)
            else math.nan
            for name, v in (others or {}).items()
        },
    }


def _test2_batched(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    procedure: Procedure,
    observed: float,
    *,
    rule: str,
    sizes: tuple[int, int],
    pools: tuple[NDArray[np.int64], NDArray[np.int64]],
    n_draws: int,
    seed: int,
    device: str,
) -> Any:
    """Test 2 with the draws of :func:`harness.scoring.nulls.random_subset_test` (same seed, same
    subsets, the same pairs), paired and scored in batches on ``device``
    (:func:`harness.experiments.subset_pairing.score_test2_draws`: batched correlations and 1-1 rule,
    SVCCAs batched by pair count, equal to the per-draw numpy path to 1e-10)."""
    from harness.experiments.subset_pairing import score_test2_draws
    from harness.scoring.nulls import random_subset_draws, subset_test_result

    draws = random_subset_draws(
        size_a=sizes[0], size_b=sizes[1], pool_a=pools[0], pool_b=pools[1], n_draws=n_draws, seed=seed
    )
    scores = score_test2_draws(space_a, space_b, procedure, draws, rule=rule, device=device)
    return subset_test_result(observed, scores, seed=seed, p_rule=procedure.p_rule)


#: Bootstrap resamples of a semantic table's pairs for the standard errors of its scores (S2/S4's
#: intervals); 0 = none (the semantic grid, the calibration worlds: rules fall back on the null's sd).
SEMANTIC_BOOTSTRAP = 200


@single_threaded
def bootstrap_se(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    pairs: Pairs,
    procedure: Procedure,
    *,
    n_boot: int,
    seed: int,
    device: str | None = None,
) -> dict[str, Any]:
    """Bootstrap standard errors of the observed SVCCA and RSA of ``pairs`` (pairs resampled with
    replacement, ``n_boot`` times, seeded): ``svcca_boot_se``, ``rsa_boot_se`` (sd over the
    resamples, ddof 1; NaN with fewer than 2 finite ones) and ``<metric>_boot_n`` (resamples scored:
    the cost model counts them). SVCCA of a resample
    is batched (:func:`svcca_of_sets`: repeated pairs weigh twice); RSA leaves out the similarity
    entries between two copies of one pair (exactly 1 on both sides: they would inflate the rank
    correlation), exact integer ranks as :mod:`harness.scoring.device_nulls`. The score's sampling
    sd, which S2/S4's intervals need; the shuffled-pairing null's sd is the sd at chance."""
    from harness.scoring.device_nulls import doubled_average_ranks, similarity_matrix

    n = len(pairs)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(int(n_boot), n))
    a_idx, b_idx = np.asarray(pairs.a_idx), np.asarray(pairs.b_idx)
    sv = svcca_of_sets(space_a, space_b, [(a_idx[i], b_idx[i]) for i in idx], procedure, device=device)
    dev = torch.device(device or "cpu")
    rs = np.full(int(n_boot), np.nan)
    iu = torch.triu_indices(n, n, offset=1, device=dev)
    for k, i in enumerate(idx):
        it = torch.as_tensor(i, device=dev)
        keep = it[iu[0]] != it[iu[1]]
        try:
            c = []
            for dec, rows in ((space_a.decoder, a_idx[i]), (space_b.decoder, b_idx[i])):
                sim = similarity_matrix(torch.as_tensor(dec[rows], device=dev), inner=procedure.rsa_inner)
                v = sim[iu[0], iu[1]][keep]
                r2 = doubled_average_ranks(v).to(torch.float64)
                c.append(r2 - r2.mean())
            den = torch.linalg.vector_norm(c[0]) * torch.linalg.vector_norm(c[1])
            rs[k] = float((c[0] @ c[1]) / den) if float(den) > 0 else math.nan
        except DegenerateInputError:
            continue

    def sd(x: NDArray[np.float64]) -> float:
        ok = x[np.isfinite(x)]
        return float(ok.std(ddof=1)) if ok.size > 1 else math.nan

    return {
        "svcca_boot_se": sd(sv),
        "rsa_boot_se": sd(rs),
        "svcca_boot_n": int(np.isfinite(sv).sum()),
        "rsa_boot_n": int(np.isfinite(rs).sum()),
    }


def compare_concept(
    space_a: FeatureSpace,
    space_b: FeatureSpace,
    category: str,
    keywords: Sequence[str],
    procedure: Procedure,
    *,
    n_permutations: int | None = None,
    n_random_subsets: int | None = None,
    null_device: str | None = None,
    n_bootstrap: int = 0,
) -> dict[str, Any]:
    """Semantic-subspace comparison for one concept category (Tables 1, 2, 9).

    ``n_bootstrap`` > 0 adds the scores' bootstrap standard errors (:func:`bootstrap_se`; the
    semantic table of S2/S4).

    Test 1: shuffled pairing within the subspace. Test 2: random feature subsets of the same
    sizes (from all live features), paired by correlation within the subsets with the same
    1-1 rule, scored the same way. ``null_device``: Test 1's nulls (see :func:`score_pairs`) and
    Test 2's SVCCAs batched on that device (same draws and pairs).
    """
    if n_permutations is not None:
        _positive(n_permutations, "n_permutations")  # before any work
    python_set = procedure.semantic_column_order == "python_set"
    order = "python_set" if python_set else "ascending"
    feats_a = space_a.concept(keywords, rule=procedure.whole_word_rule, order=order)
    feats_b = space_b.concept(keywords, rule=procedure.whole_word_rule, order=order)
    rec: dict[str, Any] = {
        "category": category,
        "a": space_a.name,
        "b": space_b.name,
        "procedure": procedure.name,
        "n_concept_a": int(feats_a.size),
        "n_concept_b": int(feats_b.size),
    }
    if min(feats_a.size, feats_b.size) < procedure.min_subspace_size:
        rec.update(skipped=f"too few concept features ({feats_a.size}, {feats_b.size})", n_pairs=0)
        return rec
    rule = procedure.one_to_one
    # Paper: columns in the authors' list(set) order, and "first seen" walks B in that order.
    pairs = pair_subsets(space_a, space_b, feats_a, feats_b, rule=rule, order="given" if python_set else "sorted")
    n_perm = procedure.n_permutations_semantic if n_permutations is None else n_permutations
    rec.update(
        score_pairs(
            space_a,
            space_b,
            pairs,
            procedure,
            n_permutations=n_perm,
            identity=("semantic", category),
            null_device=null_device,
        )
    )
    if "skipped" in rec or not np.isfinite(rec.get("svcca", math.nan)):
        return rec
    if n_bootstrap > 0:
        rec.update(
            bootstrap_se(
                space_a,
                space_b,
                pairs,
                procedure,
                n_boot=n_bootstrap,
                seed=cell_seed(procedure.seed, "bootstrap", category, space_a.name, space_b.name),
                device=null_device,
            )
        )
    live_a = np.flatnonzero(space_a.live)
    live_b = np.flatnonzero(space_b.live)
    n = len(pairs)
    max_k = _max_k(procedure, n)

    def score_subsets(ia: NDArray[np.int64], ib: NDArray[np.int64]) -> float:
        p = pair_subsets(space_a, space_b, ia, ib, rule=rule)
        if len(p) < max(procedure.min_subspace_size, 3):
            return math.nan
        try:
            return svcca(
                space_a.decoder[p.a_idx],
                space_b.decoder[p.b_idx],
                keep=procedure.svcca_keep,
                max_k=_max_k(procedure, len(p)),
            ).score
        except DegenerateInputError:
            return math.nan

    n_draws = n_random_subsets or procedure.n_random_subsets
    seed = cell_seed(procedure.seed, "test 2", category, space_a.name, space_b.name)
    if null_device is None:
        t2 = random_subset_test(
            rec["svcca"],
            score_subsets,
            size_a=int(feats_a.size),
            size_b=int(feats_b.size),
            pool_a=live_a,
            pool_b=live_b,
            n_draws=n_draws,
            seed=seed,
            p_rule=procedure.p_rule,
        )
    else:
        t2 = _test2_batched(
            space_a,
            space_b,
            procedure,
            rec["svcca"],
            rule=rule,
            sizes=(int(feats_a.size), int(feats_b.size)),
            pools=(live_a, live_b),
            n_draws=n_draws,
            seed=seed,
            device=null_device,
        )
    k2 = count_at_or_above(t2.null, t2.observed)
    rec.update(
        test2_null_mean=float(t2.null.mean()),
        test2_p=t2.p_value,
        test2_failed=t2.n_failed,
        test2_n=int(t2.null.size),
        test2_p_plus_one=p_plus_one(k2, int(t2.null.size)),
        test2_p_paper=f"{k2}/{t2.null.size}",
        test2_excess=excess_over_chance(t2.observed, float(t2.null.mean())),
        svcca_max_k=max_k,
    )
    return rec
