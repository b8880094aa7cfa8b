"""An independent, slow reference for SAE codes over a token set (test-only).

The pipeline encodes codes on the fly from cached residual streams
(:mod:`harness.activations.residuals`, :class:`harness.activations.encode.SaeCodes`). This
reference takes the other road, one layer at a time: a forward pass per batch of sequences
(:func:`harness.load.models.residual_activations`), the residual at ``procedure.activation_site``
encoded with ``procedure.sae_code`` by the SAE's own ``encode``, the procedure's position mask
applied, and per-feature mean / unbiased std accumulated in float64. The tests of
``test_reference_codes.py`` pin it to first principles; ``test_residuals.py`` pins the
pipeline to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from harness.load.models import residual_activations


@dataclass
class ReferenceCodes:
    """SAE codes of one (model, layer, SAE, procedure, token set).

    Attributes:
        codes: ``(n_positions, d_sae)`` float32 CSR matrix, positions sample-major minus masked ones.
        token_ids, sample_index, position_index: ``(n_positions,)`` int64.
        mean, std: ``(d_sae,)`` float64 mean and unbiased (ddof = 1) std over kept positions.
        decoder: ``(d_sae, d_in)`` float64 decoder rows (``W_dec``).
    """

    codes: sp.csr_matrix
    token_ids: np.ndarray
    sample_index: np.ndarray
    position_index: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    decoder: np.ndarray

    @property
    def n_positions(self) -> int:
        return int(self.codes.shape[0])


def reference_codes(
    model: Any, loaded_sae: Any, token_set: Any, layer: int, *, procedure: Any, batch_size: int = 8
) -> ReferenceCodes:
    """SAE codes at ``layer`` under ``procedure`` (site, code, masking), batch by batch."""
    tokens = token_set.tokens
    n, seq = tokens.shape
    d_sae = int(loaded_sae.meta.d_sae)
    code = procedure.sae_code
    keep_all = ~token_set.special_mask if procedure.mask_special_positions else torch.ones_like(token_set.special_mask)
    blocks: list[sp.csr_matrix] = []
    sums = np.zeros(d_sae, dtype=np.float64)
    sumsq = np.zeros(d_sae, dtype=np.float64)
    for start in range(0, n, batch_size):
        batch = tokens[start : start + batch_size]
        acts = residual_activations(
            model,
            batch,
            [layer],
            site=procedure.activation_site,
            batch_size=batch.shape[0],
            attention_mask=token_set.attention_mask[start : start + batch_size],
        )[layer]
        flat = acts.reshape(-1, acts.shape[-1])[keep_all[start : start + batch_size].reshape(-1)]
        z = loaded_sae.encode(flat, code=code).float()
        rows, cols = torch.nonzero(z, as_tuple=True)
        vals = z[rows, cols].numpy().astype(np.float32)
        rows_np, cols_np = rows.numpy(), cols.numpy()
        blocks.append(sp.csr_matrix((vals, (rows_np, cols_np)), shape=(z.shape[0], d_sae), dtype=np.float32))
        sums += np.bincount(cols_np, weights=vals.astype(np.float64), minlength=d_sae)
        sumsq += np.bincount(cols_np, weights=vals.astype(np.float64) ** 2, minlength=d_sae)
    codes = sp.vstack(blocks, format="csr", dtype=np.float32)
    codes.sort_indices()
    sample_grid, pos_grid = np.meshgrid(np.arange(n), np.arange(seq), indexing="ij")
    keep = keep_all.numpy().reshape(-1)
    n_pos = int(keep.sum())
    mean = sums / max(n_pos, 1)
    var = (sumsq - n_pos * mean**2) / max(n_pos - 1, 1)
    std = np.sqrt(np.clip(var, 0.0, None))
    std[np.bincount(codes.indices, minlength=d_sae) == 0] = 0.0  # never active: exactly 0
    return ReferenceCodes(
        codes=codes,
        token_ids=tokens.numpy().reshape(-1)[keep].astype(np.int64),
        sample_index=sample_grid.reshape(-1)[keep].astype(np.int64),
        position_index=pos_grid.reshape(-1)[keep].astype(np.int64),
        mean=mean,
        std=std,
        decoder=loaded_sae.decoder_rows(),
    )
