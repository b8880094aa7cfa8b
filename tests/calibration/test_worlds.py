"""Known-answer worlds: the null twin is exactly strength 0, the planted structure is what the
pipeline finds, bad knobs fail early."""

from __future__ import annotations

import numpy as np
import pytest

from harness.calibration.worlds import SeedKnobs, SyntheticWorld, WorldKnobs, planted_correlation, seed_pair
from harness.config import CORRECTED
from harness.errors import ConfigError
from harness.pairing.matching import max_correlation
from harness.scoring.metrics import svcca

SMALL = WorldKnobs(n_features=160, n_per_concept=6, n_samples=32, n_layers_a=3, n_layers_b=3)


def test_null_twin_is_strength_zero_with_identical_marginals() -> None:
    planted, twin = SyntheticWorld(SMALL), SyntheticWorld(SMALL.null_twin())
    assert SMALL.null_twin() == SMALL.replace(strength=0.0)
    for which in ("a", "b"):
        for layer in range(3):
            c1, d1, r1 = planted.raw(which, layer)
            c2, d2, r2 = twin.raw(which, layer)
            assert (c1 != c2).nnz == 0  # codes, positions and feature order identical
            np.testing.assert_array_equal(r1.shared, r2.shared)
            np.testing.assert_allclose(np.linalg.norm(d2, axis=1), 1.0)
            if which == "a":
                np.testing.assert_array_equal(d1, d2)
            else:  # only B's shared rows change
                other = np.setdiff1d(np.arange(d1.shape[0]), r1.shared)
                np.testing.assert_array_equal(d1[other], d2[other])
                # layer 0 is unrelated in both worlds (amplitude 0): identical there
                assert np.allclose(d1[r1.shared], d2[r1.shared]) == (layer == 0)
    np.testing.assert_array_equal(planted.tokens, twin.tokens)


def test_planted_pairs_are_found_and_similarity_matches_the_plant() -> None:
    world = SyntheticWorld(SMALL.replace(strength=0.9, layer0_unrelated=False, profile="flat", depth_drift=0.0))
    ca, da, ra = world.raw("a", 1)
    cb, db, rb = world.raw("b", 1)
    mc = max_correlation(ca, cb, dead="exclude")
    # each shared B feature's best A partner is its planted twin
    assert np.mean(mc.a_for_b[rb.shared] == ra.shared) > 0.95
    planted = svcca(da[ra.shared], db[rb.shared], keep=0.99).score
    null = svcca(da[ra.shared], SyntheticWorld(world.knobs.null_twin()).raw("b", 1)[1][rb.shared], keep=0.99).score
    assert planted > null + 0.3
    assert planted_correlation(1, 1, world.knobs) == pytest.approx(0.9)


def test_profile_layer0_and_concepts() -> None:
    k = WorldKnobs()
    assert planted_correlation(0, 2, k) == 0.0  # layer 0 unrelated
    mid, edge = planted_correlation(2, 2, k), planted_correlation(4, 1, k)
    assert mid == pytest.approx(k.strength) and edge < 0.5 * mid
    world = SyntheticWorld(SMALL)
    space = world.space("a", 1, CORRECTED)
    _, _, roles = world.raw("a", 1)
    for cat, words in world.concept_keywords.items():
        found = set(space.concept(words).tolist())
        assert set(roles.concept[cat].tolist()) <= found, cat
    junk = space.junk_mask()
    assert junk[roles.junk].all() and not junk[roles.shared].any()


def test_bad_knobs_fail_with_the_fix() -> None:
    with pytest.raises(ConfigError, match="strength"):
        WorldKnobs(strength=1.5)
    with pytest.raises(ConfigError, match="raise n_features"):
        WorldKnobs(n_features=64)
    with pytest.raises(ConfigError, match="unknown concept"):
        WorldKnobs(concepts=(("Sports", 1.0),))


def test_seed_pair_shares_the_planted_fraction() -> None:
    from harness.seeds.experiment import overlap_record

    for f in (0.0, 0.5):
        _, (a, b) = seed_pair(SeedKnobs(shared_fraction=f, n_latents=128))
        assert overlap_record(a, b)["fraction_shared"] == pytest.approx(f, abs=0.1)
    _, (a, _) = seed_pair(SeedKnobs(shared_fraction=0.5, n_latents=128))
    _, (_, other) = seed_pair(SeedKnobs(shared_fraction=0.5, n_latents=128), layer_key="control")
    assert overlap_record(a, other)["fraction_shared"] < 0.05


# ----------------------------------------------------------------------------- worlds where the controls bite
TOKEN = SMALL.replace(
    concepts=(), n_junk=8, shared_fraction=0.5, features_per_token=4, token_coherence=0.6, group_strength=0.8
)


