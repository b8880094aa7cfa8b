"""The gpu tier's own seed-stability check (issue 22): each verdict recomputed at a few more seeds.

The smoke tier reads its stability from the committed seed sweep (:mod:`harness.verdicts.stability`,
``reports/stability/``). A paper-scale run has no committed sweep: its verdict is one draw of every
seeded part (the shuffled-pairing nulls, the negative control's shuffled positions, the
filter-aware random partners, the placebo and size-matched draws, Test 2's random subsets, the
layer-label permutations). :class:`ReseedCheck` gives a run its own check: when a claim is
concluded at the reference seed (``Procedure.seed`` = :data:`~harness.verdicts.stability.REFERENCE_SEED`),
the claim's record group (the layer grid with its control grid; the semantic table pair; the
semantic grid) is recomputed at base seeds ``1 .. n_reseeds`` with only the seed changed, the claim
judged again by its registered rule at each seed, and the (verdict, control outcome) per seed
summarised as a :class:`~harness.verdicts.stability.ClaimStability`. The models, SAEs, residuals,
token sets and pairings are the run's: only the seeded draws change.

Same rule as the smoke sweep: stable when at least
:data:`~harness.verdicts.stability.STABLE_FRACTION` (90 %) of the ``n_reseeds + 1`` seeds give the
reference seed's outcome, which for up to 10 seeds means **all of them**; a claim that is not
stable is concluded **inconclusive** ("unstable over seeds", :func:`apply_stability`). With the
default one reseed (two seeds) a verdict that a re-drawn null, control or draw overturns is not
reported as decided; two agreeing seeds do not prove stability, and the row says how many seeds
it rests on (``--reseeds N`` for more).

Cost: a grid or semantic cell at another seed is another cell, so each reseed recomputes the
claim's group whole (its pairing included): the cost model's reseed line (``sae-claims cost``,
:attr:`harness.cost.project.Projection.reseed_seconds`) puts one reseed of the Pythia tier at about
the tier's own time. Re-seeding only the nulls and the control would need the cells split into a
seed-free part (pairing, pair sets) and a seeded part; it would save the placebo, size-matched,
random-partner and split-half draws, roughly half of a reseed by the same model. Record groups
computed at a seed are kept for the session, so the claims of one group share them.

A recompute that fails (e.g. out of device memory) leaves the seed-0 verdicts of its group as they
are, without an entry ("not rechecked" in the report); the failure is logged and kept in
:attr:`ReseedCheck.failures`, and not retried for the group's other claims.

W1/X1 and P1-P3 are not rechecked here (their seed pairs are the claims' own replication); claims
outside :data:`RESEED_GROUPS` get no entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from harness.verdicts.stability import (
    CLAIM_GROUPS,
    REFERENCE_SEED,
    ClaimStability,
    Outcome,
    group_of,
    claim_stability,
)

__all__ = ["DEFAULT_RESEEDS", "RESEED_GROUPS", "ReseedCheck", "reseed_group"]

#: Reseeds per claim in the gpu tier by default (``--reseeds``): two seeds in all, the fewest that
#: guard a verdict against being one draw's, at about twice the tier's time (module docstring).
DEFAULT_RESEEDS = 1
#: Record groups the check recomputes (the group names of :func:`harness.verdicts.stability.group_records`)
#: and the claims judged on each. S2 (Gemma's Table 2) is judged on the semantic table pair like S1
#: and S4.
RESEED_GROUPS: dict[str, tuple[str, ...]] = {
    **{g: cs for g, cs in CLAIM_GROUPS.items() if g != "seed_pair"},
    "semantic_table": (*CLAIM_GROUPS["semantic_table"], "S2"),
}

GroupRecords = Callable[[Any, str], Mapping[str, Any]]
"""``group_records(procedure, group) -> {role: record}`` at ``procedure`` (its seed included)."""


def reseed_group(claim_id: str) -> str | None:
    """The record group of ``claim_id`` in :data:`RESEED_GROUPS`, or None (not rechecked)."""
    return group_of(claim_id, RESEED_GROUPS)


class ReseedCheck(Mapping[tuple[str, str], ClaimStability]):
    """(claim, procedure name) -> :class:`ClaimStability` over seeds ``0 .. n_reseeds``, computed on
    first lookup (the recorder looks a claim up when it concludes it, after the claim's seed-0
    records exist). Iteration and ``len`` cover the entries computed so far.

    ``group_records(procedure, group)``: the group's records at ``procedure``; at the reference
    seed it should hand back the records the claims were judged on (no recompute).
    ``procedures``: procedure name -> the run's :class:`harness.config.Procedure`.
    """

    def __init__(
        self,
        profile: str,
        n_reseeds: int,
        group_records: GroupRecords,
        procedures: Mapping[str, Any],
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if n_reseeds < 0:
            raise ValueError(f"n_reseeds = {n_reseeds}: use 0 (no check) or a positive number of extra seeds")
        self.profile = profile
        self.n_reseeds = int(n_reseeds)
        self.group_records = group_records
        self.procedures = dict(procedures)
        self.log = log
        self._records: dict[tuple[str, str, int], Mapping[str, Any]] = {}
        self._entries: dict[tuple[str, str], ClaimStability] = {}
        self.failures: dict[tuple[str, str], str] = {}
        """(group, procedure) -> why its records could not be recomputed (its claims get no entry, once)."""
        self.cost_s: dict[tuple[str, str, int], float] = {}
        """(group, procedure, seed) -> seconds its records took (reference seed: what handing them back took)."""

    @property
    def seeds(self) -> list[int]:
        return [REFERENCE_SEED + i for i in range(self.n_reseeds + 1)]

    def _records_at(self, group: str, procedure: Any, seed: int) -> Mapping[str, Any]:
        key = (group, procedure.name, seed)
        if key not in self._records:
            t0 = time.perf_counter()
            self._records[key] = self.group_records(replace(procedure, seed=seed), group)
            self.cost_s[key] = round(time.perf_counter() - t0, 2)
            if self.log is not None and seed != REFERENCE_SEED:
                self.log(f"reseed check: {group} {procedure.name} at seed {seed}: {self.cost_s[key]:.1f} s")
        return self._records[key]

    def _compute(self, claim_id: str, procedure_name: str) -> ClaimStability | None:
        from harness.verdicts.rules import judge

        group = reseed_group(claim_id)
        procedure = self.procedures.get(procedure_name)
        if group is None or procedure is None or self.n_reseeds == 0:
            return None
        if procedure.seed != REFERENCE_SEED:
            return None  # the check is about the reference seed's verdict
        if (group, procedure_name) in self.failures:
            return None
        by_seed: dict[int, Outcome] = {}
        for seed in self.seeds:
            proc = replace(procedure, seed=seed)
            try:
                records = self._records_at(group, procedure, seed)
            except Exception as exc:  # e.g. out of device memory: the seed-0 verdict stands, unchecked
                self.failures[(group, procedure_name)] = f"seed {seed}: {type(exc).__name__}: {exc}"
                if self.log is not None:
                    self.log(
                        f"reseed check FAILED for {group} {procedure_name} ({self.failures[(group, procedure_name)]}); "
                        "its claims keep their seed-0 verdicts, reported as not rechecked"
                    )
                return None
            c = judge(claim_id, records, proc, profile=self.profile).conclusion()
            by_seed[seed] = (c.verdict, c.control_outcome)
        return claim_stability(
            claim_id, procedure_name, by_seed, min_seeds=len(self.seeds), reference_seed=REFERENCE_SEED
        )

    def __getitem__(self, key: tuple[str, str]) -> ClaimStability:
        if key not in self._entries:
            entry = self._compute(*key)
            if entry is None:
                raise KeyError(key)
            self._entries[key] = entry
        return self._entries[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(dict(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True
