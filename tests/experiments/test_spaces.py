"""End-to-end engine on the synthetic world: planted structure passes, the control fails."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import CORRECTED, PAPER
from harness.errors import ShapeError
from harness.experiments.spaces import FeatureSpace, compare_concept, compare_spaces
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

    from harness.experiments.spaces import pair_spaces

    available = len(pair_spaces(ca, cb, replace(procedure, corr_threshold=-1.0), token_filters=False)[0])
    assert top["n_pairs"] == min(n, available) and top["n_pairs"] > 0.9 * n and np.isfinite(top["svcca"])
    assert top["svcca_p"] > 0.05
    aligned = compare_spaces(a, b, procedure, n_permutations=99, n_top_correlated=n)["top_correlated"]
    assert aligned["n_pairs"] <= n and aligned["svcca_p"] <= 0.01
    assert "top_correlated" not in compare_spaces(a, b, procedure, n_permutations=9)


def test_pairing_recovers_the_planted_correspondence() -> None:
    from harness.experiments.spaces import pair_spaces

    a, b = synthetic_pair(seed=3)
    pairs, _ = pair_spaces(a, b, CORRECTED)
    shared = pairs.a_idx < 150
    # the generator maps A feature g to B feature perm[g]; recover perm via the decoders'
    # trigger tokens: paired features must fire on the same token.
    ta = a.tokens.ravel()[a.codes.tocsc()[:, pairs.a_idx[shared]].argmax(axis=0).A1]
    tb = b.tokens.ravel()[b.codes.tocsc()[:, pairs.b_idx[shared]].argmax(axis=0).A1]
    assert np.mean(ta == tb) > 0.95


def test_concept_comparison_and_shape_errors() -> None:
    a, b = synthetic_pair(seed=4)
    words = [w.strip() for w in a.vocab[:120]]  # a "concept" = the first 120 words
    rec = compare_concept(a, b, "first-words", words, CORRECTED, n_permutations=99, n_random_subsets=20)
    assert rec["n_concept_a"] > 10 and rec["n_pairs"] > 10
    assert rec["svcca_p"] < 0.05
    assert np.isfinite(rec["test2_p"]) and rec["test2_failed"] <= 20
    with pytest.raises(ShapeError, match="same SAE"):
        FeatureSpace(
            name="bad",
            codes=a.codes,
            decoder=a.decoder[:-1],
            tokens=a.tokens,
            sample_index=a.sample_index,
            position_index=a.position_index,
            vocab=a.vocab,
            junk_tokens=(),
        )


def test_paper_semantic_subset_uses_the_authors_set_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``paper`` the subset's columns reach the pairing in list(set) order (ids added
    keyword by keyword) with "first seen" walking B in that order; ``sorted`` passes ascending ids."""
    import harness.experiments.spaces as ex
    from harness.pairing.concepts import python_set_order

    a, b = synthetic_pair(seed=4)
    words = [w.strip() for w in a.vocab[:120] if w.strip()][:20]  # small set: ids exceed its table size
    seen: list[tuple[list[int], list[int], str]] = []
    real = ex.pair_subsets

    def spy(space_a, space_b, idx_a, idx_b, **kw):
        if not seen or len(seen) < 2:
            seen.append((list(idx_a), list(idx_b), kw.get("order", "sorted")))
        return real(space_a, space_b, idx_a, idx_b, **kw)

    monkeypatch.setattr(ex, "pair_subsets", spy)
    compare_concept(a, b, "w", words, PAPER, n_permutations=9, n_random_subsets=2)
    ia, ib, order = seen[0]
    assert order == "given" and PAPER.semantic_column_order == "python_set"
    per_kw = [[f for f in sorted(b.concept([w], rule="spaces").tolist())] for w in words]
    assert ib == python_set_order(per_kw).tolist() and ib != sorted(ib)
    seen.clear()
    compare_concept(
        a,
        b,
        "w",
        words,
        PAPER.replace(name="p-sorted", semantic_column_order="sorted"),
        n_permutations=9,
        n_random_subsets=2,
    )
    assert seen[0][2] == "sorted" and seen[0][1] == sorted(ib)


