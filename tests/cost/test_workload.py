"""Workload sizes from a profile: grid cells, printed pair counts, draw counts, space builds (issue 20)."""

from __future__ import annotations

from harness.config import get_procedure
from harness.cost.workload import space_builds, svcca_k, workload_from_profile
from harness.profiles import get_profile
from harness.verdicts.paper_tables import paper_pair_counts


def test_paper_workload_has_every_cell_and_the_printed_counts() -> None:
    prof = get_profile("paper")
    wl = workload_from_profile(prof)
    printed = paper_pair_counts("paper")
    assert (wl.d_a, wl.d_b, wl.f_a, wl.f_b) == (512, 768, 32768, 32768)
    assert [pw.procedure.name for pw in wl.procedures] == ["paper", "corrected"]
    for pw in wl.procedures:
        assert len(pw.grid) == len(pw.control_grid) == len(prof.layers_a) * len(prof.layers_b)
        assert pw.n_permutations == prof.n_permutations(pw.procedure)
        assert pw.n_size_matched == 99 and pw.n_placebo_filter_runs == 10
        cell = next(c for c in pw.grid if (c.layer_a, c.layer_b) == (3, 5))
        assert cell.one_to_one.n == printed[("one_to_one", 3, 5)]
        assert cell.many_to_one.n == printed[("many_to_one", 3, 5)]
        assert len(cell.placebo_filter_runs) == 10
        assert pw.n_positions == 100 * (300 - (1 if pw.procedure.mask_special_positions else 0))
    assert any("median printed count" in a for a in wl.assumptions)  # layer 0 is not printed


def test_svcca_k_follows_each_procedure() -> None:
    paper, corrected = get_procedure("paper"), get_procedure("corrected")
    assert svcca_k(paper, 5000, 512) == 1
    assert svcca_k(corrected, 551, 512) == 137  # floor(n / 4)
    assert svcca_k(corrected, 5000, 512) == 512  # the rank (99%-variance count unknown: an upper bound)
    assert svcca_k(corrected, 5000, 512, variance_dims=0.5) == 256


def test_space_builds_follow_the_lru() -> None:
    # 6 x 12 grid, 14 spaces: a row's 13 spaces and the previous row's A fit, so each B is built
    # once; the warm-up (18 spaces) evicts A0-A3, and each grid pass's row evicts the A two rows back
    builds = space_builds(get_profile("paper"), ["paper"])["paper"]
    assert builds == (6 + 4 + 6 + 6, 12)  # warm-up, grid (A0-A3 again), control grid, semantic pairs
    # rehearsal: layers {0, 1} x {0, 1}, a cache of 4 spaces: everything is built once
    assert space_builds(get_profile("rehearsal"), ["corrected"])["corrected"] == (2, 2)
