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


def test_grid_rows_build_each_space_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_grid's A-outer / B-inner walk over the paper tier's 6 x 12 layers builds 18 spaces with the
    default LRU capacity (before it, each row's new A space evicted the B space the row asks for
    first, and each B then evicted the next: 73 builds), and the cost model's simulation of
    the cache agrees."""
    import harness.experiments.grid as grid
    from harness.config import get_procedure
    from harness.cost.workload import space_builds
    from harness.profiles import get_profile

    built: list[tuple[str, int]] = []

    def build(self: grid.LoadedPair, which: str, layer: int, procedure: object) -> object:
        built.append((which, layer))
        return SimpleNamespace(n_positions=1)

    monkeypatch.setattr(grid.LoadedPair, "_build_space", build)
    monkeypatch.setattr(grid, "compare_spaces", lambda *args, **kwargs: {})
    monkeypatch.setattr(grid, "_cell", lambda rec, la, lb: (la, lb))
    prof = get_profile("paper")
    world = grid.LoadedPair(prof)
    cells = grid.run_grid(world, get_procedure("corrected"))["cells"]
    assert len(cells) == len(prof.layers_a) * len(prof.layers_b) == 72
    assert len(built) == len(set(built)) == len(prof.layers_a) + len(prof.layers_b)
    # one space fewer thrashes: after row 0 (A0 and 12 B), each row's A evicts B0, each B the next
    # one, and B10 evicts the previous A, so B11 alone survives: 12 builds per row, 73 in all
    built.clear()
    grid.run_grid(grid.LoadedPair(prof, max_spaces=world.space_capacity - 1), get_procedure("corrected"))
    assert len(built) == 1 + len(prof.layers_a) * len(prof.layers_b)
    # the cost model simulates the same cache (a whole run: warm-up, grid, control grid, semantic)
    assert space_builds(prof, ["corrected"])["corrected"][1] == len(prof.layers_b)


def test_a_profiles_activation_site_is_read_by_every_procedure(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An MLP-output profile (activation_site = "mlp_output") builds its spaces from hook_mlp_out,
    under both procedures, its forward pass takes only that site, and its pre-flight checks the
    SAEs there (the fixture's residual SAEs fail it: FVU > 1 at the MLP output, so it is
    stubbed here to record the site it was asked for)."""
    import dataclasses

    import harness.activations.preflight as pf
    from fixtures.profile import smoke_profile
    from harness.config import get_procedure
    from harness.experiments.grid import LoadedPair

    asked: list[str] = []
    monkeypatch.setattr(pf, "preflight", lambda *a, site, **k: asked.append(site) or SimpleNamespace(to_dict=dict))

    prof = dataclasses.replace(smoke_profile(), activation_site="mlp_output")
    world = LoadedPair(prof, cache_dir=tmp_path)
    for name in ("paper", "corrected"):  # block input and block output by default
        assert prof.site(get_procedure(name)) == "mlp_output"
        world.space("a", 2, get_procedure(name))
    assert {site for (_, _, site) in world._residuals} == {"mlp_output"}
    assert asked == ["mlp_output"]