def test_scores_carry_their_effect_over_chance_and_per_cell_seeds() -> None:
    """Every score comes with excess over its null, null sd, z, the +1 p and the paper's k/N;
    each variant's null is seeded from its own identity (no shared permutations)."""
    a, b = synthetic_pair()
    rec = compare_spaces(a, b, CORRECTED, n_permutations=19)
    one = rec["one_to_one"]
    assert one["svcca_excess"] == pytest.approx((one["svcca"] - one["svcca_null_mean"]) / (1 - one["svcca_null_mean"]))
    assert one["svcca_excess"] > 0.2 and one["svcca_z"] > 3
    assert one["svcca_p_paper"] == "0/19" and one["svcca_p_plus_one"] == pytest.approx(1 / 20)
    assert one["rsa_excess"] > 0 and np.isfinite(one["rsa_null_std"])
    seeds = {rec[v]["svcca_seed"] for v in ("one_to_one", "many_to_one", "unfiltered")}
    assert len(seeds) == 3
    again = compare_spaces(a, b, CORRECTED, n_permutations=19)["one_to_one"]
    assert again["svcca_seed"] == one["svcca_seed"] and again["svcca_null_mean"] == one["svcca_null_mean"]


def test_split_halves_agree_on_a_planted_pair() -> None:
    a, b = synthetic_pair()
    one = compare_spaces(a, b, CORRECTED, n_permutations=19, split_halves=True)["one_to_one"]
    assert one["split_half_n"] == one["n_pairs"] // 2
    assert one["svcca_excess_half1"] > 0.2 and one["svcca_excess_half2"] > 0.2
    assert "svcca_excess_half1" not in compare_spaces(a, b, CORRECTED, n_permutations=9)["one_to_one"]


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_random_partners_pass_the_filters_and_are_not_significant(procedure) -> None:
    """The filter-aware control: random partners (not the real one) that pass the same token
    filters, 1-1; on the synthetic world (filters unrelated to decoders) it is not significant."""
    from harness.experiments.spaces import random_partner_pairs
    from harness.pairing.matching import correlation_submatrix

    a, b = synthetic_pair()
    rec = compare_spaces(a, b, procedure, n_permutations=99, random_partners=True)
    rp = rec["random_partner"]
    assert rp["n_pairs"] > 0.5 * rec["one_to_one"]["n_pairs"]
    assert rp["svcca_p"] > 0.05 and rp["svcca_excess"] < 0.5 * rec["one_to_one"]["svcca_excess"]
    from harness.experiments.spaces import pair_spaces

    real, _ = pair_spaces(a, b, procedure)
    pairs = random_partner_pairs(a, b, real, procedure, seed=3)
    assert len(set(pairs.b_idx.tolist())) == len(pairs)  # 1-1
    assert set(pairs.a_idx.tolist()) <= set(real.a_idx.tolist())
    junk_b = b.junk_mask()
    for i, j in zip(pairs.a_idx, pairs.b_idx, strict=True):
        assert not (procedure.filter_nonconcept and junk_b[j])
        assert not procedure.filter_shared_token or set(a.strings[i]) & set(b.strings[j])
    corr = correlation_submatrix(a.codes, b.codes, pairs.a_idx, pairs.b_idx).diagonal()
    assert np.allclose(corr, pairs.corr)
    partner = dict(zip(real.a_idx.tolist(), real.b_idx.tolist(), strict=True))
    assert all(partner[i] != j for i, j in zip(pairs.a_idx.tolist(), pairs.b_idx.tolist(), strict=True))


