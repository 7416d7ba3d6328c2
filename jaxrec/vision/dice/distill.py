"""DICE's distillation objective (spec §2.2, authors' ``train_sd15_dice.py``).

One timestep ``t ~ U{0..T-1}`` for the whole batch (``per_example_t=True``: one per example),
``eps ~ N(0, I)``, ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``; the frozen denoiser gives
the guided teacher and, with the refined embedding, the student:

.. math::  \\epsilon_{cfg} = \\epsilon(x_t, t, u) + \\omega (\\epsilon(x_t, t, c) - \\epsilon(x_t, t, u)),
           \\qquad \\epsilon_{s} = \\epsilon(x_t, t, c + S(c, u)),
.. math::  L_1 = \\frac{1}{B} \\sum |\\epsilon_s - \\epsilon_{cfg}|, \\qquad
           L_2 = \\frac{1}{B} \\sum (\\epsilon_s - \\epsilon_{cfg})^2

(sums over every element, divided by the batch size). The teacher is under ``stop_gradient``,
and the frozen weights (denoiser and text encoder) ride in the step's ``context`` under
``stop_gradient``: they get no gradient and no optimizer state; only the sharpener trains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.diffusion import EpsFn, NoiseSchedule, add_noise, check_guidance_scale
from jaxrec.vision.dice.sharpener import sharpen

__all__ = ["LOSSES", "dice_loss", "make_dice_loss"]

LOSSES = ("l1", "l2")


def _check(omega: float, loss: str) -> None:
    check_guidance_scale(omega)
    if loss not in LOSSES:
        raise ValueError(f"unknown DICE loss {loss!r}; expected one of {LOSSES}")


def _distance(a: jax.Array, b: jax.Array, loss: str) -> jax.Array:
    err = a.astype(jnp.float32) - b.astype(jnp.float32)
    err = jnp.abs(err) if loss == "l1" else err**2
    return err.sum() / err.shape[0]


def dice_loss(
    eps_fn: EpsFn,
    refine_fn: Callable[[jax.Array, jax.Array], jax.Array],
    schedule: NoiseSchedule,
    x0: jax.Array,
    c: jax.Array,
    u: jax.Array,
    *,
    key: jax.Array,
    omega: float = 5.0,
    loss: str = "l1",
    per_example_t: bool = False,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The DICE loss for any frozen denoiser and any refinement of the embedding.

    Args:
      eps_fn: the frozen denoiser ``eps_fn(x [B, ...], t [B], cond [B, L, d])``.
      refine_fn: ``(c, u) -> c'`` (the sharpener; what is differentiated).
      schedule: the training noise schedule (epsilon prediction).
      x0: ``[B, ...]`` clean data (latents or pixels).
      c: ``[B, L, d]`` prompt embeddings.
      u: ``[1, L, d]`` or ``[B, L, d]`` unconditional embeddings.
      key: draws ``t`` and ``eps``.
      omega: the teacher's guidance scale (5).
      loss: ``"l1"`` (SD1.5) or ``"l2"`` (SDXL).
      per_example_t: one ``t`` per example instead of one per batch.

    Returns:
      ``(loss, {"loss_unrefined": the same distance for c' = c, "t": mean timestep})``.
    """
    _check(omega, loss)
    b = x0.shape[0]
    k_t, k_eps = jax.random.split(key)
    t = jax.random.randint(k_t, (b,) if per_example_t else (), 0, schedule.num_train_timesteps)
    t = jnp.broadcast_to(t, (b,))
    noise = jax.random.normal(k_eps, x0.shape, jnp.float32).astype(x0.dtype)
    xt = add_noise(schedule, x0, noise, t)
    u = jnp.broadcast_to(u, c.shape).astype(c.dtype)
    both = eps_fn(jnp.concatenate([xt, xt]), jnp.concatenate([t, t]), jnp.concatenate([c, u]))
    e_c, e_u = both[:b], both[b:]
    target = jax.lax.stop_gradient(e_u + omega * (e_c - e_u))
    pred = eps_fn(xt, t, refine_fn(c, u))
    aux = {
        "loss_unrefined": jax.lax.stop_gradient(_distance(e_c, target, loss)),
        "t": t.astype(jnp.float32).mean(),
    }
    return _distance(pred, target, loss), aux


def make_dice_loss(
    schedule: NoiseSchedule,
    unet_graphdef: nnx.GraphDef,
    text_graphdef: nnx.GraphDef,
    *,
    omega: float = 5.0,
    loss: str = "l1",
    per_example_t: bool = False,
) -> Callable:
    """The :class:`jaxrec.train.LossFn` for a :class:`~jaxrec.vision.dice.Sharpener` model.

    ``batch``: ``"x0" [B, H, W, C]`` and caption ``"ids" [B, L]``. ``context``: ``"unet"`` and
    ``"text"`` (pure-dict parameters of the frozen UNet and text encoder, split with
    ``nnx.split(model, nnx.Param, ...)`` into these graphdefs) and ``"uncond_ids" [1, L]``
    (the empty caption's tokens).
    """
    _check(omega, loss)

    def loss_fn(model, batch: Mapping[str, jax.Array], *, key, context: Any, extra):
        del extra
        frozen = jax.lax.stop_gradient({"unet": context["unet"], "text": context["text"]})
        unet = nnx.merge(unet_graphdef, frozen["unet"])
        text = nnx.merge(text_graphdef, frozen["text"])
        c = jax.lax.stop_gradient(text(batch["ids"])[0])
        u = jax.lax.stop_gradient(text(context["uncond_ids"])[0])
        return dice_loss(
            unet, lambda c_, u_: sharpen(model, c_, u_), schedule, batch["x0"], c, u,
            key=key, omega=omega, loss=loss, per_example_t=per_example_t,
        )  # fmt: skip

    return loss_fn
