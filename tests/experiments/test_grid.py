"""LoadedPair: models are loaded the way each SAE asks (sae-lens model_from_pretrained_kwargs)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

pytestmark = pytest.mark.smoke


def test_model_for_applies_the_saes_processing_flags() -> None:
    from fixtures.profile import smoke_profile
    from harness.experiments.grid import LoadedPair

    world = LoadedPair(smoke_profile())
    plain = world.model("a")
    assert world.model_for("a", SimpleNamespace(meta=SimpleNamespace(model_from_pretrained_kwargs={}))) is plain
    asks = SimpleNamespace(
        meta=SimpleNamespace(model_from_pretrained_kwargs={"center_writing_weights": True, "prepend_bos": True})
    )
    centred = world.model_for("a", asks)
    assert centred is not plain and world.model_for("a", asks) is centred  # loaded once
    # center_writing_weights removes the mean over d_model of every matrix writing to the residual stream
    w = centred.blocks[0].attn.W_O.detach()
    assert torch.allclose(w.mean(-1), torch.zeros_like(w.mean(-1)), atol=1e-5)
    assert not torch.allclose(plain.blocks[0].attn.W_O.mean(-1), torch.zeros_like(w.mean(-1)), atol=1e-5)
