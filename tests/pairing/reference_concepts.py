"""The per-category Python loop of concept membership, kept as the reference that
:class:`harness.pairing.concepts.ConceptIndex` must equal (tests/pairing/test_concept_index.py).
It loops over every feature's top positions once per category and table (157M iterations at
paper scale, issue 20's cost model)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from harness.errors import ConfigError, ShapeError
from harness.pairing.concepts import keyword_in_context, python_set_order

Int64 = NDArray[np.int64]


def concept_features(
    top_pos: Int64,
    *,
    tokens: NDArray[np.integer],
    sample_index: NDArray[np.integer],
    position_index: NDArray[np.integer],
    vocab: Sequence[str],
    keywords: Iterable[str],
    rule: str = "punctuation",
    order: str = "ascending",
) -> Int64:
    """Features belonging to a concept (Sec. 4.3, Appendix G).

    A feature belongs if, at any of its top positions p, the token string (spaces removed,
    lower-cased) equals a keyword and the keyword is a whole word (:func:`window_words` under
    ``rule``) in the decoded window of tokens p-2..p+1 of the same sample. Under the paper's
    ``spaces`` rule only spaces are removed from the token (the authors' code); under
    ``punctuation`` other surrounding whitespace is stripped too.

    Args:
        top_pos: (F, k) flattened position indices (-1 = none), from :func:`top_positions`.
        tokens: (n_samples, seq_len) token ids of the run.
        sample_index, position_index: (positions,) where each flattened position lives.
        vocab: decoded string per token id. keywords: the category's keywords, in list order.
        rule: whole-word rule, ``spaces`` (paper) or ``punctuation`` (corrected).
        order: ``ascending`` feature ids, or ``python_set``: the order of
            :func:`python_set_order` over the keywords in list order (the authors' column
            order of the subset).
    """
    if sample_index.shape != position_index.shape:
        raise ShapeError("sample_index and position_index must have the same shape.")
    if order not in ("ascending", "python_set"):
        raise ConfigError(f"order={order!r}: use 'ascending' or 'python_set'.")
    keywords = [w.lower() for w in keywords]
    kw = set(keywords)
    seq_len = tokens.shape[1]
    matched: dict[int, set[str]] = {}  # feature -> keywords it matches
    for f, row in enumerate(top_pos):
        for p in row:
            if p < 0:
                continue
            s, t = int(sample_index[p]), int(position_index[p])
            word = vocab[int(tokens[s, t])].replace(" ", "")
            word = (word if rule == "spaces" else word.strip()).lower()
            if word not in kw or word in matched.get(f, ()):
                continue
            window = "".join(vocab[int(x)] for x in tokens[s, max(0, t - 2) : min(seq_len, t + 2)])
            if keyword_in_context(word, window, rule=rule):
                matched.setdefault(f, set()).add(word)
                if order == "ascending":
                    break
    if order == "ascending":
        return np.asarray(sorted(matched), dtype=np.int64)
    per_keyword = [[f for f in sorted(matched) if k in matched[f]] for k in keywords]
    return python_set_order(per_keyword)
