"""Host-side work of a grid cell (issue 20), against the previous code in the same run on this CPU:
equal results (or the same law) asserted, the ratio printed and stored in ``extra_info``.

- the token filters at the Pythia paper tier's width (32,768 features x 5 top strings): the
  non-concept mask and the shared-top-token filter over 11,000 many-to-1 pairs, as sparse
  :class:`harness.pairing.concepts.StringIncidence` products against the per-feature / per-pair
  Python tests (the reference, same answers asserted);
- U1/U2's 99 random-partner sets of 2,000 A features (64 candidates each among 32,768 B features),
  advanced together (:func:`harness.experiments.random_partners.one_to_one_partner_draws`) against
  the sequential draw, one numpy step per A feature per set (the previous code; same law, tested
  in tests/experiments/test_random_partners.py).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m pytest benchmarks/bench_host_draws.py -s`` (about a
minute). Physical floor: the filters touch 32,768 x 5 strings once per space (the incidence build,
timed separately) and O(pairs x 5) entries per call; a random-partner step is ~10 numpy calls on
(99, 4) arrays, so its floor is numpy's per-call overhead (~1-5 us), not arithmetic.
"""

from __future__ import annotations

import time

import numpy as np

from harness.experiments.random_partners import RANDOM_PARTNER_SETS, one_to_one_partner_draws
from harness.pairing.concepts import StringIncidence, filter_shared_token, nonconcept_mask
from harness.pairing.matching import Pairs


def report(benchmark, name: str, reference_s: float, fast_s: float) -> float:  # type: ignore[no-untyped-def]
    ratio = reference_s / fast_s
    benchmark.extra_info.update(reference_s=reference_s, fast_s=fast_s, ratio=ratio)
    print(f"\n[{name}] previous {reference_s:.3f} s, now {fast_s:.3f} s, ratio {ratio:.1f}x")
    return ratio


def _strings(n: int, vocab: int, seed: int) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(seed)
    return [tuple(f" w{int(i)}" for i in rng.zipf(1.3, size=5) % vocab) for _ in range(n)]


def test_token_filters_sparse_vs_python(benchmark) -> None:  # type: ignore[no-untyped-def]
    f, n_pairs = 32768, 11000
    sa, sb = _strings(f, 20000, 0), _strings(f, 20000, 1)
    junk = [" w0", " w1", " w2", " w3", " w4", " w5", " w6"]
    rng = np.random.default_rng(2)
    pairs = Pairs(rng.integers(0, f, n_pairs), rng.integers(0, f, n_pairs), rng.random(n_pairs), ())
    t0 = time.perf_counter()
    ref_mask = nonconcept_mask(sa, junk), nonconcept_mask(sb, junk)
    ref_kept = filter_shared_token(pairs, sa, sb)
    reference = time.perf_counter() - t0
    t0 = time.perf_counter()
    ia, ib = StringIncidence(sa), StringIncidence(sb)
    build = time.perf_counter() - t0

    def fast() -> tuple[object, ...]:
        return ia.mask(junk), ib.mask(junk), ia.shares(ib, pairs.a_idx, pairs.b_idx)

    t0 = time.perf_counter()
    mask_a, mask_b, shared = fast()
    per_call = time.perf_counter() - t0
    assert np.array_equal(mask_a, ref_mask[0]) and np.array_equal(mask_b, ref_mask[1])
    assert np.array_equal(pairs.a_idx[shared], ref_kept.a_idx) and np.array_equal(pairs.b_idx[shared], ref_kept.b_idx)
    print(f"\n[token filters] incidence build (once per space, both sides) {build:.3f} s")
    assert report(benchmark, "token filters per call", reference, per_call) > 2
    benchmark.pedantic(fast, rounds=1, iterations=1)


def _sequential(flat, offs, lens, real, n_b: int, seed: int, n_sets: int) -> int:  # type: ignore[no-untyped-def]
    """The previous draw: per set, per A feature (random order), one numpy mask step."""
    rng = np.random.default_rng(seed)
    rows = [flat[o : o + n][flat[o : o + n] != r] for o, n, r in zip(offs, lens, real, strict=True)]
    kept = 0
    for _ in range(n_sets):
        used = np.zeros(n_b, dtype=bool)
        for i in rng.permutation(len(rows)):
            options = rows[i][~used[rows[i]]]
            if options.size:
                used[int(options[int(rng.integers(options.size))])] = True
                kept += 1
    return kept


def test_random_partner_sets_together_vs_one_by_one(benchmark) -> None:  # type: ignore[no-untyped-def]
    n_a, n_b, per_a = 2000, 32768, 64
    rng = np.random.default_rng(0)
    flat = np.sort(rng.integers(0, n_b, size=(n_a, per_a)), axis=1).reshape(-1)
    offs = np.arange(n_a, dtype=np.int64) * per_a
    lens = np.full(n_a, per_a, dtype=np.int64)
    real = flat[offs]
    t0 = time.perf_counter()
    kept_ref = _sequential(flat, offs, lens, real, n_b, 1, RANDOM_PARTNER_SETS)
    reference = time.perf_counter() - t0

    def fast() -> list[tuple[np.ndarray, np.ndarray]]:
        return one_to_one_partner_draws(flat, offs, lens, real, n_b, seed=1, n_sets=RANDOM_PARTNER_SETS)

    t0 = time.perf_counter()
    draws = fast()
    now = time.perf_counter() - t0
    kept = sum(b.size for _, b in draws)
    # same law: the sets keep about as many A features (every A feature has 63 options here)
    assert abs(kept - kept_ref) <= 0.01 * kept_ref
    assert report(benchmark, "99 random-partner sets", reference, now) > 3
    benchmark.pedantic(fast, rounds=1, iterations=1)