def test_zero_permutations_is_an_error() -> None:
    """Issue 14, finding 8: n_permutations=0 silently meant the procedure's default."""
    from harness.config import CORRECTED
    from harness.errors import ConfigError
    from harness.experiments.spaces import compare_concept, compare_spaces
    from harness.experiments.synthetic import synthetic_pair

    a, b = synthetic_pair()
    with pytest.raises(ConfigError, match="n_permutations=0"):
        compare_spaces(a, b, CORRECTED, n_permutations=0)
    with pytest.raises(ConfigError, match="n_permutations=-1"):
        compare_concept(a, b, "x", ("x",), CORRECTED, n_permutations=-1)


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


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_semantic_test2_batched_on_device_equals_per_draw(procedure) -> None:
    """compare_concept(null_device=...) batches Test 2's SVCCAs by pair count: same draws, same
    pairs, null equal to the per-draw numpy SVCCA to 1e-10, same p-value and failures."""
    a, b = synthetic_pair(seed=4)
    words = [w.strip() for w in a.vocab[:150] if w.strip()][:40]
    ref = compare_concept(a, b, "w", words, procedure, n_permutations=19, n_random_subsets=12)
    got = compare_concept(a, b, "w", words, procedure, n_permutations=19, n_random_subsets=12, null_device="cpu")
    assert "skipped" not in ref and ref["n_pairs"] == got["n_pairs"] >= 3
    assert got["test2_null_mean"] == pytest.approx(ref["test2_null_mean"], abs=1e-10)
    assert got["test2_p"] == ref["test2_p"] and got["test2_failed"] == ref["test2_failed"]
    assert got["svcca"] == pytest.approx(ref["svcca"], abs=1e-10) and got["svcca_p"] == ref["svcca_p"]


def test_placebo_one_to_one_keeps_the_a_features_and_draws_among_their_candidates() -> None:
    """U5's placebo: one random many-to-1 candidate per A feature of the real 1-1 set, same count;
    on the planted world the best-correlation 1-1 set beats it, and a 1-1 set that is itself a
    random choice (a broken pipeline) does not."""
    from harness.experiments.spaces import pair_spaces, placebo_one_to_one

    a, b = synthetic_pair()
    one, mc = pair_spaces(a, b, CORRECTED)
    many, _ = pair_spaces(a, b, CORRECTED, mc=mc, one_to_one_rule="none")
    rec = placebo_one_to_one(a, b, one, many, CORRECTED, n_draws=49, seed=1)
    assert rec["placebo_one_to_one_n_draws"] == 49 and rec["placebo_one_to_one_n_with_choice"] > 10
    assert rec["placebo_one_to_one_p_plus_one"] <= 0.05
    # broken: the "real" 1-1 set is one random candidate per A feature, like the placebo
    rng = np.random.default_rng(5)
    pick = []
    for x in one.a_idx.tolist():
        rows = np.flatnonzero(many.a_idx == x)
        pick.append(int(rows[rng.integers(rows.size)]))
    from harness.pairing.matching import Pairs

    rows = np.asarray(pick)
    random_one = Pairs(many.a_idx[rows], many.b_idx[rows], many.corr[rows], ("random 1-1",))
    broken = placebo_one_to_one(a, b, random_one, many, CORRECTED, n_draws=49, seed=1)
    assert broken["placebo_one_to_one_p_plus_one"] > 0.05
    # no A feature with a choice: every placebo is the real set, nothing is judged
    single = Pairs(one.a_idx, one.b_idx, one.corr, ())
    none = placebo_one_to_one(a, b, single, single, CORRECTED, n_draws=9, seed=1)
    assert none["placebo_one_to_one_n_with_choice"] == 0 and math.isnan(none["placebo_one_to_one_p_plus_one"])


