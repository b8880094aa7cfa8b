"""Similarity of paired decoder spaces: SVCCA and RSA (Lan et al. 2024, Sec. 3).

Both metrics take two matrices whose rows are *paired* features: ``a[i]`` (a feature of
model A's SAE, a decoder row of length ``d_a``) is paired with ``b[i]`` (its partner in model
B's SAE, length ``d_b``). All arithmetic is float64 on the CPU.

SVCCA (Raghu et al. 2017): the n paired features are the datapoints and the d_model
coordinates are the "neurons". Each side is centred over features, reduced by SVD to its top
k directions, then CCA between the two reduced views; the score is the mean canonical
correlation. The paper's code kept k = 1 (a threshold bug, see original-procedure.md), which
this module reproduces exactly with ``keep=1``.

RSA (Kriegeskorte et al. 2008): an n x n similarity matrix per side; the score is the
Spearman correlation of their upper triangles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from harness.errors import ConfigError, DegenerateInputError, ResourceError, ShapeError
from harness.threads import single_threaded
from harness.vocab import RsaInner, check_choice

Float64 = NDArray[np.float64]

#: Relative singular-value floor: directions with s <= RANK_RTOL * s_max are numerically zero
#: and are never kept (the role of cca_core's epsilon = 1e-10 regulariser).
RANK_RTOL = 1e-10

#: Largest n for which RSA builds the n x n similarity matrices (n^2/2 float64 per side).
#: 10,000 rows peak at ~3 GB; the rehearsal measured 2.2 GB at 7,500 and a crash at 24,339.
RSA_MAX_ROWS = 10_000


def as_float64(x: object, *, name: str) -> Float64:
    """Convert numpy / torch / array-like to a C-contiguous float64 numpy array."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch here
        x = x.detach().cpu().double().numpy()
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if not np.all(np.isfinite(arr)):
        bad = np.unique(np.nonzero(~np.isfinite(arr))[0])
        raise DegenerateInputError(
            f"{name} contains NaN or infinite values (rows {bad[:10].tolist()}"
            f"{'...' if bad.size > 10 else ''}); drop or fix those features before comparing."
        )
    return arr


def check_paired(a: object, b: object) -> tuple[Float64, Float64]:
    """Validate two paired matrices (n, d_a) and (n, d_b); return float64 copies."""
    a64 = as_float64(a, name="a")
    b64 = as_float64(b, name="b")
    if a64.ndim != 2 or b64.ndim != 2:
        raise ShapeError(f"Expected 2-D matrices (n_pairs, d_model); got shapes {a64.shape} and {b64.shape}.")
    if a64.shape[0] != b64.shape[0]:
        raise ShapeError(
            f"Rows must be paired: a has {a64.shape[0]} rows, b has {b64.shape[0]}. Pass the "
            "decoder rows of paired features in the same order (a[i] paired with b[i])."
        )
    if a64.shape[0] < 3:
        raise DegenerateInputError(f"Need at least 3 paired rows, got {a64.shape[0]}.")
    return a64, b64


@dataclass(frozen=True)
class SpaceBasis:
    """Left singular vectors of one centred side, truncated to k directions.

    ``u`` is (n, k), orthonormal columns; ``variance_kept`` is the fraction of total variance
    in those k directions; ``rank`` the numerical rank of the centred matrix.
    """

    u: Float64
    k: int
    rank: int
    variance_kept: float


DEFAULT_MAX_K: Literal["n/4"] = "n/4"
"""Default cap on SVCCA's k per side: floor(n / 4) directions (at least 1) for n paired rows,
the corrected procedure's cap (``Procedure.svcca_max_k_fraction = 0.25``). Uncapped, k grows
with the variance kept and random pairings score high (0.84 on 100 random pairs of 512-d
decoder rows at keep 0.99); pass ``max_k=None`` explicitly to lift the cap."""

MaxK = int | Literal["n/4"] | None


