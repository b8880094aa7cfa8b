"""Semantic subspaces: concept pairing, Test 1 / Test 2, bootstrap standard errors."""

from __future__ import annotations


import numpy as np
import pytest

from harness.config import CORRECTED, PAPER
from harness.errors import ShapeError
from harness.experiments.feature_space import FeatureSpace
from harness.experiments.semantic_subspaces import compare_concept
from harness.experiments.synthetic import synthetic_pair


def test_concept_comparison_and_shape_errors() -> None:
    a, b = synthetic_pair(seed=4)
    words = [w.strip() for w in a.vocab[:120]]  # a "concept" = the first 120 words
    rec = compare_concept(a, b, "first-words", words, CORRECTED, n_permutations=99, n_random_subsets=20)
    assert rec["n_concept_a"] > 10 and rec["n_pairs"] > 10
    assert rec["svcca_p"] < 0.05
    assert np.isfinite(rec["test2_p"]) and rec["test2_failed"] <= 20
    with pytest.raises(ShapeError, match="same SAE"):
        FeatureSpace(
            name="bad",
            codes=a.codes,
            decoder=a.decoder[:-1],
            tokens=a.tokens,
            sample_index=a.sample_index,
            position_index=a.position_index,
            vocab=a.vocab,
            junk_tokens=(),
        )


def test_paper_semantic_subset_uses_the_authors_set_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``paper`` the subset's columns reach the pairing in list(set) order (ids added
    keyword by keyword) with "first seen" walking B in that order; ``sorted`` passes ascending ids."""
    import harness.experiments.semantic_subspaces as ex
    from harness.pairing.concepts import python_set_order

    a, b = synthetic_pair(seed=4)
    words = [w.strip() for w in a.vocab[:120] if w.strip()][:20]  # small set: ids exceed its table size
    seen: list[tuple[list[int], list[int], str]] = []
    real = ex.pair_subsets

    def spy(space_a, space_b, idx_a, idx_b, **kw):
        if not seen or len(seen) < 2:
            seen.append((list(idx_a), list(idx_b), kw.get("order", "sorted")))
        return real(space_a, space_b, idx_a, idx_b, **kw)

    monkeypatch.setattr(ex, "pair_subsets", spy)
    compare_concept(a, b, "w", words, PAPER, n_permutations=9, n_random_subsets=2)
    ia, ib, order = seen[0]
    assert order == "given" and PAPER.semantic_column_order == "python_set"
    per_kw = [[f for f in sorted(b.concept([w], rule="spaces").tolist())] for w in words]
    assert ib == python_set_order(per_kw).tolist() and ib != sorted(ib)
    seen.clear()
    compare_concept(
        a,
        b,
        "w",
        words,
        PAPER.replace(name="p-sorted", semantic_column_order="sorted"),
        n_permutations=9,
        n_random_subsets=2,
    )
    assert seen[0][2] == "sorted" and seen[0][1] == sorted(ib)


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_semantic_test2_batched_on_device_equals_per_draw(procedure) -> None:
    """compare_concept(null_device=...) batches Test 2's SVCCAs by pair count: same draws, same
    pairs, null equal to the per-draw numpy SVCCA to 1e-10, same p-value and failures."""
    a, b = synthetic_pair(seed=4)
    words = [w.strip() for w in a.vocab[:150] if w.strip()][:40]
    ref = compare_concept(a, b, "w", words, procedure, n_permutations=19, n_random_subsets=12)
    got = compare_concept(a, b, "w", words, procedure, n_permutations=19, n_random_subsets=12, null_device="cpu")
    assert "skipped" not in ref and ref["n_pairs"] == got["n_pairs"] >= 3
    assert got["test2_null_mean"] == pytest.approx(ref["test2_null_mean"], abs=1e-10)
    assert got["test2_p"] == ref["test2_p"] and got["test2_failed"] == ref["test2_failed"]
    assert got["svcca"] == pytest.approx(ref["svcca"], abs=1e-10) and got["svcca_p"] == ref["svcca_p"]


def test_bootstrap_standard_errors_of_a_semantic_table() -> None:
    """S2/S4's intervals: the scores' bootstrap standard errors (pairs resampled), smaller for more pairs,
    seeded, and only where asked for (the semantic table, not the grid)."""
    from harness.experiments.semantic_subspaces import bootstrap_se
    from harness.experiments.space_pairing import pair_spaces
    from harness.pairing.matching import Pairs

    a, b = synthetic_pair()
    real, _ = pair_spaces(a, b, CORRECTED)
    few = Pairs(real.a_idx[:40], real.b_idx[:40], real.corr[:40])
    small, large = (bootstrap_se(a, b, p, CORRECTED, n_boot=100, seed=1) for p in (few, real))
    for key in ("svcca_boot_se", "rsa_boot_se"):
        assert 0 < large[key] < small[key] < 0.5, key
    assert bootstrap_se(a, b, few, CORRECTED, n_boot=100, seed=1) == small
    assert small["svcca_boot_n"] == small["rsa_boot_n"] == 100
    words = [w.strip() for w in a.vocab[:120]]
    rec = compare_concept(a, b, "first-words", words, CORRECTED, n_permutations=19, n_random_subsets=5, n_bootstrap=50)
    assert rec["svcca_boot_n"] == 50 and 0 < rec["svcca_boot_se"] < 0.5 and 0 < rec["rsa_boot_se"] < 0.5
    plain = compare_concept(a, b, "first-words", words, CORRECTED, n_permutations=19, n_random_subsets=5)
    assert "svcca_boot_se" not in plain