def test_placebo_filter_swaps_only_the_nonconcept_list() -> None:
    """U6's placebo: random non-junk tokens filtered instead of the non-concept list. On the planted
    world a random token filter removes the private features first (they fire at random positions,
    so their top tokens are many and varied, and a frequency-weighted draw hits them), so it raises
    the score as much as any filter would: the control comes out the same way there. On pure noise
    (B's positions shuffled) it does not beat its siblings. An all-False mask is the same as
    switching the non-concept filter off."""
    from dataclasses import replace

    from harness.experiments.spaces import pair_spaces, placebo_filter

    proc = replace(CORRECTED, filter_shared_token=False, corr_threshold=-1.0)
    a, b = synthetic_pair()
    unf, mc = pair_spaces(a, b, proc, token_filters=False)
    rec = placebo_filter(a, b, proc, mc=mc, unfiltered=unf, seed=0)
    assert rec["placebo_filter_runs"] == 10 and rec["placebo_filter_n_pairs_mean"] < len(unf)
    assert rec["placebo_filter_p"] < 0.05
    na, nb = synthetic_pair(shuffle_b_positions=True)
    unf_noise, mc_noise = pair_spaces(na, nb, proc, token_filters=False)
    noise = placebo_filter(na, nb, proc, mc=mc_noise, unfiltered=unf_noise, seed=0)
    assert noise["placebo_filter_runs"] == 10 and noise["placebo_filter_p"] > 0.05
    off = (np.zeros(a.n_features, bool), np.zeros(b.n_features, bool))
    kept, _ = pair_spaces(a, b, proc, mc=mc, junk_masks=off)
    plain, _ = pair_spaces(a, b, replace(proc, filter_nonconcept=False), mc=mc)
    assert np.array_equal(kept.a_idx, plain.a_idx) and np.array_equal(kept.b_idx, plain.b_idx)


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
    from harness.experiments.spaces import RSA_NOT_READ

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
    from harness.experiments.spaces import NULL_NOT_READ

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


def test_split_half_nulls_on_the_device_equal_numpy() -> None:
    """split_halves with null_device="cpu" (batched fixed-basis nulls) == the numpy nulls to 1e-10."""
    a, b = synthetic_pair()
    ref = compare_spaces(a, b, CORRECTED, n_permutations=19, split_halves=True)["one_to_one"]
    dev = compare_spaces(a, b, CORRECTED, n_permutations=19, split_halves=True, null_device="cpu")["one_to_one"]
    for key in ("svcca_excess_half1", "svcca_excess_half2"):
        assert math.isfinite(ref[key])
        assert dev[key] == pytest.approx(ref[key], rel=1e-10, abs=1e-12)


def _candidate_sets(space_a, space_b, pairs, procedure):
    """Reference candidates (Python sets): per A feature of ``pairs``, the eligible B features a
    random partner may take (live, not non-concept, sharing a top string, as the procedure enables)."""
    from harness.pairing.concepts import nonconcept_mask

    ok_b = space_b.live.copy()
    if procedure.filter_nonconcept:
        ok_b &= ~nonconcept_mask(space_b.strings, space_b.junk_tokens)
    eligible = set(np.flatnonzero(ok_b).tolist())
    out = []
    for a, real in zip(pairs.a_idx.tolist(), pairs.b_idx.tolist(), strict=True):
        if procedure.filter_shared_token:
            cands = {j for j in eligible if set(space_a.strings[a]) & set(space_b.strings[j])}
        else:
            cands = set(eligible)
        out.append(cands - {real})
    return out


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED, CORRECTED.replace(filter_shared_token=False)], ids=str)
def test_random_partner_sets_pass_the_filters_one_to_one(procedure) -> None:
    """Every random-partner set: each A feature at most once, each B feature at most once, never the
    real partner, always a candidate of the reference filters; an A feature is dropped only when
    every one of its candidates was taken before it; set s is the same whatever n_sets."""
    from harness.experiments.spaces import pair_spaces, random_partner_draws, random_partner_pairs

    a, b = synthetic_pair()
    pairs, _ = pair_spaces(a, b, procedure)
    cands = dict(zip(pairs.a_idx.tolist(), _candidate_sets(a, b, pairs, procedure), strict=True))
    draws = random_partner_draws(a, b, pairs, procedure, seed=3, n_sets=5)
    for ia, ib in draws:
        assert len(set(ia.tolist())) == ia.size and len(set(ib.tolist())) == ib.size > 10
        used: set[int] = set()
        for x, y in zip(ia.tolist(), ib.tolist(), strict=True):
            assert y in cands[x] and y not in used
            used.add(y)
        for x in set(cands) - set(ia.tolist()):
            assert cands[x] <= used  # dropped: nothing valid was left (its candidates all taken)
    first = random_partner_pairs(a, b, pairs, procedure, seed=3)
    assert first.a_idx.tolist() == draws[0][0].tolist() and first.b_idx.tolist() == draws[0][1].tolist()
    assert random_partner_draws(a, b, pairs, procedure, seed=3, n_sets=2)[1][1].tolist() == draws[1][1].tolist()


