"""The paper's published pair counts as data (Lan et al. 2024, App. H, Tables 5-8).

``paper_pair_counts.csv`` (next to this module) holds the printed tables, one row per
(profile, variant, layer pair); this is its one loader. U8 judges our pair counts against them
(:func:`harness.verdicts.whole_space.rule_u8`).
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

__all__ = ["VARIANTS", "paper_pair_counts"]

#: The pair sets the tables count: many-to-1 after the non-concept filter (Tables 5, 7) and 1-1
#: (Tables 6, 8). Grid-cell field of each: ``n_pairs_m21`` and ``n_pairs``.
VARIANTS = {"many_to_one": "n_pairs_m21", "one_to_one": "n_pairs"}


@cache
def _rows() -> tuple[dict[str, str], ...]:
    text = resources.files("harness.verdicts").joinpath("paper_pair_counts.csv").read_text()
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    return tuple(csv.DictReader(body))


def paper_pair_counts(profile: str) -> dict[tuple[str, int, int], int]:
    """``(variant, layer_a, layer_b) -> count`` printed for ``profile``'s models (``paper``: Pythia,
    Tables 5-6; ``gemma``: Tables 7-8); empty for a profile the paper has no table of."""
    out: dict[tuple[str, int, int], int] = {}
    for r in _rows():
        if r["profile"] != profile:
            continue
        if r["variant"] not in VARIANTS:
            raise ValueError(f"paper_pair_counts.csv: unknown variant {r['variant']!r} (known: {sorted(VARIANTS)}).")
        key = (r["variant"], int(r["layer_a"]), int(r["layer_b"]))
        if key in out:
            raise ValueError(f"paper_pair_counts.csv: duplicate row for {profile} {key}.")
        out[key] = int(r["count"])
    return out
