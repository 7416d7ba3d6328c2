"""Samplers DDPM, DDIM and DPM-Solver++ (2M) as pure jitted functions of a denoiser.

Every sampler takes ``eps_fn(x, t, cond) -> output`` (``x [B, ...]``, ``t [B]`` int32 training
timesteps, ``cond`` any pytree, output in the schedule's ``prediction_type``), the start noise
``x_T``, the schedule and a static step count; it runs one ``lax.scan`` and returns ``x_0``. The
single-step functions reproduce diffusers' schedulers on the same inputs:

- :func:`ddim_step` = ``DDIMScheduler.step`` (Song et al. 2021, eq. 12) with
  ``clip_sample=False``, ``set_alpha_to_one=True``, ``timestep_spacing="leading"``;
- :func:`ddpm_step` = ``DDPMScheduler.step`` with ``variance_type="fixed_small"``,
  ``clip_sample=False``;
- :func:`dpm_solver_pp_step` = ``DPMSolverMultistepScheduler.step`` with
  ``algorithm_type="dpmsolver++"``, ``solver_order=2``, ``solver_type="midpoint"``,
  ``final_sigmas_type="zero"`` (Lu et al. 2022, DPM-Solver++ Algorithm 2): first order at the
  first step and at the last (to sigma 0), second order in between, timesteps
  ``linspace(0, T-1, N+1).round()[::-1][:-1]``.

With ``alpha_t = sqrt(abar_t)``, ``sigma_t = sqrt(1 - abar_t)``, ``lambda = log(alpha / sigma)``,
``h = lambda_t - lambda_s`` and data predictions ``x0`` (current) and ``x0'`` (previous step),
the 2M update is

.. math::  x_t = \\frac{\\sigma_t}{\\sigma_s} x_s - \\alpha_t (e^{-h} - 1)
           \\Big(x_0 + \\frac{h}{2 h'} (x_0 - x_0')\\Big),

with ``h'`` the previous step's ``h``; dropping the bracket's second term gives the first-order
(DDIM-equivalent) update.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrec.diffusion.schedules import NoiseSchedule, to_x0_eps

__all__ = [
    "EpsFn",
    "ddim_sample",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_sample",
    "ddpm_step",
    "dpm_solver_pp_sample",
    "dpm_solver_pp_step",
    "dpm_solver_timesteps",
]

EpsFn = Callable[[jax.Array, jax.Array, Any], jax.Array]


def _check_steps(num_train: int, num_steps: int) -> None:
    if not 1 <= num_steps <= num_train:
        raise ValueError(f"need 1 <= num_steps <= {num_train} training timesteps, {num_steps=}")


def ddim_timesteps(num_train: int, num_steps: int, steps_offset: int = 0) -> np.ndarray:
    """diffusers' "leading" spacing: ``arange(N) * (T // N) + steps_offset``, descending."""
    _check_steps(num_train, num_steps)
    ts = np.arange(num_steps, dtype=np.int64) * (num_train // num_steps) + steps_offset
    if ts.max() >= num_train:
        raise ValueError(f"{steps_offset=} pushes timestep {ts.max()} past T={num_train}")
    return ts[::-1].copy()


def dpm_solver_timesteps(num_train: int, num_steps: int) -> np.ndarray:
    """diffusers' "linspace" spacing of DPMSolverMultistepScheduler, descending."""
    _check_steps(num_train, num_steps)
    return np.linspace(0, num_train - 1, num_steps + 1).round()[::-1][:-1].astype(np.int64)


def _alpha_bar(schedule: NoiseSchedule, t: ArrayLike) -> jax.Array:
    """``abar_t``, and 1 (no noise) for ``t < 0``."""
    t = jnp.asarray(t, jnp.int32)
    return jnp.where(t >= 0, schedule.alphas_cumprod[jnp.maximum(t, 0)], 1.0)


def ddim_step(
    schedule: NoiseSchedule,
    output: ArrayLike,
    t: ArrayLike,
    prev_t: ArrayLike,
    x: ArrayLike,
    *,
    eta: float = 0.0,
    noise: ArrayLike | None = None,
) -> jax.Array:
    """One DDIM step ``x_t -> x_{prev_t}`` (``prev_t < 0``: to clean data).

    ``x_prev = sqrt(abar_p) x0 + sqrt(1 - abar_p - s^2) eps + s noise`` with
    ``s = eta sqrt((1 - abar_p) / (1 - abar_t) (1 - abar_t / abar_p))``.

    Args:
      schedule: the noise schedule.
      output: ``[B, ...]`` model output at ``(x, t)``.
      t, prev_t: scalar integer timesteps.
      x: ``[B, ...]`` current sample.
      eta: 0 is deterministic DDIM, 1 the DDPM posterior variance.
      noise: standard normal ``[B, ...]``, required when ``eta > 0``.
    """
    x = jnp.asarray(x)
    a_t, a_p = _alpha_bar(schedule, t), _alpha_bar(schedule, prev_t)
    x0, eps = to_x0_eps(schedule, output, x, a_t)
    std = eta * jnp.sqrt((1 - a_p) / (1 - a_t) * (1 - a_t / a_p))
    out = jnp.sqrt(a_p) * x0 + jnp.sqrt(1 - a_p - std**2) * eps
    if eta > 0:
        if noise is None:
            raise ValueError(f"ddim_step with {eta=} > 0 needs noise")
        out = out + std * jnp.asarray(noise, x.dtype)
    return out.astype(x.dtype)


def ddpm_step(
    schedule: NoiseSchedule,
    output: ArrayLike,
    t: ArrayLike,
    prev_t: ArrayLike,
    x: ArrayLike,
    *,
    noise: ArrayLike,
) -> jax.Array:
    """One ancestral DDPM step: the Gaussian posterior ``q(x_prev | x_t, x0_hat)`` (Ho et al.
    2020, eqs. 6-7) with the "fixed_small" variance ``(1 - abar_p) / (1 - abar_t) beta``,
    ``beta = 1 - abar_t / abar_p``; no noise is added at ``t = 0``."""
    x = jnp.asarray(x)
    a_t, a_p = _alpha_bar(schedule, t), _alpha_bar(schedule, prev_t)
    x0, _ = to_x0_eps(schedule, output, x, a_t)
    alpha, beta = a_t / a_p, 1 - a_t / a_p
    mean = (jnp.sqrt(a_p) * beta * x0 + jnp.sqrt(alpha) * (1 - a_p) * x) / (1 - a_t)
    var = jnp.maximum((1 - a_p) / (1 - a_t) * beta, 1e-20)
    std = jnp.where(jnp.asarray(t) > 0, jnp.sqrt(var), 0.0)
    return (mean + std * jnp.asarray(noise, x.dtype)).astype(x.dtype)


def dpm_solver_pp_step(
    schedule: NoiseSchedule,
    output: ArrayLike,
    x: ArrayLike,
    t: ArrayLike,
    t_next: ArrayLike,
    x0_prev: ArrayLike,
    t_prev: ArrayLike,
    *,
    first_order: ArrayLike,
) -> tuple[jax.Array, jax.Array]:
    """One DPM-Solver++ (2M, midpoint) step ``x_t -> x_{t_next}`` (``t_next < 0``: to sigma 0,
    always first order).

    Args:
      schedule: the noise schedule.
      output: ``[B, ...]`` model output at ``(x, t)``.
      x: ``[B, ...]`` current sample.
      t, t_next, t_prev: scalar integer timesteps (``t_prev``: the previous step's ``t``).
      x0_prev: ``[B, ...]`` the previous step's data prediction (ignored if first order).
      first_order: bool scalar, True at the first step.

    Returns:
      ``(x_next, x0)``: the new sample and this step's data prediction (carry it as
      ``x0_prev``).
    """
    x = jnp.asarray(x)
    a_s, a_t, a_p = (_alpha_bar(schedule, s) for s in (t, t_next, t_prev))
    x0, _ = to_x0_eps(schedule, output, x, a_s)
    alpha_t, sigma_t = jnp.sqrt(a_t), jnp.sqrt(1 - a_t)
    sigma_s = jnp.sqrt(1 - a_s)
    final = jnp.asarray(t_next) < 0
    # exp(-h) = (sigma_t / alpha_t) / (sigma_s / alpha_s): finite also at sigma_t = 0.
    exp_neg_h = (sigma_t / alpha_t) / (sigma_s / jnp.sqrt(a_s))
    log_snr = lambda a: 0.5 * (jnp.log(a) - jnp.log1p(-a))  # noqa: E731
    h = jnp.where(final, 1.0, log_snr(jnp.where(final, 0.5, a_t)) - log_snr(a_s))
    h_prev = log_snr(a_s) - log_snr(a_p)
    ratio = jnp.where(first_order | final, 0.0, h / jnp.where(first_order, 1.0, h_prev))
    d = x0 + 0.5 * ratio * (x0 - jnp.asarray(x0_prev, x0.dtype))
    x_next = (sigma_t / sigma_s) * x - alpha_t * (exp_neg_h - 1) * d
    return x_next.astype(x.dtype), x0


def _call(eps_fn: EpsFn, x: jax.Array, t: jax.Array, cond: Any) -> jax.Array:
    return eps_fn(x, jnp.full((x.shape[0],), t, jnp.int32), cond)


@functools.partial(jax.jit, static_argnames=("eps_fn", "num_steps", "eta", "steps_offset"))
def ddim_sample(
    eps_fn: EpsFn,
    x_T: jax.Array,
    cond: Any,
    schedule: NoiseSchedule,
    num_steps: int,
    *,
    eta: float = 0.0,
    key: jax.Array | None = None,
    steps_offset: int = 0,
) -> jax.Array:
    """DDIM from ``x_T [B, ...]`` in ``num_steps`` steps (``num_steps`` model calls); ``key`` is
    required when ``eta > 0``."""
    ts = ddim_timesteps(schedule.num_train_timesteps, num_steps, steps_offset)
    prev = ts - schedule.num_train_timesteps // num_steps
    if eta > 0 and key is None:
        raise ValueError(f"ddim_sample with {eta=} > 0 needs a key")

    def body(x, inputs):
        i, t, p = inputs
        noise = None if eta == 0 else jax.random.normal(jax.random.fold_in(key, i), x.shape)
        out = _call(eps_fn, x, t, cond)
        return ddim_step(schedule, out, t, p, x, eta=eta, noise=noise), None

    x, _ = jax.lax.scan(body, x_T, (jnp.arange(num_steps), jnp.asarray(ts), jnp.asarray(prev)))
    return x


@functools.partial(jax.jit, static_argnames=("eps_fn", "num_steps"))
def ddpm_sample(
    eps_fn: EpsFn,
    x_T: jax.Array,
    cond: Any,
    schedule: NoiseSchedule,
    num_steps: int,
    *,
    key: jax.Array,
) -> jax.Array:
    """Ancestral DDPM sampling from ``x_T`` over diffusers' "leading" timesteps."""
    ts = ddim_timesteps(schedule.num_train_timesteps, num_steps)
    prev = ts - schedule.num_train_timesteps // num_steps

    def body(x, inputs):
        i, t, p = inputs
        noise = jax.random.normal(jax.random.fold_in(key, i), x.shape, x.dtype)
        return ddpm_step(schedule, _call(eps_fn, x, t, cond), t, p, x, noise=noise), None

    x, _ = jax.lax.scan(body, x_T, (jnp.arange(num_steps), jnp.asarray(ts), jnp.asarray(prev)))
    return x


@functools.partial(jax.jit, static_argnames=("eps_fn", "num_steps"))
def dpm_solver_pp_sample(
    eps_fn: EpsFn, x_T: jax.Array, cond: Any, schedule: NoiseSchedule, num_steps: int
) -> jax.Array:
    """DPM-Solver++ (2M) from ``x_T`` in ``num_steps`` model calls."""
    ts = dpm_solver_timesteps(schedule.num_train_timesteps, num_steps)
    t_next = np.r_[ts[1:], -1]
    t_prev = np.r_[ts[0], ts[:-1]]

    def body(carry, inputs):
        x, x0_prev = carry
        i, t, tn, tp = inputs
        out = _call(eps_fn, x, t, cond)
        x, x0 = dpm_solver_pp_step(schedule, out, x, t, tn, x0_prev, tp, first_order=i == 0)
        return (x, x0), None

    steps = (jnp.arange(num_steps),) + tuple(jnp.asarray(a) for a in (ts, t_next, t_prev))
    (x, _), _ = jax.lax.scan(body, (x_T, jnp.zeros_like(x_T)), steps)
    return x
