"""Constructed records for the claim-rule tests (test_whole_space.py, test_semantic.py,
test_seed_rules.py, test_rules.py): grid cells, grids and their control grids, semantic tables and
grids, seed-pair records, in the fields the experiments write (harness/experiments/grid.py).

Missing inputs: a record not written by this suite (e.g. the paper's printed numbers) may lack
fields or mark them missing (null, read back as NaN): the rule says "not run: needs X" or
"inconclusive: X missing", never "not reproduced" and never a traceback; an absent or empty control
is "not run" and a rule that holds without it is inconclusive, never reproduced (:func:`judged`,
:func:`strip`, :func:`no_nulls` build such records).
"""

from __future__ import annotations

import math
from typing import Any

from harness.config import CORRECTED
from harness.scoring.effects import excess_over_chance
from harness.verdicts.rules import judge


def scores(
    svcca: float,
    svcca_null: float,
    p: float,
    *,
    rsa: float = 0.1,
    rsa_null: float = 0.0,
    rsa_p: float = 0.01,
    suffix: str = "",
) -> dict[str, Any]:
    """Score fields of one cell as score_pairs/_cell write them (judging p = ``p``)."""
    f = {
        "svcca": svcca,
        "svcca_null_mean": svcca_null,
        "svcca_p": p,
        "svcca_p_plus_one": p,
        "svcca_excess": excess_over_chance(svcca, svcca_null),
        "svcca_null_std": 0.02,
        "svcca_z": math.nan,
        "svcca_p_paper": "k/N",
        "rsa": rsa,
        "rsa_null_mean": rsa_null,
        "rsa_p": rsa_p,
        "rsa_p_plus_one": rsa_p,
        "rsa_excess": excess_over_chance(rsa, rsa_null),
        "rsa_null_std": 0.01,
        "rsa_z": math.nan,
        "rsa_p_paper": "k/N",
    }
    return {f"{k}{suffix}": v for k, v in f.items()}


def contrast(p: float, rsa_p: float | None = None, n: int = 99) -> dict[str, Any]:
    """U1/U2's random-partner contrast fields of one cell (the real pairing's p among ``n`` sets)."""
    return {
        "random_partner_sets": n,
        "random_partner_sets_n_pairs_mean": 180.0,
        "random_partner_sets_n_pairs_min": 170,
        **{
            f"{m}_rp_contrast_{k}": v
            for m, pm in (("svcca", p), ("rsa", p if rsa_p is None else rsa_p))
            for k, v in (("p", pm), ("n", n), ("observed", 0.7 if m == "svcca" else 0.1))
        },
        "svcca_rp_sets_mean": 0.5,
        "svcca_rp_sets_std": 0.02,
        "rsa_rp_sets_mean": 0.02,
        "rsa_rp_sets_std": 0.01,
    }


