"""SAEs that differ only in their seed, trained on one fixed activation tensor.

Paulo & Belrose 2025 train SAEs on the same data with different seeds and ask how many
latents are shared (:mod:`harness.seeds.overlap`). To isolate the seed, every SAE here sees the
*same* activation tensor; the seed sets the weight initialisation and the data order, and
nothing else is random.

Training uses sae-lens's training classes (``TopKTrainingSAE`` / ``StandardTrainingSAE``
with their configs, forward pass and losses) and its ``SAETrainer`` (Adam, gradient
clipping, dead-latent tracking for the TopK auxiliary loss). ``SAETrainer`` takes any
iterator of activation batches, so no language model or activation store is needed: we
drive it through its public ``step`` seam over batches drawn from the fixed tensor, which
also keeps its progress bar out of test logs.

Also here: :func:`match_l0` (an L1 coefficient giving a ReLU+L1 SAE the L0 of a TopK SAE,
so the abstract's "ReLU+L1 is more stable than TopK, even at matched sparsity" compares at
equal sparsity), :func:`encoder_decoder_rows` for any sae-lens SAE, and
:func:`sparse_dictionary_activations`, a known-answer activation generator.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from sae_lens import SAE, StandardTrainingSAE, StandardTrainingSAEConfig, TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.config import LoggingConfig, SAETrainerConfig
from sae_lens.saes.sae import TrainingSAE
from sae_lens.training.sae_trainer import SAETrainer
from tqdm.auto import tqdm

from harness.errors import ConfigError, DegenerateInputError, ShapeError

Architecture = Literal["topk", "relu_l1"]


@dataclass(frozen=True)
class TrainMetrics:
    """Reconstruction and sparsity of a trained SAE on its evaluation activations."""

    explained_variance: float
    """1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 (float64 accumulation)."""
    l0: float
    """Mean number of non-zero latents per token."""
    dead_fraction: float
    """Fraction of latents never active on the evaluation activations."""
    n_eval_tokens: int
    """Rows used for the metrics."""


@dataclass(frozen=True)
class TrainedSae:
    """A sae-lens training SAE (a subclass of ``sae_lens.SAE``) plus how it was trained."""

    sae: TrainingSAE[Any]
    """``TopKTrainingSAE`` or ``StandardTrainingSAE``; ``encode``/``decode`` work as usual.
    For TopK, ``rescale_acts_by_decoder_norm=True`` (sae-lens default) only rescales latents,
    so encoder/decoder row *directions* are what an inference SAE would have."""
    architecture: Architecture
    seed: int
    d_in: int
    d_sae: int
    k: int | None
    l1_coefficient: float | None
    n_steps: int
    batch_size: int
    lr: float
    metrics: TrainMetrics
    final_losses: dict[str, float] = field(default_factory=dict)
    """Loss terms of the last training step."""

    def rows(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(encoder rows, decoder rows), each (d_sae, d_in) float64."""
        return encoder_decoder_rows(self.sae)


@dataclass(frozen=True)
class L0Match:
    """Result of :func:`match_l0`."""

    l1_coefficient: float
    """The probe whose L0 came closest (relative) to the target."""
    l0: float
    """L0 reached with that coefficient."""
    target_l0: float
    within_tolerance: bool
    """|l0 - target| <= rel_tol * target."""
    trained: TrainedSae
    """The SAE trained at the chosen coefficient (same seed and options as the probes)."""
    history: tuple[tuple[float, float], ...]
    """(l1_coefficient, l0) of every probe, in order."""


@dataclass(frozen=True)
class SyntheticActivations:
    """Activations built from a known sparse dictionary (for tests and smoke runs)."""

    activations: torch.Tensor
    """(n_tokens, d_in) float32: each token a sparse non-negative mix of dictionary rows."""
    dictionary: torch.Tensor
    """(n_features, d_in) float32 unit ground-truth directions."""
    mean_active: float
    """Measured mean number of active ground-truth features per token."""


