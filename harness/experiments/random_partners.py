"""U1/U2's filter-aware control: random partners that pass the same token filters as a real partner,
drawn 1-1 (:func:`random_partner_draws`), and the real pairing ranked among such sets
(:func:`random_partner_contrast`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from harness.config import Procedure
from harness.errors import ConfigError
from harness.pairing.matching import (
    Pairs,
)
from harness.scoring.effects import (
    TIE_ATOL,
    p_plus_one,
)
from harness.experiments.feature_space import FeatureSpace
from harness.experiments.space_pairing import paired_correlation
from harness.experiments.pair_scores import rsa_of_sets, svcca_of_sets


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
