"""W2: Llama-3-8B vs Llama-3.1-8B layer-25 residual SAEs (Lan et al. 2024, App. B; ``large``).

One layer pair (25 x 25) on 100 x 100 OpenWebText tokens, scored like a whole-space grid
cell; the negative control shuffles B's token positions. The SAE substitution for the
Llama-3-8B base model (no published base-model SAE in sae-lens) is stated in the profile's
notes (harness/profiles/builtin/llama.toml) and in the report's pre-flight table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from claims.conftest import ClaimRecorder, make_world

pytestmark = pytest.mark.large

ALPHA = 0.05


def w2(grid: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    cell = grid["cells"][0]
    s, p = cell["svcca"], cell["svcca_p"]
    ok = bool(np.isfinite(s) and 0.15 <= s <= 0.6 and np.isfinite(p) and p < ALPHA)
    return ok, {"svcca": s, "svcca_p": p, "n_pairs": cell["n_pairs"], "svcca_null_mean": cell["svcca_null_mean"],
                "rsa": cell["rsa"], "rsa_p": cell["rsa_p"]}


def test_W2_llama_layer25(procedure: Any, claim_options: dict[str, Any]) -> None:
    from harness.experiments.grid import pair_counts, run_grid, top_correlated_view

    world = make_world("llama", claim_options)
    recorder = ClaimRecorder("llama")
    grid = run_grid(world, procedure)
    recorder.experiment(f"llama:grid {procedure.name}", grid)
    recorder.experiment("llama:preflight", {"kind": "preflight", "sites": world.preflight})
    ok, measured = w2(grid)
    # control: B's positions shuffled; as many top-correlated misaligned pairs as the real cell kept
    ctrl_ok, ctrl = w2(top_correlated_view(run_grid(world, procedure, control=True, match_pairs=pair_counts(grid))))
    recorder.conclude("W2", procedure.name, rule_holds=ok, measured=measured, control=ctrl, control_holds=ctrl_ok,
                      control_scored=bool(np.isfinite(ctrl["svcca"])))
