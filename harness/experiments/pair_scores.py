"""Scores of one pair set (Lan et al. 2024 Sec. 3, Test 1): SVCCA and RSA of the paired decoder rows
with shuffled-pairing nulls (:func:`score_pairs`), split-half excesses (U7), and the batched SVCCA /
RSA of many pair sets at once (:func:`svcca_of_sets`, :func:`rsa_of_sets`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from harness.config import Procedure
from harness.errors import ConfigError, DegenerateInputError, ResourceError
from harness.pairing.matching import (
    Pairs,
)
from harness.scoring.effects import (
    cell_seed,
    effect_fields,
    excess_over_chance,
)
from harness.scoring.metrics import svcca
from harness.scoring.nulls import permutation_test
from harness.experiments.feature_space import FeatureSpace
from harness.threads import single_threaded


def positive_int(value: int, name: str) -> int:
    """``value`` if it is a positive int, else ConfigError (0 used to mean "the default")."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name}={value!r}: use a positive number of draws, or None for the procedure's default.")
    return int(value)


def svcca_max_k(procedure: Procedure, n: int) -> int | None:
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
            max_k=svcca_max_k(procedure, n),
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
            res = svcca(a, b, keep=procedure.svcca_keep, max_k=svcca_max_k(procedure, n))
        else:
            from harness.scoring.device_nulls import svcca_observed_device

            res = svcca_observed_device(
                a,
                b,
                keep=procedure.svcca_keep,
                max_k=svcca_max_k(procedure, n),
                device=null_device,
                basis_on_device=True,
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
                max_k=svcca_max_k(procedure, half),
                **device_options,
            )
            out[f"svcca_excess_half{i}"] = excess_over_chance(sv.observed, sv.null_mean)
        except DegenerateInputError:
            pass
    return out


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
