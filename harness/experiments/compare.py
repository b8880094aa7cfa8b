"""``sae-claims compare``: the matching-and-metrics pipeline on any two (model, SAE set) pairs.

Each side is a model (hub name, or a local ``save_pretrained`` folder) and an SAE set given
as one string (:func:`parse_sae_set`):

- ``sparsify:<hub repo or local folder>`` — EleutherAI/sparsify layout, hookpoint
  ``layers.<L>`` per layer (e.g. ``sparsify:EleutherAI/sae-pythia-70m-32k``);
- ``release:<sae-lens release>:<sae id with {layer}>`` — e.g.
  ``release:gemma-scope-2b-pt-res-canonical:layer_{layer}/width_16k/canonical``;
- ``disk:<sae-lens folder with {layer}>`` — folders written by sae-lens ``save_model``.

For each procedure the layer grid (1-1, many-to-1 and unfiltered SVCCA/RSA against
shuffled-pairing nulls) is computed, and, unless switched off, its negative control (B's token
positions shuffled; each cell's top-correlated misaligned set of the real cell's size), so
every score stands next to its chance level. The report (REPORT.md, REPORT.html,
results.json, figures) is the same as the claims' report, without claim rows, and replaces
``out`` only when written in full.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.profiles import Profile, SaeSet

if TYPE_CHECKING:
    from harness.executor.cell import Executor

__all__ = ["CompareSide", "parse_sae_set", "run_compare", "run_compare_profile"]


@dataclass(frozen=True)
class CompareSide:
    """One side of a comparison: a model and its SAE set."""

    model: str
    """Hub name (``EleutherAI/pythia-70m``) or a local ``save_pretrained`` folder."""
    saes: str
    """SAE set string (see :func:`parse_sae_set`)."""
    layers: tuple[int, ...]
    """Layers to compare (each must have an SAE in the set)."""

    def model_entry(self) -> dict[str, Any]:
        if Path(self.model).is_dir():
            return {"name": Path(self.model).name, "local_path": str(self.model), "label": Path(self.model).name}
        return {"name": self.model}


def parse_sae_set(text: str) -> SaeSet:
    """``"sparsify:..." | "release:REL:ID{layer}" | "disk:FOLDER{layer}"`` -> the profile's
    :class:`harness.profiles.SaeSet` (``.spec(layer)`` gives each layer's SAE). Raises
    ConfigError naming the accepted forms."""
    kind, _, rest = str(text).partition(":")
    if kind == "sparsify" and rest:
        local = Path(rest).exists()
        return SaeSet(
            source="sparsify", hookpoint="layers.{layer}", path=rest if local else None, repo_id=None if local else rest
        )
    if kind == "release" and rest.count(":") >= 1:
        release, _, sae_id = rest.partition(":")
        if "{layer}" not in sae_id:
            raise ConfigError(
                f"SAE set {text!r}: the sae id needs a {{layer}} placeholder, e.g. "
                "release:gemma-scope-2b-pt-res-canonical:layer_{layer}/width_16k/canonical."
            )
        return SaeSet(source="release", release=release, sae_id=sae_id)
    if kind == "disk" and "{layer}" in rest:
        return SaeSet(source="disk", path=rest)
    raise ConfigError(
        f"SAE set {text!r} not understood; use sparsify:<hub repo or folder>, "
        "release:<release>:<sae id with {layer}>, or disk:<folder with {layer}>."
    )


def run_compare(
    a: CompareSide,
    b: CompareSide,
    *,
    out: Path,
    data: str,
    n_samples: int,
    seq_len: int,
    procedures: tuple[str, ...] = ("paper", "corrected"),
    n_permutations: int | None = None,
    data_files: str | None = None,
    device: str = "cpu",
    cache_dir: Path | None = None,
    batch_size: int = 8,
    control: bool = True,
    executor: Executor | None = None,
) -> Path:
    """Run the grids of every procedure (and their controls) and write the report to ``out``;
    return ``out``. Inputs are checked before any model is loaded."""
    from harness.config import get_procedure
    from harness.load.data import DataSpec
    from harness.report.run import check_writable_dir

    t0 = time.time()
    procs = [get_procedure(p) for p in procedures]
    if n_permutations is not None and (isinstance(n_permutations, bool) or int(n_permutations) < 1):
        raise ConfigError(f"n_permutations={n_permutations!r}: use a positive number of permutations.")
    if not a.layers or not b.layers:
        raise ConfigError("Give at least one layer per side (layers_a, layers_b).")
    sae_sets = {"a": parse_sae_set(a.saes), "b": parse_sae_set(b.saes)}
    check_writable_dir(Path(out).absolute().parent, what=f"--out {out}: its folder")  # swapped in beside it
    if cache_dir is not None:
        check_writable_dir(cache_dir, what="--cache-dir")
    layers = sorted(set(a.layers)), sorted(set(b.layers))
    profile = Profile(
        name="compare",
        models={"a": a.model_entry(), "b": b.model_entry()},
        saes=sae_sets,
        data=DataSpec(source=data, n_samples=n_samples, seq_len=seq_len, data_files=data_files),
        layers_a=tuple(layers[0]),
        layers_b=tuple(layers[1]),
        semantic_table=(layers[0][0], layers[1][0]),
        semantic_layers_a=(),
        semantic_layers_b=(),
        permutations=n_permutations,
        batch_size=batch_size,
    )
    info = {
        "a": {"model": a.model, "saes": a.saes, "layers": list(layers[0])},
        "b": {"model": b.model, "saes": b.saes, "layers": list(layers[1])},
        "data": data,
        "data_files": data_files,
        "n_samples": n_samples,
        "seq_len": seq_len,
        "n_permutations": n_permutations,
        "control": control,
    }
    return _run(
        profile,
        procs,
        out=Path(out),
        device=device,
        cache_dir=cache_dir,
        control=control,
        info=info,
        t0=t0,
        executor=executor,
    )


def run_compare_profile(
    profile: str | Path | Profile,
    *,
    out: Path,
    procedures: tuple[str, ...] = ("paper", "corrected"),
    layers_a: tuple[int, ...] | None = None,
    layers_b: tuple[int, ...] | None = None,
    n_permutations: int | None = None,
    n_samples: int | None = None,
    seq_len: int | None = None,
    device: str = "cpu",
    cache_dir: Path | None = None,
    control: bool = True,
    executor: Executor | None = None,
) -> Path:
    """The same pipeline on the (model, SAE set) pair of a profile file (``--profile
    path/to/pair.toml``, :func:`harness.profiles.get_profile`; a built-in name works too):
    its models, SAE sets, data and layers, null sizes from the file unless given here.
    ``layers_a`` / ``layers_b`` narrow the grid to some of the profile's layers. Inputs are
    checked before any model is loaded; returns ``out``."""
    from harness.config import get_procedure
    from harness.profiles import get_profile
    from harness.report.run import check_layers_option, check_writable_dir

    t0 = time.time()
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    procs = [get_procedure(p) for p in procedures]
    for option, value in (("n_permutations", n_permutations), ("n_samples", n_samples), ("seq_len", seq_len)):
        if value is not None and (isinstance(value, bool) or int(value) < 1):
            raise ConfigError(f"{option}={value!r}: use a positive number.")
    for option, layers, have in (("--layers-a", layers_a, prof.layers_a), ("--layers-b", layers_b, prof.layers_b)):
        if layers is not None and not layers:
            raise ConfigError(f"{option}: give at least one layer, or leave it out for the profile's layers.")
        check_layers_option(layers, available=have, option=option, profile=prof.name)
    check_writable_dir(Path(out).absolute().parent, what=f"--out {out}: its folder")
    if cache_dir is not None:
        check_writable_dir(cache_dir, what="--cache-dir")
    la = tuple(sorted(layers_a)) if layers_a else prof.layers_a
    lb = tuple(sorted(layers_b)) if layers_b else prof.layers_b
    data = dataclasses.replace(
        prof.data,
        n_samples=prof.data.n_samples if n_samples is None else int(n_samples),
        seq_len=prof.data.seq_len if seq_len is None else int(seq_len),
    )
    run_prof = dataclasses.replace(
        prof,
        layers_a=la,
        layers_b=lb,
        data=data,
        permutations=prof.permutations if n_permutations is None else int(n_permutations),
        paper_grid_permutations=prof.paper_grid_permutations if n_permutations is None else None,
    )
    info = {
        "profile": str(profile) if not isinstance(profile, Profile) else profile.name,
        "a": {"model": prof.model_name("a"), "saes": dataclasses.asdict(prof.saes["a"]), "layers": list(la)},
        "b": {"model": prof.model_name("b"), "saes": dataclasses.asdict(prof.saes["b"]), "layers": list(lb)},
        "data": data.source,
        "data_files": data.data_files,
        "n_samples": data.n_samples,
        "seq_len": data.seq_len,
        "n_permutations": n_permutations,
        "control": control,
    }
    return _run(
        run_prof,
        procs,
        out=Path(out),
        device=device,
        cache_dir=cache_dir,
        control=control,
        info=info,
        t0=t0,
        executor=executor,
    )


def _run(
    profile: Profile,
    procs: list[Any],
    *,
    out: Path,
    device: str,
    cache_dir: Path | None,
    control: bool,
    info: dict[str, Any],
    t0: float,
    executor: Executor | None = None,
) -> Path:
    """Grids (and controls) of every procedure on ``profile``'s world; the report to ``out``."""
    from harness.experiments.grid import LoadedPair, pair_counts, run_grid
    from harness.provenance import provenance
    from harness.report.markdown import write_report
    from harness.report.run import procedure_settings, replace_dir

    world = LoadedPair(profile, cache_dir=cache_dir, device=device)
    experiments: dict[str, Any] = {}
    for proc in procs:
        grid = run_grid(world, proc, executor=executor)
        experiments[f"grid {proc.name}"] = grid
        if control:
            experiments[f"grid {proc.name} (control: B positions shuffled)"] = run_grid(
                world, proc, control=True, match_pairs=pair_counts(grid), executor=executor
            )
    experiments["preflight"] = {"kind": "preflight", "sites": world.preflight}
    prov = provenance()
    prov.update(
        profile="compare",
        session_wall_s=round(time.time() - t0, 1),
        device=device,
        procedures=[p.name for p in procs],
        procedure_settings={p.name: procedure_settings(p.name) for p in procs},
        compare=info,
    )
    if world._tokens is not None:
        prov["token_manifest"] = world._tokens.manifest
    replace_dir(
        Path(out),
        lambda tmp: write_report(tmp, profile="compare", claim_results=[], experiments=experiments, provenance=prov),
    )
    return Path(out)
