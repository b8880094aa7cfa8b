"""Top activating tokens, token filters and semantic subspaces (Lan et al. 2024).

- Top-k activating *positions* per feature (Sec. 3; k = 5), decoded to token strings.
- Non-concept filter (Appendix F): drop a pair when either feature's top strings contain a
  non-concept token (newline, space, punctuation, end-of-text / padding / BOS).
- Shared-top-token filter (Sec. 3): keep a pair only if the two top-string sets intersect.
- Concept categories (Table 4, Appendix G) and semantic-subspace membership with the
  whole-word context rule (a top token equal to a keyword counts only if the keyword is a
  whole word in the window idx-2..idx+1, so "king" inside "seeking" is rejected).
"""

from __future__ import annotations

import re
import string
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from harness.errors import ConfigError, ShapeError
from harness.pairing.matching import Pairs

Int64 = NDArray[np.int64]


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(",") if w.strip())


#: Table 4 of the paper (Appendix G), verbatim (including its duplicates across categories).
CONCEPT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Time": _words(
        "day, night, week, month, year, hour, minute, second, now, soon, later, early, late, "
        "morning, evening, noon, midnight, dawn, dusk, past, present, future, before, after, "
        "yesterday, today, tomorrow, next, previous, instant, era, age, decade, century, "
        "millennium, moment, pause, wait, begin, start, end, finish, stop, continue, forever, "
        "constant, frequent, occasion, season, spring, summer, autumn, fall, winter, "
        "anniversary, deadline, schedule, calendar, clock, duration, interval, epoch, "
        "generation, period, cycle, timespan, shift, quarter, term, phase, lifetime, timeline, "
        "delay, prompt, timely, recurrent, daily, weekly, monthly, yearly, annual, biweekly, "
        "timeframe"
    ),
    "Calendar": _words(
        "day, night, week, month, year, hour, minute, second, morning, evening, noon, midnight, "
        "dawn, dusk, yesterday, today, tomorrow, decade, century, millennium, season, spring, "
        "summer, autumn, fall, winter, calendar, clock, daily, weekly, monthly, yearly, annual, "
        "biweekly, timeframe"
    ),
    "People/Roles": _words(
        "man, girl, boy, kid, dad, mom, son, sis, bro, chief, priest, king, queen, duke, lord, "
        "friend, clerk, coach, nurse, doc, maid, clown, guest, peer, punk, nerd, jock"
    ),
    "Nature": _words(
        "tree, grass, stone, rock, cliff, hill, dirt, sand, mud, wind, storm, rain, cloud, sun, "
        "moon, leaf, branch, twig, root, bark, seed, tide, lake, pond, creek, sea, wood, field, "
        "shore, snow, ice, flame, fire, fog, dew, hail, sky, earth, glade, cave, peak, ridge, "
        "dust, air, mist, heat"
    ),
    "Emotions": _words(
        "joy, glee, pride, grief, fear, hope, love, hate, pain, shame, bliss, rage, calm, shock, "
        "dread, guilt, peace, trust, scorn, doubt, hurt, wrath, laugh, cry, smile, frown, gasp, "
        "blush, sigh, grin, woe, spite, envy, glow, thrill, mirth, bored, cheer, charm, grace, "
        "shy, brave, proud, glad, mad, sad, tense, free, kind"
    ),
    "MonthNames": _words(
        "January, February, March, April, May, June, July, August, September, October, November, December"
    ),
    "Countries": _words(
        "USA, Canada, Brazil, Mexico, Germany, France, Italy, Spain, UK, Australia, China, "
        "Japan, India, Russia, Korea, Argentina, Egypt, Iran, Turkey"
    ),
    "Biology": _words(
        "gene, DNA, RNA, virus, bacteria, fungus, brain, lung, blood, bone, skin, muscle, nerve, "
        "vein, organ, evolve, enzyme, protein, lipid, membrane, antibody, antigen, ligand, "
        "substrate, receptor, cell, chromosome, nucleus, cytoplasm"
    ),
}


