"""The pair-count bias control (App. E-F): the 1-1 set's SVCCA against same-size random subsets of a
larger pair set (:func:`size_matched`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from harness.config import Procedure
from harness.errors import DegenerateInputError
from harness.pairing.matching import (
    Pairs,
)
from harness.scoring.effects import (
    count_at_or_above,
    p_plus_one,
)
from harness.scoring.metrics import svcca
from harness.scoring.nulls import size_matched_test
from harness.experiments.feature_space import FeatureSpace
from harness.experiments.pair_scores import svcca_max_k


SIZE_MATCHED_DRAWS = 99
"""Random same-size subsets per grid cell that the 1-1 set is ranked among (p >= 1/100)."""


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
                max_k=svcca_max_k(procedure, idx.size),
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
                max_k=svcca_max_k(procedure, len(pairs)),
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
