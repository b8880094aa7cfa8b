"""A synthetic pair of SAE feature spaces with planted shared structure (engine demo).

Not a model of language: a known-answer world for the matching-and-metrics engine.
``n_shared`` ground-truth features each fire on one token id; both "SAEs" see them (with
their own activation noise) and write them with decoder rows that are different random
linear maps (d_true -> d_a, d_true -> d_b) of the same ground-truth directions, plus
model-specific features. SVCCA is invariant to such per-side linear maps, so correctly
paired features must score far above the shuffled-pairing null; shuffling one model's token
positions (the negative control) must destroy the pairing and the score.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from harness.config import PAPER_JUNK_TOKENS
from harness.experiments.feature_space import FeatureSpace


def synthetic_pair(
    *,
    n_samples: int = 60,
    seq_len: int = 50,
    vocab_size: int = 400,
    n_shared: int = 150,
    n_private: int = 100,
    d_true: int = 32,
    d_a: int = 48,
    d_b: int = 64,
    noise: float = 0.3,
    shuffle_b_positions: bool = False,
    seed: int = 0,
) -> tuple[FeatureSpace, FeatureSpace]:
    """Two FeatureSpaces; feature i < n_shared of A corresponds to feature perm[i] of B."""
    rng = np.random.default_rng(seed)
    vocab = [f" w{i}" for i in range(vocab_size - 3)] + [".", "\n", "<|endoftext|>"]
    tokens = rng.integers(0, vocab_size, size=(n_samples, seq_len))
    flat = tokens.ravel()
    n_pos = flat.size
    sample_index = np.repeat(np.arange(n_samples), seq_len)
    position_index = np.tile(np.arange(seq_len), n_samples)
    trigger = rng.choice(vocab_size - 3, size=n_shared, replace=False)
    true_dirs = rng.standard_normal((n_shared, d_true))

    def space(name: str, d_model: int, order: np.ndarray, tok: np.ndarray, rs: np.random.Generator) -> FeatureSpace:
        f = n_shared + n_private
        rows, cols, vals = [], [], []
        for g in range(n_shared):
            pos = np.flatnonzero(tok == trigger[g])
            keep = pos[rs.random(pos.size) < 0.9]
            rows.append(keep)
            cols.append(np.full(keep.size, order[g]))
            vals.append(1.0 + noise * rs.exponential(size=keep.size))
        for j in range(n_private):
            pos = rs.choice(n_pos, size=40, replace=False)
            rows.append(pos)
            cols.append(np.full(pos.size, n_shared + j))
            vals.append(rs.exponential(size=pos.size))
        codes = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_pos, f))
        decoder = np.empty((f, d_model))
        decoder[order[:n_shared]] = true_dirs @ rs.standard_normal((d_true, d_model))
        decoder[order[:n_shared]] += noise * rs.standard_normal((n_shared, d_model))
        decoder[n_shared:] = rs.standard_normal((n_private, d_model))
        decoder /= np.linalg.norm(decoder, axis=1, keepdims=True)
        return FeatureSpace(
            name=name,
            codes=codes,
            decoder=decoder,
            tokens=tokens,
            sample_index=sample_index,
            position_index=position_index,
            vocab=vocab,
            junk_tokens=PAPER_JUNK_TOKENS,
        )

    order_a = np.arange(n_shared)
    order_b = rng.permutation(n_shared)
    space_a = space("synthetic-A", d_a, order_a, flat, np.random.default_rng(seed + 1))
    tok_b = flat[rng.permutation(n_pos)] if shuffle_b_positions else flat
    space_b = space(
        "synthetic-B" + (" (positions shuffled)" if shuffle_b_positions else ""),
        d_b,
        order_b,
        tok_b,
        np.random.default_rng(seed + 2),
    )
    return space_a, space_b
