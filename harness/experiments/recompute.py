"""Recompute a few layer-grid cells of a profile and compare them with a saved run (issues 14, 23).

What is guaranteed, and checked by ``tests/experiments/test_recompute.py``:

- **Exact on every machine:** integers and strings (pair counts, filter histories, dead-feature
  counts, SVCCA's k, null sizes, ``"k/N"``) and every p-value (a count of null draws over N, so
  the count itself): :func:`compare_records` compares fields named by :func:`is_exact_field`
  by exact value. Counts are machine-independent by construction: draws and subsets are
  functions of integer seeds (:func:`harness.scoring.effects.cell_seed`), pair sets are
  integers chosen with stated tie tolerances (:data:`harness.pairing.matching.SUBSET_TIE_TOL`),
  and a draw is compared with its observed score through
  :func:`harness.scoring.effects.count_at_or_above`, which counts a draw within
  :data:`harness.scoring.effects.TIE_ATOL` as a tie (a bare ``>=`` let a 1-ulp difference in a
  tied draw move a p-value from 90/99 to 75/99 between two machines).
- **Floats within a stated relative tolerance:** other thread settings on one machine:
  :data:`THREAD_REL_TOL` (float64 GEMMs split their sums across threads: ~4e-16 measured);
  other CPU kernels (OpenBLAS core types, torch's ATen vector width, MKL's code path, oneDNN's
  instruction set -- the test forces them with the variables of
  :data:`harness.threads.KERNEL_ENV_VARS`) and other machines: :data:`CROSS_MACHINE_REL_TOL`
  (measured on the float64 fixture world under two forced kernel sets: <= 4e-13 relative; the
  tolerance also covers a committed report made before it ran in float64).

What makes pair sets machine-independent: a pair set, a TopK latent set or a feature's top
positions is a selection from model activations. The fixture world computes them in float64
(``fixtures/smoke.toml``), where other kernels differ by ~2e-15; in float32 they differed by
~1e-6 relative, and a TopK latent whose two pre-activations were 6e-7 apart flipped (with it a
feature's top positions, its random partners and a placebo filter's pairs). A selection decided
by a margin below float64 rounding would still go either way: that would change an integer and
fail the exact comparison, naming the cell, rather than hide.

Run as a script (what the tests spawn)::

    python -m harness.experiments.recompute --profile fixtures/smoke.toml --cells 1:1,2:3 \\
        --procedures paper,corrected --torch-threads 2 --out cells.json
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

__all__ = [
    "CROSS_MACHINE_REL_TOL",
    "THREAD_REL_TOL",
    "is_exact_field",
    "Mismatch",
    "compare_records",
    "grid_name",
    "main",
    "parse_cells",
    "recompute_cells",
    "recompute_semantic",
    "semantic_name",
    "saved_cells",
]

CROSS_MACHINE_REL_TOL = 1e-4
"""Relative tolerance for a float recomputed on another machine against the committed report
(absolute below :data:`CROSS_MACHINE_ABS_TOL`). See the module docstring for why."""

CROSS_MACHINE_ABS_TOL = 1e-9
"""Absolute floor of the float tolerance (values at or near 0, e.g. an excess of ~1e-17)."""

THREAD_REL_TOL = 1e-12
"""Relative tolerance for a float recomputed on the same machine with other thread counts: the
pairing's and scoring's float64 sums either run single-threaded (harness.threads.fixed_threads)
or are split by BLAS across threads, which moved semantic ``mean_pair_corr`` by 1-2 ulps
(~4e-16 relative, measured on an AMD EPYC with OpenBLAS SkylakeX kernels)."""


def is_exact_field(key: str) -> bool:
    """Whether the float field ``key`` (the last key of a path) is a p-value, i.e. a count of null
    draws over N (or an exact function of counts, such as a rank-sum p), which must be equal on
    every machine (not within a tolerance): every key with a ``p`` part, e.g. ``p``,
    ``svcca_p``, ``test2_p_plus_one``, ``size_matched_m21_holdout_p``, ``svcca_p_top``."""
    return "p" in key.split("_")


def grid_name(procedure: str, *, control: bool = False) -> str:
    """The name of a layer-grid record in a report's ``results.json`` ``experiments``
    (as the claims session and ``sae-claims compare`` write them)."""
    return f"grid {procedure}" + (" (control: B positions shuffled)" if control else "")


def parse_cells(text: str) -> list[tuple[int, int]]:
    """``"1:1,2:3"`` -> ``[(1, 1), (2, 3)]`` (layer of A, layer of B per cell)."""
    cells = []
    for part in str(text).split(","):
        a, sep, b = part.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            cells.append((int(a), int(b)))
        except ValueError:
            raise ConfigError(f"--cells {text!r}: give layer pairs as A:B, comma-separated, e.g. 1:1,2:3.") from None
    if not cells or len(set(cells)) != len(cells):
        raise ConfigError(f"--cells {text!r}: give each layer pair once.")
    return cells


def recompute_cells(
    world: Any,
    cells: Sequence[tuple[int, int]],
    procedures: Sequence[str] = ("paper", "corrected"),
    *,
    control: bool = True,
) -> dict[str, dict[str, Any]]:
    """Grid cells ``(layer_a, layer_b)`` of ``world``'s profile under each procedure, computed
    one cell at a time with :func:`harness.experiments.grid.run_grid` (every null is seeded from
    its cell's identity, so a cell alone equals the same cell of the full grid).

    Returns ``{grid_name(proc): {"cells": [cell, ...]}, ...}``, plus each procedure's control
    grid (B positions shuffled, top-correlated sets of the real cell's size) when ``control``.
    """
    from harness.config import get_procedure
    from harness.experiments.grid import pair_counts, run_grid

    out: dict[str, dict[str, Any]] = {}
    for name in procedures:
        proc = get_procedure(name)
        real = []
        for la, lb in cells:
            real += run_grid(world, proc, layers_a=[la], layers_b=[lb])["cells"]
        out[grid_name(name)] = {"cells": real}
        if control:
            counts = pair_counts({"cells": real})
            ctrl = []
            for la, lb in cells:
                ctrl += run_grid(world, proc, control=True, layers_a=[la], layers_b=[lb], match_pairs=counts)["cells"]
            out[grid_name(name, control=True)] = {"cells": ctrl}
    return out


def semantic_name(procedure: str, layer_a: int, layer_b: int) -> str:
    """The name of a semantic-table record in a report's ``results.json`` ``experiments``."""
    return f"semantic A{layer_a} x B{layer_b} {procedure}"


def recompute_semantic(
    world: Any, layer_a: int, layer_b: int, procedures: Sequence[str] = ("paper", "corrected")
) -> dict[str, dict[str, Any]]:
    """The semantic table of one layer pair (every Table 4 category; Lan et al. Tables 1, 9)
    under each procedure, as :func:`harness.experiments.grid.run_semantic` computes it:
    ``{semantic_name(proc, a, b): {"cells": [category record, ...]}}``."""
    from harness.config import get_procedure
    from harness.experiments.grid import run_semantic

    out: dict[str, dict[str, Any]] = {}
    for name in procedures:
        rec = run_semantic(world, get_procedure(name), layer_a, layer_b)
        out[semantic_name(name, layer_a, layer_b)] = {"cells": rec["cells"]}
    return out


def saved_cells(results: dict[str, Any], cells: Iterable[tuple[int, int]], names: Iterable[str]) -> dict[str, Any]:
    """The same cells from a saved ``results.json`` (``experiments[name]["cells"]``), in the
    order of ``cells``. Raises ConfigError naming a grid or cell the file does not hold."""
    exps = results.get("experiments", {})
    out: dict[str, Any] = {}
    for name in names:
        if name not in exps:
            raise ConfigError(f"results.json has no experiment {name!r}; re-run the claims to regenerate it.")
        by_cell = {(int(c["layer_a"]), int(c["layer_b"])): c for c in exps[name]["cells"]}
        missing = [c for c in cells if (c[0], c[1]) not in by_cell]
        if missing:
            raise ConfigError(f"results.json {name!r} has no cells {missing}.")
        out[name] = {"cells": [by_cell[(c[0], c[1])] for c in cells]}
    return out


@dataclass(frozen=True)
class Mismatch:
    """One leaf that differs between two records."""

    path: str
    ours: Any
    theirs: Any
    why: str

    def __str__(self) -> str:
        return f"{self.path}: {self.ours!r} vs {self.theirs!r} ({self.why})"


def _leaves(x: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(x, dict):
        for k in x:
            yield from _leaves(x[k], f"{path}.{k}" if path else str(k))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, x


def _missing(x: Any) -> bool:
    """None (strict JSON's missing value) and NaN are the same: no value."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def compare_records(
    ours: Any,
    theirs: Any,
    *,
    rel_tol: float = 0.0,
    abs_tol: float = 0.0,
    skip: Iterable[str] = ("elapsed_s",),
    exact: Callable[[str], bool] = is_exact_field,
) -> list[Mismatch]:
    """Every leaf of ``ours`` against the leaf at the same path of ``theirs``.

    Integers, booleans and strings must be equal, type included (an integer count read back
    as a float is a difference); floats equal within
    ``max(rel_tol * max(|a|, |b|), abs_tol)`` (``rel_tol = abs_tol = 0``: bit-for-bit, compared
    by exact value, so ``-0.0`` vs ``0.0`` counts as equal but nothing else does); None and
    NaN match each other only. Floats whose last key satisfies ``exact`` (p-values:
    :func:`is_exact_field`) must be equal whatever the tolerance. Paths (dotted keys, ``[i]``
    for list items) whose last key is in ``skip`` (wall-clock times) are not compared, and a
    leaf present on one side only is a mismatch.
    """
    skip = set(skip)
    a = dict(_leaves(ours))
    b = dict(_leaves(theirs))
    out: list[Mismatch] = []
    for path in list(a) + [p for p in b if p not in a]:
        if path.rsplit(".", 1)[-1] in skip:
            continue
        if path not in a or path not in b:
            out.append(Mismatch(path, a.get(path, "<absent>"), b.get(path, "<absent>"), "present on one side only"))
            continue
        x, y = a[path], b[path]
        if _missing(x) or _missing(y):
            if not (_missing(x) and _missing(y)):
                out.append(Mismatch(path, x, y, "value vs missing"))
            continue
        if isinstance(x, (bool, str, int)) or isinstance(y, (bool, str, int)):  # counts stay integers
            if x != y or type(x) is not type(y):
                out.append(Mismatch(path, x, y, "exact field differs"))
            continue
        fx, fy = float(x), float(y)
        if fx == fy:
            continue
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        if exact(key):
            out.append(Mismatch(path, x, y, "p-value (a count over N) differs"))
            continue
        tol = max(rel_tol * max(abs(fx), abs(fy)), abs_tol)
        if not abs(fx - fy) <= tol:
            out.append(Mismatch(path, x, y, f"|diff| {abs(fx - fy):.3g} > tolerance {tol:.3g}"))
    return out


def _strict(x: Any) -> Any:
    """NaN/inf -> None (strict JSON), recursively."""
    if isinstance(x, dict):
        return {k: _strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_strict(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def main(argv: list[str] | None = None) -> int:
    """Recompute cells in this process and write them as strict JSON (floats written with
    ``repr``, which round-trips every float64 exactly)."""
    parser = argparse.ArgumentParser(prog="python -m harness.experiments.recompute", description=__doc__)
    parser.add_argument("--profile", required=True, help="a built-in profile name or a profile .toml")
    parser.add_argument("--cells", required=True, help="layer pairs A:B, comma-separated (e.g. 1:1,2:3)")
    parser.add_argument("--procedures", default="paper,corrected")
    parser.add_argument("--no-control", action="store_true")
    parser.add_argument("--semantic", default=None, help="also the semantic table of this layer pair A:B")
    parser.add_argument("--cache-dir", type=Path, default=None, help="residual cache (default: none)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's own; BLAS threads follow OPENBLAS/OMP_NUM_THREADS)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    import torch

    from harness.experiments.grid import LoadedPair
    from harness.profiles import get_profile
    from harness.threads import compute_environment

    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    world = LoadedPair(get_profile(args.profile), cache_dir=args.cache_dir)
    recs = recompute_cells(
        world,
        parse_cells(args.cells),
        [p.strip() for p in args.procedures.split(",") if p.strip()],
        control=not args.no_control,
    )
    if args.semantic:
        ((sa, sb),) = parse_cells(args.semantic)
        recs.update(recompute_semantic(world, sa, sb, [p.strip() for p in args.procedures.split(",") if p.strip()]))
    out = {"environment": compute_environment(), "experiments": _strict(recs)}
    args.out.write_text(json.dumps(out, allow_nan=False, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised by the tests through a subprocess
    raise SystemExit(main())
