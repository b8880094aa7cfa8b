"""Nulls and subset draws on the device (issues 12, 20): SVCCA and RSA permutation nulls and the
SVCCAs of row-subset draws (size-matched, placebo, Test 2), in batches.

Same numbers as :mod:`harness.scoring.nulls` (to ~1e-13) given the same permutations / draws, which
are generated here with the same seeded ``numpy.random.default_rng`` sequence; one torch code
path for cpu and cuda, all arithmetic in float64.

SVCCA null (fixed bases, as the numpy reference ``svcca_null`` (tests/scoring/reference_nulls.py)). The bases U_a (n, k_a), U_b
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

RSA null (as the numpy reference ``rsa_null`` (tests/scoring/reference_nulls.py)). Similarities are computed from the *unique* rows
and expanded, so duplicated rows (many-to-1 sets) tie exactly; average ranks with ties are
stored doubled (2 x average rank = first + last position, an integer) as int32 while
2 x n(n-1)/2 < 2^31 (n <= 46,341), else int64. The centred doubled ranks of b form an (n, n)
symmetric integer matrix R_b; a draw is sum_{i<j} c_a[i,j] R_b[p_i, p_j] / (|c_a| |c_b|) with
c the centred doubled ranks (centring by the exact integer mean M + 1), products and sums in
fp64, batched over draws and row chunks (``max_elements`` gathered entries per step).

Subset draws (size-matched, placebo, Test 2; :func:`svcca_subsets`): every draw is a row subset, so
its bases change. Per batch of B subsets of n rows: for n > d, one batched Gram GEMM
``xc^T xc`` (B, d, d) and a batched ``eigh``; the basis is ``xc V_k`` with unit columns (one batched
GEMM), used where :func:`gram_route_ok` bounds its error (else, and for n <= d, a batched SVD of
that draw). k per draw exactly as :func:`harness.scoring.metrics.svd_basis` (:func:`ks_of_spectra`,
one (B, d) host transfer per side and batch); all draws' canonical correlations from one batched
GEMM and ``eigvalsh`` whatever their k (:func:`mean_canonical_correlations`). Equal to the per-draw
numpy SVCCA to 1e-10 relative with the same k (tests/scoring/test_device_nulls.py). Draws of
different sizes share a batch (``lengths``: each draw centred over its own rows, the rest zeroed).
The host transfers of a batch do not grow with its draws (tests/scoring/test_host_transfers.py).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray

from harness.errors import ConfigError, DegenerateInputError
from harness.threads import single_threaded
from harness.scoring.metrics import (
    RANK_RTOL,
    SpaceBasis,
    SvccaResult,
    _check_keep,
    check_paired,
    check_svcca_k,
    svcca_result,
    svcca_from_bases,
    svd_basis,
)
from harness.scoring.nulls import PermutationResult, SizeMatchedResult, p_value, size_matched_result
from harness.vocab import PValueRule as PRule

Float64 = NDArray[np.float64]
Int64 = NDArray[np.int64]
Method = Literal["auto", "gram", "svd"]
Route = Literal["auto", "svd"]

#: Smallest Gram eigenvalue (sigma^2) for which sigma = sqrt(eigvalsh) is trusted to 1e-10.
GRAM_MIN_EIG = 1e-6

#: Default number of gathered entries per batched step (fp64: 128 MB).
MAX_ELEMENTS = 1 << 24


def permutations(n: int, n_permutations: int, seed: int) -> Int64:
    """(n_permutations, n) permutations, the same as the numpy reference ``_permutations`` (tests/scoring/reference_nulls.py)."""
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


class DeviceBasis(NamedTuple):
    """:class:`harness.scoring.metrics.SpaceBasis` with ``u`` (n, k) kept on the device."""

    u: torch.Tensor
    k: int
    rank: int
    variance_kept: float


def svd_basis_device(x: torch.Tensor, *, keep: float | int, max_k: int | None = None) -> DeviceBasis:
    """:func:`harness.scoring.metrics.svd_basis` with the SVD on ``x.device``: centre (n, d) fp64 rows,
    SVD, keep k directions by the same rule; ``u`` (n, k) stays on the device (the spectrum, (d,),
    comes to the host once for k)."""
    centred = x - x.mean(dim=0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    k, rank = _k_of(s, keep=keep, max_k=max_k)
    if rank == 0:
        raise DegenerateInputError("A side is constant across features (zero variance); SVCCA is undefined.")
    var = s[:rank].double() ** 2
    return DeviceBasis(u=u[:, :k], k=k, rank=rank, variance_kept=float(var[:k].sum() / var.sum()))


def svcca_from_device_bases(basis_a: DeviceBasis, basis_b: DeviceBasis, n: int) -> SvccaResult:
    """:func:`harness.scoring.metrics.svcca_from_bases` on the device: the canonical correlations are
    the singular values of U_a^T U_b (k_a, k_b), one GEMM and ``svdvals`` where the bases are; only
    the min(k_a, k_b) values come to the host. Equal to the numpy route to rounding (~1e-15)."""
    check_svcca_k(basis_a.k, basis_b.k, n)
    cc = torch.clamp(torch.linalg.svdvals(basis_a.u.T @ basis_b.u), 0.0, 1.0).cpu().numpy()
    return svcca_result(cc, basis_a, basis_b, n)


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


def _observed(
    a: object, b: object, *, keep: float | int, max_k: int | None, device: str | torch.device, basis_on_device: bool
) -> tuple[int, SpaceBasis | DeviceBasis, SpaceBasis | DeviceBasis, SvccaResult]:
    """(n, basis_a, basis_b, observed SVCCA) of paired rows a (n, d_a), b (n, d_b): the bases on
    ``device`` (``basis_on_device``: the observed canonical correlations there too) or from the
    numpy SVD, as :func:`svcca_null_device` uses them."""
    _check_keep(keep)
    a64, b64 = check_paired(a, b)
    n = a64.shape[0]
    if basis_on_device:
        dev = torch.device(device)
        dev_a = svd_basis_device(torch.as_tensor(a64, device=dev), keep=keep, max_k=max_k)
        dev_b = svd_basis_device(torch.as_tensor(b64, device=dev), keep=keep, max_k=max_k)
        return n, dev_a, dev_b, svcca_from_device_bases(dev_a, dev_b, n)  # raises for k >= n - 1
    basis_a = svd_basis(a64, keep=keep, max_k=max_k)
    basis_b = svd_basis(b64, keep=keep, max_k=max_k)
    return n, basis_a, basis_b, svcca_from_bases(basis_a, basis_b, n)  # raises for k >= n - 1, as today


def svcca_observed_device(
    a: object,
    b: object,
    *,
    keep: float | int = 0.99,
    max_k: int | None = None,
    device: str | torch.device = "cpu",
    basis_on_device: bool = False,
) -> SvccaResult:
    """The observed SVCCA of :func:`svcca_null_device` without its null (the same bases, the same
    number): for a pair set whose score is read but whose null no rule or report reads."""
    return _observed(a, b, keep=keep, max_k=max_k, device=device, basis_on_device=basis_on_device)[3]


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
        n_permutations, seed: draws as the numpy reference ``svcca_null`` (tests/scoring/reference_nulls.py); or ``perms``
            (N, n) explicit permutations.
        keep, max_k: as :func:`harness.scoring.metrics.svcca`.
        basis_on_device: False = the bases from :func:`harness.scoring.metrics.svd_basis` (numpy, the
            observed score identical to today's); True = SVD and the observed canonical correlations
            on ``device`` (same k rule, the observed score equal to ~1e-13; at paper scale the host
            SVD of (26k, 768) takes seconds per side, and the bases never leave the device).
        method: canonical correlations of each draw (module docstring).
        max_elements: gathered entries (draws x n x k_b) per batch.

    Returns (observed, null (N,), details) like the numpy reference ``svcca_null`` (tests/scoring/reference_nulls.py).
    """
    n, basis_a, basis_b, observed = _observed(
        a, b, keep=keep, max_k=max_k, device=device, basis_on_device=basis_on_device
    )
    dev = torch.device(device)
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
    details: dict[str, object] = {
        "k_a": observed.k_a,
        "k_b": observed.k_b,
        "n": n,
        "variance_kept_a": observed.variance_kept_a,
        "variance_kept_b": observed.variance_kept_b,
    }
    return observed.score, null.cpu().numpy().astype(np.float64), details


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
    on ``device``; returns (observed, null (N,), details) like the numpy reference ``rsa_null`` (tests/scoring/reference_nulls.py).
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
    """the numpy reference ``permutation_test`` (tests/scoring/reference_nulls.py) with the nulls computed on ``device`` (same
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


# ----------------------------------------------------------------------------- subset draws (size-matched, placebo, Test 2)


def size_matched_draws(n: int, n_superset: int, n_draws: int, seed: int) -> Int64:
    """(n_draws, n) sorted random subsets, the same as the numpy reference ``size_matched_test`` (tests/scoring/reference_nulls.py)."""
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


#: Gram route of the subset bases (:func:`subset_bases`, :func:`gram_route_ok`): first-order error
#: bounds of a draw's kept basis, with a backward error u ||G|| of the eigensolve: the loss of
#: orthogonality of ``xc V_k``, ``u lambda_0 / lambda_{k-1}``, must be at most this; so must the angle
#: between the computed and the exact kept subspace (Davis-Kahan), ``u lambda_0 / (lambda_{k-1} -
#: lambda_k)`` -- or else be at most :data:`GRAM_SVD_RATIO` times the SVD's own bound for that angle
#: (a kept subspace split from the rest by a tiny gap is as ill-determined for the reference SVD).
#: A score (mean of the singular values of U_a^T U_b, each 1-Lipschitz in U) moves by at most the sum
#: of both sides' bounds: 1e-11 absolute is 1e-10 relative for scores >= 0.1.
GRAM_MAX_ERROR = 1e-11

#: The Gram's subspace bound over the SVD's, u lambda_0 / gap over u s_0 / (s_{k-1} - s_k), is
#: s_0 / (s_{k-1} + s_k); where the angle bound exceeds :data:`GRAM_MAX_ERROR`, the Gram route is
#: accepted if this is at most 32 (the previous torch-SVD route was accepted against numpy's SVD on
#: the same footing: both are bounded only by u s_0 / gap there). Measured on paired rows of 262-1,000
#: subsets (d = 64-512, k up to 250; 10-20 draws each, tests/scoring/test_device_nulls.py): the
#: ratio was 4.7-19, the angle bound 1e-12-2e-11, and the scores equal the numpy SVD's to <= 1e-14
#: relative.
GRAM_SVD_RATIO = 32.0

#: Unit roundoff of float64 (2^-53), the scale of the Gram's eigenvalue and eigenvector errors.
GRAM_UNIT = 2.0**-53

#: The Gram route also needs every eigenvalue >= this x the largest: far above the Gram's eigenvalue
#: noise (~d u lambda_0 <= 1e-13 lambda_0 at d = 768), so the rank is certainly d (numerically zero
#: directions, s <= RANK_RTOL s_0, i.e. lambda <= 1e-20 lambda_0, are invisible in a Gram).
GRAM_RANK_FLOOR = 1e-12

#: ... and no cumulative variance fraction within this of the threshold ``keep - 1e-12``: the
#: Gram's eigenvalues differ from the SVD's s^2 by ~d u lambda_0, which could move k there.
GRAM_K_MARGIN = 1e-10


class SubsetKs(NamedTuple):
    """k per draw of one side, chosen exactly as :func:`harness.scoring.metrics.svd_basis`."""

    k: Int64
    """(B,) directions kept (0: a constant side)."""
    rank: Int64
    """(B,) numerical rank (s > RANK_RTOL s_0)."""
    near: NDArray[np.bool_]
    """(B,) a cumulative variance fraction lies within :data:`GRAM_K_MARGIN` of the threshold."""


MaxKs = int | None | Int64
"""A cap on k: one for every draw (int, None = no cap) or one per draw ((B,) ints)."""


def _cap(max_k: MaxKs) -> Int64 | int | None:
    if max_k is None:
        return None
    if isinstance(max_k, (int, np.integer)):
        return max(1, int(max_k))
    return np.maximum(1, np.asarray(max_k, dtype=np.int64))


def ks_of_spectra(var: Float64, *, keep: float | int, max_k: MaxKs) -> SubsetKs:
    """k per row of ``var`` (B, r): descending variances s^2 (SVD) or Gram eigenvalues, by the rule of
    :func:`harness.scoring.metrics.svd_basis` (rank: s > RANK_RTOL s_0; smallest k whose cumulative
    fraction of the variance within the rank reaches ``keep`` - 1e-12; capped by ``max_k`` and the
    rank; ``max_k`` one cap or one per row). Host numpy, vectorised over rows."""
    var = np.clip(np.asarray(var, dtype=np.float64), 0.0, None)
    b, r = var.shape
    top = var[:, 0] if r else np.zeros(b)
    # s > RANK_RTOL s_0  <=>  s^2 > RANK_RTOL^2 s_0^2 (both sides non-negative)
    within = var > (RANK_RTOL**2) * top[:, None]
    rank = np.where(top > 0, within.sum(axis=1), 0).astype(np.int64)
    near = np.zeros(b, dtype=bool)
    if isinstance(keep, (int, np.integer)) and not isinstance(keep, bool):
        k = np.full(b, int(keep), dtype=np.int64)
    else:
        v = np.where(within, var, 0.0)
        total = v.sum(axis=1)
        frac = np.cumsum(v, axis=1) / np.where(total > 0, total, 1.0)[:, None]
        thr = float(keep) - 1e-12
        below = (frac < thr) & within  # searchsorted(frac[:rank], thr, side="left") counts these
        k = below.sum(axis=1).astype(np.int64) + 1
        near = np.any(np.abs(frac - thr) < GRAM_K_MARGIN, axis=1)
    cap = _cap(max_k)
    if cap is not None:
        k = np.minimum(k, cap)
    return SubsetKs(k=np.minimum(k, rank), rank=rank, near=near)


class SubsetBases(NamedTuple):
    """Orthonormal SVCCA bases of B centred row subsets of one side (:func:`subset_bases`)."""

    u: torch.Tensor
    """(B, n, K) fp64: the first k[t] columns of u[t] span draw t's kept directions (K = max k)."""
    k: Int64
    """(B,) directions kept per draw (0: a constant side)."""
    gram: NDArray[np.bool_]
    """(B,) draws whose basis came from the Gram + eigh route (else an SVD)."""


