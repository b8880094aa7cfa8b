"""Permutation nulls on the device (issue 12): SVCCA, RSA and size-matched draws in batches.

Same numbers as :mod:`harness.scoring.nulls` (to ~1e-13) given the same permutations / draws, which
are generated here with the same seeded ``numpy.random.default_rng`` sequence; one torch code
path for cpu and cuda, all arithmetic in float64.

SVCCA null (fixed bases, as :func:`harness.scoring.nulls.svcca_null`). The bases U_a (n, k_a), U_b
(n, k_b) of the centred sides are computed once (:func:`harness.scoring.metrics.svd_basis`, numpy, so k
is chosen exactly as today); a draw with permutation p is the mean of the singular values of
M_p = U_a^T U_b[p] (k_a, k_b). A batch of B draws gathers U_b[p] side by side, (n, B k_b),
and does one GEMM (k_a, n) x (n, B k_b). Canonical correlations from M_p:
- min(k_a, k_b) = 1 (the paper's k = 1): the single singular value is the norm of M_p, exact.
- otherwise (``method="auto"``): eigenvalues of the small Gram M_p^T M_p or M_p M_p^T
  (min(k_a, k_b) square, ``eigvalsh``), sigma = sqrt(lambda). lambda has an absolute error of
  ~ k eps ||M_p||^2 <= k eps, so sigma is accurate to ~ k eps / (2 sigma): exact to 1e-10 when
  every sigma^2 >= GRAM_MIN_EIG (1e-6, sigma >= 1e-3). Draws with a smaller eigenvalue are
  recomputed with ``svdvals`` (``method="svd"`` uses svdvals for every draw).

RSA null (as :func:`harness.scoring.nulls.rsa_null`). Similarities are computed from the *unique* rows
and expanded, so duplicated rows (many-to-1 sets) tie exactly; average ranks with ties are
stored doubled (2 x average rank = first + last position, an integer) as int32 while
2 x n(n-1)/2 < 2^31 (n <= 46,341), else int64. The centred doubled ranks of b form an (n, n)
symmetric integer matrix R_b; a draw is sum_{i<j} c_a[i,j] R_b[p_i, p_j] / (|c_a| |c_b|) with
c the centred doubled ranks (centring by the exact integer mean M + 1), products and sums in
fp64, batched over draws and row chunks (``max_elements`` gathered entries per step).

Size-matched draws (as :func:`harness.scoring.nulls.size_matched_test` with an SVCCA ``score_rows``):
the same sorted random subsets; centred subsets SVD'd in a batch (``torch.linalg.svd``; a Gram
+ eigh basis would lose accuracy for small singular values, so it is not used here), k chosen
per draw exactly as :func:`harness.scoring.metrics.svd_basis`, canonical correlations batched per
distinct (k_a, k_b).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray

from harness.errors import ConfigError, DegenerateInputError
from harness.threads import single_threaded
from harness.scoring.metrics import (
    RANK_RTOL,
    SpaceBasis,
    _check_keep,
    check_paired,
    svcca_from_bases,
    svd_basis,
)
from harness.scoring.nulls import PermutationResult, SizeMatchedResult, p_value
from harness.vocab import PValueRule as PRule

Float64 = NDArray[np.float64]
Int64 = NDArray[np.int64]
Method = Literal["auto", "gram", "svd"]

#: Smallest Gram eigenvalue (sigma^2) for which sigma = sqrt(eigvalsh) is trusted to 1e-10.
GRAM_MIN_EIG = 1e-6

#: Default number of gathered entries per batched step (fp64: 128 MB).
MAX_ELEMENTS = 1 << 24


def permutations(n: int, n_permutations: int, seed: int) -> Int64:
    """(n_permutations, n) permutations, the same as :func:`harness.scoring.nulls._permutations`."""
    rng = np.random.default_rng(seed)
    if n_permutations == 0:
        return np.empty((0, n), dtype=np.int64)
    return np.stack([rng.permutation(n) for _ in range(n_permutations)]).astype(np.int64)


def _perms(n: int, n_permutations: int | None, seed: int | None, perms: object | None) -> Int64:
    if perms is not None:
        p = np.asarray(perms, dtype=np.int64)
        if p.ndim != 2 or p.shape[1] != n:
            raise ConfigError(f"perms must have shape (n_permutations, {n}); got {p.shape}.")
        if not np.all(np.sort(p, axis=1) == np.arange(n)):
            raise ConfigError("Every row of perms must be a permutation of range(n).")
        return p
    if n_permutations is None or seed is None:
        raise ConfigError("Pass n_permutations and seed (or explicit perms).")
    if int(n_permutations) < 1:
        raise ConfigError(f"n_permutations={n_permutations}: need at least 1.")
    return permutations(n, int(n_permutations), int(seed))


def svd_basis_device(x: torch.Tensor, *, keep: float | int, max_k: int | None = None) -> SpaceBasis:
    """:func:`harness.scoring.metrics.svd_basis` with the SVD on ``x.device``: centre (n, d) fp64 rows,
    SVD, keep k directions by the same rule; ``u`` (n, k) returned as numpy."""
    centred = x - x.mean(dim=0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    k, rank = _k_of(s, keep=keep, max_k=max_k)
    if rank == 0:
        raise DegenerateInputError("A side is constant across features (zero variance); SVCCA is undefined.")
    var = s[:rank].double() ** 2
    return SpaceBasis(u=u[:, :k].cpu().numpy(), k=k, rank=rank, variance_kept=float(var[:k].sum() / var.sum()))


def canonical_correlations_batched(m: torch.Tensor, *, method: Method = "auto") -> torch.Tensor:
    """(B, k_a, k_b) fp64 -> (B, min(k_a, k_b)) singular values clipped to [0, 1], descending.

    See the module docstring for when the Gram + eigh route is exact and its fallback.
    """
    if method not in ("auto", "gram", "svd"):
        raise ConfigError(f"method={method!r}: use 'auto', 'gram' or 'svd'.")
    b, ka, kb = m.shape
    if min(ka, kb) == 1:
        s = torch.linalg.vector_norm(m.reshape(b, -1), dim=1, keepdim=True)
    elif method == "svd":
        s = torch.linalg.svdvals(m)
    else:
        g = m.transpose(1, 2) @ m if kb <= ka else m @ m.transpose(1, 2)
        lam = torch.linalg.eigvalsh(g).flip(-1)  # descending
        s = torch.sqrt(torch.clamp(lam, min=0.0))
        if method == "auto":
            bad = lam[:, -1] < GRAM_MIN_EIG
            if bool(bad.any()):
                s[bad] = torch.linalg.svdvals(m[bad])
    return torch.clamp(s, 0.0, 1.0)


def svcca_null_device(
    a: object,
    b: object,
    *,
    n_permutations: int | None = None,
    seed: int | None = None,
    perms: object | None = None,
    keep: float | int = 0.99,
    max_k: int | None = None,
    device: str | torch.device = "cpu",
    method: Method = "auto",
    max_elements: int = MAX_ELEMENTS,
    basis_on_device: bool = False,
) -> tuple[float, Float64, dict[str, object]]:
    """Observed SVCCA and its shuffled-pairing null, batched on ``device``.

    Args:
        a: (n, d_a), b: (n, d_b) paired decoder rows.
        n_permutations, seed: draws as :func:`harness.scoring.nulls.svcca_null`; or ``perms``
            (N, n) explicit permutations.
        keep, max_k: as :func:`harness.scoring.metrics.svcca`.
        basis_on_device: False = the bases from :func:`harness.scoring.metrics.svd_basis` (numpy, the
            observed score identical to today's); True = SVD on ``device`` (same k rule, the
            observed score equal to ~1e-13; at paper scale the host SVD of (26k, 768) takes
            seconds per side).
        method: canonical correlations of each draw (module docstring).
        max_elements: gathered entries (draws x n x k_b) per batch.

    Returns (observed, null (N,), details) like :func:`harness.scoring.nulls.svcca_null`.
    """
    _check_keep(keep)
    a64, b64 = check_paired(a, b)
    n = a64.shape[0]
    dev = torch.device(device)
    if basis_on_device:
        basis_a = svd_basis_device(torch.as_tensor(a64, device=dev), keep=keep, max_k=max_k)
        basis_b = svd_basis_device(torch.as_tensor(b64, device=dev), keep=keep, max_k=max_k)
    else:
        basis_a = svd_basis(a64, keep=keep, max_k=max_k)
        basis_b = svd_basis(b64, keep=keep, max_k=max_k)
    observed = svcca_from_bases(basis_a, basis_b, n)  # raises for k >= n - 1, as today
    p = _perms(n, n_permutations, seed, perms)
    ua = torch.as_tensor(basis_a.u, device=dev)
    ub = torch.as_tensor(basis_b.u, device=dev)
    pt = torch.as_tensor(p, device=dev)
    batch = max(1, int(max_elements) // (n * ub.shape[1]))
    null = torch.empty(p.shape[0], dtype=torch.float64, device=dev)
    for s0 in range(0, p.shape[0], batch):
        s1 = min(s0 + batch, p.shape[0])
        nb_ = s1 - s0
        g = ub[pt[s0:s1].T].reshape(n, nb_ * ub.shape[1])  # (n, B k_b): U_b[p] side by side
        m = (ua.T @ g).reshape(ua.shape[1], nb_, ub.shape[1]).transpose(0, 1)  # (B, k_a, k_b), one GEMM
        null[s0:s1] = canonical_correlations_batched(m, method=method).mean(dim=1)
    details = {
        "k_a": observed.k_a,
        "k_b": observed.k_b,
        "n": n,
        "variance_kept_a": observed.variance_kept_a,
        "variance_kept_b": observed.variance_kept_b,
    }
    return observed.score, null.cpu().numpy(), details


# ----------------------------------------------------------------------------- RSA


def doubled_average_ranks(v: torch.Tensor) -> torch.Tensor:
    """(M,) values -> (M,) 2 x average rank (1-based, ties share their average), exact integers.

    int32 while 2M < 2^31, else int64. Equals ``2 * scipy.stats.rankdata(v)`` (method
    ``average``).
    """
    if v.ndim != 1:
        raise ConfigError(f"doubled_average_ranks expects a 1-D tensor; got shape {tuple(v.shape)}.")
    if not bool(torch.isfinite(v).all()):
        raise DegenerateInputError("Similarities contain NaN or inf; ranks are undefined.")
    m = v.numel()
    sorted_v, order = torch.sort(v, stable=True)
    new = torch.ones(m, dtype=torch.bool, device=v.device)
    if m > 1:
        new[1:] = sorted_v[1:] != sorted_v[:-1]
    gid = torch.cumsum(new.to(torch.int64), 0) - 1
    starts = torch.nonzero(new).flatten()
    ends = torch.cat([starts[1:] - 1, torch.tensor([m - 1], device=v.device)])
    doubled_sorted = (starts + ends + 2)[gid]
    out = torch.empty(m, dtype=torch.int64, device=v.device)
    out[order] = doubled_sorted
    return out.to(torch.int32) if 2 * m < 2**31 else out


def similarity_matrix(x: torch.Tensor, *, inner: str) -> torch.Tensor:
    """(n, d) fp64 rows -> (n, n) similarity (as :func:`harness.scoring.metrics.similarity_upper`),
    computed over the unique rows, made exactly symmetric and expanded, so duplicated rows give
    identical entries (exact ties)."""
    uniq, inv = torch.unique(x, dim=0, return_inverse=True)
    if inner == "correlation":
        centred = uniq - uniq.mean(dim=1, keepdim=True)
        norms = torch.linalg.vector_norm(centred, dim=1)
        if bool((norms == 0).any()):
            raise DegenerateInputError(
                f"{int((norms[inv] == 0).sum())} rows are constant; their correlation is undefined. "
                "Use inner='euclidean' or drop those features."
            )
        unit = centred / norms[:, None]
        s = unit @ unit.T
    elif inner == "euclidean":
        sq = (uniq * uniq).sum(dim=1)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (uniq @ uniq.T)
        s = -torch.sqrt(torch.clamp(d2, min=0.0))
    else:
        raise ConfigError(f"inner={inner!r}: use 'correlation' or 'euclidean'.")
    # a GEMM need not give s[x, y] == s[y, x] bit for bit; mirror the upper triangle so that
    # (i, j) and (j', i') of duplicated rows read the same entry, and make the
    # self-similarity exact (correlation 1, distance 0), as metrics.similarity_upper does
    s = torch.triu(s, diagonal=1)
    s = s + s.T
    s.fill_diagonal_(1.0 if inner == "correlation" else 0.0)
    return s[inv][:, inv]


def centred_doubled_ranks(x: torch.Tensor, *, inner: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, d) rows -> ((M,) centred doubled ranks of the upper-triangle similarities (int64),
    (2, M) upper-triangle indices), M = n (n - 1) / 2, row-major like ``np.triu_indices``."""
    n = x.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=x.device)
    sim = similarity_matrix(x, inner=inner)[iu[0], iu[1]]
    r2 = doubled_average_ranks(sim).to(torch.int64)
    c = r2 - (sim.numel() + 1)  # mean of 2 x ranks is M + 1, exactly
    if not bool((c != 0).any()):
        raise DegenerateInputError("All pairwise similarities are equal; Spearman is undefined.")
    return c, iu


