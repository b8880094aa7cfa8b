"""Each stage's kernel recipe: the kernels the code calls, as functions of the workload's sizes.

One small function per building block (an SVCCA permutation null, a batch of subset SVCCAs, an
RSA null, a pairing), composed per stage in :func:`cell_stages` / :func:`concept_stages` and per
run in :func:`run_kernels`. Stage names are those of :mod:`harness.cost.stage`
(``"<experiment>.<stage>"``), so a counted run and the recipe compare stage by stage. When the
code changes how a stage computes (a decomposition becomes a Gram GEMM + eigh, a block size
changes), the block's function is the one place to change; the count test
(``tests/cost/test_recipes.py``) fails until it is.

The code's own batching constants are imported (device_nulls.MAX_ELEMENTS: gathered entries per
batch; exact.MAX_BLOCK_POSITIONS: positions per pairing block; spaces.SCREEN_ABOVE_MACS /
CPU_GRAM_BYTES: the cpu's dense-pairing choices); :data:`ENCODE_CHUNK` mirrors the encoder's
default chunk. Kernels marked ``lib="numpy"`` run on the host whatever the device; the
``d2h`` / ``python`` kernels are modelled only (not counted: a cpu run has no transfers, and
Python loops are not kernels).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import Procedure
from harness.cost.kernels import Kernel, decomposition, gemm
from harness.experiments.space_pairing import CPU_GRAM_BYTES, SCREEN_ABOVE_MACS
from harness.pairing.exact import MAX_BLOCK_POSITIONS
from harness.scoring.device_nulls import MAX_ELEMENTS
from harness.cost.workload import (
    KEYWORD_SLOT_SHARE,
    CellWork,
    ConceptWork,
    PairSet,
    ProcedureWork,
    Workload,
    expected_test2_batches,
    svcca_k,
)

#: Positions per block of the exact pairing (its default, the ceiling of the proven bound).
PAIRING_BLOCK = MAX_BLOCK_POSITIONS
#: Positions per encoder chunk (harness.activations.encode chunk_size default).
ENCODE_CHUNK = 1024
#: Device memory when a throughput table does not state it (an 80 GB GPU), and the share of it
#: taken as free when Test 2 sizes its batches.
DEFAULT_DEVICE_BYTES = 80e9
FREE_DEVICE_FRACTION = 0.8
#: Bytes streamed per Gram entry per position block of the screened pairing: fp32 product write
#: + read (8), fp64 conversion write (8), Gram read + write (16).
PAIRING_BYTES_PER_ENTRY = 32


@dataclass(frozen=True)
class Ctx:
    """What every recipe reads: the workload, the procedure's work and the device kind."""

    wl: Workload
    pw: ProcedureWork
    device: str  # "cpu" or "cuda"
    device_bytes: float = DEFAULT_DEVICE_BYTES
    """Memory of the device (sizes Test 2's batches on cuda)."""

    @property
    def test2_max_elements(self) -> int | None:
        """subset_pairing.score_test2_draws' code entries per batch: None (MAX_CODE_ELEMENTS) on the
        cpu; a sixteenth of the free device memory in fp64 entries on cuda (free taken as
        :data:`FREE_DEVICE_FRACTION` of the device)."""
        return int(self.device_bytes * FREE_DEVICE_FRACTION) // 128 if self.on_device else None

    @property
    def proc(self) -> Procedure:
        return self.pw.procedure

    def k(self, n: int, side: str) -> int:
        d = self.wl.d_a if side == "a" else self.wl.d_b
        return svcca_k(self.proc, n, d, variance_dims=self.wl.variance_dims)

    @property
    def min_n(self) -> int:
        return max(self.proc.min_subspace_size, 3)

    @property
    def on_device(self) -> bool:
        return self.device != "cpu"


def _chunks(total: int, size: int) -> list[tuple[int, int]]:
    """(chunk size, how many chunks of it) covering ``total`` in chunks of ``size``."""
    full, rest = divmod(int(total), int(size))
    return [(c, n) for c, n in ((int(size), full), (rest, 1)) if c > 0 and n > 0]


