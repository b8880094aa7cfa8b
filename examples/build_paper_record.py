"""Build ``examples/paper-printed-numbers.json``: Lan et al. 2024's own printed numbers as a results
file in the documented schema (harness/report/results.schema.json), judged by the suite's rules.

What the suite says of the paper's own evidence: the printed grids, Tables 1, 2 and 5-9 and
Appendices A-B, with no negative-control runs (the paper ran none) and every value the paper
does not print marked missing (``null``): null means and spreads of the grids, unfiltered and
dead-feature counts, concept-feature counts, timings. ``sae-claims judge`` then says, per claim,
what these numbers can and cannot show (mostly "inconclusive: ... control not run" or "not run:
needs X").

Where the numbers come from (none is typed here):
- the printed grids: ``examples/paper-printed/grids.csv`` (the authors' code printout,
  shared/reference/original-procedure.md; the paper shows them as heat maps, Figs. 5-8);
- pair counts (Tables 5-8): ``harness/verdicts/paper_pair_counts.csv``
  (:func:`harness.verdicts.paper_tables.paper_pair_counts`);
- Tables 1, 2, 9 (n, SVCCA, null mean, RSA): the profiles' ``paper_semantic_table``; models,
  layers and token counts: the profiles (harness/profiles/builtin/);
- what no committed table holds yet (the tables' p-values, the grids' null sizes, Appendices A
  and B): ``examples/paper-printed/values.toml``.

Derived, not printed: each p's +1-rule value ``(1 + k) / (1 + N)`` with ``k = round(p * N)`` (the
suite judges with it; the printed ``p = k / N`` is kept as ``*_p`` and ``"k/N"``).

Run from the repository root: ``python examples/build_paper_record.py`` (``--check``: exit 1 when
the committed file differs from what the tables give).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # the repository's own harness, also when run as a script
    sys.path.insert(0, str(HERE.parent))
OUT = HERE / "paper-printed-numbers.json"
DATA = HERE / "paper-printed"
PROCEDURE = "paper"
"""The numbers are the authors' code's: the `paper` procedure (k = 1 SVCCA, first-seen 1-1, ...)."""
PB_PROCEDURE = "PB method"

#: Experiment names (what each claim row's ``inputs`` point at).
PYTHIA_GRID = "Pythia-70m x Pythia-160m grid (authors' printout; Tables 5-6)"
GEMMA_GRID = "Gemma-1-2B x Gemma-2-2B grid (authors' printout; Tables 7-8)"
PYTHIA_TABLE = "Tables 1 and 9: Pythia-70m L3 x Pythia-160m L5"
GEMMA_TABLE = "Table 2: Gemma-1-2B L12 x Gemma-2-2B L14"
SEED_PAIR = "App. A: TinyStories-1L-21M seed pair"
LLAMA_GRID = "App. B: Llama-3-8B x Llama-3.1-8B L25"


def _num(text: str) -> float | None:
    return None if text.strip() == "" else float(text)


def _p_fields(prefix: str, p: float | None, n: int) -> dict[str, Any]:
    """A printed p (= k / N) with its +1-rule value and its ``"k/N"`` (none when not printed)."""
    if p is None:
        return {f"{prefix}_p": None}
    k = round(p * n)
    return {f"{prefix}_p": p, f"{prefix}_p_plus_one": (1 + k) / (1 + n), f"{prefix}_p_paper": f"{k}/{n}"}


def read_grids() -> dict[str, dict[tuple[int, int], dict[str, float | None]]]:
    """profile -> (layer_a, layer_b) -> the printed values of ``grids.csv``."""
    lines = [ln for ln in (DATA / "grids.csv").read_text().splitlines() if ln and not ln.startswith("#")]
    out: dict[str, dict[tuple[int, int], dict[str, float | None]]] = {}
    for r in csv.DictReader(lines):
        key = (int(r["layer_a"]), int(r["layer_b"]))
        cells = out.setdefault(r["profile"], {})
        if key in cells:
            raise ValueError(f"grids.csv: duplicate row {r['profile']} {key}")
        cells[key] = {k: _num(r[k]) for k in ("svcca", "rsa", "svcca_p", "rsa_p", "svcca_m21")}
    return out


def grid_record(profile_name: str, printed: dict[tuple[int, int], dict[str, float | None]], n_perm: int) -> dict:
    """A ``Grid`` record of a printed grid: counts from Tables 5-8, scores and p's from the printout."""
    from harness.profiles import get_profile
    from harness.verdicts.paper_tables import VARIANTS, paper_pair_counts

    prof = get_profile(profile_name)
    counts = paper_pair_counts(profile_name)
    layers_a = sorted({a for a, _ in printed})
    layers_b = sorted({b for _, b in printed})
    cells = []
    for b in layers_b:
        for a in layers_a:
            v = printed[(a, b)]
            cell: dict[str, Any] = {
                "layer_a": a,
                "layer_b": b,
                "n_permutations": n_perm,
                "mean_max_corr": None,  # Figs. 9-10 only (heat maps)
                **{f: counts.get((variant, a, b)) for variant, f in VARIANTS.items()},
                "svcca": v["svcca"],
                "svcca_null_mean": None,  # printed only as a range over cells (0.008-0.018)
                **_p_fields("svcca", v["svcca_p"], n_perm),
                "svcca_k": None,
                "rsa": v["rsa"],
                "rsa_null_mean": None,
                **_p_fields("rsa", v["rsa_p"], n_perm),
                "svcca_m21": v["svcca_m21"],
                "svcca_m21_p": None,
                "svcca_m21_null_mean": None,
                "n_pairs_unfiltered": None,
                "svcca_unfiltered": None,
                "svcca_unfiltered_null_mean": None,
                "pairs_history": None,
                "dead_a": None,
                "dead_b": None,
                **{f"size_matched_{s}_{k}": None for s in ("m21", "unfiltered") for k in ("mean", "p", "holdout_p")},
            }
            cells.append(cell)
    return {
        "kind": "grid",
        "model_a": prof.model_name("a"),
        "model_b": prof.model_name("b"),
        "layers_a": layers_a,
        "layers_b": layers_b,
        "procedure": PROCEDURE,
        "control": False,
        "cells": cells,
        "n_permutations": n_perm,
        "paper_permutations": n_perm,
        "paper_pair_range": list(prof.paper_pair_range) if prof.paper_pair_range else None,
        "n_tokens": prof.data.n_samples * prof.data.seq_len,
        "elapsed_s": None,
    }


