"""U1/U2's filter-aware random partners: the draw's law and filters, the contrast."""

from __future__ import annotations


import numpy as np
import pytest

from harness.config import CORRECTED, PAPER
from harness.experiments.spaces import compare_spaces
from harness.experiments.synthetic import synthetic_pair


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_random_partners_pass_the_filters_and_are_not_significant(procedure) -> None:
    """The filter-aware control: random partners (not the real one) that pass the same token
    filters, 1-1; on the synthetic world (filters unrelated to decoders) it is not significant."""
    from harness.experiments.random_partners import random_partner_pairs
    from harness.pairing.matching import correlation_submatrix

    a, b = synthetic_pair()
    rec = compare_spaces(a, b, procedure, n_permutations=99, random_partners=True)
    rp = rec["random_partner"]
    assert rp["n_pairs"] > 0.5 * rec["one_to_one"]["n_pairs"]
    assert rp["svcca_p"] > 0.05 and rp["svcca_excess"] < 0.5 * rec["one_to_one"]["svcca_excess"]
    from harness.experiments.space_pairing import pair_spaces

    real, _ = pair_spaces(a, b, procedure)
    pairs = random_partner_pairs(a, b, real, procedure, seed=3)
    assert len(set(pairs.b_idx.tolist())) == len(pairs)  # 1-1
    assert set(pairs.a_idx.tolist()) <= set(real.a_idx.tolist())
    junk_b = b.junk_mask()
    for i, j in zip(pairs.a_idx, pairs.b_idx, strict=True):
        assert not (procedure.filter_nonconcept and junk_b[j])
        assert not procedure.filter_shared_token or set(a.strings[i]) & set(b.strings[j])
    corr = correlation_submatrix(a.codes, b.codes, pairs.a_idx, pairs.b_idx).diagonal()
    assert np.allclose(corr, pairs.corr)
    partner = dict(zip(real.a_idx.tolist(), real.b_idx.tolist(), strict=True))
    assert all(partner[i] != j for i, j in zip(pairs.a_idx.tolist(), pairs.b_idx.tolist(), strict=True))


def _candidate_sets(space_a, space_b, pairs, procedure):
    """Reference candidates (Python sets): per A feature of ``pairs``, the eligible B features a
    random partner may take (live, not non-concept, sharing a top string, as the procedure enables)."""
    from harness.pairing.concepts import nonconcept_mask

    ok_b = space_b.live.copy()
    if procedure.filter_nonconcept:
        ok_b &= ~nonconcept_mask(space_b.strings, space_b.junk_tokens)
    eligible = set(np.flatnonzero(ok_b).tolist())
    out = []
    for a, real in zip(pairs.a_idx.tolist(), pairs.b_idx.tolist(), strict=True):
        if procedure.filter_shared_token:
            cands = {j for j in eligible if set(space_a.strings[a]) & set(space_b.strings[j])}
        else:
            cands = set(eligible)
        out.append(cands - {real})
    return out


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED, CORRECTED.replace(filter_shared_token=False)], ids=str)
def test_random_partner_sets_pass_the_filters_one_to_one(procedure) -> None:
    """Every random-partner set: each A feature at most once, each B feature at most once, never the
    real partner, always a candidate of the reference filters; an A feature is dropped only when
    every one of its candidates was taken before it; set s is the same whatever n_sets."""
    from harness.experiments.space_pairing import pair_spaces
    from harness.experiments.random_partners import random_partner_draws, random_partner_pairs

    a, b = synthetic_pair()
    pairs, _ = pair_spaces(a, b, procedure)
    cands = dict(zip(pairs.a_idx.tolist(), _candidate_sets(a, b, pairs, procedure), strict=True))
    draws = random_partner_draws(a, b, pairs, procedure, seed=3, n_sets=5)
    for ia, ib in draws:
        assert len(set(ia.tolist())) == ia.size and len(set(ib.tolist())) == ib.size > 10
        used: set[int] = set()
        for x, y in zip(ia.tolist(), ib.tolist(), strict=True):
            assert y in cands[x] and y not in used
            used.add(y)
        for x in set(cands) - set(ia.tolist()):
            assert cands[x] <= used  # dropped: nothing valid was left (its candidates all taken)
    first = random_partner_pairs(a, b, pairs, procedure, seed=3)
    assert first.a_idx.tolist() == draws[0][0].tolist() and first.b_idx.tolist() == draws[0][1].tolist()
    assert random_partner_draws(a, b, pairs, procedure, seed=3, n_sets=2)[1][1].tolist() == draws[1][1].tolist()


def _exact_law(cands: list[list[int]], real: list[int]) -> dict[frozenset, float]:
    """Exact outcome probabilities of the sequential 1-1 partner draw (A features in uniform random
    order, each a uniform valid option), by enumeration over orders and choices."""
    import itertools

    law: dict[frozenset, float] = {}

    def serve(order, used, pairs, p):
        if not order:
            key = frozenset(pairs)
            law[key] = law.get(key, 0.0) + p
            return
        i, rest = order[0], order[1:]
        opts = [j for j in cands[i] if j not in used and j != real[i]]
        if not opts:
            serve(rest, used, pairs, p)
        for j in opts:
            serve(rest, used | {j}, pairs + [(i, j)], p / len(opts))

    orders = list(itertools.permutations(range(len(cands))))
    for order in orders:
        serve(order, frozenset(), [], 1.0 / len(orders))
    return law