def canonical_correlations(ctx: Ctx, batch: int, ka: int, kb: int) -> list[Kernel]:
    """device_nulls.canonical_correlations_batched on (batch, ka, kb): a norm when min k = 1,
    else the small Gram and its eigvalsh (the svdvals fallback for sigma^2 < 1e-6 is data-dependent:
    not in the recipe)."""
    if min(ka, kb) == 1:
        return []
    if kb <= ka:
        g = gemm(kb, ka, kb, batch=batch)
    else:
        g = gemm(ka, kb, ka, batch=batch)
    return [g, decomposition("eigvalsh", min(ka, kb), batch=batch)]


def svcca_observed(ctx: Ctx, s: PairSet) -> list[Kernel]:
    """device_nulls.svcca_observed_device with basis_on_device (score_pairs ``null=False``): an SVD
    per side, then U_a^T U_b (one GEMM) and its ``svdvals``, all on the device
    (svcca_from_device_bases; only the k canonical correlations come to the host)."""
    n, d_a, d_b = s.n, ctx.wl.d_a, ctx.wl.d_b
    out = [decomposition("svd", n, d_a), decomposition("svd", n, d_b)]
    ka, kb = ctx.k(n, "a"), ctx.k(n, "b")
    if ka >= n - 1 or kb >= n - 1 or ka == 0 or kb == 0:
        return out  # degenerate: svcca raises
    out += [gemm(ka, n, kb), decomposition("svdvals", ka, kb)]
    if ctx.on_device:
        out.append(Kernel("d2h", "torch", "float64", (8 * min(ka, kb),)))
    return out


