"""Shared fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """The CPU is shared: multi-threaded torch under contention runs ~50x slower here."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def model_a():
    """Fixture model A, loaded once through the offline local-folder path."""
    import fixtures
    from harness.load.models import ModelSpec, load_model

    return load_model(ModelSpec(name="fixture/model-a", local_path=str(fixtures.model_dir(fixtures.MODEL_A))))
