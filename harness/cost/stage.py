"""Stage markers and a kernel counter: what a real run calls, stage by stage (issue 20).

Stages are marked from outside the experiment code by a declarative table,
:data:`STAGE_MARKS`: (module, function) -> stage name. Inside :func:`counting`, each listed
function is wrapped (its module attribute replaced, as callers look it up at call time), so

- the outermost marked call of an experiment (``run_grid`` / ``run_semantic``, named by
  :data:`EXPERIMENTS`) sets the experiment (``grid``, ``grid_control``, ``semantic``,
  ``semantic_control``) and the outermost marked call inside it sets the stage: kernels are
  attributed to ``"<experiment>.<stage>"`` (``"grid.size_matched"``), or ``"<experiment>.other"``
  outside every marked stage;
- every marked call, nested or not, records a *fact*: (stage, function, size of its result
  when it has a length, and for :data:`FACT_DETAILS` sizes read from its arguments), e.g. the
  pair count of each placebo-filter run, the distinct features of each batch of Test-2 draws
  and the pair count of each batch of their SVCCAs -- the data-dependent sizes a recipe needs
  and a run's records do not keep.

The counter (:class:`KernelCounter`) sees every ``torch.linalg`` decomposition and torch matrix
product (a :class:`torch.overrides.TorchFunctionMode`) and every ``numpy.linalg`` decomposition
(module attributes wrapped) with their shapes and dtypes, as :class:`harness.cost.kernels.Kernel`.
numpy's ``@`` cannot be intercepted: numpy GEMMs are modelled (small k x n x k products of the
host SVCCA path), not counted. When the module layout changes, the table is what to edit.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from harness.cost.kernels import Kernel

#: (module, function) -> experiment name, or a function of the call's keyword arguments.
EXPERIMENTS: dict[tuple[str, str], Callable[[dict[str, Any]], str]] = {
    ("harness.experiments.grid", "run_grid"): lambda kw: "grid_control" if kw.get("control") else "grid",
    ("harness.experiments.grid", "run_semantic"): lambda kw: "semantic_control" if kw.get("control") else "semantic",
}

#: (module, attribute path) -> stage name inside an experiment (the outermost marked call wins).
STAGE_MARKS: dict[tuple[str, str], str] = {
    # compare_spaces' callees, looked up in harness.experiments.spaces
    ("harness.experiments.spaces", "space_max_correlation"): "pairing",
    ("harness.experiments.spaces", "pair_spaces"): "pair_sets",
    ("harness.experiments.spaces", "top_correlated_pairs"): "pair_sets",
    ("harness.experiments.spaces", "score_pairs"): "scores",
    ("harness.experiments.spaces", "split_half"): "split_half",
    ("harness.experiments.spaces", "random_partner_pairs"): "random_partner",
    ("harness.experiments.spaces", "random_partner_contrast"): "random_partner_contrast",
    ("harness.experiments.spaces", "placebo_one_to_one"): "placebo_one_to_one",
    ("harness.experiments.spaces", "placebo_filter"): "placebo_filter",
    ("harness.experiments.spaces", "size_matched"): "size_matched",
    # placebo_filter's rebuilt pair sets (a fact per run: its pair count), looked up in placebos
    ("harness.experiments.placebos", "pair_spaces"): "pair_sets",
    # compare_concept's, looked up in harness.experiments.semantic_subspaces
    ("harness.experiments.semantic_subspaces", "score_pairs"): "scores",
    ("harness.experiments.semantic_subspaces", "pair_subsets"): "concept_pairs",
    ("harness.experiments.semantic_subspaces", "_test2_batched"): "test2",
    ("harness.experiments.feature_space", "FeatureSpace.concept"): "concepts",
}

#: (module, attribute path) -> stage that holds the call's kernels wherever it is called from
#: (an encode pass builds a space in whichever stage first reads its codes).
FORCED_STAGES: dict[tuple[str, str], str] = {
    ("harness.activations.encode", "SaeCodes.summary"): "spaces",
}

#: (module, attribute path) -> the detail a fact records about a call (args, kwargs) -> ints: the
#: data-dependent sizes of batched Test 2 (distinct features per batch, pair count per SVCCA group).
FACT_DETAILS: dict[tuple[str, str], Callable[[tuple[Any, ...], dict[str, Any]], tuple[int, ...]]] = {
    ("harness.experiments.subset_pairing", "subset_correlations"): lambda a, kw: (
        int(np.asarray(a[2]).shape[0]),
        int(np.unique(np.asarray(a[2])).size),
        int(np.unique(np.asarray(a[3])).size),
    ),
    # (draws, width, the draws' row counts when ragged)
    ("harness.scoring.device_nulls", "svcca_subsets"): lambda a, kw: (
        *(int(x) for x in np.asarray(a[2]).shape),
        *(int(x) for x in np.asarray(kw.get("lengths") if kw.get("lengths") is not None else [])),
    ),
    # (the encoder's d_in, columns encoded)
    ("harness.activations.encode", "SaeCodes.columns"): lambda a, kw: (
        int(a[0].encoder.weights.d_in),
        int(np.asarray(a[1]).size),
    ),
}

_TORCH_DECOMPOSITIONS: dict[Any, str] = {
    torch.linalg.svd: "svd",
    torch.linalg.svdvals: "svdvals",
    torch.linalg.eigh: "eigh",
    torch.linalg.eigvalsh: "eigvalsh",
}
_TORCH_PRODUCTS: set[Any] = {torch.matmul, torch.Tensor.__matmul__, torch.Tensor.matmul, torch.mm, torch.bmm}
_NUMPY_DECOMPOSITIONS: tuple[str, ...] = ("svd", "eigh", "eigvalsh")


@dataclass(frozen=True)
class Fact:
    """A marked call: where it ran, what it was, the length of its result (None: no length) and
    the sizes :data:`FACT_DETAILS` takes from its arguments."""

    stage: str
    function: str
    size: int | None
    detail: tuple[int, ...] = ()


@dataclass
class Counted:
    """What :func:`counting` saw: kernel calls and facts by stage, and wall seconds per stage."""

    calls: Counter[tuple[str, Kernel]] = field(default_factory=Counter)
    facts: list[Fact] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def by_stage(self) -> dict[str, Counter[Kernel]]:
        out: dict[str, Counter[Kernel]] = {}
        for (stage, kernel), n in self.calls.items():
            out.setdefault(stage, Counter())[kernel] += n
        return out


class _State:
    def __init__(self) -> None:
        self.experiment: str | None = None
        self.stage: str | None = None

    @property
    def label(self) -> str:
        if self.experiment is None:
            return "other"
        return f"{self.experiment}.{self.stage or 'other'}"


def _gemm_shape(a: torch.Tensor, b: torch.Tensor) -> tuple[int, int, int, int]:
    sa = tuple(a.shape) if a.ndim > 1 else (1, *a.shape)
    sb = tuple(b.shape) if b.ndim > 1 else (*b.shape, 1)
    batch = 1
    for d in torch.broadcast_shapes(sa[:-2], sb[:-2]):
        batch *= int(d)
    return batch, int(sa[-2]), int(sa[-1]), int(sb[-1])


def _dtype(t: Any) -> str:
    return str(t.dtype).removeprefix("torch.")


class KernelCounter(TorchFunctionMode):
    """Counts torch decompositions and matrix products under the current stage of ``state``."""

    def __init__(self, counted: Counted, state: _State) -> None:
        super().__init__()
        self.counted = counted
        self.state = state

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        kind = _TORCH_DECOMPOSITIONS.get(func)
        if kind is not None:
            x = args[0]
            shape = tuple(int(s) for s in x.shape)
            batch = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            k = Kernel(kind, "torch", _dtype(x), (batch, shape[-2], shape[-1]))
            self.counted.calls[(self.state.label, k)] += 1
        elif func in _TORCH_PRODUCTS and len(args) >= 2:
            a, b = args[0], args[1]
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
                k = Kernel("gemm", "torch", _dtype(a), _gemm_shape(a, b))
                self.counted.calls[(self.state.label, k)] += 1
        return func(*args, **kwargs)


@contextlib.contextmanager
def _numpy_counted(counted: Counted, state: _State) -> Iterator[None]:
    originals = {name: getattr(np.linalg, name) for name in _NUMPY_DECOMPOSITIONS}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted_call(x: Any, *args: Any, **kwargs: Any) -> Any:
            arr = np.asarray(x)
            kind = name
            if name == "svd" and not kwargs.get("compute_uv", args[1] if len(args) > 1 else True):
                kind = "svdvals"
            shape = arr.shape
            batch = int(np.prod(shape[:-2])) if arr.ndim > 2 else 1
            k = Kernel(kind, "numpy", str(arr.dtype), (batch, int(shape[-2]), int(shape[-1])))
            counted.calls[(state.label, k)] += 1
            return fn(x, *args, **kwargs)

        return counted_call

    try:
        for name, fn in originals.items():
            setattr(np.linalg, name, wrap(name, fn))
        yield
    finally:
        for name, fn in originals.items():
            setattr(np.linalg, name, fn)


def _marked(
    fn: Callable[..., Any],
    name: str,
    state: _State,
    counted: Counted,
    *,
    experiment: Callable[[dict[str, Any]], str] | None = None,
    stage: str | None = None,
    forced: bool = False,
    detail: Callable[[tuple[Any, ...], dict[str, Any]], tuple[int, ...]] | None = None,
) -> Callable[..., Any]:
    def marked_call(*args: Any, **kwargs: Any) -> Any:
        info = detail(args, kwargs) if detail is not None else ()
        old = (state.experiment, state.stage)
        outer = False
        if experiment is not None and state.experiment is None:
            state.experiment, state.stage, outer = experiment(kwargs), None, True
        elif stage is not None and state.experiment is not None and (forced or state.stage is None):
            state.stage, outer = stage, True
        label = state.label if state.stage is not None or state.experiment is None else str(state.experiment)
        t0 = time.perf_counter()
        try:
            out = fn(*args, **kwargs)
        finally:
            if outer:
                counted.seconds[label] = counted.seconds.get(label, 0.0) + time.perf_counter() - t0
            state.experiment, state.stage = old
        size = len(out[0]) if isinstance(out, tuple) and out and hasattr(out[0], "__len__") else None
        if size is None and hasattr(out, "__len__") and not isinstance(out, dict):
            size = len(out)
        counted.facts.append(Fact(label, name, size, info))
        return out

    marked_call.__wrapped__ = fn  # type: ignore[attr-defined]  # functools convention, for introspection
    return marked_call


@contextlib.contextmanager
def counting() -> Iterator[Counted]:
    """Count kernels and facts by stage for the duration (module docstring); yields the record."""
    counted = Counted()
    state = _State()
    patched: list[tuple[Any, str, Any]] = []
    try:
        for (mod_name, fn_name), exp in EXPERIMENTS.items():
            mod = importlib.import_module(mod_name)
            orig = getattr(mod, fn_name)
            patched.append((mod, fn_name, orig))
            setattr(mod, fn_name, _marked(orig, fn_name, state, counted, experiment=exp))
        for marks, forced in ((STAGE_MARKS, False), (FORCED_STAGES, True)):
            for (mod_name, path), stage in marks.items():
                owner: Any = importlib.import_module(mod_name)
                *parents, fn_name = path.split(".")
                for part in parents:
                    owner = getattr(owner, part)
                orig = getattr(owner, fn_name)
                patched.append((owner, fn_name, orig))
                setattr(owner, fn_name, _marked(orig, fn_name, state, counted, stage=stage, forced=forced))
        for (mod_name, path), extract in FACT_DETAILS.items():
            owner = importlib.import_module(mod_name)
            *parents, fn_name = path.split(".")
            for part in parents:
                owner = getattr(owner, part)
            orig = getattr(owner, fn_name)
            patched.append((owner, fn_name, orig))
            setattr(owner, fn_name, _marked(orig, fn_name, state, counted, detail=extract))
        with _numpy_counted(counted, state), KernelCounter(counted, state):
            yield counted
    finally:
        for mod, fn_name, orig in reversed(patched):
            setattr(mod, fn_name, orig)
