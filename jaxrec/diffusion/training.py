"""The denoiser's training objective as a :class:`jaxrec.train.LossFn`.

Per example, ``t ~ U{0..T-1}`` and ``eps ~ N(0, I)`` are drawn from the step key, the model sees
``x_t = add_noise(x0, eps, t)`` and the loss is :func:`~jaxrec.diffusion.ddpm_loss` (the model
is called as ``model(x_t, t, context)``, e.g. :class:`jaxrec.models.unet.UNet2DCondition`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax

from jaxrec.diffusion.schedules import NoiseSchedule, add_noise, ddpm_loss

__all__ = ["make_denoising_loss"]


def make_denoising_loss(schedule: NoiseSchedule) -> Callable:
    """``loss_fn(model, batch, *, key, context, extra) -> (loss, {})`` for a batch with
    ``"x0" [B, H, W, C]``, ``"context" [B, L, D]`` and an optional ``"mask" [B]``."""

    def loss_fn(model, batch: Mapping[str, jax.Array], *, key, context, extra):
        del context, extra
        x0 = batch["x0"]
        k_t, k_eps = jax.random.split(key)
        t = jax.random.randint(k_t, (x0.shape[0],), 0, schedule.num_train_timesteps)
        noise = jax.random.normal(k_eps, x0.shape, x0.dtype)
        pred = model(add_noise(schedule, x0, noise, t), t, batch["context"])
        return ddpm_loss(schedule, pred, x0, noise, t, where=batch.get("mask")), {}

    return loss_fn
