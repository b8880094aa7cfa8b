"""W2: Llama-3-8B vs Llama-3.1-8B layer-25 residual SAEs (Lan et al. 2024, App. B; ``large``).

One layer pair (25 x 25) on 100 x 100 OpenWebText tokens, scored like a whole-space grid
cell; the negative control shuffles B's token positions. The SAE substitution for the
Llama-3-8B base model (no published base-model SAE in sae-lens) is stated in the profile's
notes (harness/profiles/builtin/llama.toml) and in the report's pre-flight table.
"""

from __future__ import annotations

from typing import Any

import pytest

from claims.conftest import ClaimRecorder, make_world

pytestmark = pytest.mark.large


def test_W2_llama_layer25(procedure: Any, claim_options: dict[str, Any]) -> None:
    from harness.experiments.grid import pair_counts, run_grid

    world = make_world("llama", claim_options)
    recorder = ClaimRecorder("llama")
    grid = run_grid(world, procedure)
    recorder.experiment(f"llama:grid {procedure.name}", grid)
    recorder.experiment("llama:preflight", {"kind": "preflight", "sites": world.preflight})
    # control: B's positions shuffled; as many top-correlated misaligned pairs as the real cell kept
    control = run_grid(world, procedure, control=True, match_pairs=pair_counts(grid))
    recorder.experiment(f"llama:grid {procedure.name} (control: B positions shuffled)", control)
    recorder.judge(
        "W2",
        procedure,
        {"grid": f"grid {procedure.name}", "control_grid": f"grid {procedure.name} (control: B positions shuffled)"},
    )
