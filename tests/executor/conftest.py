"""Shared fixtures of the executor tests: the smoke world and a two-cell reference grid."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

#: The cells the executor tests run: corrected procedure, A layer 2 x B layers 3 and 4 of the
#: fixture world (two grid cells; the whole smoke grid has 24 per procedure), with smaller nulls
#: and draws than the smoke profile's (the same code path, a fraction of the time).
LAYERS_A = [2]
LAYERS_B = [3, 4]


@pytest.fixture(scope="session")
def activation_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("activations")


@pytest.fixture(scope="session")
def smoke_world(activation_cache: Path) -> Any:
    import dataclasses

    from fixtures.profile import smoke_profile
    from harness.experiments.grid import LoadedPair

    small = dataclasses.replace(
        smoke_profile(),
        permutations=19,
        permutations_semantic=19,
        random_subsets=5,
        size_matched_draws=9,
        placebo_filter_runs=2,
        random_partner_sets=9,
    )
    return LoadedPair(small, cache_dir=activation_cache)


@pytest.fixture(scope="session")
def corrected() -> Any:
    from harness.config import get_procedure

    return get_procedure("corrected")


@pytest.fixture(scope="session")
def reference_grid(smoke_world: Any, corrected: Any) -> dict[str, Any]:
    """The two cells run in this process without an executor's store (the plain run)."""
    from harness.experiments.grid import run_grid

    return run_grid(smoke_world, corrected, layers_a=LAYERS_A, layers_b=LAYERS_B)


@pytest.fixture(scope="session")
def same_cells() -> Any:
    """:func:`assert_same_cells` (tests/ is not a package: shared as a fixture)."""
    return assert_same_cells


def assert_same_cells(got: list[dict[str, Any]], want: list[dict[str, Any]], *, rel: float = 1e-9) -> None:
    """Verdict-relevant equality: the same fields; integers, strings (k/N p-values) and flags
    exactly; floats within ``rel`` relative (NaN where NaN)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        for k, v in w.items():
            if isinstance(v, float) and not isinstance(v, bool):
                assert isinstance(g[k], float), k
                if math.isnan(v):
                    assert math.isnan(g[k]), k
                else:
                    assert g[k] == pytest.approx(v, rel=rel, abs=0.0), k
            else:
                assert g[k] == v, k
