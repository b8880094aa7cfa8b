"""Every profile file loads to the Profile the factory registry built (field by field; the
SAE factory compared through the specs it gives at every layer the profile uses)."""

from __future__ import annotations

import dataclasses

import pytest

from harness.profiles import get_profile
from harness.profiles import registry as old


def _layers(p, side):
    table = p.semantic_table[0 if side == "a" else 1]
    grid = p.layers_a if side == "a" else p.layers_b
    sem = p.semantic_layers_a if side == "a" else p.semantic_layers_b
    return sorted({*grid, *sem, table})


@pytest.mark.parametrize("name", ["paper", "gemma", "llama", "rehearsal", "smoke"])
def test_file_profile_equals_registry_profile(name: str) -> None:
    before = old.get_profile(name)
    if name == "smoke":
        from fixtures.profile import smoke_profile

        after = smoke_profile()
    else:
        after = get_profile(name)
    new_only = {"saes", "tier", "gated", "paper_tokenizer"}
    for f in dataclasses.fields(before):
        if f.name == "sae":
            continue
        assert getattr(after, f.name) == getattr(before, f.name), f.name
        assert type(getattr(after, f.name)) is type(getattr(before, f.name)), f.name
    assert {f.name for f in dataclasses.fields(after)} - {f.name for f in dataclasses.fields(before)} == new_only
    for side in ("a", "b"):
        for layer in _layers(before, side):
            assert after.sae_spec(side, layer) == before.sae_spec(side, layer), (side, layer)
    if name in old.PAPER_PAIRS:
        pair = old.PAPER_PAIRS[name]
        assert after.tier == pair.tier and after.gated == pair.gated and after.paper_tokenizer == pair.tokenizer
        assert after.releases() == pair.releases()