def resolve_max_k(max_k: MaxK, n: int) -> int | None:
    """``max_k`` as an int cap (or None: no cap) for ``n`` paired rows; ``"n/4"`` ->
    ``max(1, n // 4)``. Raises ConfigError for a cap below 1 or an unknown value."""
    if max_k is None:
        return None
    if isinstance(max_k, str):
        if max_k != "n/4":
            raise ConfigError(f"max_k={max_k!r}: use a positive int, 'n/4' (the default) or None (no cap).")
        return max(1, int(n) // 4)
    if isinstance(max_k, bool) or not isinstance(max_k, (int, np.integer)) or int(max_k) < 1:
        raise ConfigError(
            f"max_k={max_k!r}: SVCCA keeps at least one direction; use a positive int, 'n/4' "
            "(the default) or None (no cap)."
        )
    return int(max_k)


def svd_basis(x: Float64, *, keep: float | int, max_k: MaxK = DEFAULT_MAX_K) -> SpaceBasis:
    """Centre x (n, d) over rows, SVD, keep k directions (see :func:`svcca` for ``keep`` and
    ``max_k``)."""
    cap = resolve_max_k(max_k, x.shape[0])
    centred = x - x.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    if s.size == 0 or s[0] <= 0:
        raise DegenerateInputError("A side is constant across features (zero variance); SVCCA is undefined.")
    rank = int(np.sum(s > RANK_RTOL * s[0]))
    var = s[:rank] ** 2
    if isinstance(keep, (int, np.integer)) and not isinstance(keep, bool):
        k = int(keep)
    else:
        # smallest k whose cumulative variance *fraction* reaches keep (Raghu et al. 2017)
        frac = np.cumsum(var) / var.sum()
        k = int(np.searchsorted(frac, float(keep) - 1e-12) + 1)
    if cap is not None:
        k = min(k, cap)
    k = min(k, rank)
    return SpaceBasis(u=u[:, :k], k=k, rank=rank, variance_kept=float(var[:k].sum() / var.sum()))


def canonical_correlations(u_a: Float64, u_b: Float64) -> Float64:
    """Canonical correlations of two views given orthonormal bases (n, k_a), (n, k_b).

    For centred data with orthonormal column bases, the canonical correlations are the
    singular values of ``u_a.T @ u_b`` (Bjorck & Golub 1973); min(k_a, k_b) of them.
    """
    s = np.linalg.svd(u_a.T @ u_b, compute_uv=False)
    return np.clip(s, 0.0, 1.0)


@dataclass(frozen=True)
class SvccaResult:
    """SVCCA score and what it was computed from."""

    score: float
    """Mean canonical correlation over the min(k_a, k_b) pairs of canonical directions."""
    k_a: int
    """SVD directions kept for a."""
    k_b: int
    """SVD directions kept for b."""
    n: int
    """Number of paired rows."""
    canonical_correlations: Float64
    """All min(k_a, k_b) canonical correlations, descending."""
    variance_kept_a: float
    variance_kept_b: float


def _check_keep(keep: float | int) -> None:
    if isinstance(keep, bool) or not isinstance(keep, (int, float, np.integer, np.floating)):
        raise ConfigError(f"keep={keep!r}: use a variance fraction in (0, 1] or a positive int.")
    if isinstance(keep, (int, np.integer)) and keep < 1:
        raise ConfigError(f"keep={keep}: the number of directions must be >= 1.")
    if isinstance(keep, (float, np.floating)) and not 0.0 < keep <= 1.0:
        raise ConfigError(f"keep={keep}: a variance fraction must lie in (0, 1].")


def check_svcca_k(k_a: int, k_b: int, n: int) -> None:
    """Raise DegenerateInputError when a side keeps k >= n - 1 directions for n paired rows."""
    for side, k in (("a", k_a), ("b", k_b)):
        if k >= n - 1:
            raise DegenerateInputError(
                f"SVCCA would keep k_{side}={k} directions for n={n} paired rows; with "
                f"k >= n - 1 (centred data spans at most n - 1 dimensions) the canonical "
                "correlations are trivially 1. Use fewer directions (smaller keep or max_k) or "
                "more pairs."
            )


def svcca_result(cc: Float64, basis_a: Any, basis_b: Any, n: int) -> SvccaResult:
    """The :class:`SvccaResult` of canonical correlations ``cc`` (descending, in [0, 1]) of two bases
    (:class:`SpaceBasis` or a device basis with the same fields)."""
    return SvccaResult(
        score=float(cc.mean()),
        k_a=basis_a.k,
        k_b=basis_b.k,
        n=n,
        canonical_correlations=cc,
        variance_kept_a=basis_a.variance_kept,
        variance_kept_b=basis_b.variance_kept,
    )


def svcca_from_bases(basis_a: SpaceBasis, basis_b: SpaceBasis, n: int) -> SvccaResult:
    """SVCCA given precomputed bases (used by the permutation fast path)."""
    check_svcca_k(basis_a.k, basis_b.k, n)
    return svcca_result(canonical_correlations(basis_a.u, basis_b.u), basis_a, basis_b, n)


@single_threaded
def svcca(a: object, b: object, *, keep: float | int = 0.99, max_k: MaxK = DEFAULT_MAX_K) -> SvccaResult:
    """Singular-vector CCA between paired rows (Lan et al. Sec. 3; Raghu et al. 2017).

    Args:
        a: (n, d_a) paired decoder rows of model A (numpy array or torch tensor).
        b: (n, d_b) paired decoder rows of model B, ``b[i]`` paired with ``a[i]``.
        keep: float in (0, 1] = variance fraction (smallest k whose cumulative fraction
            reaches it, separately per side); int = that many directions. ``keep=1`` (int)
            is what the paper's code computed: |corr| of the first principal-component scores.
        max_k: cap on k per side. Default ``"n/4"``: floor(n / 4), at least 1, as the
            corrected procedure (:data:`DEFAULT_MAX_K`: without a cap random pairings score
            high). A positive int caps at that; ``None`` lifts the cap (the paper's code had
            none, but kept k = 1). 0, negatives and other values raise ConfigError.

    Raises DegenerateInputError when k >= n - 1 (trivially perfect correlation).
    """
    _check_keep(keep)
    a64, b64 = check_paired(a, b)
    n = a64.shape[0]
    return svcca_from_bases(svd_basis(a64, keep=keep, max_k=max_k), svd_basis(b64, keep=keep, max_k=max_k), n)


def similarity_upper(x: Float64, *, inner: RsaInner) -> Float64:
    """Condensed (upper-triangle, row-major, k=1) representational similarity of x (n, d).

    ``correlation``: Pearson correlation between rows (each row centred by its own mean),
    as the paper's code did. ``euclidean``: *negative* Euclidean distance, so that larger
    always means more similar (Spearman is unaffected by the sign convention when both sides
    use the same one). Length n (n - 1) / 2. Duplicated rows tie exactly (their similarity is
    computed once, from the unique rows; a duplicate pair gets exactly 1 / distance 0).
    """
    n = x.shape[0]
    iu = np.triu_indices(n, k=1)
    uniq, inv = np.unique(x, axis=0, return_inverse=True)
    if uniq.shape[0] < n and inner in ("correlation", "euclidean"):
        # Duplicated rows (many-to-1 sets): compute over the unique rows, self-similarity exact
        # (1 / distance 0), exactly symmetric, so duplicates tie exactly (as device_nulls does).
        s = np.zeros((uniq.shape[0], uniq.shape[0]))
        s[np.triu_indices(uniq.shape[0], k=1)] = similarity_upper(uniq, inner=inner)
        s += s.T
        np.fill_diagonal(s, 1.0 if inner == "correlation" else 0.0)
        inv = inv.reshape(-1)
        return s[inv[iu[0]], inv[iu[1]]]
    if inner == "correlation":
        centred = x - x.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(centred, axis=1)
        if np.any(norms == 0):
            raise DegenerateInputError(
                f"{int(np.sum(norms == 0))} rows are constant; their correlation is undefined. "
                "Use inner='euclidean' or drop those features."
            )
        unit = centred / norms[:, None]
        return (unit @ unit.T)[iu]
    if inner == "euclidean":
        sq = np.einsum("ij,ij->i", x, x)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
        return -np.sqrt(np.maximum(d2[iu], 0.0))
    check_choice("inner", inner, RsaInner)
    raise AssertionError(f"similarity_upper has no branch for inner {inner!r}")  # every vocabulary value has one


def centred_ranks(v: Float64) -> Float64:
    """Average ranks of v, centred and scaled to unit norm (so a dot product is Spearman)."""
    from scipy.stats import rankdata

    r = rankdata(v).astype(np.float64)
    r -= r.mean()
    norm = np.linalg.norm(r)
    if norm == 0:
        raise DegenerateInputError("All pairwise similarities are equal; Spearman is undefined.")
    return r / norm


@single_threaded
def rsa(
    a: object,
    b: object,
    *,
    inner: RsaInner = "correlation",
    outer: Literal["spearman"] = "spearman",
) -> float:
    """Representational similarity analysis between paired rows (Lan et al. Sec. 3).

    Args:
        a: (n, d_a) paired decoder rows of model A.
        b: (n, d_b) paired decoder rows of model B.
        inner: within-space similarity: ``correlation`` (the paper's code) or ``euclidean``
            (the paper's text).
        outer: ``spearman`` between the two upper triangles (the only option, as in the paper).

    Returns the Spearman correlation, a float in [-1, 1].
    """
    if outer != "spearman":
        raise ConfigError(f"outer={outer!r}: only 'spearman' is supported (as in the paper).")
    a64, b64 = check_paired(a, b)
    check_rsa_size(a64.shape[0])
    ra = centred_ranks(similarity_upper(a64, inner=inner))
    rb = centred_ranks(similarity_upper(b64, inner=inner))
    return float(np.dot(ra, rb))


def check_rsa_size(n: int) -> None:
    """Refuse RSA on more rows than RSA_MAX_ROWS (clear error instead of an out-of-memory crash)."""
    if n > RSA_MAX_ROWS:
        raise ResourceError(
            f"RSA on n={n} rows needs two {n}^2/2 float64 vectors; above "
            f"RSA_MAX_ROWS={RSA_MAX_ROWS}. Filter pairs first (1-1, non-concept) or subsample."
        )
