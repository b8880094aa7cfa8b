"""End-to-end engine on the synthetic world: planted structure passes, the control fails."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import CORRECTED, PAPER
from harness.experiments.feature_space import FeatureSpace
from harness.experiments.semantic_subspaces import compare_concept
from harness.experiments.spaces import compare_spaces
from harness.experiments.synthetic import synthetic_pair


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_planted_pair_is_significant_and_shuffled_control_is_not(procedure) -> None:
    a, b = synthetic_pair()
    rec = compare_spaces(a, b, procedure, n_permutations=99)
    one = rec["one_to_one"]
    assert one["n_pairs"] >= 140  # 150 planted shared features
    assert one["svcca_p"] <= 0.01 and one["rsa_p"] <= 0.01
    assert one["svcca"] > one["svcca_null_mean"] + 0.2
    ca, cb = synthetic_pair(shuffle_b_positions=True)
    ctrl = compare_spaces(ca, cb, procedure, n_permutations=99)["one_to_one"]
    assert ctrl["svcca_p"] > 0.05 and ctrl["rsa_p"] > 0.05


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_top_correlated_control_set_is_scored_at_the_requested_size(procedure) -> None:
    """The negative control's top-correlated set (filters and threshold off) has exactly the
    requested number of pairs, is scored, and is not significant on misaligned positions,
    while on aligned positions the same set is."""
    a, b = synthetic_pair()
    n = compare_spaces(a, b, procedure, n_permutations=9)["one_to_one"]["n_pairs"]
    ca, cb = synthetic_pair(shuffle_b_positions=True)
    rec = compare_spaces(ca, cb, procedure, n_permutations=99, n_top_correlated=n)
    top = rec["top_correlated"]
    from dataclasses import replace

    from harness.experiments.space_pairing import pair_spaces

    available = len(pair_spaces(ca, cb, replace(procedure, corr_threshold=-1.0), token_filters=False)[0])
    assert top["n_pairs"] == min(n, available) and top["n_pairs"] > 0.9 * n and np.isfinite(top["svcca"])
    assert top["svcca_p"] > 0.05
    aligned = compare_spaces(a, b, procedure, n_permutations=99, n_top_correlated=n)["top_correlated"]
    assert aligned["n_pairs"] <= n and aligned["svcca_p"] <= 0.01
    assert "top_correlated" not in compare_spaces(a, b, procedure, n_permutations=9)


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_spaces_encoded_from_residuals_equal_materialised_codes(procedure) -> None:
    """A FeatureSpace that encodes its codes on demand (SaeCodes, the LoadedPair's path) gives the
    same whole-space and semantic records as the same codes materialised as a sparse matrix."""
    import scipy.sparse as sp
    import torch

    from harness.activations.encode import SaeCodes, SaeWeights, iter_code_chunks

    rng = np.random.default_rng(3)
    n_samples, seq, d_in, d_sae = 20, 30, 12, 64
    tokens = rng.integers(0, 50, size=(n_samples, seq))
    vocab = [f" w{i}" for i in range(48)] + [".", "\n"]
    shared = torch.as_tensor(rng.standard_normal((n_samples * seq, 6)), dtype=torch.float32)

    def space(name: str, seed: int) -> tuple[FeatureSpace, FeatureSpace]:
        g = torch.Generator().manual_seed(seed)
        x = shared @ torch.randn(6, d_in, generator=g) + 0.5 * torch.randn(n_samples * seq, d_in, generator=g)
        w = SaeWeights(
            w_enc=torch.randn(d_in, d_sae, generator=g),
            b_enc=torch.randn(d_sae, generator=g) - 1.0,
            b_dec=torch.zeros(d_in),
            activation="topk" if procedure.sae_code == "sparse" else "relu_pre_topk",
            k=8,
        )
        dec = rng.standard_normal((d_sae, 10))
        common = dict(
            decoder=dec,
            tokens=tokens,
            sample_index=np.repeat(np.arange(n_samples), seq),
            position_index=np.tile(np.arange(seq), n_samples),
            vocab=vocab,
            junk_tokens=(".",),
            top_k=procedure.top_k_positions,
            require_active=procedure.top_positions_require_active,
        )
        full = torch.cat([c for _, _, c in iter_code_chunks(x, w, chunk_size=64)]).numpy()
        enc = FeatureSpace(
            name=name,
            codes=SaeCodes(
                x,
                w,
                chunk_size=64,
                top_k=procedure.top_k_positions,
                require_active=procedure.top_positions_require_active,
            ),
            **common,
        )
        return enc, FeatureSpace(name=name, codes=sp.csr_matrix(full), **common)

    (ea, ra), (eb, rb) = space("A", 1), space("B", 2)
    got = compare_spaces(ea, eb, procedure, n_permutations=19, null_device="cpu")
    ref = compare_spaces(ra, rb, procedure, n_permutations=19)
    for v in ("one_to_one", "many_to_one", "unfiltered"):
        assert got[v]["n_pairs"] == ref[v]["n_pairs"] and got[v]["pairs_history"] == ref[v]["pairs_history"]
        for k in ("svcca", "rsa", "svcca_p", "rsa_p"):
            assert got[v][k] == pytest.approx(ref[v][k], abs=1e-10, nan_ok=True)
    assert got["mean_max_corr"] == pytest.approx(ref["mean_max_corr"], abs=1e-6)
    np.testing.assert_array_equal(ea.top, ra.top)
    words = [w.strip() for w in vocab[:30]]
    sg = compare_concept(ea, eb, "w", words, procedure, n_permutations=9, n_random_subsets=5)
    sr = compare_concept(ra, rb, "w", words, procedure, n_permutations=9, n_random_subsets=5)
    assert sg["n_concept_a"] == sr["n_concept_a"] > 0 and sg["n_pairs"] == sr["n_pairs"]
    for k in ("svcca", "test2_null_mean", "test2_p"):
        assert sg.get(k) == pytest.approx(sr.get(k), abs=1e-9, nan_ok=True)
    # the shuffled control: permuted residuals == permuted codes
    cg = compare_spaces(ea, eb.with_shuffled_positions(5), procedure, n_permutations=9)
    cr = compare_spaces(ra, rb.with_shuffled_positions(5), procedure, n_permutations=9)
    assert cg["one_to_one"]["n_pairs"] == cr["one_to_one"]["n_pairs"]
    assert cg["mean_max_corr"] == pytest.approx(cr["mean_max_corr"], abs=1e-6)


def test_compare_spaces_placebos_are_seeded_per_cell() -> None:
    a, b = synthetic_pair()
    r1 = compare_spaces(a, b, CORRECTED, n_permutations=9, n_size_matched=19, placebos=True)
    r2 = compare_spaces(a, b, CORRECTED, n_permutations=9, n_size_matched=19, placebos=True)
    assert r1["placebo_one_to_one"] == r2["placebo_one_to_one"] and r1["placebo_filter"] == r2["placebo_filter"]
    sm = r1["one_to_one_vs_many_to_one_size_matched"]
    assert 0 < sm["placebo_p_plus_one"] <= 1
    assert "placebo_one_to_one" not in compare_spaces(a, b, CORRECTED, n_permutations=9, n_size_matched=19)


@pytest.mark.parametrize("null_device", [None, "cpu"])
def test_grid_computes_rsa_only_for_the_sets_its_cells_read(monkeypatch, null_device) -> None:
    """compare_spaces(rsa_variants=grid.RSA_VARIANTS) computes one RSA null per set a grid cell reads
    (1-1, random partner, top-correlated) and none for the many-to-1 / unfiltered sets; the grid
    cell built from it equals the cell built with every RSA computed, field for field."""
    import harness.scoring.device_nulls as device_nulls
    import harness.scoring.nulls as nulls
    from harness.experiments.grid import RSA_VARIANTS, _cell
    from harness.experiments.pair_scores import RSA_NOT_READ

    calls: list[int] = []
    for module, name in ((nulls, "rsa_null"), (device_nulls, "rsa_null_device")):
        original = getattr(module, name)

        def counted(a, b, *args, _original=original, **kwargs):
            calls.append(len(a))
            return _original(a, b, *args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    a, b = synthetic_pair()
    opts = dict(n_permutations=9, n_size_matched=9, random_partners=True, null_device=null_device, n_top_correlated=40)
    every = compare_spaces(a, b, CORRECTED, **opts)
    assert len(calls) == 5  # one_to_one, many_to_one, unfiltered, random_partner, top_correlated
    calls.clear()
    read = compare_spaces(a, b, CORRECTED, rsa_variants=RSA_VARIANTS, **opts)
    assert sorted(calls) == sorted(read[v]["n_pairs"] for v in ("one_to_one", "random_partner", "top_correlated"))
    for variant in ("many_to_one", "unfiltered"):
        assert math.isnan(read[variant]["rsa"]) and read[variant]["rsa_skipped"] == RSA_NOT_READ
        assert read[variant]["svcca"] == every[variant]["svcca"]
    cell_every, cell_read = _cell(every, 1, 1), _cell(read, 1, 1)
    assert cell_every.keys() == cell_read.keys()
    for key, value in cell_every.items():
        same = value == cell_read[key] or (
            isinstance(value, float) and math.isnan(value) and math.isnan(cell_read[key])
        )
        assert same, key
    assert (
        math.isfinite(cell_read["rsa"]) and math.isfinite(cell_read["rsa_rp"]) and math.isfinite(cell_read["rsa_top"])
    )


@pytest.mark.parametrize("null_device", [None, "cpu"])
def test_grid_computes_nulls_only_for_the_sets_its_cells_read(monkeypatch, null_device) -> None:
    """compare_spaces(null_variants=grid.GRID_NULL_VARIANTS) computes SVCCA permutation nulls for the
    1-1 and many-to-1 sets only; the unfiltered and single random-partner sets keep their observed
    SVCCA (the same number), and the grid cell differs from the every-null cell only in null fields of
    those sets, which no rule and no report module reads."""
    import pathlib

    import harness
    import harness.scoring.device_nulls as device_nulls
    import harness.scoring.nulls as nulls
    from harness.experiments.grid import GRID_NULL_VARIANTS, RSA_VARIANTS, _cell
    from harness.experiments.pair_scores import NULL_NOT_READ

    calls: list[int] = []
    for module, name in ((nulls, "svcca_null"), (device_nulls, "svcca_null_device")):
        original = getattr(module, name)

        def counted(a, b, *args, _original=original, **kwargs):
            calls.append(len(a))
            return _original(a, b, *args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    a, b = synthetic_pair()
    opts = dict(n_permutations=9, n_size_matched=9, random_partners=True, null_device=null_device)
    every = compare_spaces(a, b, CORRECTED, rsa_variants=RSA_VARIANTS, **opts)
    calls.clear()
    read = compare_spaces(a, b, CORRECTED, rsa_variants=RSA_VARIANTS, null_variants=GRID_NULL_VARIANTS, **opts)
    assert sorted(calls) == sorted(read[v]["n_pairs"] for v in GRID_NULL_VARIANTS)
    for variant in ("unfiltered", "random_partner"):
        assert read[variant]["null_skipped"] == NULL_NOT_READ and math.isnan(read[variant]["svcca_null_mean"])
        assert read[variant]["svcca"] == every[variant]["svcca"]
        assert (read[variant]["svcca_k_a"], read[variant]["svcca_k_b"]) == (
            every[variant]["svcca_k_a"],
            every[variant]["svcca_k_b"],
        )
    cell_every, cell_read = _cell(every, 1, 1), _cell(read, 1, 1)
    assert cell_every.keys() == cell_read.keys()
    changed = {
        k
        for k, v in cell_every.items()
        if not (v == cell_read[k] or (isinstance(v, float) and math.isnan(v) and math.isnan(cell_read[k])))
    }
    not_read = {"svcca_unfiltered_excess", "svcca_unfiltered_null_mean"} | {
        k for k in cell_every if k.endswith("_rp") and k not in ("svcca_rp", "n_pairs_rp")
    }
    assert changed and changed <= not_read, changed - not_read
    root = pathlib.Path(harness.__file__).parent
    readers = [*sorted((root / "verdicts").glob("*.py")), *sorted((root / "report").glob("*.py"))]
    for field in sorted(changed):
        for path in readers:
            if path.name == "schema.py":  # the record schema lists every field
                continue
            assert f'"{field}"' not in path.read_text(), (field, path.name)


def test_control_grid_skips_the_size_matched_draws() -> None:
    a, b = synthetic_pair()
    rec = compare_spaces(a, b, CORRECTED, n_permutations=9, n_size_matched=9, size_matched_sets=False)
    assert not any(k.endswith("_size_matched") for k in rec)
    assert "one_to_one_vs_many_to_one_size_matched" in compare_spaces(
        a, b, CORRECTED, n_permutations=9, n_size_matched=9
    )