def _token_partners(world: SyntheticWorld, layer: int) -> dict[str, float]:
    """1-1 SVCCA of A's generic shared features with: their planted partner, another B feature of the
    same trigger token (the next one in the group), and a random B shared feature."""
    k = world.knobs
    _, da, ra = world.raw("a", layer)
    _, db, rb = world.raw("b", layer)
    n, m = k.n_shared, k.features_per_token
    a = da[ra.shared[:n]]
    same_token = np.array([(g // m) * m + (g % m + 1) % m for g in range(n)])
    rnd = np.random.default_rng(0).permutation(n)
    return {
        "real": svcca(a, db[rb.shared[:n]]).score,
        "same token": svcca(a, db[rb.shared[same_token]]).score,
        "random": svcca(a, db[rb.shared[rnd]]).score,
    }


def test_token_world_shares_tokens_and_decoder_structure_to_the_planted_degree() -> None:
    """Measured on the world: features of one trigger token share their token (the shared-top-token
    filter accepts them as partners), and their decoders are alike across models whatever the
    strength; at strength 0 the real partner is no more alike than a same-token one."""
    from harness.experiments.random_partners import random_partner_pairs
    from harness.pairing.matching import Pairs

    null = SyntheticWorld(TOKEN.replace(strength=0.0))
    planted = SyntheticWorld(TOKEN.replace(strength=0.7))
    # the token stream: 4 features per trigger token, on disjoint occurrences
    assert TOKEN.n_trigger_tokens == TOKEN.n_shared // 4
    tok = null.tokens.ravel()
    g0 = null.trigger_positions[:4]
    assert len({int(t) for t in tok[g0].ravel()}) == 1 and len(set(g0.ravel().tolist())) == g0.size
    s0, s7 = _token_partners(null, 1), _token_partners(planted, 1)
    assert s0["same token"] > s0["random"] + 0.05  # the filters alone carry signal
    assert abs(s0["real"] - s0["same token"]) < 0.05  # ... and all of it at strength 0
    assert s7["real"] > s7["same token"] + 0.1  # the planted pairs carry more
    # the filter-aware control draws exactly such partners: same token, not the real one
    sa, sb = null.space("a", 1, CORRECTED), null.space("b", 1, CORRECTED)
    _, _, ra = null.raw("a", 1)
    _, _, rb = null.raw("b", 1)
    n = TOKEN.n_shared
    real = Pairs(ra.shared[:n], rb.shared[:n], np.ones(n), ())
    rp = random_partner_pairs(sa, sb, real, CORRECTED, seed=0)
    assert rp.a_idx.size > 0.9 * n
    group_of_b = {int(c): g // 4 for g, c in enumerate(rb.shared[:n])}
    group_of_a = {int(c): g // 4 for g, c in enumerate(ra.shared[:n])}
    same = [group_of_b.get(int(b)) == group_of_a[int(a)] for a, b in zip(rp.a_idx, rp.b_idx, strict=True)]
    assert np.mean(same) > 0.6  # the others: B's many-to-1 split twins, which fire on the same token
    shares = [bool(set(sa.strings[a]) & set(sb.strings[b])) for a, b in zip(rp.a_idx, rp.b_idx, strict=True)]
    assert all(shares)
    # without token structure a random partner has no candidate sharing its token
    plain = SyntheticWorld(TOKEN.replace(features_per_token=1, token_coherence=0.0, group_strength=0.0))
    _, _, pa = plain.raw("a", 1)
    _, _, pb = plain.raw("b", 1)
    rp0 = random_partner_pairs(
        plain.space("a", 1, CORRECTED),
        plain.space("b", 1, CORRECTED),
        Pairs(pa.shared[:n], pb.shared[:n], np.ones(n), ()),
        CORRECTED,
        seed=0,
    )
    assert rp0.a_idx.size < 0.5 * n


def test_token_structure_off_leaves_the_world_unchanged() -> None:
    a = SyntheticWorld(SMALL).raw("b", 1)
    b = SyntheticWorld(SMALL.replace(features_per_token=1)).raw("b", 1)
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ConfigError, match="features_per_token > 1"):
        WorldKnobs(group_strength=0.5)
    with pytest.raises(ConfigError, match="semantic_layers_b"):
        WorldKnobs(n_layers_b=4, semantic_layers_b=(5,))


def test_x1_world_has_a_low_shared_fraction_and_a_high_paired_svcca() -> None:
    """Measured on the world: with the non-shared latents a linear image, the shared fraction stays
    at the planted 0.4 while the paired rows' SVCCA is high; at strength 0 it is low."""
    from harness.seeds.experiment import overlap_record

    k = SeedKnobs(shared_fraction=0.4, subspaces=True, n_latents=192)
    out = {}
    for lin in (0.0, 1.0):
        _, (a, b) = seed_pair(k.replace(unshared_linear=lin))
        frac = overlap_record(a, b)["fraction_shared"]
        # paired by code correlation (both seeds fire on the same triggers)
        mc = max_correlation(a["codes"], b["codes"], dead="exclude")
        ib = np.arange(k.n_latents)
        out[lin] = (frac, svcca(a["dec"][mc.a_for_b[ib]], b["dec"][ib]).score)
    assert out[0.0][0] == pytest.approx(0.4, abs=0.1) and out[1.0][0] == pytest.approx(0.4, abs=0.1)
    assert out[1.0][1] > 0.8 and out[0.0][1] < 0.6
    with pytest.raises(ConfigError, match="subspaces=True"):
        SeedKnobs(unshared_linear=0.5)


def test_paper_shaped_worlds_have_the_papers_layers() -> None:
    from harness.calibration.run import PAPER_PAIRS, WORLD_SHAPES

    pythia = SyntheticWorld(WorldKnobs().replace(**WORLD_SHAPES["pythia"]))
    p = pythia.profile
    assert (len(p.layers_a), len(p.layers_b)) == (6, 12)  # Pythia-70m x 160m, 5 x 11 non-zero
    assert p.semantic_layers_a == (1, 2, 3, 4, 5) and p.semantic_layers_b == (3, 5, 7, 9, 11)
    assert p.semantic_table == (3, 5)
    gemma = SyntheticWorld(WorldKnobs().replace(**WORLD_SHAPES["gemma-semantic"])).profile
    assert gemma.semantic_layers_a == (6, 10, 12, 17) and gemma.semantic_layers_b == (6, 10, 14, 17)
    big = WorldKnobs().replace(**PAPER_PAIRS)
    assert 1880 <= big.n_shared + big.n_concept  # at least the smallest 1-1 count of Table 6