def semantic_record(profile_name: str, values: dict[str, Any]) -> dict:
    """A ``SemanticTable`` of the profile's printed table (Tables 1 + 9, or Table 2) with its p's."""
    from harness.profiles import get_profile

    prof = get_profile(profile_name)
    la, lb = prof.semantic_table
    n_perm = int(values["n_permutations"])
    cells = []
    for category, row in prof.paper_semantic_table.items():
        cell: dict[str, Any] = {
            "category": category,
            "a": f"{prof.model_name('a')}/L{la}",
            "b": f"{prof.model_name('b')}/L{lb}",
            "procedure": PROCEDURE,
            "n_concept_a": None,
            "n_concept_b": None,
            "n_pairs": int(row["n"]),
            "paper_n": row["n"],
            "paper_svcca": row.get("svcca"),
            "svcca": row.get("svcca"),  # MonthNames: Table 9 prints its RSA only
            "svcca_null_mean": row.get("null"),
            **_p_fields("svcca", values.get("svcca_p", {}).get(category), n_perm),
            "n_permutations": n_perm,
            "p_rule": PROCEDURE,
        }
        if "rsa" in row:
            cell.update(rsa=row["rsa"], rsa_null_mean=row.get("rsa_null"))
            cell.update(_p_fields("rsa", values.get("rsa_p", {}).get(category), n_perm))
        cells.append(cell)
    return {
        "kind": "semantic",
        "layer_a": la,
        "layer_b": lb,
        "procedure": PROCEDURE,
        "control": False,
        "cells": cells,
        "elapsed_s": None,
    }


def seed_pair_record(values: dict[str, Any]) -> dict:
    """App. A's seed pair as a ``seed_pair`` record (pair sets with what is printed, the rest null)."""
    rec: dict[str, Any] = {"kind": "seed_pair", "model": values["model"], "n_tokens": values["n_tokens"]}
    for key, v in values.items():
        if isinstance(v, dict):
            rec[key] = {"n_pairs": None, "svcca": None, "svcca_null_mean": None, "svcca_p": None, **v}
    rec["decoder_cosine_mean"] = values.get("decoder_cosine_mean")
    rec["mean_max_corr"] = None
    return rec


def llama_record(values: dict[str, Any]) -> dict:
    """App. B's one cell as a ``Grid`` (SVCCA 0.3 after filtering; nothing else printed)."""
    from harness.profiles import get_profile

    prof = get_profile("llama")
    layer = int(values["layer"])
    cell = {
        "layer_a": layer,
        "layer_b": layer,
        "mean_max_corr": None,
        "n_pairs": None,
        "svcca": values["svcca"],
        "svcca_null_mean": None,
        "svcca_p": None,
        "svcca_k": None,
        "rsa": None,
        "rsa_null_mean": None,
        "rsa_p": None,
        "n_pairs_m21": None,
        "svcca_m21": None,
        "svcca_m21_p": None,
        "n_pairs_unfiltered": None,
        "svcca_unfiltered": None,
        "pairs_history": None,
        "dead_a": None,
        "dead_b": None,
        "svcca_m21_null_mean": None,
        "svcca_unfiltered_null_mean": None,
        **{f"size_matched_{s}_{k}": None for s in ("m21", "unfiltered") for k in ("mean", "p", "holdout_p")},
    }
    return {
        "kind": "grid",
        "model_a": prof.model_name("a"),
        "model_b": prof.model_name("b"),
        "layers_a": [layer],
        "layers_b": [layer],
        "procedure": PROCEDURE,
        "control": False,
        "cells": [cell],
        "n_permutations": None,
        "paper_permutations": None,
        "paper_pair_range": None,
        "n_tokens": prof.data.n_samples * prof.data.seq_len,
        "elapsed_s": None,
    }