def rsa_null_device(
    a: object,
    b: object,
    *,
    n_permutations: int | None = None,
    seed: int | None = None,
    perms: object | None = None,
    inner: str = "correlation",
    device: str | torch.device = "cpu",
    max_elements: int = MAX_ELEMENTS,
) -> tuple[float, Float64, dict[str, object]]:
    """Observed RSA (Spearman of the similarity upper triangles) and its shuffled-pairing null
    on ``device``; returns (observed, null (N,), details) like :func:`harness.scoring.nulls.rsa_null`.
    No RSA_MAX_ROWS limit here: memory is ~ n^2 (4 bytes for R_b + 8 for c_a) plus the batch."""
    a64, b64 = check_paired(a, b)
    n = a64.shape[0]
    dev = torch.device(device)
    ca, iu = centred_doubled_ranks(torch.as_tensor(a64, device=dev), inner=inner)
    cb, _ = centred_doubled_ranks(torch.as_tensor(b64, device=dev), inner=inner)
    ca64, cb64 = ca.to(torch.float64), cb.to(torch.float64)
    norm = torch.linalg.vector_norm(ca64) * torch.linalg.vector_norm(cb64)
    observed = float((ca64 @ cb64) / norm)
    p = _perms(n, n_permutations, seed, perms)
    small = torch.int32 if int(cb.abs().max()) < 2**31 else torch.int64
    rb = torch.zeros(n, n, dtype=small, device=dev)
    rb[iu[0], iu[1]] = cb.to(small)
    rb[iu[1], iu[0]] = cb.to(small)
    ca_up = torch.zeros(n, n, dtype=torch.float64, device=dev)  # c_a on i < j, 0 elsewhere
    ca_up[iu[0], iu[1]] = ca64
    pt = torch.as_tensor(p, device=dev)
    per_draw = n * n
    batch = max(1, int(max_elements) // per_draw)
    rows = max(1, int(max_elements) // (batch * n))
    null = torch.zeros(p.shape[0], dtype=torch.float64, device=dev)
    for s0 in range(0, p.shape[0], batch):
        s1 = min(s0 + batch, p.shape[0])
        pb = pt[s0:s1]  # (B, n)
        for r0 in range(0, n, rows):
            r1 = min(r0 + rows, n)
            g = rb[pb[:, r0:r1, None], pb[:, None, :]]  # (B, rows, n) int
            null[s0:s1] += (g.to(torch.float64) * ca_up[r0:r1]).sum(dim=(1, 2))
    null = null / norm
    return observed, null.cpu().numpy(), {"n": n, "inner": inner}


@single_threaded
def permutation_test_device(
    a: object,
    b: object,
    *,
    metric: Literal["svcca", "rsa"],
    n_permutations: int,
    seed: int,
    p_rule: PRule = "plus_one",
    device: str | torch.device = "cpu",
    **metric_options: object,
) -> PermutationResult:
    """:func:`harness.scoring.nulls.permutation_test` with the nulls computed on ``device`` (same
    permutations, same result record). Options: svcca ``keep``, ``max_k``, ``method``; rsa
    ``inner``; both ``max_elements``."""
    if int(n_permutations) < 1:
        raise ConfigError(f"n_permutations={n_permutations}: need at least 1.")
    if metric == "svcca":
        unknown = set(metric_options) - {"keep", "max_k", "method", "max_elements", "basis_on_device"}
        if unknown:
            raise ConfigError(
                f"Unknown SVCCA options {sorted(unknown)}; use keep, max_k, method, max_elements, basis_on_device."
            )
        observed, null, details = svcca_null_device(
            a,
            b,
            n_permutations=int(n_permutations),
            seed=seed,
            device=device,
            **metric_options,  # type: ignore[arg-type]  # options checked above
        )
    elif metric == "rsa":
        unknown = set(metric_options) - {"inner", "max_elements"}
        if unknown:
            raise ConfigError(f"Unknown RSA options {sorted(unknown)}; use inner, max_elements.")
        observed, null, details = rsa_null_device(
            a,
            b,
            n_permutations=int(n_permutations),
            seed=seed,
            device=device,
            **metric_options,  # type: ignore[arg-type]  # options checked above
        )
    else:
        raise ConfigError(f"metric={metric!r}: use 'svcca' or 'rsa'.")
    return PermutationResult(
        observed=observed,
        null=null,
        p_value=p_value(observed, null, rule=p_rule),
        p_rule=p_rule,
        n_permutations=int(n_permutations),
        seed=seed,
        metric=metric,
        details=details,
    )


# ----------------------------------------------------------------------------- size-matched


def size_matched_draws(n: int, n_superset: int, n_draws: int, seed: int) -> Int64:
    """(n_draws, n) sorted random subsets, the same as :func:`harness.scoring.nulls.size_matched_test`."""
    rng = np.random.default_rng(seed)
    return np.stack([np.sort(rng.choice(n_superset, size=n, replace=False)) for _ in range(n_draws)]).astype(np.int64)


def _k_of(s: torch.Tensor, *, keep: float | int, max_k: int | None) -> tuple[int, int]:
    """(k, rank) from singular values, exactly as :func:`harness.scoring.metrics.svd_basis`."""
    s_np = s.cpu().numpy()
    if s_np.size == 0 or s_np[0] <= 0:
        return 0, 0
    rank = int(np.sum(s_np > RANK_RTOL * s_np[0]))
    var = s_np[:rank] ** 2
    if isinstance(keep, (int, np.integer)) and not isinstance(keep, bool):
        k = int(keep)
    else:
        frac = np.cumsum(var) / var.sum()
        k = int(np.searchsorted(frac, float(keep) - 1e-12) + 1)
    if max_k is not None:
        k = min(k, max(1, int(max_k)))
    return min(k, rank), rank


@single_threaded
def svcca_subsets(
    a: object,
    b: object,
    idx: object,
    *,
    keep: float | int,
    max_k: int | None,
    device: str | torch.device = "cpu",
    method: Method = "auto",
    max_elements: int = MAX_ELEMENTS,
) -> Float64:
    """SVCCA of the row subsets ``a[idx[t]]``, ``b[idx[t]]`` for each draw t, batched.

    Args:
        a: (n_superset, d_a), b: (n_superset, d_b) paired rows; idx: (n_draws, n) row indices.
    Returns (n_draws,) scores; NaN where :func:`harness.scoring.metrics.svcca` would raise
    DegenerateInputError (k >= n - 1, or a constant side).
    """
    _check_keep(keep)
    a64, b64 = check_paired(a, b)
    ix = np.asarray(idx, dtype=np.int64)
    if ix.ndim != 2:
        raise ConfigError(f"idx must be (n_draws, n); got shape {ix.shape}.")
    dev = torch.device(device)
    ta, tb, ti = torch.as_tensor(a64, device=dev), torch.as_tensor(b64, device=dev), torch.as_tensor(ix, device=dev)
    n_draws, n = ix.shape
    out = np.full(n_draws, np.nan)
    batch = max(1, int(max_elements) // (n * max(a64.shape[1], b64.shape[1])))
    for s0 in range(0, n_draws, batch):
        s1 = min(s0 + batch, n_draws)
        bases = []
        for t in (ta, tb):
            x = t[ti[s0:s1]]  # (B, n, d)
            x = x - x.mean(dim=1, keepdim=True)
            u, s, _ = torch.linalg.svd(x, full_matrices=False)
            bases.append((u, s))
        ks = []
        for r in range(s1 - s0):
            ka, _ = _k_of(bases[0][1][r], keep=keep, max_k=max_k)
            kb, _ = _k_of(bases[1][1][r], keep=keep, max_k=max_k)
            ks.append((ka, kb))
        for ka, kb in sorted(set(ks)):
            rows = [r for r in range(s1 - s0) if ks[r] == (ka, kb)]
            if ka == 0 or kb == 0 or ka >= n - 1 or kb >= n - 1:
                continue  # constant side / trivially perfect: NaN, as svcca raises there
            sel = torch.as_tensor(rows, device=dev)
            m = bases[0][0][sel, :, :ka].transpose(1, 2) @ bases[1][0][sel, :, :kb]
            sc = canonical_correlations_batched(m, method=method).mean(dim=1).cpu().numpy()
            out[s0 + np.asarray(rows)] = sc
    return out


@single_threaded
def size_matched_test_device(
    observed: float,
    a_superset: object,
    b_superset: object,
    *,
    n: int,
    n_draws: int,
    seed: int,
    keep: float | int,
    max_k: int | None,
    p_rule: PRule = "plus_one",
    device: str | torch.device = "cpu",
    method: Method = "auto",
) -> SizeMatchedResult:
    """:func:`harness.scoring.nulls.size_matched_test` with SVCCA as ``score_rows``, draws batched on
    ``device``: ``observed`` (a score of ``n`` pairs) against the SVCCA of ``n_draws`` random
    size-``n`` subsets of the superset's paired rows (same subsets as today for ``seed``).

    Args:
        a_superset: (n_superset, d_a), b_superset: (n_superset, d_b) paired rows of the superset.
    """
    a64, b64 = check_paired(a_superset, b_superset)
    n_superset = a64.shape[0]
    if not 0 < n < n_superset:
        raise DegenerateInputError(
            f"Need 0 < n < n_superset for a size-matched draw; got n={n}, n_superset={n_superset}."
        )
    if n_draws < 2:
        raise ConfigError("size_matched_test needs n_draws >= 2 (one is held out as the control).")
    if n < 3:
        raise DegenerateInputError(f"Need at least 3 paired rows per draw, got n={n}.")
    idx = size_matched_draws(n, n_superset, n_draws, seed)
    scores = svcca_subsets(a64, b64, idx, keep=keep, max_k=max_k, device=device, method=method)
    draws = scores[np.isfinite(scores)]
    if draws.size < 2:
        raise DegenerateInputError("Fewer than two size-matched draws produced a score.")
    return SizeMatchedResult(
        observed=float(observed),
        draws=draws,
        p_value=p_value(observed, draws, rule=p_rule),
        holdout_p=p_value(float(draws[0]), draws[1:], rule=p_rule),
        n=n,
        n_superset=n_superset,
    )