def top_positions(codes: object, *, k: int = 5, require_active: bool = True) -> Int64:
    """Top-k activating positions of each feature, (F, k), highest first; -1 pads.

    Args:
        codes: (positions, F) codes (scipy.sparse, numpy or torch).
        k: positions per feature (the paper: 5). Positions, not distinct tokens.
        require_active: only positions where the feature is > 0 (corrected). When False (the
            paper's topk over all positions), a feature active at fewer than k positions is
            padded with the lowest-index positions where it is not active, deterministically
            (the paper's torch.topk broke those ties arbitrarily).
    """
    if hasattr(codes, "detach"):
        codes = codes.detach().cpu().numpy()
    m = sp.csc_matrix(codes)
    m.sort_indices()
    n_pos, n_feat = m.shape
    out = np.full((n_feat, k), -1, dtype=np.int64)
    for j in range(n_feat):
        lo, hi = m.indptr[j], m.indptr[j + 1]
        rows, vals = m.indices[lo:hi], m.data[lo:hi]
        active = vals > 0
        rows, vals = rows[active], vals[active]
        order = np.lexsort((rows, -vals))[:k]
        chosen = rows[order]
        out[j, : chosen.size] = chosen
        if not require_active and chosen.size < k:
            filler = np.setdiff1d(np.arange(min(n_pos, k + rows.size)), rows)[: k - chosen.size]
            out[j, chosen.size : chosen.size + filler.size] = filler
    return out


def vocab_strings(tokenizer: Any) -> list[str]:
    """Decoded string of every token id (as the paper decoded top tokens one by one)."""
    n = len(tokenizer)
    return [tokenizer.decode([i]) for i in range(n)]


def top_strings(top_pos: Int64, token_ids: NDArray[np.integer], vocab: Sequence[str]) -> list[tuple[str, ...]]:
    """Decoded token strings at each feature's top positions; (F,) tuples (duplicates kept)."""
    return [tuple(vocab[int(token_ids[p])] for p in row if p >= 0) for row in top_pos]


def nonconcept_mask(strings: Sequence[Iterable[str]], junk: Iterable[str]) -> NDArray[np.bool_]:
    """(F,) True where a feature's top strings contain any non-concept token (Appendix F)."""
    junk_set = set(junk)
    return np.array([any(s in junk_set for s in row) for row in strings], dtype=bool)