def gram_route_ok(lam: Float64, ks: SubsetKs, *, n: int | Int64, d: int) -> NDArray[np.bool_]:
    """(B,) whether the Gram + eigh basis of each draw is trusted to the SVD's to ~1e-11.

    ``lam``: (B, d) descending Gram eigenvalues; ``n``: rows of each subset (one, or (B,)). The
    criterion (each must hold):
    - ``n > d`` (else the SVD of the (n, d) subset is no larger than the Gram);
    - every eigenvalue >= :data:`GRAM_RANK_FLOOR` x the largest (the rank is certainly d; the Gram
      cannot resolve singular values below ~sqrt(d u) s_0);
    - no cumulative variance fraction within :data:`GRAM_K_MARGIN` of the k threshold;
    - the error bounds of :data:`GRAM_MAX_ERROR` (with :data:`GRAM_SVD_RATIO`) hold for the kept k.
    """
    b = lam.shape[0]
    tall = np.broadcast_to(np.asarray(n) > d, (b,))
    if not tall.any() or d == 0:
        return np.zeros(b, dtype=bool)
    lam = np.asarray(lam, dtype=np.float64)
    top = lam[:, 0]
    ok = tall & (top > 0) & (lam[:, -1] >= GRAM_RANK_FLOOR * top) & ~ks.near & (ks.k >= 1)
    k = np.clip(ks.k, 1, d)
    rows = np.arange(b)
    last = lam[rows, k - 1]
    after = np.where(k < d, lam[rows, np.minimum(k, d - 1)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        orthogonality = GRAM_UNIT * top / last
        angle = GRAM_UNIT * top / (last - after)
        vs_svd = np.sqrt(top) / (np.sqrt(last) + np.sqrt(np.clip(after, 0.0, None)))
    angle_ok = (angle <= GRAM_MAX_ERROR) | (vs_svd <= GRAM_SVD_RATIO)
    return ok & (orthogonality <= GRAM_MAX_ERROR) & np.isfinite(angle) & angle_ok


def subset_bases(
    xc: torch.Tensor, *, keep: float | int, max_k: MaxKs, route: Route = "auto", n_rows: Int64 | None = None
) -> SubsetBases:
    """SVCCA bases of B centred subsets ``xc`` (B, n, d) fp64, k chosen as
    :func:`harness.scoring.metrics.svd_basis`; ``n_rows`` (B,): rows of each subset when they differ
    (the rows past a subset's count are zero: they change neither its Gram nor its SVD's nonzero part).

    ``route="auto"``: where n > d, one batched Gram ``xc^T xc`` (B, d, d) and a batched ``eigh``;
    the basis is ``xc V_k`` with unit columns (one batched GEMM; ``||xc v_i|| = sqrt(lambda_i)``) for
    the draws that pass :func:`gram_route_ok`, a batched SVD of the others. ``"svd"``: the SVD for
    every draw (the reference route). One host transfer per call and route (the (B, d) spectrum, for
    k), none per draw.
    """
    b, n, d = xc.shape
    rows_of = np.full(b, n, dtype=np.int64) if n_rows is None else np.asarray(n_rows, dtype=np.int64)
    gram = np.zeros(b, dtype=bool)
    if route == "auto" and bool((rows_of > d).any()):
        lam_t, v = torch.linalg.eigh(xc.transpose(1, 2) @ xc)
        lam_t, v = lam_t.flip(-1), v.flip(-1)  # descending
        lam = lam_t.cpu().numpy()
        ks = ks_of_spectra(lam, keep=keep, max_k=max_k)
        gram = gram_route_ok(lam, ks, n=rows_of, d=d)
        k = ks.k.copy()
    else:
        k = np.zeros(b, dtype=np.int64)
    kmax = max(1, int(k.max()) if b else 1)
    svd_rows = np.flatnonzero(~gram)
    u_svd = None
    if svd_rows.size:
        sel = torch.as_tensor(svd_rows, device=xc.device)
        u_s, s_s, _ = torch.linalg.svd(xc[sel], full_matrices=False)
        cap = max_k if max_k is None or isinstance(max_k, (int, np.integer)) else np.asarray(max_k)[svd_rows]
        ks_s = ks_of_spectra((s_s * s_s).cpu().numpy(), keep=keep, max_k=cap)
        k[svd_rows] = ks_s.k
        kmax = max(1, int(k.max()))
        u_svd = u_s
    u = torch.zeros(b, n, kmax, dtype=xc.dtype, device=xc.device)
    if u_svd is not None:
        width = min(kmax, u_svd.shape[2])
        u[torch.as_tensor(svd_rows, device=xc.device), :, :width] = u_svd[:, :, :width]
    if gram.any():
        g_rows = torch.as_tensor(np.flatnonzero(gram), device=xc.device)
        width = min(kmax, d)
        cols = xc[g_rows] @ v[g_rows, :, :width]  # (G, n, K): xc v_i, norm sqrt(lambda_i)
        norms = torch.linalg.vector_norm(cols, dim=1, keepdim=True)
        u[g_rows, :, :width] = cols / torch.where(norms > 0, norms, 1.0)
    return SubsetBases(u=u, k=k, gram=gram)


def mean_canonical_correlations(
    ua: torch.Tensor, ka: Int64, ub: torch.Tensor, kb: Int64, *, method: Method = "auto"
) -> torch.Tensor:
    """(B,) mean canonical correlation of the first ``ka[t]`` columns of ``ua[t]`` (n, K_a) and the
    first ``kb[t]`` of ``ub[t]`` (n, K_b), every draw in one batched GEMM whatever its k.

    Columns past a draw's k are zeroed, so M_t = U_a^T U_b (K_a, K_b) holds the draw's
    (k_a, k_b) block and zeros: its nonzero singular values are the block's. The top
    r = min(k_a, k_b) of them are taken as :func:`canonical_correlations_batched` takes them
    (k = 1: the norm; else sqrt of the small Gram's eigenvalues, ``svdvals`` for a draw whose r-th
    eigenvalue is below :data:`GRAM_MIN_EIG`), clipped to [0, 1], and averaged.
    """
    if method not in ("auto", "gram", "svd"):
        raise ConfigError(f"method={method!r}: use 'auto', 'gram' or 'svd'.")
    dev = ua.device
    ka_t = torch.as_tensor(ka, device=dev)
    kb_t = torch.as_tensor(kb, device=dev)
    big_a, big_b = int(np.max(ka)), int(np.max(kb))
    ma = (torch.arange(big_a, device=dev)[None, :] < ka_t[:, None]).to(ua.dtype)
    mb = (torch.arange(big_b, device=dev)[None, :] < kb_t[:, None]).to(ub.dtype)
    m = (ua[:, :, :big_a] * ma[:, None, :]).transpose(1, 2) @ (ub[:, :, :big_b] * mb[:, None, :])
    r = torch.minimum(ka_t, kb_t)
    b = m.shape[0]
    if min(big_a, big_b) == 1:  # every draw keeps one direction on a side: the norm, exact
        return torch.clamp(torch.linalg.vector_norm(m.reshape(b, -1), dim=1), 0.0, 1.0)
    if method == "svd":
        s = torch.linalg.svdvals(m)
    else:
        g = m.transpose(1, 2) @ m if big_b <= big_a else m @ m.transpose(1, 2)
        lam = torch.linalg.eigvalsh(g).flip(-1)  # descending
        s = torch.sqrt(torch.clamp(lam, min=0.0))
        if method == "auto":
            bad = lam.gather(1, (r - 1)[:, None]).squeeze(1) < GRAM_MIN_EIG
            if bool(bad.any()):
                s[bad] = torch.linalg.svdvals(m[bad])
    keep_r = torch.arange(s.shape[1], device=dev)[None, :] < r[:, None]
    return (torch.clamp(s, 0.0, 1.0) * keep_r).sum(dim=1) / r.to(s.dtype)


class SubsetScores(NamedTuple):
    """What :func:`svcca_subsets_detailed` computed for each draw."""

    scores: Float64
    """(n_draws,) SVCCA; NaN where :func:`harness.scoring.metrics.svcca` would raise."""
    k_a: Int64
    """(n_draws,) directions kept on side a (0: constant)."""
    k_b: Int64
    gram_a: NDArray[np.bool_]
    """(n_draws,) side a's basis came from the Gram + eigh route (else an SVD)."""
    gram_b: NDArray[np.bool_]


@single_threaded
def svcca_subsets_detailed(
    a: object,
    b: object,
    idx: object,
    *,
    keep: float | int,
    max_k: MaxKs,
    device: str | torch.device = "cpu",
    method: Method = "auto",
    route: Route = "auto",
    max_elements: int = MAX_ELEMENTS,
    lengths: object | None = None,
    same_a: object | None = None,
) -> SubsetScores:
    """SVCCA of the row subsets ``a[idx[t]]``, ``b[idx[t]]`` for each draw t, batched on ``device``.

    Args:
        a: (n_superset, d_a), b: (n_superset, d_b) paired rows; idx: (n_draws, n) row indices.
        max_k: cap on k, one for all draws or (n_draws,) one per draw.
        lengths: (n_draws,) rows of each subset when they differ (draw t uses ``idx[t, :lengths[t]]``;
            the rest of its row is ignored); None = every draw has n rows.
        route: the bases (:func:`subset_bases`): ``"auto"`` = Gram + eigh where it is exact, SVD
            elsewhere; ``"svd"`` = an SVD of every subset (the previous route).
        method: canonical correlations (:func:`mean_canonical_correlations`).
        max_elements: gathered entries (draws x n x max(d_a, d_b)) per batch.
        same_a: (n_draws,) integer group labels: draws with the same label have the same side-a rows (the
            same values in the same order, and the same length and cap), so side a's basis is computed
            once per label and reused (e.g. random partners or placebo partners of one set of A
            features); None = every draw's own. The numbers are those of the per-draw computation.

    Per batch of B draws: one gather per side, a batched Gram GEMM + ``eigh`` (or SVD), one
    batched GEMM for the bases, one for M = U_a^T U_b, one batched ``eigvalsh``; the k of each draw
    on the host from one (B, d) spectrum transfer per side; no per-draw host transfer or loop.
    """
    _check_keep(keep)
    if route not in ("auto", "svd"):
        raise ConfigError(f"route={route!r}: use 'auto' or 'svd'.")
    a64, b64 = check_paired(a, b)
    ix = np.asarray(idx, dtype=np.int64)
    if ix.ndim != 2:
        raise ConfigError(f"idx must be (n_draws, n); got shape {ix.shape}.")
    n_draws, n = ix.shape
    ln = np.full(n_draws, n, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
    if ln.shape != (n_draws,) or (ln.size and (ln.min() < 0 or ln.max() > n)):
        raise ConfigError(f"lengths must be (n_draws,) = ({n_draws},) counts in 0..{n}; got {ln}.")
    caps = None if max_k is None or isinstance(max_k, (int, np.integer)) else np.asarray(max_k, dtype=np.int64)
    if caps is not None and caps.shape != (n_draws,):
        raise ConfigError(f"max_k per draw must have shape ({n_draws},); got {caps.shape}.")
    ragged = lengths is not None and bool((ln < n).any())
    dev = torch.device(device)
    ta, tb = torch.as_tensor(a64, device=dev), torch.as_tensor(b64, device=dev)
    ti = torch.as_tensor(np.where(np.arange(n)[None, :] < ln[:, None], ix, 0), device=dev)
    t_ln = torch.as_tensor(ln, device=dev)
    scores = torch.full((n_draws,), math.nan, dtype=torch.float64, device=dev)
    k_a = np.zeros(n_draws, dtype=np.int64)
    k_b = np.zeros(n_draws, dtype=np.int64)
    gram_a = np.zeros(n_draws, dtype=bool)
    gram_b = np.zeros(n_draws, dtype=bool)
    groups = None if same_a is None else np.asarray(same_a, dtype=np.int64)
    if groups is not None and groups.shape != (n_draws,):
        raise ConfigError(f"same_a must have shape ({n_draws},); got {groups.shape}.")
    shared: dict[int, SubsetBases] = {}  # label -> side a's basis of its first draw (1 draw)

    def bases_of(t: torch.Tensor, rows: NDArray[np.int64]) -> SubsetBases:
        """Bases of draws ``rows`` (ascending) of side ``t``."""
        sel = torch.as_tensor(rows, device=dev)
        x = t[ti[sel]]  # (B, n, d)
        if ragged:  # rows past a draw's count are zero after centring over its own rows
            live = (torch.arange(n, device=dev)[None, :] < t_ln[sel, None]).to(x.dtype)[:, :, None]
            mean = (x * live).sum(dim=1, keepdim=True) / torch.clamp(t_ln[sel], min=1)[:, None, None]
            xc = (x - mean) * live
        else:
            xc = x - x.mean(dim=1, keepdim=True)
        cap = max_k if caps is None else caps[rows]
        return subset_bases(xc, keep=keep, max_k=cap, route=route, n_rows=ln[rows] if ragged else None)

    def side_a(rows: NDArray[np.int64]) -> SubsetBases:
        """Side a's bases of draws ``rows``, one computation per ``same_a`` label (loops run per
        label, not per draw)."""
        if groups is None:
            return bases_of(ta, rows)
        uniq, first, take = np.unique(groups[rows], return_index=True, return_inverse=True)
        new = [
            (int(lab), int(rows[f])) for lab, f in zip(uniq.tolist(), first.tolist(), strict=True) if lab not in shared
        ]
        if new:
            got = bases_of(ta, np.asarray(sorted(r for _, r in new), dtype=np.int64))
            order = {r: j for j, r in enumerate(sorted(r for _, r in new))}
            for lab, r in new:
                j = order[r]
                shared[lab] = SubsetBases(u=got.u[j : j + 1], k=got.k[j : j + 1], gram=got.gram[j : j + 1])
        parts = [shared[int(lab)] for lab in uniq.tolist()]
        kmax = max(int(p.u.shape[2]) for p in parts)
        stack = torch.zeros(len(parts), n, kmax, dtype=ta.dtype, device=dev)
        for j, p in enumerate(parts):
            stack[j, :, : p.u.shape[2]] = p.u[0]
        k_of = np.concatenate([p.k for p in parts])
        g_of = np.concatenate([p.gram for p in parts])
        return SubsetBases(u=stack[torch.as_tensor(take, device=dev)], k=k_of[take], gram=g_of[take])

    batch = max(1, int(max_elements) // (n * max(a64.shape[1], b64.shape[1])))
    for s0 in range(0, n_draws, batch):
        s1 = min(s0 + batch, n_draws)
        rows = np.arange(s0, s1, dtype=np.int64)
        ba, bb = side_a(rows), bases_of(tb, rows)
        k_a[s0:s1], k_b[s0:s1], gram_a[s0:s1], gram_b[s0:s1] = ba.k, bb.k, ba.gram, bb.gram
        # constant side / k >= n - 1 (trivially perfect) / fewer than 3 rows: NaN, as svcca raises there
        m = ln[s0:s1]
        ok = np.flatnonzero((ba.k > 0) & (bb.k > 0) & (ba.k < m - 1) & (bb.k < m - 1) & (m >= 3))
        if ok.size:
            sel = torch.as_tensor(ok, device=dev)
            scores[s0 + sel] = mean_canonical_correlations(ba.u[sel], ba.k[ok], bb.u[sel], bb.k[ok], method=method)
    return SubsetScores(scores=scores.cpu().numpy(), k_a=k_a, k_b=k_b, gram_a=gram_a, gram_b=gram_b)


def svcca_subsets(
    a: object,
    b: object,
    idx: object,
    *,
    keep: float | int,
    max_k: MaxKs,
    device: str | torch.device = "cpu",
    method: Method = "auto",
    route: Route = "auto",
    max_elements: int = MAX_ELEMENTS,
    lengths: object | None = None,
    same_a: object | None = None,
) -> Float64:
    """(n_draws,) scores of :func:`svcca_subsets_detailed` (NaN where
    :func:`harness.scoring.metrics.svcca` would raise DegenerateInputError: k >= n - 1, or a
    constant side)."""
    return svcca_subsets_detailed(
        a,
        b,
        idx,
        keep=keep,
        max_k=max_k,
        device=device,
        method=method,
        route=route,
        max_elements=max_elements,
        lengths=lengths,
        same_a=same_a,
    ).scores


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
    observed_idx: Int64 | None = None,
) -> SizeMatchedResult:
    """the numpy reference ``size_matched_test`` (tests/scoring/reference_nulls.py) with SVCCA as ``score_rows``, draws batched on
    ``device``: ``observed`` (a score of ``n`` pairs) against the SVCCA of ``n_draws`` random
    size-``n`` subsets of the superset's paired rows (same subsets as today for ``seed``).

    Args:
        a_superset: (n_superset, d_a), b_superset: (n_superset, d_b) paired rows of the superset.
        observed_idx: the observed set's rows in the superset, if it is a subset of it: a draw of
            those rows counts as a tie (at or above ``observed``), whatever its rounding.
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
    return size_matched_result(
        observed, scores, idx, n=n, n_superset=n_superset, p_rule=p_rule, observed_idx=observed_idx
    )