def _exact_law(cands: list[list[int]], real: list[int]) -> dict[frozenset, float]:
    """Exact outcome probabilities of the sequential 1-1 partner draw (A features in uniform random
    order, each a uniform valid option), by enumeration over orders and choices."""
    import itertools

    law: dict[frozenset, float] = {}

    def serve(order, used, pairs, p):
        if not order:
            key = frozenset(pairs)
            law[key] = law.get(key, 0.0) + p
            return
        i, rest = order[0], order[1:]
        opts = [j for j in cands[i] if j not in used and j != real[i]]
        if not opts:
            serve(rest, used, pairs, p)
        for j in opts:
            serve(rest, used | {j}, pairs + [(i, j)], p / len(opts))

    orders = list(itertools.permutations(range(len(cands))))
    for order in orders:
        serve(order, frozenset(), [], 1.0 / len(orders))
    return law


def test_one_to_one_partner_draws_follow_the_sequential_law() -> None:
    """The vectorized draw (rejection tries, then the exact choice) has the law of the sequential
    reference: chi-square goodness of fit over 6000 sets on a small instance whose options collide
    (4 A features, overlapping candidates, a real partner among them; exact law by enumeration);
    the same test rejects a sampler that takes the first valid option instead."""
    from scipy.stats import chisquare

    from harness.experiments.spaces import PARTNER_TRIES, one_to_one_partner_draws

    cands = [[0, 1, 2], [1, 2], [2, 3, 4, 5], [1]]
    real = [0, 9, 3, 9]
    flat = np.array([j for c in cands for j in c], dtype=np.int64)
    lens = np.array([len(c) for c in cands], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    law = _exact_law(cands, real)
    outcomes = sorted(law, key=sorted)
    draws = one_to_one_partner_draws(flat, offs, lens, np.array(real), 10, seed=11, n_sets=6000)
    counts = {o: 0 for o in outcomes}
    for steps, b in draws:
        counts[frozenset(zip(steps.tolist(), b.tolist(), strict=True))] += 1
    observed = np.array([counts[o] for o in outcomes])
    expected = np.array([law[o] for o in outcomes]) * len(draws)
    assert len(outcomes) > 10 and PARTNER_TRIES >= 1
    assert chisquare(observed, expected).pvalue > 1e-3
    # a biased sampler (first valid option, random order) is rejected by the same test
    rng = np.random.default_rng(0)
    biased = {o: 0 for o in outcomes}
    for _ in range(6000):
        used: set[int] = set()
        got = []
        for i in rng.permutation(4).tolist():
            opts = [j for j in cands[i] if j not in used and j != real[i]]
            if opts:
                used.add(opts[0])
                got.append((i, opts[0]))
        biased[frozenset(got)] += 1
    assert chisquare(np.array([biased[o] for o in outcomes]), expected).pvalue < 1e-6


@pytest.mark.parametrize("procedure", [PAPER, CORRECTED], ids=lambda p: p.name)
def test_random_partner_contrast_distinguishes_a_real_pairing_and_not_a_broken_one(procedure) -> None:
    """U1/U2's control as a contrast: the real 1-1 pairing ranked among 99 filter-aware random-partner
    sets. True input (planted pairs): distinguished (p <= 0.05 over 299 sets). Broken input (B's decoder rows
    replaced by noise, so the correlation pairing is no better than any partner the filters accept):
    not distinguished."""
    import dataclasses

    from harness.experiments.spaces import (
        pair_spaces,
        random_partner_contrast,
        random_partner_draws,
        random_partner_pairs,
    )

    a, b = synthetic_pair()
    real, _ = pair_spaces(a, b, procedure)
    # 299 sets: under `paper` (k = 1 SVCCA) about 1.4% of the draws reach the real pairing's score on
    # their A features (measured over 1,800 draws), so a 99-set p swings between 0.01 and 0.05
    rec = random_partner_contrast(a, b, real, procedure, n_sets=299, seed=1)
    assert rec["random_partner_sets"] == 299 and rec["svcca_rp_contrast_n"] == 299 and rec["rsa_rp_contrast_n"] == 299
    assert rec["svcca_rp_contrast_p"] <= 0.05 and rec["rsa_rp_contrast_p"] <= 0.02
    assert rec["svcca_rp_contrast_observed"] > rec["svcca_rp_sets_mean"]
    broken_b = dataclasses.replace(b, decoder=np.random.default_rng(5).standard_normal(b.decoder.shape))
    broken = random_partner_contrast(a, broken_b, real, procedure, n_sets=99, seed=1)
    assert broken["svcca_rp_contrast_p"] > 0.2 and broken["rsa_rp_contrast_p"] > 0.2
    # set 0 is random_partner_pairs' set; every set is 1-1, never the real partner
    draws = random_partner_draws(a, b, real, procedure, seed=1, n_sets=3)
    first = random_partner_pairs(a, b, real, procedure, seed=1)
    assert draws[0][0].tolist() == first.a_idx.tolist() and draws[0][1].tolist() == first.b_idx.tolist()
    partner = dict(zip(real.a_idx.tolist(), real.b_idx.tolist(), strict=True))
    for ia, ib in draws:
        assert len(set(ib.tolist())) == ib.size and all(
            partner[x] != y for x, y in zip(ia.tolist(), ib.tolist(), strict=True)
        )


def test_grid_cells_carry_the_random_partner_contrast_and_its_draw_count() -> None:
    from harness.experiments.grid import _cell

    a, b = synthetic_pair()
    rec = compare_spaces(
        a, b, CORRECTED, n_permutations=9, n_size_matched=9, random_partners=True, random_partner_sets=7
    )
    c = _cell(rec, 1, 1)
    assert c["random_partner_sets"] == 7 and c["svcca_rp_contrast_n"] == 7
    assert c["svcca_rp_contrast_p"] == pytest.approx(1 / 8)  # 7 sets: the smallest +1-rule p
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="random_partner_sets"):
        compare_spaces(a, b, CORRECTED, n_permutations=9, random_partners=True, random_partner_sets=0)