def experiments() -> dict[str, dict]:
    """Every record the paper's printed numbers make, by name."""
    values = tomllib.loads((DATA / "values.toml").read_text())
    grids = read_grids()
    return {
        PYTHIA_GRID: grid_record("paper", grids["paper"], int(values["grid"]["paper"]["n_permutations"])),
        GEMMA_GRID: grid_record("gemma", grids["gemma"], int(values["grid"]["gemma"]["n_permutations"])),
        PYTHIA_TABLE: semantic_record("paper", values["semantic"]["paper"]),
        GEMMA_TABLE: semantic_record("gemma", values["semantic"]["gemma"]),
        SEED_PAIR: seed_pair_record(values["seed_pair"]),
        LLAMA_GRID: llama_record(values["llama"]),
    }


#: (claim, profile) -> the records the claim row reads (role -> experiment); no control roles: the
#: paper ran no negative controls. A claim whose records the paper does not print reads none
#: (``sae-claims judge`` says "not run: needs ...").
ROWS: tuple[tuple[str, str, dict[str, str]], ...] = (
    *((c, "paper", {"grid": PYTHIA_GRID}) for c in ("U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8")),
    *((c, "gemma", {"grid": GEMMA_GRID}) for c in ("U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8")),
    ("S1", "paper", {"table": PYTHIA_TABLE}),
    ("S2", "gemma", {"table": GEMMA_TABLE}),
    ("S3", "paper", {}),  # Test 2 per layer pair and category: only the sentence "Test 2 is passed"
    ("S4", "paper", {"table": PYTHIA_TABLE}),
    ("S5", "paper", {}),  # the semantic grids are heat maps (Figs. 15-22)
    ("W1", "paper", {"lan_relu_l1": SEED_PAIR}),  # App. A's pair is ReLU+L1
    ("W2", "llama", {"grid": LLAMA_GRID}),
    ("X1", "paper", {"lan": SEED_PAIR}),  # the suite's own claim: no Paulo & Belrose overlap of this pair
    ("P1", "paper", {}),  # Paulo & Belrose: not part of this file
    ("P2", "paper", {}),
    ("P3", "paper", {}),
)


def build() -> dict[str, Any]:
    """The results file: provenance, every claim row judged by the current rules, the records."""
    from harness.report.judge import nan_for_null, procedure_of
    from harness.report.schema import SCHEMA_VERSION, strict
    from harness.verdicts.records import CLAIMS
    from harness.verdicts.rules import judge_available

    exps = experiments()
    readable = nan_for_null(strict(exps))  # the rules read a null as NaN, as `judge` does
    claims = []
    for cid, profile, inputs in ROWS:
        rec = CLAIMS[cid]
        proc = PB_PROCEDURE if cid.startswith("P") else PROCEDURE
        j = judge_available(cid, {r: readable[n] for r, n in inputs.items()}, procedure_of(proc, {}), profile=profile)
        c = j.conclusion()
        claims.append(
            {
                "id": cid,
                "statement": rec.statement,
                "source": rec.source,
                "paper_values": rec.paper_values,
                "rule": rec.rule,
                "procedure": proc,
                "profile": profile,
                "verdict": c.verdict,
                "rule_holds": j.rule_holds,
                "control_outcome": c.control_outcome,
                "inconclusive": c.inconclusive,
                "inputs": inputs,
                "measured": j.measured,
                "detail": c.detail,
                "expected": None,
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "profile": "paper-printed",
        "provenance": {
            "git_commit": None,
            "library_versions": None,
            "python": None,
            "machine": None,
            "created_utc": "not a run: the numbers Lan et al. 2024 (arXiv:2410.06981) and the authors' code printed",
            "profile": "paper-printed",
            "procedures": [PROCEDURE, PB_PROCEDURE],
        },
        "claims": claims,
        "experiments": exps,
    }


def text() -> str:
    from harness.report.schema import dumps

    return dumps(build(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the committed file is not what the tables give"
    )
    args = parser.parse_args(argv)
    new = text()
    if args.check:
        same = OUT.is_file() and OUT.read_text() == new
        print(f"{OUT}: {'current' if same else 'stale: run python examples/build_paper_record.py'}")
        return 0 if same else 1
    OUT.write_text(new)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
