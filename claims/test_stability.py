"""The seed sweep of the smoke claims (issue 13, item 5), as its own tier (``-m stability``; ~45 min
on one idle core, more on a shared machine): every swept claim's verdict and control outcome over
base seeds 0 .. 19 (cheap record groups) or 0 .. 9 (the layer grid and the semantic grid; at least 5 are required),
written to ``reports/stability/`` (or ``--report-dir``), then checked against the reviewed smoke
expectations (harness/verdicts/stability.py :func:`check_expectations`). The default run checks the
committed ``stability.json`` the same way (tests/verdicts/test_stability.py) without recomputing.

Same as ``sae-claims stability --seeds 20 --seeds-expensive 10 --out reports/stability`` (how the committed sweep was made).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claims.conftest import EXPECTED_DIR, REPO_ROOT

pytestmark = pytest.mark.stability


def test_seed_sweep_of_the_smoke_claims(request: pytest.FixtureRequest) -> None:
    from fixtures.stability import sweep_smoke
    from harness.verdicts.recorder import Expectations
    from harness.verdicts.stability import check_expectations, summarize

    report_dir = request.config.getoption("--report-dir")
    out = Path(report_dir) if report_dir else REPO_ROOT / "reports" / "stability"
    cache = request.config.getoption("--cache-dir")
    data = sweep_smoke(out, n_seeds=20, n_seeds_expensive=10, cache_dir=Path(cache) if cache else None, quiet=True)
    assert data["complete"] and (out / "stability.json").exists() and (out / "stability.md").exists()
    table = summarize(data)
    assert all(s.stable is not None for s in table.values()), "every swept claim reaches its minimum seeds"
    problems = check_expectations(data, Expectations(EXPECTED_DIR).load("smoke"))
    assert not problems, "\n".join(problems)