def test_one_to_one_partner_draws_follow_the_sequential_law() -> None:
    """The vectorized draw (rejection tries, then the exact choice) has the law of the sequential
    reference: chi-square goodness of fit over 6000 sets on a small instance whose options collide
    (4 A features, overlapping candidates, a real partner among them; exact law by enumeration);
    the same test rejects a sampler that takes the first valid option instead."""
    from scipy.stats import chisquare

    from harness.experiments.random_partners import PARTNER_TRIES, one_to_one_partner_draws

    cands = [[0, 1, 2], [1, 2], [2, 3, 4, 5], [1]]
    real = [0, 9, 3, 9]
    flat = np.array([j for c in cands for j in c], dtype=np.int64)
    lens = np.array([len(c) for c in cands], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    law = _exact_law(cands, real)
    outcomes = sorted(law, key=sorted)
    draws = one_to_one_partner_draws(flat, offs, lens, np.array(real), 10, seed=11, n_sets=6000)
    counts = {o: 0 for o in outcomes}
    for steps, b in draws:
        counts[frozenset(zip(steps.tolist(), b.tolist(), strict=True))] += 1
    observed = np.array([counts[o] for o in outcomes])
    expected = np.array([law[o] for o in outcomes]) * len(draws)
    assert len(outcomes) > 10 and PARTNER_TRIES >= 1
    assert chisquare(observed, expected).pvalue > 1e-3
    # a biased sampler (first valid option, random order) is rejected by the same test
    rng = np.random.default_rng(0)
    biased = {o: 0 for o in outcomes}
    for _ in range(6000):
        used: set[int] = set()
        got = []
        for i in rng.permutation(4).tolist():
            opts = [j for j in cands[i] if j not in used and j != real[i]]
            if opts:
                used.add(opts[0])
                got.append((i, opts[0]))
        biased[frozenset(got)] += 1
    assert chisquare(np.array([biased[o] for o in outcomes]), expected).pvalue < 1e-6


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_random_partner_contrast_distinguishes_a_real_pairing_and_not_a_broken_one(procedure) -> None:
    """U1/U2's control as a contrast: the real 1-1 pairing ranked among 99 filter-aware random-partner
    sets. True input (planted pairs): distinguished (p <= 0.05 over 299 sets). Broken input (B's decoder rows
    replaced by noise, so the correlation pairing is no better than any partner the filters accept):
    not distinguished."""
    import dataclasses

    from harness.experiments.space_pairing import pair_spaces

    from harness.experiments.random_partners import random_partner_contrast, random_partner_draws, random_partner_pairs

    a, b = synthetic_pair()
    real, _ = pair_spaces(a, b, procedure)
    # 299 sets: under `paper` (k = 1 SVCCA) about 1.4% of the draws reach the real pairing's score on
    # their A features (measured over 1,800 draws), so a 99-set p swings between 0.01 and 0.05
    rec = random_partner_contrast(a, b, real, procedure, n_sets=299, seed=1)
    assert rec["random_partner_sets"] == 299 and rec["svcca_rp_contrast_n"] == 299 and rec["rsa_rp_contrast_n"] == 299
    assert rec["svcca_rp_contrast_p"] <= 0.05 and rec["rsa_rp_contrast_p"] <= 0.02
    assert rec["svcca_rp_contrast_observed"] > rec["svcca_rp_sets_mean"]
    broken_b = dataclasses.replace(b, decoder=np.random.default_rng(5).standard_normal(b.decoder.shape))
    broken = random_partner_contrast(a, broken_b, real, procedure, n_sets=99, seed=1)
    assert broken["svcca_rp_contrast_p"] > 0.2 and broken["rsa_rp_contrast_p"] > 0.2
    # set 0 is random_partner_pairs' set; every set is 1-1, never the real partner
    draws = random_partner_draws(a, b, real, procedure, seed=1, n_sets=3)
    first = random_partner_pairs(a, b, real, procedure, seed=1)
    assert draws[0][0].tolist() == first.a_idx.tolist() and draws[0][1].tolist() == first.b_idx.tolist()
    partner = dict(zip(real.a_idx.tolist(), real.b_idx.tolist(), strict=True))
    for ia, ib in draws:
        assert len(set(ib.tolist())) == ib.size and all(
            partner[x] != y for x, y in zip(ia.tolist(), ib.tolist(), strict=True)
        )


def test_grid_cells_carry_the_random_partner_contrast_and_its_draw_count() -> None:
    from harness.experiments.grid import _cell

    a, b = synthetic_pair()
    rec = compare_spaces(
        a, b, CORRECTED, n_permutations=9, n_size_matched=9, random_partners=True, random_partner_sets=7
    )
    c = _cell(rec, 1, 1)
    assert c["random_partner_sets"] == 7 and c["svcca_rp_contrast_n"] == 7
    assert c["svcca_rp_contrast_p"] == pytest.approx(1 / 8)  # 7 sets: the smallest +1-rule p
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="random_partner_sets"):
        compare_spaces(a, b, CORRECTED, n_permutations=9, random_partners=True, random_partner_sets=0)
