"""Noise schedules, the forward process and the DDPM training loss.

The variance-preserving forward process of DDPM (Ho et al. 2020, eq. 4) noises data ``x0`` at an
integer training timestep ``t in {0, ..., T-1}`` as

.. math::  x_t = \\sqrt{\\bar\\alpha_t}\\, x_0 + \\sqrt{1 - \\bar\\alpha_t}\\, \\epsilon,
           \\qquad \\bar\\alpha_t = \\prod_{s \\le t} (1 - \\beta_s).

A denoiser predicts either ``epsilon`` or the velocity ``v = sqrt(abar) eps - sqrt(1 - abar) x0``
(Salimans & Ho 2022, ``prediction_type="v_prediction"``). Beta schedules follow diffusers'
names: ``linear`` (DDPM, default betas 1e-4..0.02), ``scaled_linear`` (Stable Diffusion:
``linspace(sqrt(b0), sqrt(b1))**2``, default 0.00085..0.012) and ``cosine`` (Nichol & Dhariwal
2021, eq. 17, diffusers' ``squaredcos_cap_v2``, betas capped at 0.999). Betas are computed in
float64 and stored in float32.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "PREDICTION_TYPES",
    "SCHEDULE_KINDS",
    "NoiseSchedule",
    "add_noise",
    "ddpm_loss",
    "diffusion_target",
    "make_noise_schedule",
    "to_x0_eps",
]

SCHEDULE_KINDS = ("linear", "scaled_linear", "cosine")
PREDICTION_TYPES = ("epsilon", "v_prediction")
_DEFAULT_BETAS = {"linear": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012)}


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class NoiseSchedule:
    """A discrete diffusion schedule (a pytree: arrays are leaves, the rest is static).

    Attributes:
      betas: ``[T]`` float32 per-step noise variances.
      alphas_cumprod: ``[T]`` float32 ``abar_t = prod_{s<=t} (1 - beta_s)``.
      prediction_type: what the denoiser outputs, ``"epsilon"`` or ``"v_prediction"``.
    """

    betas: jax.Array
    alphas_cumprod: jax.Array
    prediction_type: str = dataclasses.field(default="epsilon", metadata={"static": True})

    @property
    def num_train_timesteps(self) -> int:
        return self.betas.shape[0]


def _cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    def abar(u: np.ndarray) -> np.ndarray:
        return np.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    i = np.arange(num_steps, dtype=np.float64)
    return np.minimum(1 - abar((i + 1) / num_steps) / abar(i / num_steps), max_beta)


def make_noise_schedule(
    kind: str = "scaled_linear",
    num_train_timesteps: int = 1000,
    beta_start: float | None = None,
    beta_end: float | None = None,
    *,
    prediction_type: str = "epsilon",
) -> NoiseSchedule:
    """Builds a schedule by diffusers' name (default: Stable Diffusion 1.5's).

    Args:
      kind: ``"linear"``, ``"scaled_linear"`` or ``"cosine"``.
      num_train_timesteps: ``T``.
      beta_start, beta_end: first and last beta (linear kinds; None gives the kind's default).
      prediction_type: ``"epsilon"`` or ``"v_prediction"``.

    Raises:
      ValueError: an unknown kind or prediction type, ``T < 2`` or betas outside ``(0, 1)``.
    """
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"unknown noise schedule {kind!r}; expected one of {SCHEDULE_KINDS}")
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(
            f"unknown prediction_type {prediction_type!r}; expected one of {PREDICTION_TYPES}"
        )
    if num_train_timesteps < 2:
        raise ValueError(f"need num_train_timesteps >= 2, got {num_train_timesteps=}")
    if kind == "cosine":
        if beta_start is not None or beta_end is not None:
            raise ValueError("the cosine schedule takes no beta_start/beta_end")
        betas = _cosine_betas(num_train_timesteps)
    else:
        b0, b1 = _DEFAULT_BETAS[kind]
        b0 = b0 if beta_start is None else beta_start
        b1 = b1 if beta_end is None else beta_end
        if not 0 < b0 <= b1 < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {b0=}, {b1=}")
        if kind == "linear":
            betas = np.linspace(b0, b1, num_train_timesteps, dtype=np.float64)
        else:
            betas = np.linspace(b0**0.5, b1**0.5, num_train_timesteps, dtype=np.float64) ** 2
    abar = np.cumprod(1.0 - betas)
    return NoiseSchedule(
        betas=jnp.asarray(betas, jnp.float32),
        alphas_cumprod=jnp.asarray(abar, jnp.float32),
        prediction_type=prediction_type,
    )


def _coef(values: jax.Array, t: ArrayLike, ndim: int) -> jax.Array:
    """``values[t]`` for ``t [B]`` (or a scalar) reshaped to broadcast over ``[B, ...]``."""
    v = values[jnp.asarray(t, jnp.int32)]
    return v.reshape(v.shape + (1,) * (ndim - v.ndim))


def add_noise(schedule: NoiseSchedule, x0: ArrayLike, noise: ArrayLike, t: ArrayLike) -> jax.Array:
    """``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` for ``x0, noise [B, ...]``, ``t [B]``."""
    x0 = jnp.asarray(x0)
    a = _coef(schedule.alphas_cumprod, t, x0.ndim)
    return jnp.sqrt(a) * x0 + jnp.sqrt(1 - a) * jnp.asarray(noise, x0.dtype)


def diffusion_target(
    schedule: NoiseSchedule, x0: ArrayLike, noise: ArrayLike, t: ArrayLike
) -> jax.Array:
    """What the denoiser should output: ``noise`` (epsilon) or
    ``v = sqrt(abar_t) noise - sqrt(1 - abar_t) x0`` (v_prediction)."""
    noise = jnp.asarray(noise)
    if schedule.prediction_type == "epsilon":
        return noise
    a = _coef(schedule.alphas_cumprod, t, noise.ndim)
    return jnp.sqrt(a) * noise - jnp.sqrt(1 - a) * jnp.asarray(x0, noise.dtype)


def to_x0_eps(
    schedule: NoiseSchedule, output: ArrayLike, x: ArrayLike, alpha_bar: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """``(x0_hat, eps_hat)`` from a model ``output`` at ``x`` whose noise level is ``alpha_bar``
    (broadcastable to ``x``): ``x0 = (x - sqrt(1-a) eps) / sqrt(a)`` for epsilon models,
    ``x0 = sqrt(a) x - sqrt(1-a) v``, ``eps = sqrt(a) v + sqrt(1-a) x`` for v models."""
    output, x = jnp.asarray(output), jnp.asarray(x)
    sa, s1a = jnp.sqrt(alpha_bar), jnp.sqrt(1 - alpha_bar)
    if schedule.prediction_type == "epsilon":
        return (x - s1a * output) / sa, output
    return sa * x - s1a * output, sa * output + s1a * x


def ddpm_loss(
    schedule: NoiseSchedule,
    pred: ArrayLike,
    x0: ArrayLike,
    noise: ArrayLike,
    t: ArrayLike,
    *,
    where: ArrayLike | None = None,
) -> jax.Array:
    """The simple DDPM loss (Ho et al. 2020, eq. 14): the mean over examples and elements of
    ``(pred - target)^2``, with ``target`` from :func:`diffusion_target`.

    Args:
      schedule: the noise schedule (gives the prediction type).
      pred: ``[B, ...]`` the model output at ``add_noise(schedule, x0, noise, t)``.
      x0, noise: ``[B, ...]`` the clean data and the noise that was added.
      t: ``[B]`` integer timesteps.
      where: optional ``[B]`` bool mask of valid examples (a padded batch); a fully masked
        batch gives 0.

    Returns:
      Scalar float32 loss.
    """
    pred = jnp.asarray(pred)
    err = (pred.astype(jnp.float32) - diffusion_target(schedule, x0, noise, t)) ** 2
    per_example = err.reshape(err.shape[0], -1).mean(axis=1)
    if where is None:
        return per_example.mean()
    w = jnp.asarray(where, jnp.float32)
    return (per_example * w).sum() / jnp.maximum(w.sum(), 1.0)
