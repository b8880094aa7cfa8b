"""Concept membership of the semantic tables (issue 20: the cost model's largest host-Python item,
``semantic.concepts``), the index against the per-category loop it replaced, in the same run on
the fixture world.

Both answer what the semantic tables ask: for each procedure, each semantic layer pair of
``fixtures/smoke.toml`` (and its Table 1 pair), each Table 4 category, both sides' concept
features under the procedure's whole-word rule and column order. The previous path
(tests/pairing/reference_concepts.py) loops over every feature's top positions per category and
table; the new one (:meth:`harness.experiments.spaces.FeatureSpace.concept`) builds one
:class:`harness.pairing.concepts.ConceptIndex` per space and rule (its build is timed) and answers
each category with numpy. The answers are asserted equal; the ratio is printed and stored in
``extra_info``. Spaces are built (encoded) before either is timed.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python -m pytest benchmarks/bench_concepts.py -s``
(about 30 s; add ``--benchmark-enable`` for pytest-benchmark's statistics).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from harness.pairing.concepts import CONCEPT_KEYWORDS
from tests.pairing.reference_concepts import concept_features as reference_concept_features


def order_of(procedure) -> str:
    """The concept column order a procedure asks for (harness.experiments.spaces.compare_concept)."""
    return "python_set" if procedure.semantic_column_order == "python_set" else "ascending"


def test_semantic_tables_concepts(benchmark) -> None:
    from fixtures.profile import smoke_profile
    from harness.config import get_procedure
    from harness.experiments.grid import LoadedPair

    torch.set_num_threads(1)
    profile = smoke_profile()
    world = LoadedPair(profile, max_spaces=32)
    tables = sorted(
        {(a, b) for a in profile.semantic_layers_a for b in profile.semantic_layers_b} | {profile.semantic_table}
    )
    procs = [get_procedure(p) for p in ("paper", "corrected")]
    spaces = {(p.name, la, lb): (world.space("a", la, p), world.space("b", lb, p)) for p in procs for la, lb in tables}

    def previous() -> list[list[int]]:
        out = []
        for p in procs:
            for la, lb in tables:
                for space in spaces[(p.name, la, lb)]:
                    for keywords in CONCEPT_KEYWORDS.values():
                        feats = reference_concept_features(
                            space.top,
                            tokens=space.tokens,
                            sample_index=space.sample_index,
                            position_index=space.position_index,
                            vocab=space.vocab,
                            keywords=keywords,
                            rule=p.whole_word_rule,
                            order=order_of(p),
                        )
                        out.append(feats[space.live[feats]].tolist())
        return out

    def now() -> list[list[int]]:
        for pair in spaces.values():
            for space in pair:
                space._concepts.clear()  # each index is built inside the timed region
        out = []
        for p in procs:
            for la, lb in tables:
                for space in spaces[(p.name, la, lb)]:
                    for keywords in CONCEPT_KEYWORDS.values():
                        out.append(space.concept(keywords, rule=p.whole_word_rule, order=order_of(p)).tolist())
        return out

    t0 = time.perf_counter()
    want = previous()
    previous_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = benchmark.pedantic(now, rounds=1)
    now_s = time.perf_counter() - t0
    assert got == want
    assert sum(map(len, want)) > 0
    ratio = previous_s / now_s
    n_calls = len(want)
    benchmark.extra_info.update(previous_s=previous_s, now_s=now_s, ratio=ratio, category_calls=n_calls)
    print(f"\n[concepts, {n_calls} category calls] previous {previous_s:.3f} s, now {now_s:.3f} s, ratio {ratio:.1f}x")
    assert np.isfinite(ratio) and ratio > 1.0
