"""FeatureSpace: codes, top strings and the token filters' sparse form, concepts, shuffled copies."""

from __future__ import annotations

import numpy as np
import pytest

from harness.experiments.feature_space import FeatureSpace
from harness.experiments.synthetic import synthetic_pair


def test_shuffled_positions_control_keeps_features_but_breaks_alignment() -> None:
    a, b = synthetic_pair(seed=5)
    c = b.with_shuffled_positions(seed=1)
    assert c.strings == b.strings  # each feature keeps its own top tokens
    assert c.codes.nnz == b.codes.nnz and (c.codes != b.codes).nnz > 0
    from harness.pairing.matching import max_correlation

    assert np.nanmean(max_correlation(a.codes, c.codes).corr_for_b) < 0.5 * np.nanmean(
        max_correlation(a.codes, b.codes).corr_for_b
    )


def test_dead_features_never_join_a_concept() -> None:
    """Under require_active=False a never-active feature's 'top positions' are the first
    positions of the run; if they hold a keyword, the dead feature must still be left out."""
    import scipy.sparse as sp

    a, _ = synthetic_pair(seed=6)
    first_word = a.vocab[int(a.tokens[0, 1])].strip()
    codes = sp.lil_matrix(a.codes)
    codes[:, 0] = 0  # feature 0 is dead
    dead = FeatureSpace(
        name="dead0",
        codes=sp.csr_matrix(codes),
        decoder=a.decoder,
        tokens=a.tokens,
        sample_index=a.sample_index,
        position_index=a.position_index,
        vocab=a.vocab,
        junk_tokens=(),
        top_k=5,
        require_active=False,
    )
    assert 1 in set(dead.top[0])  # the padded positions of the dead feature include position 1
    members = dead.concept([first_word])
    assert members.size > 0 and 0 not in set(members.tolist())


@pytest.mark.parametrize("seed", [0, 3])
def test_token_masks_equal_the_per_feature_filter(seed: int) -> None:
    """The space's sparse masks (string_incidence, cached junk_mask, token_mask) equal the per-feature
    Python filter (nonconcept_mask) on its own top strings; the junk mask is computed once."""
    from harness.pairing.concepts import nonconcept_mask

    a, _ = synthetic_pair(seed=seed)
    assert np.array_equal(a.junk_mask(), nonconcept_mask(a.strings, a.junk_tokens))
    assert a.junk_mask() is a.junk_mask()
    common = sorted({t for row in a.strings for t in row})[:5]
    assert np.array_equal(a.token_mask(common), nonconcept_mask(a.strings, common))
    assert a.token_mask(common).any()
    assert a.string_incidence.n_features == a.n_features