def svcca_permutation_null(ctx: Ctx, s: PairSet, n_perm: int) -> list[Kernel]:
    """device_nulls.svcca_null_device with basis_on_device: the observed score
    (:func:`svcca_observed`), then the permutations batched into GEMMs."""
    n = s.n
    out = svcca_observed(ctx, s)
    ka, kb = ctx.k(n, "a"), ctx.k(n, "b")
    if ka >= n - 1 or kb >= n - 1 or ka == 0 or kb == 0:
        return out  # degenerate: svcca raises before the null
    batch = max(1, MAX_ELEMENTS // (n * kb))
    for b, times in _chunks(n_perm, batch):
        out += ([gemm(ka, n, b * kb)] + canonical_correlations(ctx, b, ka, kb)) * times
    return out


def rsa_permutation_null(ctx: Ctx, s: PairSet, n_perm: int) -> list[Kernel]:
    """device_nulls.rsa_null_device: similarity GEMMs over each side's unique rows, ranks (a sort
    of the n(n-1)/2 upper-triangle entries per side), the observed dot product, and the null's
    gathers (n^2 int32 entries per draw, widened and weighted in fp64)."""
    n = s.n
    m = n * (n - 1) // 2
    out = [Kernel("sort", "torch", "float64", (n * d,)) for d in (ctx.wl.d_a, ctx.wl.d_b)]  # unique rows
    out += [gemm(s.unique_a, ctx.wl.d_a, s.unique_a), gemm(s.unique_b, ctx.wl.d_b, s.unique_b)]
    out += [Kernel("sort", "torch", "float64", (m,)), Kernel("sort", "torch", "float64", (m,))]
    out.append(gemm(1, m, 1))
    out.append(Kernel("gather", "torch", "int32", (n_perm * n * n,)))
    return out


def scores(ctx: Ctx, s: PairSet | None, n_perm: int, *, rsa: bool = True, null: bool = True) -> list[Kernel]:
    """spaces.score_pairs: SVCCA and (``rsa``: for the sets a rule or the report reads) RSA with
    their permutation nulls; ``null=False`` the observed SVCCA only (grid.GRID_NULL_VARIANTS /
    CONTROL_NULL_VARIANTS); nothing below the minimum subspace size."""
    if s is None or s.n < ctx.min_n:
        return []
    if not null:
        return svcca_observed(ctx, s)
    return svcca_permutation_null(ctx, s, n_perm) + (rsa_permutation_null(ctx, s, n_perm) if rsa else [])


def subset_bases(ctx: Ctx, lengths: list[int], width: int, d: int, side: str) -> tuple[list[Kernel], int]:
    """device_nulls.subset_bases of one batch of centred subsets (padded to ``width`` rows, draw t
    using ``lengths[t]``) of one side of width ``d``, and the largest k kept. When a draw has more
    rows than d: the Gram GEMM (B, d, w) x (B, w, d) and a batched eigh for the whole batch, the
    basis GEMM (G, w, d) x (G, d, K) for the G draws with more rows than d (each assumed to pass
    gram_route_ok: a draw that fails it gets an SVD, a data-dependent fallback), a batched SVD of
    the others; otherwise a batched SVD of all."""
    b = len(lengths)
    ks = [ctx.k(n, side) for n in lengths]
    kmax = max(1, max(ks, default=1))
    gram = sum(n > d for n in lengths)
    out: list[Kernel] = []
    if gram:
        out += [gemm(d, width, d, batch=b), decomposition("eigh", d, batch=b)]
    if b - gram:
        out.append(decomposition("svd", width, d, batch=b - gram))
    if gram:
        out.append(gemm(width, d, min(kmax, d), batch=gram))
    if ctx.on_device:
        out += [Kernel("d2h", "torch", "float64", (8 * b * d,))] * ((1 if gram else 0) + (1 if b - gram else 0))
    return out, kmax


def subset_svccas(ctx: Ctx, lengths: list[int], *, shared_a: bool = False) -> list[Kernel]:
    """device_nulls.svcca_subsets of row subsets with ``lengths`` rows each (padded to the
    longest: one ragged call), per batch of draws: each side's bases (:func:`subset_bases`), then
    for the draws whose SVCCA is defined one GEMM M = U_a^T U_b (B, K_a, w) x (B, w, K_b) (K: the
    batch's largest k) and their canonical correlations at once; the scores to the host once.
    ``shared_a``: every draw has the same side-a rows (``same_a``: random or placebo partners of one
    set of A features), whose basis is computed once, in the first batch."""
    if not lengths:
        return []
    d_a, d_b = ctx.wl.d_a, ctx.wl.d_b
    width = max(lengths)
    batch = max(1, MAX_ELEMENTS // (width * max(d_a, d_b)))
    out: list[Kernel] = []
    cache: dict[tuple[object, ...], list[Kernel]] = {}
    for s0 in range(0, len(lengths), batch):
        lens = lengths[s0 : s0 + batch]
        first = s0 == 0
        key = (*lens, shared_a and first)
        if key not in cache:  # equal batches (the usual case) are computed once
            if shared_a:
                step_a = subset_bases(ctx, lens[:1], width, d_a, "a")[0] if first else []
            else:
                step_a, _ = subset_bases(ctx, lens, width, d_a, "a")
            step_b, _ = subset_bases(ctx, lens, width, d_b, "b")
            step = step_a + step_b
            ok = [
                (ka, kb)
                for n in lens
                for ka, kb in [(ctx.k(n, "a"), ctx.k(n, "b"))]
                if 0 < ka < n - 1 and 0 < kb < n - 1 and n >= 3
            ]
            if ok:
                big_a, big_b = max(k for k, _ in ok), max(k for _, k in ok)
                step.append(gemm(big_a, width, big_b, batch=len(ok)))
                step += canonical_correlations(ctx, len(ok), big_a, big_b)
            cache[key] = step
        out += cache[key]
    if ctx.on_device:
        out.append(Kernel("d2h", "torch", "float64", (8 * len(lengths),)))
    return out


def split_half(ctx: Ctx, s: PairSet, n_perm: int) -> list[Kernel]:
    """spaces.split_half on the null device: each half's SVCCA permutation null as
    :func:`svcca_permutation_null` (bases on the device, permutations batched into GEMMs)."""
    half = s.n // 2
    if half < ctx.min_n:
        return []
    return svcca_permutation_null(ctx, PairSet.one_to_one(half), n_perm) * 2


def size_matched(ctx: Ctx, one: PairSet, superset: PairSet, n_draws: int) -> list[Kernel]:
    """spaces.size_matched: ``n_draws`` random size-n subsets of the superset (when the 1-1 set was
    scored and is smaller than the superset)."""
    n = one.n
    if n < ctx.min_n or not 0 < n < superset.n:
        return []
    ka, kb = ctx.k(n, "a"), ctx.k(n, "b")
    if ka >= n - 1 or kb >= n - 1:
        return []  # the observed score is NaN: skipped
    return subset_svccas(ctx, [n] * n_draws)


def python_loop(iterations: int, body: str = "filter") -> list[Kernel]:
    """``iterations`` of a host Python loop whose body is like ``body`` (a throughput key:
    ``filter`` = one feature's top strings tested against a token set; a concept index's
    ``concept_token`` = one distinct top-position token's word, ``concept_window`` = one keyword
    position's window decoded and split, ``concept_row`` = one feature's row of top slots looked
    up for a category)."""
    return [Kernel("python", "python", body, (int(iterations),))] if iterations > 0 else []


def pair_sets(ctx: Ctx, cell: CellWork) -> list[Kernel]:
    """spaces.pair_spaces for the three variants (+ the control's top-correlated set): the token
    filters as sparse products over the spaces' StringIncidence (FeatureSpace.string_incidence,
    built once per space object: one Python pass over its features' top strings). A grid keeps a
    row's spaces (grid.default_space_capacity): each A space is built at its row's first cell, each
    B space in the first row; a control cell's shuffled B space is a new object (built again). The
    per-cell sparse products (O(pairs x top_k) entries) are not modelled."""
    wl = ctx.wl
    first_a = cell.layer_b == wl.layers_b[0]  # a row's first cell builds its A space
    first_b = cell.control or cell.layer_a == wl.layers_a[0]  # the first row builds each B space
    return python_loop(wl.f_a * first_a + wl.f_b * first_b, "incidence")


def encode_pass(ctx: Ctx, side: str, n_features: int | None = None) -> list[Kernel]:
    """One encoder pass of a side over the positions (activations.encode.iter_code_chunks): an
    (chunk, d) x (d, F) fp32 GEMM per chunk of :data:`ENCODE_CHUNK` positions (then top-k).
    ``n_features``: only those latents (SaeCodes.columns of pre-TopK codes); a non-TopK SAE's
    encoder (ModuleEncoder: sae-lens ReLU / JumpReLU) encodes every latent whatever is asked."""
    d = ctx.wl.d_a if side == "a" else ctx.wl.d_b
    full = ctx.wl.f_a if side == "a" else ctx.wl.f_b
    module = (ctx.wl.topk_a if side == "a" else ctx.wl.topk_b) is None
    f = full if module else (n_features or full)
    out: list[Kernel] = []
    for c, times in _chunks(ctx.pw.n_positions, ENCODE_CHUNK):
        step = [gemm(c, d, f, dtype="float32")]
        if n_features is None:  # a whole pass: top-k codes and the running top positions
            step.append(Kernel("topk", "torch", "float32", (c * f,)))
        out += step * times
    return out


def pairing(ctx: Ctx) -> list[Kernel]:
    """spaces.space_max_correlation of one layer pair: on the cpu with TopK codes the exact sparse
    co-activation product (scipy, positions x k_a x k_b); otherwise the exact dense pairing
    (harness.pairing.exact): a stats pass and, per sweep of B features, a screen pass over
    position blocks of :data:`PAIRING_BLOCK` (each pass encodes both sides: an (N, d) x (d, F)
    fp32 GEMM per chunk and side), the block products in TF32 (cuda) or fp32 (cpu screen) -- fp64
    without a screen -- and the fp64 Gram updated per block (the recheck pass is not counted)."""
    wl = ctx.wl
    n, fa, fb = ctx.pw.n_positions, wl.f_a, wl.f_b
    topk = wl.topk_a is not None and wl.topk_b is not None and ctx.proc.sae_code != "pre_topk"
    if not ctx.on_device and topk:
        return [Kernel("sparse", "scipy", "float64", (n, int(wl.topk_a or 0), int(wl.topk_b or 0)))]
    screen = ctx.on_device or n * fa * fb > SCREEN_ABOVE_MACS
    # B features per sweep: the fp64 Gram block fits CPU_GRAM_BYTES on the cpu, a quarter of the
    # device memory on cuda (all of F_B at Pythia / Gemma sizes on an 80 GB GPU)
    group = fb if ctx.on_device else max(1, min(fb, CPU_GRAM_BYTES // (8 * fa)))
    out = encode_pass(ctx, "a") + encode_pass(ctx, "b")  # the stats pass
    dtype = ("tf32" if ctx.on_device else "float32") if screen else "float64"
    for g, sweeps in _chunks(fb, group):
        sweep = encode_pass(ctx, "a") + encode_pass(ctx, "b")  # each sweep re-encodes both sides
        for b, times in _chunks(n, PAIRING_BLOCK):
            block = [gemm(fa, b, g, dtype=dtype)]
            if screen:
                block.append(Kernel("stream", "torch", "float64", (fa * g * PAIRING_BYTES_PER_ENTRY,)))
            sweep += block * times
        out += sweep * sweeps
    return out


def random_partner(ctx: Ctx, cell: CellWork) -> list[Kernel]:
    """spaces.random_partner_pairs: set 0 of the contrast's draws (:func:`random_partner_contrast`
    draws them), only its pairs' activation correlations (not modelled): no kernel of its own."""
    return []


def rsa_of_sets(ctx: Ctx, n: int, n_sets: int, *, distinct_a: int = 1) -> list[Kernel]:
    """spaces.rsa_of_sets of ``n_sets`` sets of ``n`` pairs whose A rows take ``distinct_a``
    consecutive values: per distinct A rows and per set's B rows the similarity GEMM and the ranks
    of its upper triangle (a sort), then one dot product per set."""
    if n < max(ctx.min_n, 3) or n_sets == 0:
        return []
    m = n * (n - 1) // 2
    side_a = [gemm(n, ctx.wl.d_a, n), Kernel("sort", "torch", "float64", (m,))]
    side_b = [gemm(n, ctx.wl.d_b, n), Kernel("sort", "torch", "float64", (m,))]
    return side_a * distinct_a + (side_b + [gemm(1, m, 1)]) * n_sets


def random_partner_contrast(ctx: Ctx, cell: CellWork, n_sets: int) -> list[Kernel]:
    """spaces.random_partner_contrast (U1/U2's control as a contrast): ``n_sets`` filter-aware
    random-partner draws (one vectorized step per A feature for all sets, host: the
    ``partner_step`` kernel is timed at 99 sets), the real 1-1 set and
    the draws scored by the same batched code: SVCCA (one ragged subset batch each) and RSA
    (:func:`rsa_of_sets`). Each draw is taken to keep every A feature (its size the 1-1 set's:
    an assumption at the paper's scale, exact when every A feature finds a filter-passing
    partner, as on the rehearsal)."""
    if cell.control or cell.random_partner is None or n_sets == 0:
        return []
    n = cell.one_to_one.n
    out = python_loop(n, "partner_step") if n_sets else []  # the sets advance together, a step per A feature
    if n < max(ctx.min_n, 3):
        return out
    # the draws keep every A feature (the assumption above): they share the real set's A rows
    out += subset_svccas(ctx, [n]) + subset_svccas(ctx, [n] * n_sets, shared_a=True)
    return out + rsa_of_sets(ctx, n, 1) + rsa_of_sets(ctx, n, n_sets)


def placebo_one_to_one(ctx: Ctx, cell: CellWork, n_draws: int) -> list[Kernel]:
    """spaces.placebo_one_to_one: the real 1-1 set, one held-out and ``n_draws`` placebo sets, all
    of the 1-1 size, in one subset batch."""
    one = cell.one_to_one
    if cell.control or one.n == 0:
        return []
    if one.n < ctx.min_n:
        return []
    # the picks: one vectorized draw (not modelled); every set has the real set's A rows
    return subset_svccas(ctx, [one.n] * (n_draws + 2), shared_a=True)


def placebo_filter(ctx: Ctx, cell: CellWork, siblings: int) -> list[Kernel]:
    """spaces.placebo_filter: per run, the pair sets rebuilt with random tokens (sparse filters) and,
    when the run's set is smaller than the unfiltered one, its SVCCA with ``siblings`` random
    same-size subsets of the unfiltered set in one subset batch."""
    if cell.control:
        return []
    wl = ctx.wl
    out: list[Kernel] = []
    # the token pool: each space's string counts (StringIncidence.feature_counts: a dict pass over
    # its distinct strings, at most its features' top strings, charged as one pass per feature);
    # per run the masks and filters are sparse products (not modelled)
    out += python_loop(wl.f_a + wl.f_b) if cell.placebo_filter_runs else []
    for n in cell.placebo_filter_runs:
        if 0 < n < cell.unfiltered.n and n >= ctx.min_n:
            out += subset_svccas(ctx, [n] * (1 + siblings))
    return out


def rsa_sets(cell: CellWork) -> list[PairSet]:
    """The pair sets of a grid cell whose RSA null is computed (grid.RSA_VARIANTS: the sets a
    rule or the report reads)."""
    sets = [cell.one_to_one, cell.random_partner, cell.top_correlated]
    return [s for s in sets if s is not None]


def cell_stages(ctx: Ctx, cell: CellWork) -> dict[str, list[Kernel]]:
    """Kernels of one grid cell (compare_spaces) by stage (without the experiment prefix)."""
    pw = ctx.pw
    n_perm = pw.n_permutations
    stages: dict[str, list[Kernel]] = {
        "spaces": encode_pass(ctx, "b") if cell.control else [],  # the shuffled B space's codes
        "pairing": pairing(ctx),
        "pair_sets": pair_sets(ctx, cell),
        "scores": scores(ctx, cell.one_to_one, n_perm, null=not cell.control)
        + scores(ctx, cell.many_to_one, n_perm, rsa=False, null=not cell.control)
        + scores(ctx, cell.unfiltered, n_perm, rsa=False, null=False)
        + scores(ctx, cell.random_partner, n_perm, null=False)
        + scores(ctx, cell.top_correlated, n_perm),
        "split_half": [] if cell.control else split_half(ctx, cell.one_to_one, n_perm),
        "random_partner": random_partner(ctx, cell),
        "random_partner_contrast": random_partner_contrast(ctx, cell, pw.n_random_partner_sets),
        "placebo_one_to_one": placebo_one_to_one(ctx, cell, pw.n_size_matched),
        "placebo_filter": placebo_filter(ctx, cell, pw.n_placebo_filter_siblings),
        "size_matched": []
        if cell.control  # a control grid's draws: nothing reads them (compare_spaces size_matched_sets)
        else size_matched(ctx, cell.one_to_one, cell.many_to_one, pw.n_size_matched)
        + size_matched(ctx, cell.one_to_one, cell.unfiltered, pw.n_size_matched),
    }
    return stages


def concept_correlation(ctx: Ctx, m_a: int, m_b: int) -> list[Kernel]:
    """spaces.subset_correlation of m_a x m_b concept columns: pre-TopK codes re-encode the
    selected latents (an (chunk, d) x (d, m) fp32 GEMM per encoder chunk and side; TopK codes are
    gathered); on a device the fp64 correlation GEMM (on the cpu: numpy, modelled as such)."""
    wl = ctx.wl
    out: list[Kernel] = []
    if ctx.proc.sae_code == "pre_topk" or wl.topk_a is None:
        out += encode_pass(ctx, "a", m_a) + encode_pass(ctx, "b", m_b)
    out.append(gemm(m_a, ctx.pw.n_positions, m_b, lib="torch" if ctx.on_device else "numpy"))
    if ctx.on_device:
        out.append(Kernel("d2h", "torch", "float64", (8 * m_a * m_b,)))
    return out


def filled_slots(ctx: Ctx, side: str) -> int:
    """A side's filled top slots: every slot when the procedure fills inactive ones or the codes are
    dense (pre-TopK); else at most one per active (position, latent) code, positions x TopK k."""
    wl, proc = ctx.wl, ctx.proc
    f, k = (wl.f_a, wl.topk_a) if side == "a" else (wl.f_b, wl.topk_b)
    top_k = proc.top_k_positions
    dense = k is None or proc.sae_code == "pre_topk" or not proc.top_positions_require_active
    return f * top_k if dense else min(f * top_k, ctx.pw.n_positions * int(k or 0))


def concept_index(ctx: Ctx, side: str) -> list[Kernel]:
    """One pairing.concepts.ConceptIndex build (FeatureSpace.concept_index, once per space and rule):
    a Python loop over the distinct top-position tokens (at most the filled slots) and one window
    decoded per distinct keyword position (:data:`KEYWORD_SLOT_SHARE` of the filled slots)."""
    slots = filled_slots(ctx, side)
    return python_loop(slots, "concept_token") + python_loop(round(KEYWORD_SLOT_SHARE * slots), "concept_window")


def concept_index_builds(ctx: Ctx) -> list[tuple[str, str]]:
    """(experiment, side) of every concept index the procedure's semantic tables build, in order:
    one per space the first time a table asks it for concepts, again after the space was evicted
    from :class:`harness.experiments.grid.LoadedPair`'s LRU (its default capacity; grid-phase spaces hold no index and are older than every semantic use, so they are
    evicted first and need not be simulated), and a B one per control table (its shuffled copy of
    the cached B space is new each call)."""
    from collections import OrderedDict

    from harness.experiments.grid import default_space_capacity

    cap = default_space_capacity(len(ctx.wl.layers_a), len(ctx.wl.layers_b))
    cache: OrderedDict[tuple[str, int], bool] = OrderedDict()  # cached space -> holds an index
    builds: list[tuple[str, str]] = []
    for table in ctx.pw.semantic:
        exp = "semantic_control" if table.control else "semantic"
        for side, layer in (("a", table.layer_a), ("b", table.layer_b)):
            key = (side, layer)
            if key not in cache:
                cache[key] = False
                while len(cache) > cap:
                    cache.popitem(last=False)
            cache.move_to_end(key)
            if table.control and side == "b":
                builds.append((exp, side))  # the shuffled copy's own index
            elif not cache[key]:
                cache[key] = True
                builds.append((exp, side))
    return builds


def concepts(ctx: Ctx) -> list[Kernel]:
    """FeatureSpace.concept of one category on both sides, from the spaces' concept indexes: a
    numpy lookup over each feature's row of top slots (timed per row, ``concept_row``)."""
    return python_loop(ctx.wl.f_a + ctx.wl.f_b, "concept_row")


def test2(ctx: Ctx, c: ConceptWork) -> list[Kernel]:
    """subset_pairing.score_test2_draws: per batch of draws, the z-scored codes of each side's
    distinct features (FeatureSpace.zscored_rows: pre-TopK codes re-encode their columns, an
    encoder GEMM per chunk; TopK codes are gathered; small spaces encode every live feature once
    and keep them -- the counted ``test2_encodes`` when known) and one correlation GEMM: over the
    distinct features when that is at most FULL_GEMM_RATIO x the draws' blocks, else a batched
    GEMM of each draw's block; the pairs by batched reductions (two host copies per batch); then
    one ragged batch of subset SVCCAs of every scored draw."""
    from harness.experiments.subset_pairing import FULL_GEMM_RATIO

    wl, n_pos = ctx.wl, ctx.pw.n_positions
    sa, sb = c.n_concept_a, c.n_concept_b
    dense = ctx.proc.sae_code == "pre_topk" or wl.topk_a is None
    out: list[Kernel] = []
    if c.test2_encodes is not None and dense:
        for d, m in c.test2_encodes:
            out += encode_pass(ctx, "a" if d == wl.d_a else "b", m)
    batches = c.test2_batches
    if batches is None:
        n_draws = len(c.test2_pairs)
        batches = expected_test2_batches(n_draws, sa, sb, wl.f_a, wl.f_b, n_pos, ctx.test2_max_elements)
    for b, ua, ub in batches:
        if c.test2_encodes is None and dense:
            out += encode_pass(ctx, "a", ua) + encode_pass(ctx, "b", ub)
        if ua * ub <= FULL_GEMM_RATIO * b * sa * sb:
            out.append(gemm(ua, n_pos, ub))
        else:
            out.append(gemm(sa, n_pos, sb, batch=b))
        if ctx.on_device:
            out += [Kernel("d2h", "torch", "int64", (8 * b * sb,)), Kernel("d2h", "torch", "bool", (b * sb,))]
    return out + subset_svccas(ctx, [n for n in c.test2_pairs if n >= ctx.min_n])


def concept_stages(ctx: Ctx, c: ConceptWork) -> dict[str, list[Kernel]]:
    """Kernels of one semantic category (compare_concept) by stage."""
    out: dict[str, list[Kernel]] = {"concepts": concepts(ctx), "concept_pairs": [], "scores": [], "test2": []}
    if min(c.n_concept_a, c.n_concept_b) < ctx.proc.min_subspace_size:
        return out
    out["concept_pairs"] = concept_correlation(ctx, c.n_concept_a, c.n_concept_b)
    out["scores"] = scores(ctx, PairSet.one_to_one(c.n_pairs), ctx.pw.n_permutations_semantic)
    out["test2"] = test2(ctx, c)
    return out


def forward(wl: Workload) -> dict[str, list[Kernel]]:
    """One forward pass per model over every token (all layers and sites at once; fp32: 2 x
    parameters x tokens flops, as one GEMM), and the residuals' host -> device copy of every
    space (modelled, not counted)."""
    from harness.cost.workload import MODEL_SIZES

    tokens = max(pw.n_positions for pw in wl.procedures)
    out: dict[str, list[Kernel]] = {"shared.forward": []}
    for name, d in ((wl.model_a, wl.d_a), (wl.model_b, wl.d_b)):
        _layers, params = MODEL_SIZES.get(name, (0, 0))
        out["shared.forward"].append(gemm(tokens, d, max(1, params // max(1, d)), dtype="float32"))
    return out


StageKernels = dict[str, list[Kernel]]


def procedure_kernels(
    wl: Workload, pw: ProcedureWork, device: str, *, device_bytes: float = DEFAULT_DEVICE_BYTES
) -> StageKernels:
    """Every kernel of one procedure's grid, control grid and semantic tables, by stage name
    (``"<experiment>.<stage>"``)."""
    ctx = Ctx(wl, pw, "cpu" if device == "cpu" else "cuda", device_bytes)
    out: StageKernels = {}

    def add(prefix: str, stages: dict[str, list[Kernel]]) -> None:
        for name, kernels in stages.items():
            out.setdefault(f"{prefix}.{name}", []).extend(kernels)

    for cell in pw.grid:
        add("grid", cell_stages(ctx, cell))
    for cell in pw.control_grid:
        add("grid_control", cell_stages(ctx, cell))
    for exp, side in concept_index_builds(ctx):
        add(exp, {"concepts": concept_index(ctx, side)})
    for table in pw.semantic:
        exp = "semantic_control" if table.control else "semantic"
        if table.control:  # the shuffled B space's codes
            add(exp, {"spaces": encode_pass(ctx, "b")})
        for c in table.concepts:
            add(exp, concept_stages(ctx, c))
    builds_a, builds_b = pw.space_builds
    add("shared", {"spaces": encode_pass(ctx, "a") * builds_a + encode_pass(ctx, "b") * builds_b})
    return out


def run_kernels(
    wl: Workload, device: str, *, include_forward: bool = True, device_bytes: float = DEFAULT_DEVICE_BYTES
) -> dict[str, StageKernels]:
    """Kernels of the whole run by procedure (``"<procedure>"`` -> stage -> kernels); the forward and
    encode passes under ``"shared"``."""
    out: dict[str, StageKernels] = {}
    if include_forward:
        out["shared"] = forward(wl)
    for pw in wl.procedures:
        out[pw.procedure.name] = procedure_kernels(wl, pw, device, device_bytes=device_bytes)
    return out