def cell(
    la: int,
    lb: int,
    *,
    svcca: float = 0.7,
    null: float = 0.44,
    p: float = 0.01,
    n_perm: int = 99,
    mean_max_corr: float = 0.5,
    top: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    c = {
        "layer_a": la,
        "layer_b": lb,
        "n_pairs": 200,
        "n_pairs_m21": 300,
        "n_pairs_unfiltered": 250,
        "mean_max_corr": mean_max_corr,
        "n_permutations": n_perm,
        "svcca_m21": 0.6,
        "svcca_unfiltered": 0.6,
        **scores(svcca, null, p, rsa=extra.pop("rsa", 0.1), rsa_p=extra.pop("rsa_p", p)),
        "size_matched_m21_p": 0.01,
        "size_matched_m21_p_plus_one": 0.01,
        "size_matched_m21_holdout_p": 0.5,
        "size_matched_m21_holdout_p_plus_one": 0.5,
        "size_matched_m21_n_draws": 99,
        "size_matched_unfiltered_p": 0.01,
        "size_matched_unfiltered_p_plus_one": 0.01,
        "size_matched_unfiltered_holdout_p": 0.5,
        "size_matched_unfiltered_holdout_p_plus_one": 0.5,
        "size_matched_unfiltered_n_draws": 99,
        "placebo_one_to_one_p_plus_one": 0.01,
        "placebo_one_to_one_n_with_choice": 50,
        "placebo_one_to_one_n_draws": 99,
        "placebo_one_to_one_mean": 0.6,
        "placebo_one_to_one_vs_siblings_p_plus_one": 0.5,
        "placebo_filter_p": 0.5,
        "placebo_filter_runs": 10,
        "placebo_filter_siblings": 9,
        "placebo_filter_mean": 0.6,
        "placebo_filter_siblings_mean": 0.6,
        **contrast(0.01),
    }
    if top is not None:
        c.update(
            n_pairs_top=200,
            **scores(
                top["svcca"],
                top.get("null", 0.44),
                top["p"],
                rsa=top.get("rsa", 0.0),
                rsa_p=top.get("rsa_p", top["p"]),
                suffix="_top",
            ),
        )
    c.update(extra)
    return c


def grid(
    fn: Any, *, la: tuple[int, ...] = (0, 1, 2, 3), lb: tuple[int, ...] = (0, 1, 2, 3, 4, 5), n_perm: int = 99
) -> dict[str, Any]:
    """A grid whose cell (a, b) is ``fn(a, b)`` (a dict of cell() keyword arguments)."""
    return {
        "kind": "grid",
        "layers_a": list(la),
        "layers_b": list(lb),
        "n_permutations": n_perm,
        "paper_pair_range": (150, 250),
        "cells": [cell(a, b, n_perm=n_perm, **fn(a, b)) for a in la for b in lb],
    }


NOISE_TOP = {"svcca": 0.44, "p": 0.5, "rsa": 0.0, "rsa_p": 0.5}


SIG_TOP = {"svcca": 0.7, "p": 0.01, "rsa": 0.1, "rsa_p": 0.01}


def control_grid(top: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return grid(lambda a, b: {"svcca": math.nan, "p": math.nan, "top": top}, **kw)


def verdict(claim_id: str, records: dict[str, Any], procedure: Any = CORRECTED, profile: str = "smoke") -> tuple:
    j = judge(claim_id, records, procedure, profile=profile)
    return j.verdict, j.control_outcome


def with_contrast(g: dict[str, Any], fn: Any) -> dict[str, Any]:
    """Set every cell's random-partner contrast fields to ``fn(a, b)`` (keyword arguments of contrast())."""
    for c in g["cells"]:
        c.update(contrast(**fn(c["layer_a"], c["layer_b"])))
    return g


def table(cats: dict[str, dict[str, Any]], *, n_perm: int = 199) -> dict[str, Any]:
    cells = []
    for name, kw in cats.items():
        if kw.get("skipped"):
            cells.append({"category": name, "skipped": "too few concept features", "n_pairs": 0})
            continue
        cells.append(
            {
                "category": name,
                "n_pairs": kw.get("n", 30),
                "n_permutations": n_perm,
                **scores(
                    kw.get("svcca", 0.8),
                    kw.get("null", 0.4),
                    kw.get("p", 0.01),
                    rsa=kw.get("rsa", 0.3),
                    rsa_p=kw.get("rsa_p", kw.get("p", 0.01)),
                ),
                "test2_p": kw.get("t2", 0.01),
                "test2_p_plus_one": kw.get("t2", 0.01),
                "test2_n": 30,
            }
        )
    return {"kind": "semantic", "layer_a": kw.get("la", 2), "layer_b": 3, "cells": cells}


TABLE9 = ("Time", "Calendar", "Nature", "Countries", "People/Roles", "Emotions", "MonthNames")


def paper_like(profile: str, **per: dict[str, Any]) -> dict[str, Any]:
    """A table whose categories score the published values of ``profile``'s table (SVCCA and, where
    given, RSA, with their nulls), updated per category by ``per``."""
    from harness.profiles import get_profile

    rows = get_profile(profile).paper_semantic_table
    cats = {}
    for name, row in rows.items():
        kw: dict[str, Any] = {"svcca": row.get("svcca", 0.8), "null": row.get("null", 0.4), "rsa": row.get("rsa", 0.3)}
        kw.update(per.get(name.replace("/", "_"), {}))
        cats[name] = kw
    return table(cats)


def sem_grid(fn: Any, layers_a: tuple[int, ...] = (1, 2, 3), layers_b: tuple[int, ...] = (1, 2, 3, 4)) -> dict:
    tables = []
    for a in layers_a:
        for b in layers_b:
            t = table({c: fn(a, b) for c in TABLE9})
            t.update(layer_a=a, layer_b=b)
            tables.append(t)
    return {"kind": "semantic_grid", "tables": tables}


def lan(svcca: float, null: float, p: float, *, n_perm: int = 99) -> dict[str, Any]:
    v = {"n_pairs": 150, "n_permutations": n_perm, **scores(svcca, null, p)}
    return {
        "kind": "seed_pair",
        "many_to_one_filtered": v,
        "one_to_one_filtered": v,
        "decoder_cosine": v,
        "decoder_cosine_mean": 0.5,
    }


def with_lan_rp(rec: dict[str, Any], svcca: float, null: float, p: float) -> dict[str, Any]:
    """A seed-pair record with filter-aware random-partner sets (as lan_record writes for a real pair)."""
    v = {"n_pairs": 140, "n_permutations": 99, **scores(svcca, null, p)}
    return {**rec, "many_to_one_filtered_random_partner": v, "one_to_one_filtered_random_partner": v}


def judged(claim_id: str, records: dict[str, Any], procedure: Any = CORRECTED, profile: str = "smoke") -> Any:
    from harness.verdicts.rules import judge_available

    return judge_available(claim_id, records, procedure, profile=profile)


def strip(rec: dict[str, Any], *keys: str, null: bool = False) -> dict[str, Any]:
    """``rec`` with ``keys`` removed from (or, ``null``, set to NaN in) every cell."""
    out = {**rec, "cells": [dict(c) for c in rec["cells"]]}
    for c in out["cells"]:
        for k in keys:
            if null:
                c[k] = math.nan
            else:
                c.pop(k, None)
    return out


def no_nulls(rec: dict[str, Any]) -> dict[str, Any]:
    """A printed grid: scores and p's, no null means, spreads or excesses."""
    keys = [k for k in rec["cells"][0] if k.endswith(("_null_mean", "_null_std", "_excess"))]
    return strip(rec, *keys, null=True)
