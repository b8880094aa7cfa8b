"""Top tokens, non-concept and shared-token filters, concept membership rule."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.pairing.concepts import (
    CONCEPT_KEYWORDS,
    concept_features,
    filter_nonconcept,
    filter_shared_token,
    keyword_in_context,
    nonconcept_mask,
    python_set_order,
    top_positions,
    top_strings,
)
from harness.config import CORRECTED, PAPER, PAPER_JUNK_TOKENS
from harness.errors import ConfigError
from harness.pairing.matching import Pairs

VOCAB = ["<|endoftext|>", " the", " king", " see", "king", " happy", ".", "\n", " rain", " ", " March", ","]
#        0                 1       2        3       4       5         6    7     8         9    10         11


def test_top_positions_orders_and_pads() -> None:
    codes = sp.csr_matrix(np.array([[0, 1.0, 0], [3.0, 0, 0], [2.0, 0, 0], [0, 0.5, 0], [1.0, 0, 0]]))
    top = top_positions(codes, k=2)
    assert top.tolist() == [[1, 2], [0, 3], [-1, -1]]
    paper = top_positions(codes, k=3, require_active=False)
    assert paper[0].tolist() == [1, 2, 4]
    assert paper[1].tolist() == [0, 3, 1]  # padded with the lowest inactive position
    assert paper[2].tolist() == [0, 1, 2]  # dead feature: arbitrary-but-fixed positions


def test_nonconcept_filter_removes_junk_pairs() -> None:
    strings_a = [(" the", "."), (" king", " king"), ("\n",), (" rain",)]
    strings_b = [(" king",), (" the", ","), (" rain", " sun")]
    junk_a = nonconcept_mask(strings_a, PAPER_JUNK_TOKENS)
    junk_b = nonconcept_mask(strings_b, PAPER_JUNK_TOKENS)
    assert junk_a.tolist() == [True, False, True, False]
    assert junk_b.tolist() == [False, True, False]
    p = Pairs(np.array([0, 1, 1, 3]), np.array([0, 1, 0, 2]), np.array([0.5, 0.6, 0.7, 0.8]))
    kept = filter_nonconcept(p, junk_a, junk_b)
    assert list(zip(kept.a_idx, kept.b_idx, strict=True)) == [(1, 0), (3, 2)]
    shared = filter_shared_token(kept, strings_a, strings_b)
    assert list(zip(shared.a_idx, shared.b_idx, strict=True)) == [(1, 0), (3, 2)]
    no_share = filter_shared_token(Pairs(np.array([1]), np.array([2]), np.array([0.9])), strings_a, strings_b)
    assert len(no_share) == 0


def test_whole_word_rule_rejects_compounds() -> None:
    assert keyword_in_context("king", "the king, said")
    assert not keyword_in_context("king", " seeking the")
    assert keyword_in_context("march", "in March.")


# (keyword, window, whole word under the paper's rule, under the corrected rule). The paper's
# rule (original-procedure.md): each token's real newlines become the two characters
# backslash-n before the window is joined; split on spaces only; remove only . , ? ! and the
# two characters backslash-n from each piece -- so a real newline is deleted: neither kept in
# the piece nor a separator. The corrected rule splits on any whitespace (a newline separates).
WHOLE_WORD_CASES = [
    ("schedule", " the schedule: now", False, True),  # colon stays attached
    ("king", ' said "king" then', False, True),  # quotes stay
    ("king", " the king's crown", False, True),  # apostrophe stays
    ("sun", " the sun-light was", False, True),  # hyphen stays
    ("sun", " (sun) was", False, True),  # brackets stay
    ("day", " one day\nThe", False, True),  # a real newline is deleted, not a separator: "daythe"
    ("january", ".\nJanuary is", True, True),  # the authors' example: [".\\nJanuary", "is"] -> "january"
    ("january", "end\nJanuary", False, True),  # "endjanuary" under the paper's rule
    ("january", " in January 2020", True, True),  # no newline in the window
    ("january", "\nJanuary\n", True, True),  # newlines on both sides deleted
    ("day", " one day\\n", True, True),  # literal backslash-n removed ...
    ("day", " \\nday was", True, False),  # ... also before the word (corrected: "\\" splits, "nday")
    ("day", " one day.", True, True),
    ("day", " one day!?", True, True),
    ("day", " day, then", True, True),
    ("king", " seeking the", False, False),  # "king" inside "seeking" is never the word
    ("king", " the King.", True, True),  # case-insensitive under both
]


@pytest.mark.parametrize(("keyword", "window", "paper", "corrected"), WHOLE_WORD_CASES)
def test_whole_word_rule_paper_vs_corrected(keyword: str, window: str, paper: bool, corrected: bool) -> None:
    assert keyword_in_context(keyword, window, rule=PAPER.whole_word_rule) is paper
    assert keyword_in_context(keyword, window, rule=CORRECTED.whole_word_rule) is corrected


def test_whole_word_rule_presets_and_unknown_rule() -> None:
    assert (PAPER.whole_word_rule, CORRECTED.whole_word_rule) == ("spaces", "punctuation")
    with pytest.raises(ConfigError):
        keyword_in_context("day", "day", rule="regex")
    with pytest.raises(ConfigError):
        PAPER.replace(whole_word_rule="regex")


def test_concept_membership_follows_the_procedures_rule() -> None:
    vocab = [" the", " schedule", ":", " now", " day", "\n", "The"]
    tokens = np.array([[0, 1, 2, 3], [0, 4, 5, 6]])  # " the schedule: now" / " the day\nThe"
    sample_index, position_index = np.repeat([0, 1], 4), np.tile(np.arange(4), 2)
    top = np.array([[1], [5]])  # feature 0 on " schedule" (then ":"), feature 1 on " day" (then "\n")
    kw = CONCEPT_KEYWORDS["Time"]
    args = dict(tokens=tokens, sample_index=sample_index, position_index=position_index, vocab=vocab, keywords=kw)
    # paper: the colon stays ("schedule:"), the newline is deleted (" the day\n" -> "day")
    assert concept_features(top, rule="spaces", **args).tolist() == [1]
    assert concept_features(top, rule="punctuation", **args).tolist() == [0, 1]


def test_paper_rule_deletes_each_tokens_newline_before_joining_the_window() -> None:
    """The authors' window (original-procedure.md, "Newlines (corrected fact)"): tokens "." "\\n"
    " January" " is" give ".\\nJanuary is" -> the word "January"; "end" "\\n" "January" gives
    "endJanuary" (no match); a window without a newline is unchanged."""
    vocab = [".", "\n", "January", " is", "end", " in", " January", " 2020", " .\n"]
    tokens = np.array(
        [
            [0, 1, 2, 3],  # ".\nJanuary is": top position 2 ("January"), window 0..3
            [4, 1, 2, 3],  # "end\nJanuary is"
            [5, 6, 7, 0],  # " in January 2020."
            [4, 8, 2, 3],  # "end .\nJanuary is": one token " .\n" holds the newline
        ]
    )
    sample_index, position_index = np.repeat(np.arange(4), 4), np.tile(np.arange(4), 4)
    top = np.array([[2], [6], [9], [14]])  # each feature's top position is its row's "January"
    args = dict(
        tokens=tokens,
        sample_index=sample_index,
        position_index=position_index,
        vocab=vocab,
        keywords=CONCEPT_KEYWORDS["MonthNames"],
    )
    assert concept_features(top, rule="spaces", **args).tolist() == [0, 2, 3]
    assert concept_features(top, rule="punctuation", **args).tolist() == [0, 1, 2, 3]


def test_python_set_order_is_cpython_list_of_set() -> None:
    groups = [[40], [8, 1000], [33]]
    reference: set[int] = set()
    for g in groups:
        reference.update(g)
    assert python_set_order(groups).tolist() == list(reference) == [40, 8, 1000, 33]
    assert sorted(reference) != list(reference)
    big = [list(range(k, 3000, 97)) for k in (50, 3, 700)]
    ref2: set[int] = set()
    for g in big:
        ref2.update(g)
    assert python_set_order(big).tolist() == list(ref2)


def test_concept_features_in_the_authors_set_order() -> None:
    """Subset ids are collected keyword by keyword in Table 4 order (People/Roles: ... dad ...
    king, queen ...), each keyword's features ascending, into a Python set; list(set) is the
    column order."""
    vocab = [" the", " dad", " king", " queen"]
    tokens = np.array([[0, 1, 0, 2, 0, 3]])  # " the dad the king the queen"
    sample_index, position_index = np.zeros(6, dtype=np.int64), np.arange(6)
    top = np.full((1001, 1), -1)
    top[40, 0], top[8, 0], top[1000, 0], top[33, 0] = 1, 3, 3, 5  # dad: 40; king: 8, 1000; queen: 33
    args = dict(
        tokens=tokens,
        sample_index=sample_index,
        position_index=position_index,
        vocab=vocab,
        keywords=CONCEPT_KEYWORDS["People/Roles"],
        rule="spaces",
    )
    assert concept_features(top, order="python_set", **args).tolist() == [40, 8, 1000, 33]
    assert concept_features(top, order="ascending", **args).tolist() == [8, 33, 40, 1000]
    with pytest.raises(ConfigError):
        concept_features(top, order="random", **args)


def test_concept_features_with_context_rule() -> None:
    tokens = np.array([[1, 3, 4, 1, 6], [1, 2, 6, 10, 7]])  # " the see|king the ." / " the king . March \n"
    sample_index = np.repeat([0, 1], 5)
    position_index = np.tile(np.arange(5), 2)
    # feature 0 fires on "king" inside "seeking" (pos 2), feature 1 on " king" (pos 6),
    # feature 2 on " March" (pos 8), feature 3 on "." only
    top = np.array([[2, -1], [6, 2], [8, -1], [9, 4]])
    people = concept_features(
        top,
        tokens=tokens,
        sample_index=sample_index,
        position_index=position_index,
        vocab=VOCAB,
        keywords=CONCEPT_KEYWORDS["People/Roles"],
    )
    assert people.tolist() == [1]
    months = concept_features(
        top,
        tokens=tokens,
        sample_index=sample_index,
        position_index=position_index,
        vocab=VOCAB,
        keywords=CONCEPT_KEYWORDS["MonthNames"],
    )
    assert months.tolist() == [2]
    strings = top_strings(top, tokens.ravel(), VOCAB)
    assert strings[3] == ("\n", ".")


def test_table4_keyword_lists_as_printed() -> None:
    counts = {k: len(v) for k, v in CONCEPT_KEYWORDS.items()}
    # Table 4 as printed in the paper; the authors' code lists had a few duplicates on top
    # (Time 86, Calendar 37, People/Roles 28 entries with repeats), which change no membership.
    assert counts == {
        "Time": 83,
        "Calendar": 35,
        "People/Roles": 27,
        "Nature": 46,
        "Emotions": 49,
        "MonthNames": 12,
        "Countries": 19,
        "Biology": 29,
    }
    assert set(CONCEPT_KEYWORDS["Calendar"]) <= set(CONCEPT_KEYWORDS["Time"])


def test_paper_junk_list_has_pad_for_gemma_only() -> None:
    """Appendix F list as the authors' code had it; '<pad>' was added for Gemma only."""
    assert PAPER_JUNK_TOKENS == (".", "\\n", "\n", "", " ", "-", "<bos>", ",", "!", "?", "<|endoftext|>", "|bos|")
    assert "<pad>" not in PAPER.junk_for("EleutherAI/pythia-70m", "EleutherAI/pythia-160m")
    gemma = PAPER.junk_for("google/gemma-2b", "google/gemma-2-2b")
    assert gemma == PAPER_JUNK_TOKENS + ("<pad>",)
    assert CORRECTED.junk_for("fixture/model-a") == PAPER_JUNK_TOKENS


