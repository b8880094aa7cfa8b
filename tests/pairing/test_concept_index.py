"""ConceptIndex (concept membership decoded once per space and rule) equals the per-category
loop it replaced (tests/pairing/reference_concepts.py), category by category, on constructed
edge cases and on the fixture world's real top positions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.errors import ConfigError, ShapeError
from harness.pairing.concepts import CONCEPT_KEYWORDS, ConceptIndex, concept_features
from tests.pairing.reference_concepts import concept_features as reference_concept_features

RULES = ("spaces", "punctuation")
ORDERS = ("ascending", "python_set")


def assert_equals_reference(top: np.ndarray, categories: dict[str, tuple[str, ...]], **args: Any) -> int:
    """Every category under both rules and orders: the index (built once per rule) and the
    one-call function give the reference's ids in the reference's order. Returns the number of
    non-empty answers (so a caller can require that the comparison was not vacuous)."""
    non_empty = 0
    for rule in RULES:
        index = ConceptIndex(top, rule=rule, **args)
        for order in ORDERS:
            for name, keywords in categories.items():
                want = reference_concept_features(top, keywords=keywords, rule=rule, order=order, **args)
                got = index.features(keywords, order=order)
                assert got.dtype == np.int64
                assert got.tolist() == want.tolist(), (name, rule, order)
                assert (
                    concept_features(top, keywords=keywords, rule=rule, order=order, **args).tolist() == want.tolist()
                )
                non_empty += bool(want.size)
    return non_empty


def test_edge_cases_equal_the_reference() -> None:
    """Newline windows (the paper rule deletes them, the corrected one splits on them), -1 slots, a
    position repeated in one row and across rows, windows cut at the sample's ends, a keyword in
    two categories, a capitalised keyword, a token with surrounding whitespace, a keyword inside a
    longer word, and keyword lists with a duplicate entry."""
    vocab = [
        " the", " day", "\n", "Day", " king", "see", "king", " May", "may", ".", " spring", " \tfall\n",
        "end", "January", " seeking", ":", " schedule", " USA", "usa", "\n ",
    ]  # fmt: skip
    rng = np.random.default_rng(7)
    tokens = np.vstack(
        [
            [2, 13, 0, 1, 2, 3, 9, 4],  # "\nJanuary the day\nDay. king"
            [5, 6, 0, 7, 9, 8, 19, 10],  # "seeking the May.may\n  spring"
            [12, 2, 13, 11, 16, 15, 17, 18],  # "end\nJanuary \tfall\n schedule: USAusa"
            rng.integers(0, len(vocab), size=(5, 8)),
        ]
    )
    n, seq = tokens.shape
    sample_index, position_index = np.repeat(np.arange(n), seq), np.tile(np.arange(seq), n)
    top = np.vstack(
        [
            [[1, -1, -1, -1], [3, 3, 3, -1], [5, 7, 1, 3], [-1, -1, -1, -1], [0, 8, 9, 11]],
            [[11, 12, 13, 14], [17, 18, 19, 20], [22, 23, 21, -1], [13, 13, 11, 11], [7, 15, 23, 31]],
            rng.integers(-1, n * seq, size=(40, 4)),
        ]
    )
    categories = {
        **CONCEPT_KEYWORDS,
        "duplicates": ("May", "day", "may", "DAY", "king", "January", "USA"),
        "empty": (),
        "absent": ("zebra",),
    }
    args = dict(tokens=tokens, sample_index=sample_index, position_index=position_index, vocab=vocab)
    assert assert_equals_reference(top, categories, **args) > 20
    # all slots empty, and no features at all
    assert assert_equals_reference(np.full((6, 3), -1), CONCEPT_KEYWORDS, **args) == 0
    assert assert_equals_reference(np.zeros((0, 5), dtype=np.int64), CONCEPT_KEYWORDS, **args) == 0


def test_each_window_is_decoded_once_per_rule() -> None:
    vocab = [" the", " day", " king"]
    tokens = np.array([[0, 1, 0, 2, 0, 1]])
    sample_index, position_index = np.zeros(6, dtype=np.int64), np.arange(6)
    top = np.array([[1, 3], [1, 5], [3, 1], [0, -1]])  # keyword positions 1, 3, 5; position 1 thrice
    index = ConceptIndex(top, tokens=tokens, sample_index=sample_index, position_index=position_index, vocab=vocab)
    assert index.features(CONCEPT_KEYWORDS["Time"]).tolist() == [0, 1, 2]
    assert index.windows_decoded == 2  # positions 1 and 5 (" day")
    assert index.features(CONCEPT_KEYWORDS["Calendar"]).tolist() == [0, 1, 2]
    assert index.windows_decoded == 2  # " day" again: already decoded
    assert index.features(CONCEPT_KEYWORDS["People/Roles"]).tolist() == [0, 2]
    assert index.windows_decoded == 3


def test_bad_arguments_are_named() -> None:
    top, tokens, vocab = np.zeros((1, 1), dtype=np.int64), np.zeros((1, 2), dtype=np.int64), [" a"]
    two, three = np.zeros(2, dtype=np.int64), np.zeros(3, dtype=np.int64)
    with pytest.raises(ShapeError):
        ConceptIndex(top, tokens=tokens, sample_index=two, position_index=three, vocab=vocab)
    with pytest.raises(ConfigError, match="whole-word rule"):
        ConceptIndex(top, tokens=tokens, sample_index=two, position_index=two, vocab=vocab, rule="regex")
    index = ConceptIndex(top, tokens=tokens, sample_index=two, position_index=np.arange(2), vocab=vocab)
    with pytest.raises(ConfigError, match="order"):
        index.features(["a"], order="random")


@pytest.mark.smoke
@pytest.mark.slow
def test_fixture_world_top_positions_equal_the_reference() -> None:
    """The smoke world's real top positions (both procedures' top-position rules, a layer of each
    model), every Table 4 category, both whole-word rules and orders."""
    from fixtures.profile import smoke_profile
    from harness.config import get_procedure
    from harness.experiments.grid import LoadedPair

    world = LoadedPair(smoke_profile())
    non_empty = 0
    for pname in ("paper", "corrected"):
        proc = get_procedure(pname)
        for which, layer in (("a", world.profile.layers_a[-1]), ("b", world.profile.layers_b[1])):
            space = world.space(which, layer, proc)
            args = dict(
                tokens=space.tokens,
                sample_index=space.sample_index,
                position_index=space.position_index,
                vocab=space.vocab,
            )
            non_empty += assert_equals_reference(space.top, CONCEPT_KEYWORDS, **args)
            # the space keeps one index per rule
            assert space.concept_index(proc.whole_word_rule) is space.concept_index(proc.whole_word_rule)
    assert non_empty >= 100