class StringIncidence:
    """Which top-token strings each feature lists, as a sparse (F, V) incidence: the token filters
    as sparse products instead of a Python test per feature or per pair.

    Attributes:
        vocab: string -> column, in order of first appearance over the features' rows.
        matrix: (F, V) bool CSR, entry (f, v) when feature f lists string v (duplicates once).
    """

    def __init__(self, strings: Sequence[Iterable[str]]) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for f, row in enumerate(strings):
            for t in row:
                rows.append(f)
                cols.append(vocab.setdefault(t, len(vocab)))
        m = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.int32), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
            shape=(len(strings), max(1, len(vocab))),
        )
        m.data = (m.data > 0).astype(np.int32)  # duplicated strings counted once
        self.vocab = vocab
        self.matrix: sp.csr_matrix = m
        self._remaps: weakref.WeakKeyDictionary[StringIncidence, Int64] = weakref.WeakKeyDictionary()

    @property
    def n_features(self) -> int:
        return int(self.matrix.shape[0])

    def mask(self, tokens: Iterable[str]) -> NDArray[np.bool_]:
        """(F,) True where a feature lists any of ``tokens`` (= :func:`nonconcept_mask`)."""
        cols = sorted({self.vocab[t] for t in tokens if t in self.vocab})
        if not cols:
            return np.zeros(self.n_features, dtype=bool)
        return np.asarray(self.matrix[:, cols].getnnz(axis=1) > 0)

    def feature_counts(self, rows: NDArray[np.bool_]) -> dict[str, int]:
        """string -> how many of the features where ``rows`` (F,) is True list it."""
        counts = np.asarray(self.matrix[np.flatnonzero(rows)].getnnz(axis=0)).ravel()
        return {t: int(counts[c]) for t, c in self.vocab.items() if counts[c]}

    def shares(self, other: StringIncidence, a_idx: Int64, b_idx: Int64) -> NDArray[np.bool_]:
        """(len(a_idx),) whether feature ``a_idx[i]`` of this space and ``b_idx[i]`` of ``other``
        list a common string (= the shared-top-token filter): the row-wise product of the two
        incidences over a joint vocabulary."""
        a_idx, b_idx = np.asarray(a_idx, dtype=np.int64), np.asarray(b_idx, dtype=np.int64)
        if not a_idx.size:
            return np.zeros(0, dtype=bool)
        ma, mb = self._joint_rows(other, a_idx, b_idx)
        return np.asarray(ma.multiply(mb).getnnz(axis=1) > 0)

    def shared_candidates(self, other: StringIncidence, a_idx: Int64, eligible_b: Int64) -> sp.csr_matrix:
        """(len(a_idx), other.n_features) bool CSR, sorted column indices: entry (i, j) when ``j`` is in
        ``eligible_b`` and lists a string that feature ``a_idx[i]`` lists (one sparse product)."""
        a_idx, eligible_b = np.asarray(a_idx, dtype=np.int64), np.asarray(eligible_b, dtype=np.int64)
        ma, mb = self._joint_rows(other, a_idx, eligible_b)
        shared = (ma @ mb.T).tocsr()  # (len(a_idx), len(eligible_b))
        shared.data = shared.data > 0
        shared.eliminate_zeros()
        out = sp.csr_matrix(
            (shared.data, eligible_b[shared.indices], shared.indptr), shape=(a_idx.size, other.n_features)
        )
        out.sort_indices()
        return out

    def _joint_rows(self, other: StringIncidence, a_idx: Int64, b_idx: Int64) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Rows ``a_idx`` of this incidence and ``b_idx`` of ``other``'s over one joint vocabulary
        (this one's columns, then the strings only ``other`` lists)."""
        remap = self._remaps.get(other)
        if remap is None:  # other's columns in this vocabulary (cached per pair of incidences)
            width = len(self.vocab)
            remap = np.empty(max(1, len(other.vocab)), dtype=np.int64)
            for t, c in other.vocab.items():
                j = self.vocab.get(t)
                if j is None:
                    j = width
                    width += 1
                remap[c] = j
            self._remaps[other] = remap
        width = max(len(self.vocab), int(remap.max(initial=0)) + 1, 1)
        ma = self.matrix[a_idx]
        ma = sp.csr_matrix((ma.data, ma.indices, ma.indptr), shape=(a_idx.size, width))
        mb = other.matrix[b_idx]
        mb = sp.csr_matrix((mb.data, remap[mb.indices], mb.indptr), shape=(b_idx.size, width))
        mb.sort_indices()
        return ma, mb


def filter_nonconcept(pairs: Pairs, junk_a: NDArray[np.bool_], junk_b: NDArray[np.bool_]) -> Pairs:
    """Drop pairs where either feature is a non-concept feature."""
    return pairs.select(~(junk_a[pairs.a_idx] | junk_b[pairs.b_idx]), "non-concept filter")


def filter_shared_token(pairs: Pairs, strings_a: Sequence[Iterable[str]], strings_b: Sequence[Iterable[str]]) -> Pairs:
    """Keep pairs whose top-token string sets intersect (exact match, leading space kept)."""
    keep = np.array(
        [bool(set(strings_a[i]) & set(strings_b[j])) for i, j in zip(pairs.a_idx, pairs.b_idx, strict=True)], dtype=bool
    )
    return pairs.select(keep, "shared top token")


def filter_shared_token_incidence(pairs: Pairs, inc_a: StringIncidence, inc_b: StringIncidence) -> Pairs:
    """:func:`filter_shared_token` from the two spaces' :class:`StringIncidence` (the same pairs kept,
    without a Python set intersection per pair)."""
    return pairs.select(inc_a.shares(inc_b, pairs.a_idx, pairs.b_idx), "shared top token")


_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")

#: What the authors' whole-word check removed from each space-separated piece of the window:
#: four punctuation marks and the two characters backslash + n (original-procedure.md,
#: "Semantic subspaces"). Colons, quotes, brackets, apostrophes and hyphens stay, so
#: "schedule:" is not the word "schedule" there. Real newlines become backslash + n first
#: (:data:`PAPER_NEWLINE`), so they are deleted too.
PAPER_WORD_STRIP: tuple[str, ...] = (".", ",", "?", "!", "\\n")

#: The authors' code replaced each decoded token's real newlines with the two characters
#: backslash + n before joining the window (original-procedure.md, "Newlines (corrected
#: fact)"); :data:`PAPER_WORD_STRIP` then deletes them from each piece: a newline is neither
#: kept nor a separator (".\nJanuary is" -> "January"; "end\nJanuary" -> "endJanuary").
PAPER_NEWLINE: tuple[str, str] = ("\n", "\\n")


def window_words(window_text: str, *, rule: str = "punctuation") -> list[str]:
    """The lower-cased words of a window under a whole-word ``rule``.

    - ``spaces`` (the paper's code): every real newline becomes the two characters backslash +
      n (:data:`PAPER_NEWLINE`; the authors did this per decoded token before joining the
      window, which gives the same text), ``split(" ")``, then each of
      :data:`PAPER_WORD_STRIP` removed from each piece, so a newline is deleted: ".\\nJanuary
      is" gives "january", "end\\nJanuary" gives "endjanuary". (The reference says these are
      stripped; they are removed wherever they occur in a piece, which for a keyword made of
      letters only differs from removing them at the ends for pieces like "ma.y".)
    - ``punctuation`` (corrected): every punctuation character becomes a space, then split
      on any whitespace (a real newline separates words).
    """
    if rule == "spaces":
        words = []
        for piece in window_text.replace(*PAPER_NEWLINE).split(" "):
            for junk in PAPER_WORD_STRIP:
                piece = piece.replace(junk, "")
            words.append(piece.lower())
        return words
    if rule == "punctuation":
        return _PUNCT.sub(" ", window_text).lower().split()
    raise ConfigError(f"whole-word rule={rule!r}: use 'spaces' or 'punctuation'.")


def keyword_in_context(keyword: str, window_text: str, *, rule: str = "punctuation") -> bool:
    """True if ``keyword`` is a whole word of ``window_text`` under ``rule`` (see
    :func:`window_words`; case-insensitive)."""
    return keyword.lower() in window_words(window_text, rule=rule)


def concept_token_word(token_string: str, *, rule: str = "punctuation") -> str:
    """A top token's string as compared with the keywords: spaces removed, lower-cased, and under
    ``punctuation`` other surrounding whitespace stripped too (the paper's ``spaces`` rule keeps it)."""
    word = token_string.replace(" ", "")
    return (word if rule == "spaces" else word.strip()).lower()


class ConceptIndex:
    """Concept membership of one space's features under one whole-word rule, for any keyword list.

    Built once per (space, rule) and asked once per category and table. Whether a top position
    counts for a keyword does not depend on the category: the position's token word
    (:func:`concept_token_word`) must equal the keyword and be a whole word of its window. So the
    index decodes each *distinct* token id at the top positions once (a Python loop over at most
    the vocabulary), decodes the window of each distinct position whose token word is a keyword
    once (lazily, the first time a category holds that word), and answers a category with numpy
    over the (F, k) slots.

    Args:
        top_pos: (F, k) flattened position indices (-1 = none), from :func:`top_positions`.
        tokens: (n_samples, seq_len) token ids of the run.
        sample_index, position_index: (positions,) where each flattened position lives.
        vocab: decoded string per token id.
        rule: whole-word rule, ``spaces`` (paper) or ``punctuation`` (corrected).
    """

    def __init__(
        self,
        top_pos: Int64,
        *,
        tokens: NDArray[np.integer],
        sample_index: NDArray[np.integer],
        position_index: NDArray[np.integer],
        vocab: Sequence[str],
        rule: str = "punctuation",
    ) -> None:
        if sample_index.shape != position_index.shape:
            raise ShapeError("sample_index and position_index must have the same shape.")
        if rule not in ("spaces", "punctuation"):
            raise ConfigError(f"whole-word rule={rule!r}: use 'spaces' or 'punctuation'.")
        top_pos = np.asarray(top_pos, dtype=np.int64)
        self.rule = rule
        self._tokens, self._vocab = tokens, vocab
        self.n_features = int(top_pos.shape[0])
        filled = top_pos >= 0
        #: (P,) distinct filled top positions, and each slot's index into them (-1: empty slot)
        self.positions, slot_pos = np.unique(top_pos[filled], return_inverse=True)
        self._s = np.asarray(sample_index, dtype=np.int64)[self.positions]
        self._t = np.asarray(position_index, dtype=np.int64)[self.positions]
        token_ids = np.asarray(tokens)[self._s, self._t].astype(np.int64)
        distinct_tokens, token_of_pos = np.unique(token_ids, return_inverse=True)
        #: distinct token words, and each distinct position's index into them
        self.words: dict[str, int] = {}
        word_of_token = np.empty(distinct_tokens.size, dtype=np.int64)
        for i, tok in enumerate(distinct_tokens.tolist()):
            word_of_token[i] = self.words.setdefault(concept_token_word(vocab[tok], rule=rule), len(self.words))
        self._word_of_pos = word_of_token[token_of_pos.reshape(-1)]
        self._slot_pos = np.full(top_pos.shape, -1, dtype=np.int64)
        self._slot_pos[filled] = slot_pos.reshape(-1)
        #: (P,) 1: the position's word is a whole word of its window, 0: not, -1: not decoded yet
        self._in_context = np.full(self.positions.size, -1, dtype=np.int8)
        self.windows_decoded = 0

    def _context(self, pos: Int64) -> NDArray[np.bool_]:
        """Whether each of the distinct positions ``pos`` holds its token word as a whole word of
        its window (tokens p-2..p+1 of its sample), decoding each window at most once."""
        todo = pos[self._in_context[pos] < 0]
        seq_len = self._tokens.shape[1]
        words = list(self.words)
        for i in todo.tolist():
            s, t = int(self._s[i]), int(self._t[i])
            window = "".join(self._vocab[int(x)] for x in self._tokens[s, max(0, t - 2) : min(seq_len, t + 2)])
            self._in_context[i] = keyword_in_context(words[self._word_of_pos[i]], window, rule=self.rule)
        self.windows_decoded += todo.size
        return self._in_context[pos] > 0

    def slot_keywords(self, keywords: Sequence[str]) -> Int64:
        """(F, k) index into ``keywords`` (lower-cased; the first occurrence) of the keyword each top
        slot counts for, -1 where it counts for none (empty, not a keyword, not a whole word)."""
        kw_of_word = np.full(len(self.words) + 1, -1, dtype=np.int64)  # last entry: empty slots
        for j, k in reversed(list(enumerate(keywords))):
            w = self.words.get(k)
            if w is not None:
                kw_of_word[w] = j
        kw_of_pos = kw_of_word[self._word_of_pos] if self.positions.size else np.empty(0, dtype=np.int64)
        candidates = np.flatnonzero(kw_of_pos >= 0)
        kw_of_pos[candidates[~self._context(candidates)]] = -1
        kw_of_pos = np.append(kw_of_pos, -1)  # slot -1 -> the appended "none"
        return kw_of_pos[self._slot_pos]

    def features(self, keywords: Iterable[str], *, order: str = "ascending") -> Int64:
        """Features belonging to a concept (Sec. 4.3, Appendix G); see :func:`concept_features`."""
        if order not in ("ascending", "python_set"):
            raise ConfigError(f"order={order!r}: use 'ascending' or 'python_set'.")
        keywords = [w.lower() for w in keywords]
        slots = self.slot_keywords(keywords)
        hit = slots >= 0
        if order == "ascending":
            return np.flatnonzero(hit.any(axis=1)).astype(np.int64)
        first = {k: j for j, k in reversed(list(enumerate(keywords)))}
        per_keyword = [np.flatnonzero((slots == first[k]).any(axis=1)) for k in keywords]
        return python_set_order(per_keyword)


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
    ``punctuation`` other surrounding whitespace is stripped too. One category at a time: for
    many categories of one space build a :class:`ConceptIndex` once and ask it each.

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
    if order not in ("ascending", "python_set"):
        raise ConfigError(f"order={order!r}: use 'ascending' or 'python_set'.")
    index = ConceptIndex(
        top_pos, tokens=tokens, sample_index=sample_index, position_index=position_index, vocab=vocab, rule=rule
    )
    return index.features(keywords, order=order)


def python_set_order(groups: Iterable[Iterable[int]]) -> Int64:
    """``list(s)`` of a CPython set ``s`` filled by ``s.update(group)`` for each group in turn.

    The authors collected a semantic subset's feature ids this way (one group per keyword,
    keywords in Table 4 order, each group in ascending feature order) and used ``list(s)``
    as the subset's column order (original-procedure.md, "Semantic subspaces"). CPython's
    iteration order of an int set is a deterministic function of the insertion sequence, so
    rebuilding the same set from the same ids gives the same order. It is ascending only
    while every id is below the set's table size (8, 32, 128, ... slots); with 16k-32k SAE
    latents it is not (groups [40], [8, 1000], [33] iterate as 40, 8, 1000, 33)."""
    seen: set[int] = set()
    for group in groups:
        seen.update(int(f) for f in group)
    return np.asarray(list(seen), dtype=np.int64)