def test_bootstrap_standard_errors_of_a_semantic_table() -> None:
    """S2/S4's intervals: the scores' bootstrap standard errors (pairs resampled), smaller for more pairs,
    seeded, and only where asked for (the semantic table, not the grid)."""
    from harness.experiments.spaces import bootstrap_se, pair_spaces
    from harness.pairing.matching import Pairs

    a, b = synthetic_pair()
    real, _ = pair_spaces(a, b, CORRECTED)
    few = Pairs(real.a_idx[:40], real.b_idx[:40], real.corr[:40])
    small, large = (bootstrap_se(a, b, p, CORRECTED, n_boot=100, seed=1) for p in (few, real))
    for key in ("svcca_boot_se", "rsa_boot_se"):
        assert 0 < large[key] < small[key] < 0.5, key
    assert bootstrap_se(a, b, few, CORRECTED, n_boot=100, seed=1) == small
    assert small["svcca_boot_n"] == small["rsa_boot_n"] == 100
    words = [w.strip() for w in a.vocab[:120]]
    rec = compare_concept(a, b, "first-words", words, CORRECTED, n_permutations=19, n_random_subsets=5, n_bootstrap=50)
    assert rec["svcca_boot_n"] == 50 and 0 < rec["svcca_boot_se"] < 0.5 and 0 < rec["rsa_boot_se"] < 0.5
    plain = compare_concept(a, b, "first-words", words, CORRECTED, n_permutations=19, n_random_subsets=5)
    assert "svcca_boot_se" not in plain
