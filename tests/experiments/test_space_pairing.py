"""Whole-space pairing: correlations, token filters, 1-1 rule, threshold."""

from __future__ import annotations


import numpy as np

from harness.config import CORRECTED
from harness.experiments.synthetic import synthetic_pair


def test_pairing_recovers_the_planted_correspondence() -> None:
    from harness.experiments.space_pairing import pair_spaces

    a, b = synthetic_pair(seed=3)
    pairs, _ = pair_spaces(a, b, CORRECTED)
    shared = pairs.a_idx < 150
    # the generator maps A feature g to B feature perm[g]; recover perm via the decoders'
    # trigger tokens: paired features must fire on the same token.
    ta = a.tokens.ravel()[a.codes.tocsc()[:, pairs.a_idx[shared]].argmax(axis=0).A1]
    tb = b.tokens.ravel()[b.codes.tocsc()[:, pairs.b_idx[shared]].argmax(axis=0).A1]
    assert np.mean(ta == tb) > 0.95