def sparse_dictionary_activations(
    n_tokens: int,
    *,
    d_in: int = 64,
    n_features: int = 512,
    mean_active: float = 4.0,
    noise: float = 0.0,
    seed: int = 0,
) -> SyntheticActivations:
    """Tokens x = sum_i c_i * g_i over a random unit dictionary g (n_features, d_in).

    Feature i fires independently with probability p_i (a mild power law, mean
    ``mean_active`` features per token); its coefficient is uniform in [0.5, 1.5].
    ``noise`` adds isotropic Gaussian noise of that standard deviation per coordinate.
    """
    if n_tokens < 1 or d_in < 1 or n_features < 1:
        raise ConfigError(f"n_tokens={n_tokens}, d_in={d_in}, n_features={n_features} must all be >= 1.")
    if not 0 < mean_active <= n_features:
        raise ConfigError(f"mean_active={mean_active} must be in (0, n_features={n_features}].")
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n_features, d_in))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    w = (np.arange(1, n_features + 1) ** -0.5)[rng.permutation(n_features)]
    p = np.minimum(w / w.sum() * mean_active, 1.0)
    out = np.empty((n_tokens, d_in), dtype=np.float32)
    active = 0
    step = max(1, (1 << 22) // n_features)
    for s in range(0, n_tokens, step):
        m = min(step, n_tokens - s)
        mask = rng.random((m, n_features)) < p
        coef = np.where(mask, rng.uniform(0.5, 1.5, size=(m, n_features)), 0.0)
        x = coef @ g
        if noise > 0:
            x += noise * rng.standard_normal(x.shape)
        out[s : s + m] = x
        active += int(mask.sum())
    return SyntheticActivations(
        activations=torch.from_numpy(out),
        dictionary=torch.from_numpy(g.astype(np.float32)),
        mean_active=active / n_tokens,
    )


def encoder_decoder_rows(sae: SAE[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(encoder rows ``W_enc.T``, decoder rows ``W_dec``), each (d_sae, d_in) float64.

    sae-lens stores ``W_enc`` as (d_in, d_sae) and ``W_dec`` as (d_sae, d_in).
    """
    w_enc, w_dec = sae.W_enc.detach(), sae.W_dec.detach()
    d_in, d_sae = int(sae.cfg.d_in), int(sae.cfg.d_sae)
    if tuple(w_enc.shape) != (d_in, d_sae) or tuple(w_dec.shape) != (d_sae, d_in):
        raise ShapeError(
            f"SAE weights have W_enc {tuple(w_enc.shape)} and W_dec {tuple(w_dec.shape)}; expected "
            f"({d_in}, {d_sae}) and ({d_sae}, {d_in}) from its config. Convert it to the sae-lens layout first."
        )
    enc = w_enc.T.to("cpu", torch.float64).numpy().copy()
    dec = w_dec.to("cpu", torch.float64).numpy().copy()
    return enc, dec


def _derived_seeds(seed: int) -> tuple[int, int]:
    """Independent (init seed, data-order seed) derived from one user seed."""
    state = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint32)
    return int(state[0]), int(state[1])


def _batches(x: torch.Tensor, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless full batches of ``x``; a fresh seeded permutation every epoch."""
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    while True:
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n - batch_size + 1, batch_size):
            yield x[perm[s : s + batch_size]]


def _check_activations(activations: object) -> torch.Tensor:
    if not isinstance(activations, torch.Tensor):
        raise ShapeError(
            f"activations must be a torch.Tensor (n_tokens, d_in); got {type(activations).__name__}. "
            "Use torch.as_tensor(array, dtype=torch.float32)."
        )
    if activations.ndim != 2:
        raise ShapeError(
            f"activations must be 2-D (n_tokens, d_in); got shape {tuple(activations.shape)}. "
            "Flatten batch and position dimensions first."
        )
    if not torch.isfinite(activations).all():
        raise DegenerateInputError("activations contain NaN/inf; drop or fix those rows before training.")
    return activations.detach().to(torch.float32)


@torch.no_grad()
def evaluate_sae(sae: SAE[Any], activations: torch.Tensor, *, batch_size: int = 4096) -> TrainMetrics:
    """Explained variance, L0 and dead fraction of ``sae`` on ``activations`` (n, d_in)."""
    x_all = _check_activations(activations)
    device = next(sae.parameters()).device
    n, d_in = x_all.shape
    mean = x_all.double().mean(dim=0)
    sse = sst = 0.0
    l0_sum = 0.0
    ever = torch.zeros(int(sae.cfg.d_sae), dtype=torch.bool)
    was_training = sae.training
    sae.eval()
    for s in range(0, n, batch_size):
        x = x_all[s : s + batch_size].to(device)
        acts = sae.encode(x)
        recon = sae.decode(acts)
        active = acts != 0
        sse += float((recon.double() - x.double()).pow(2).sum())
        sst += float((x.double() - mean.to(device)).pow(2).sum())
        l0_sum += float(active.sum())
        ever |= active.any(dim=0).cpu()
    sae.train(was_training)
    if sst <= 0:
        raise DegenerateInputError("activations are constant (zero variance); explained variance is undefined.")
    return TrainMetrics(
        explained_variance=1.0 - sse / sst,
        l0=l0_sum / n,
        dead_fraction=float((~ever).float().mean()),
        n_eval_tokens=n,
    )


def train_seed_sae(
    activations: torch.Tensor,
    *,
    architecture: Architecture,
    d_sae: int,
    seed: int,
    k: int | None = None,
    l1_coefficient: float | None = None,
    n_steps: int | None = None,
    epochs: float | None = None,
    batch_size: int = 1024,
    lr: float = 1e-3,
    device: str = "cpu",
    dead_feature_window: int = 200,
    eval_activations: torch.Tensor | None = None,
    progress: bool = False,
) -> TrainedSae:
    """Train one SAE on the fixed ``activations`` (n_tokens, d_in); only ``seed`` varies.

    Args:
        architecture: ``topk`` (needs ``k``) or ``relu_l1`` (needs ``l1_coefficient``;
            sae-lens's L1 term is ``l1 * sum_i |f_i| * ||W_dec_i||``, batch mean).
        d_sae: number of latents.
        seed: sets the weight initialisation and the data order (two seeds derived from
            it with ``numpy.random.SeedSequence``); global RNG state is left untouched.
        n_steps / epochs: training length, one of them (default: 1 epoch); batches are
            full batches of a fresh seeded permutation each epoch.
        dead_feature_window: steps without firing after which sae-lens counts a latent as
            dead (feeds the TopK auxiliary loss).
        eval_activations: rows for the returned metrics (default: the training rows).
    """
    x = _check_activations(activations)
    n_tokens, d_in = x.shape
    if isinstance(d_sae, bool) or not isinstance(d_sae, int) or d_sae < 1:
        raise ConfigError(f"d_sae={d_sae!r} must be a positive integer.")
    if not 1 <= batch_size <= n_tokens:
        raise ConfigError(f"batch_size={batch_size} must be in [1, n_tokens={n_tokens}]; use a smaller batch.")
    if not lr > 0:
        raise ConfigError(f"lr={lr!r} must be > 0.")
    if architecture == "topk":
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= int(k) <= d_sae:
            raise ConfigError(f"architecture='topk' needs k in [1, d_sae={d_sae}]; got k={k!r}.")
        if l1_coefficient is not None:
            raise ConfigError("l1_coefficient is for architecture='relu_l1'; leave it None for 'topk'.")
    elif architecture == "relu_l1":
        if l1_coefficient is None or not l1_coefficient >= 0:
            raise ConfigError(f"architecture='relu_l1' needs l1_coefficient >= 0; got {l1_coefficient!r}.")
        if k is not None:
            raise ConfigError("k is for architecture='topk'; leave it None for 'relu_l1' (use match_l0 to match L0).")
    else:
        raise ConfigError(f"architecture={architecture!r} is invalid; use 'topk' or 'relu_l1'.")
    if n_steps is not None and epochs is not None:
        raise ConfigError("Give n_steps or epochs, not both.")
    steps_per_epoch = n_tokens // batch_size
    if n_steps is None:
        n_steps = max(1, math.ceil((1.0 if epochs is None else float(epochs)) * steps_per_epoch))
    if n_steps < 1:
        raise ConfigError(f"n_steps={n_steps} must be >= 1.")

    init_seed, data_seed = _derived_seeds(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        sae: TrainingSAE[Any]
        if architecture == "topk":
            sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=int(k), device=device))  # type: ignore[arg-type]  # k is checked not None above
        else:
            sae = StandardTrainingSAE(
                StandardTrainingSAEConfig(
                    d_in=d_in,
                    d_sae=d_sae,
                    l1_coefficient=float(l1_coefficient),  # type: ignore[arg-type]  # checked not None above
                    device=device,
                )
            )
        trainer_cfg = SAETrainerConfig(
            total_training_samples=n_steps * batch_size,
            train_batch_size_samples=batch_size,
            lr=lr,
            lr_end=lr,
            device=device,
            dead_feature_window=dead_feature_window,
            feature_sampling_window=max(1, n_steps),
            logger=LoggingConfig(log_to_wandb=False),
        )
        data = _batches(x, batch_size, data_seed)
        trainer = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=data)
        sae.to(device)
        out = None
        for _ in tqdm(range(n_steps), disable=not progress, desc=f"{architecture} seed {seed}"):
            trainer.maybe_reset_sparsity()
            out = trainer.step(next(data))
            trainer.n_training_steps += 1
        trainer.set_final_sae_metadata()
    assert out is not None
    losses = {name: float(v.detach()) for name, v in out.losses.items()}
    metrics = evaluate_sae(sae, x if eval_activations is None else eval_activations)
    return TrainedSae(
        sae=sae,
        architecture=architecture,
        seed=seed,
        d_in=d_in,
        d_sae=d_sae,
        k=None if k is None else int(k),
        l1_coefficient=None if l1_coefficient is None else float(l1_coefficient),
        n_steps=n_steps,
        batch_size=batch_size,
        lr=lr,
        metrics=metrics,
        final_losses=losses,
    )


