"""Reasons of reviewed expectations quote no number that a run can move (issue 14, finding 5).

A reason in ``claims/expected/<profile>.json`` says *why* the fixture world gives a verdict; it
stays true on every machine and after every regeneration of the report only if it describes
the measurement qualitatively ("in most of the 15 cells", "close to its chance level") rather
than quoting it ("in 13/15 cells", "SVCCA ~0.5"): measured numbers live in ``results.json``
and the report, next to the verdict. Regenerating the smoke report on another machine once
moved 44 numbers while the reasons beside them kept quoting the old ones.

What a reason may still write with digits (:data:`ALLOWED`), each a constant of a rule, of a
procedure, of the fixture world's design, or a reference into the papers -- none of them is
computed by a run:

- rule and procedure constants: ``k=1`` / ``keep=1`` (SVCCA directions in the paper's code),
  ``1-1`` and ``many-to-1`` (pairing rules), ``0.5`` (the 'highly similar' excess of W1/X1),
  ``0.8`` (the split-half reliability gate of U7), ``80%`` (U2's share of cells), ``0.9``
  (U7's former rank-correlation bound), ``0.1`` (the correlation threshold), ``0.7`` (Paulo
  & Belrose's cosine threshold), ``0.05`` (alpha);
- the fixture world's design: layer labels (``layer 0``, ``layer-0``, ``A1-3``, ``B1/3/5``),
  model sizes (``4- and 6-layer``, ``64/96-dim``), grid shapes (``3 x 5``), the grid's cell
  counts (``15`` non-zero cells, ``72`` semantic cells), null and draw sizes (``30`` Test-2
  draws or block placements, ``9`` placements and their smallest p ``1/9``), SAE widths
  (``256 latents``, ``widths 128/256/512``, the ``128->256`` step), ``L0`` and ``ReLU+L1``;
- references: ``Table 1``, ``Table 1's 6``/``Table 9's 7`` categories, ``Fig. 5``, ``App. A``,
  ``Test 1`` / ``Test 2`` (Lan et al.'s two semantic tests), claim ids (``U2``, ``P3``).

A constant written with ``~`` (``~0.5``) reads as an approximate measurement and is reported.

Anything else with a digit (``170-220 pairs``, ``0.44``, ``13/15``, ``21%``) is reported by
:func:`moving_numbers`; ``tests/verdicts/test_reasons.py`` checks every committed expectation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["ALLOWED", "moving_numbers", "reasons_with_moving_numbers"]

#: Patterns of digits a reason may contain (module docstring: why each is not a measurement).
ALLOWED: tuple[str, ...] = (
    # rule and procedure constants
    r"\b(?:k|keep)\s?=\s?1\b",
    r"\b1-1\b",
    r"\bmany-to-1\b",
    r"(?<![\d.~])0\.(?:5|8|9|1|7|05)(?![\d])",  # "~0.5" is an approximate measurement, not the constant
    r"\b80%",
    # the fixture world's design
    r"\b[Ll]ayers?[- ]0\b",
    r"\b[AB]\d(?:-\d|(?:/\d)+)?\b",
    r"\b\d- and \d-layer\b",
    r"\b\d+/\d+-dim\b",
    r"\b\d+ x \d+\b",
    r"(?<![\d/])\b(?:15|72)\b(?= (?:non-zero )?cells)",  # not the 15 of a measured "13/15"
    r"\bof (?:the )?(?:15|72)\b",
    r"\b30 (?:random same-size subsets|block placements|draws)\b",
    r"\b9 placements\b",
    r"(?<![\d/])1/9\b",
    r"\b256 latents\b",
    r"\bTopK 256\b",
    r"\bwidths? \d+(?:/\d+)*",
    r"\b128->256\b",
    r"\bL0\b",
    r"\bReLU\+L1\b",
    # references into the papers
    r"\bTable \d+(?:'s \d+)?",
    r"\bFigs?\. \d+(?:-\d+)?",
    r"\bApp\. [A-Z]\b",
    r"\bTest [12]\b",
    r"\b[USWXP]\d\b",  # claim ids
)
_ALLOWED_RE = re.compile("|".join(f"(?:{p})" for p in ALLOWED))
_NUMBER_RE = re.compile(r"[~<>=+-]?\d[\d.,/%x-]*")


def moving_numbers(reason: str) -> list[str]:
    """The numbers in ``reason`` that are not one of the :data:`ALLOWED` constants, in order
    (empty: the reason quotes nothing a run can move)."""
    rest = _ALLOWED_RE.sub(" ", reason)
    return [m.group(0).rstrip(".,-") for m in _NUMBER_RE.finditer(rest)]


def reasons_with_moving_numbers(expectations: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{"U8/paper": ["170-220", ...], ...}`` for every entry of an expectations file
    (``{claim: {procedure: {"reason": ...}}}``; keys starting with ``_`` are notes, skipped)
    whose reason quotes a number that can move."""
    out: dict[str, list[str]] = {}
    for claim, by_proc in expectations.items():
        if claim.startswith("_") or not isinstance(by_proc, Mapping):
            continue
        for proc, entry in by_proc.items():
            found = moving_numbers(str(entry.get("reason", "")) if isinstance(entry, Mapping) else "")
            if found:
                out[f"{claim}/{proc}"] = found
    return out
