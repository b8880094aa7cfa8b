"""Root pytest configuration: offline environment, seeding, suite-wide options.

Markers (registered in pyproject.toml, enforced with --strict-markers): smoke, gpu, large,
rehearsal, slow.
"""

from __future__ import annotations

import os
import random

# No hub on CI or dev machines: without these, transformer-lens retries DNS for ~23 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Every test starts from the same random state (numpy legacy, random, torch)."""
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