def match_l0(
    activations: torch.Tensor,
    *,
    target_l0: float,
    d_sae: int,
    seed: int,
    l1_start: float | None = None,
    max_probes: int = 10,
    rel_tol: float = 0.1,
    **train_options: Any,
) -> L0Match:
    """Find an L1 coefficient whose ReLU+L1 SAE has L0 close to ``target_l0`` (e.g. TopK's k).

    Short search in log space: from ``l1_start`` (default: 0.1 x the mean activation
    norm, sae-lens's MSE and L1 terms scale as norm^2 and norm) step by factors of 10
    until the L0 is bracketed, then bisect geometrically. L0 falls as L1 grows. Every
    probe trains a full SAE with ``train_options`` (passed to :func:`train_seed_sae`), so
    keep probes short. Returns the closest probe and the history of (l1, L0).
    """
    if not target_l0 > 0:
        raise ConfigError(f"target_l0={target_l0!r} must be > 0 (e.g. the TopK k).")
    if max_probes < 1 or not rel_tol > 0:
        raise ConfigError(f"max_probes={max_probes} must be >= 1 and rel_tol={rel_tol} > 0.")
    for bad in ("architecture", "l1_coefficient", "k"):
        if bad in train_options:
            raise ConfigError(f"match_l0 sets {bad!r} itself; drop it from the options.")
    x = _check_activations(activations)
    if l1_start is None:
        l1_start = 0.1 * float(x.norm(dim=1).mean())
    if not l1_start > 0:
        raise ConfigError(f"l1_start={l1_start!r} must be > 0.")

    history: list[tuple[float, float]] = []
    best: TrainedSae | None = None

    def probe(l1: float) -> float:
        nonlocal best
        t = train_seed_sae(x, architecture="relu_l1", d_sae=d_sae, seed=seed, l1_coefficient=l1, **train_options)
        history.append((l1, t.metrics.l0))
        if best is None or abs(t.metrics.l0 - target_l0) < abs(best.metrics.l0 - target_l0):
            best = t
        return t.metrics.l0

    lo: float | None = None  # l1 giving L0 above target
    hi: float | None = None  # l1 giving L0 below target
    l1 = l1_start
    while len(history) < max_probes:
        l0 = probe(l1)
        if abs(l0 - target_l0) <= rel_tol * target_l0:
            break
        if l0 > target_l0:
            lo = l1
        else:
            hi = l1
        if lo is None:
            l1 = l1 / 10.0
        elif hi is None:
            l1 = l1 * 10.0
        else:
            l1 = math.sqrt(lo * hi)
    assert best is not None
    chosen: TrainedSae = best
    return L0Match(
        l1_coefficient=float(chosen.l1_coefficient or 0.0),
        l0=chosen.metrics.l0,
        target_l0=float(target_l0),
        within_tolerance=abs(chosen.metrics.l0 - target_l0) <= rel_tol * target_l0,
        trained=chosen,
        history=tuple(history),
    )
