"""End-to-end engine on the synthetic world: planted structure passes, the control fails."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config import CORRECTED, PAPER
from harness.errors import ShapeError
from harness.experiments.spaces import FeatureSpace, compare_concept, compare_spaces
from harness.experiments.synthetic import synthetic_pair


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_planted_pair_is_significant_and_shuffled_control_is_not(procedure) -> None:  # type: ignore[no-untyped-def]
    a, b = synthetic_pair()
    rec = compare_spaces(a, b, procedure, n_permutations=99)
    one = rec["one_to_one"]
    assert one["n_pairs"] >= 140  # 150 planted shared features
    assert one["svcca_p"] <= 0.01 and one["rsa_p"] <= 0.01
    assert one["svcca"] > one["svcca_null_mean"] + 0.2
    ca, cb = synthetic_pair(shuffle_b_positions=True)
    ctrl = compare_spaces(ca, cb, procedure, n_permutations=99)["one_to_one"]
    assert ctrl["svcca_p"] > 0.05 and ctrl["rsa_p"] > 0.05


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_top_correlated_control_set_is_scored_at_the_requested_size(procedure) -> None:  # type: ignore[no-untyped-def]
    """The negative control's top-correlated set (filters and threshold off) has exactly the
    requested number of pairs, is scored, and is not significant on misaligned positions,
    while on aligned positions the same set is."""
    a, b = synthetic_pair()
    n = compare_spaces(a, b, procedure, n_permutations=9)["one_to_one"]["n_pairs"]
    ca, cb = synthetic_pair(shuffle_b_positions=True)
    rec = compare_spaces(ca, cb, procedure, n_permutations=99, n_top_correlated=n)
    top = rec["top_correlated"]
    from dataclasses import replace

    from harness.experiments.spaces import pair_spaces

    available = len(pair_spaces(ca, cb, replace(procedure, corr_threshold=-1.0), token_filters=False)[0])
    assert top["n_pairs"] == min(n, available) and top["n_pairs"] > 0.9 * n and np.isfinite(top["svcca"])
    assert top["svcca_p"] > 0.05
    aligned = compare_spaces(a, b, procedure, n_permutations=99, n_top_correlated=n)["top_correlated"]
    assert aligned["n_pairs"] <= n and aligned["svcca_p"] <= 0.01
    assert "top_correlated" not in compare_spaces(a, b, procedure, n_permutations=9)


def test_pairing_recovers_the_planted_correspondence() -> None:
    from harness.experiments.spaces import pair_spaces

    a, b = synthetic_pair(seed=3)
    pairs, _ = pair_spaces(a, b, CORRECTED)
    shared = pairs.a_idx < 150
    # the generator maps A feature g to B feature perm[g]; recover perm via the decoders'
    # trigger tokens: paired features must fire on the same token.
    ta = a.tokens.ravel()[a.codes.tocsc()[:, pairs.a_idx[shared]].argmax(axis=0).A1]
    tb = b.tokens.ravel()[b.codes.tocsc()[:, pairs.b_idx[shared]].argmax(axis=0).A1]
    assert np.mean(ta == tb) > 0.95


def test_concept_comparison_and_shape_errors() -> None:
    a, b = synthetic_pair(seed=4)
    words = [w.strip() for w in a.vocab[:120]]  # a "concept" = the first 120 words
    rec = compare_concept(a, b, "first-words", words, CORRECTED, n_permutations=99, n_random_subsets=20)
    assert rec["n_concept_a"] > 10 and rec["n_pairs"] > 10
    assert rec["svcca_p"] < 0.05
    assert np.isfinite(rec["test2_p"]) and rec["test2_failed"] <= 20
    with pytest.raises(ShapeError, match="same SAE"):
        FeatureSpace(name="bad", codes=a.codes, decoder=a.decoder[:-1], tokens=a.tokens,
                     sample_index=a.sample_index, position_index=a.position_index, vocab=a.vocab, junk_tokens=())


def test_shuffled_positions_control_keeps_features_but_breaks_alignment() -> None:
    a, b = synthetic_pair(seed=5)
    c = b.with_shuffled_positions(seed=1)
    assert c.strings == b.strings  # each feature keeps its own top tokens
    assert c.codes.nnz == b.codes.nnz and (c.codes != b.codes).nnz > 0
    from harness.pairing.matching import max_correlation

    assert np.nanmean(max_correlation(a.codes, c.codes).corr_for_b) < 0.5 * np.nanmean(
        max_correlation(a.codes, b.codes).corr_for_b)


def test_dead_features_never_join_a_concept() -> None:
    """Under require_active=False a never-active feature's 'top positions' are the first
    positions of the run; if they hold a keyword, the dead feature must still be left out."""
    import scipy.sparse as sp

    a, _ = synthetic_pair(seed=6)
    first_word = a.vocab[int(a.tokens[0, 1])].strip()
    codes = sp.lil_matrix(a.codes)
    codes[:, 0] = 0  # feature 0 is dead
    dead = FeatureSpace(name="dead0", codes=sp.csr_matrix(codes), decoder=a.decoder, tokens=a.tokens,
                        sample_index=a.sample_index, position_index=a.position_index, vocab=a.vocab,
                        junk_tokens=(), top_k=5, require_active=False)
    assert 1 in set(dead.top[0])  # the padded positions of the dead feature include position 1
    members = dead.concept([first_word])
    assert members.size > 0 and 0 not in set(members.tolist())


def test_zero_permutations_is_an_error() -> None:
    """Issue 14, finding 8: n_permutations=0 silently meant the procedure's default."""
    from harness.config import CORRECTED
    from harness.errors import ConfigError
    from harness.experiments.spaces import compare_concept, compare_spaces
    from harness.experiments.synthetic import synthetic_pair

    a, b = synthetic_pair()
    with pytest.raises(ConfigError, match="n_permutations=0"):
        compare_spaces(a, b, CORRECTED, n_permutations=0)
    with pytest.raises(ConfigError, match="n_permutations=-1"):
        compare_concept(a, b, "x", ("x",), CORRECTED, n_permutations=-1)