def _random_strings(rng: np.random.Generator, n: int, vocab: list[str]) -> list[tuple[str, ...]]:
    """n features' top strings: 0-5 draws each from ``vocab`` (duplicates allowed, as top_strings gives)."""
    return [tuple(vocab[int(i)] for i in rng.integers(0, len(vocab), size=int(rng.integers(0, 6)))) for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_string_incidence_equals_the_per_feature_filters(seed: int) -> None:
    """StringIncidence's sparse token filters give exactly the Python reference's answers:
    mask == nonconcept_mask, shares == the per-pair set intersection of filter_shared_token,
    shared_candidates == every eligible B feature sharing a string, feature_counts == counting by hand."""
    from harness.pairing.concepts import (
        StringIncidence,
        filter_shared_token,
        filter_shared_token_incidence,
        nonconcept_mask,
    )

    rng = np.random.default_rng(seed)
    va = [f" a{i}" for i in range(30)] + [f" s{i}" for i in range(20)] + ["\n", ","]
    vb = [f" b{i}" for i in range(25)] + [f" s{i}" for i in range(20)] + ["\n"]
    sa, sb = _random_strings(rng, 80, va), _random_strings(rng, 70, vb)
    ia, ib = StringIncidence(sa), StringIncidence(sb)
    for junk in (["\n", ","], [" s3", " a1", " missing"], []):
        assert np.array_equal(ia.mask(junk), nonconcept_mask(sa, junk))
        assert np.array_equal(ib.mask(junk), nonconcept_mask(sb, junk))
    a_idx, b_idx = rng.integers(0, 80, size=400), rng.integers(0, 70, size=400)
    ref = np.array([bool(set(sa[i]) & set(sb[j])) for i, j in zip(a_idx, b_idx, strict=True)])
    assert ref.any() and not ref.all()
    assert np.array_equal(ia.shares(ib, a_idx, b_idx), ref)
    pairs = Pairs(a_idx, b_idx, rng.random(400), ())
    fast, slow = filter_shared_token_incidence(pairs, ia, ib), filter_shared_token(pairs, sa, sb)
    assert np.array_equal(fast.a_idx, slow.a_idx) and np.array_equal(fast.b_idx, slow.b_idx)
    eligible = np.sort(rng.choice(70, size=40, replace=False))
    cands = ia.shared_candidates(ib, np.arange(80), eligible)
    for i in range(80):
        want = [int(j) for j in eligible if set(sa[i]) & set(sb[j])]
        assert cands.indices[cands.indptr[i] : cands.indptr[i + 1]].tolist() == want
    rows = rng.random(80) < 0.5
    by_hand: dict[str, int] = {}
    for f in np.flatnonzero(rows):
        for t in set(sa[f]):
            by_hand[t] = by_hand.get(t, 0) + 1
    assert ia.feature_counts(rows) == by_hand
