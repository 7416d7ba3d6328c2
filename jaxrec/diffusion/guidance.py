"""Classifier-free guidance (Ho & Salimans 2022) as a wrapper of a denoiser.

.. math::  \\hat\\epsilon(x, t, c) = \\epsilon(x, t, u) + \\omega\\,(\\epsilon(x, t, c) - \\epsilon(x, t, u))

with ``u`` the empty-prompt embedding or, for a negative prompt, the negative prompt's
embedding. ``omega = 1`` is the plain conditional model, ``omega = 0`` the unconditional one.
The conditional and unconditional calls run as one call on the doubled batch (2 NFE per step).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrec.diffusion.samplers import EpsFn

__all__ = ["cfg_eps_fn", "check_guidance_scale"]


def check_guidance_scale(scale: float) -> None:
    """Raises ``ValueError`` for a negative (or non-finite) guidance scale; traced values pass."""
    if isinstance(scale, jax.core.Tracer):
        return
    value = float(scale)
    if not (value >= 0 and value < float("inf")):
        raise ValueError(f"guidance scale must be finite and >= 0, got {scale=}")


def cfg_eps_fn(eps_fn: EpsFn, scale: float | ArrayLike, uncond: Any) -> EpsFn:
    """The guided denoiser ``(x, t, cond) -> u_out + scale (c_out - u_out)``.

    Args:
      eps_fn: ``eps_fn(x, t, cond)`` with a batch axis first in every leaf of ``cond``.
      scale: the guidance scale ``omega >= 0``.
      uncond: the unconditional (empty or negative prompt) conditioning, same structure as
        ``cond``; leaves with a leading axis of 1 are broadcast over the batch.

    Raises:
      ValueError: a negative guidance scale.
    """
    check_guidance_scale(scale)

    def guided(x: jax.Array, t: jax.Array, cond: Any) -> jax.Array:
        b = x.shape[0]

        def both(c, u):
            u = jnp.broadcast_to(u, (b,) + u.shape[1:]).astype(c.dtype)
            return jnp.concatenate([c, u], axis=0)

        out = eps_fn(
            jnp.concatenate([x, x], 0), jnp.concatenate([t, t], 0), jax.tree.map(both, cond, uncond)
        )
        c_out, u_out = out[:b], out[b:]
        return u_out + jnp.asarray(scale, out.dtype) * (c_out - u_out)

    return guided
