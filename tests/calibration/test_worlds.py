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
