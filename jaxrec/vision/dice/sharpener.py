"""The DICE sharpener (Zhou et al., AAAI 2026, authors' ``dice_sharpener.py``; spec §2.1).

For the prompt embedding ``c [B, L, d]`` and the unconditional (or negative-prompt) embedding
``u [B, L, d]`` from the frozen text encoder:

.. math::  h_c = \\mathrm{ReLU}(c W_1 + b_1), \\quad h_u = \\mathrm{ReLU}(u W_1 + b_1),
.. math::  S(c, u) = \\mathrm{ReLU}(\\mathrm{MHA}(q = h_c, k = v = h_u)) W_2 + b_2,
.. math::  c' = c + \\alpha\\, S(c, u), \\qquad c'_{:, 0} = c_{:, 0}\\ \\text{(BOS kept)},

with one shared projection ``W_1 [d, h]``, multi-head attention of ``heads x h/heads`` without
q/k/v bias and an output projection ``h -> h`` with bias, and ``W_2 [h, d]``. With the paper's
``h = 512`` (8 heads of 64) the parameter count is ``2 d h + 4 h^2 + 2 h + d = 1025 d +
1,049,600`` (:func:`sharpener_param_count`). The last projection and the residual run in float32
whatever the compute dtype (spec pitfall 6).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.vision_layers import Linear, attention

__all__ = ["Sharpener", "SharpenerConfig", "scale_embedding", "sharpen", "sharpener_param_count"]

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class SharpenerConfig:
    """Attributes (defaults: the authors' SD1.5 sharpener):
    embed_dim: ``d``, the text encoder's width (768 for CLIP-L).
    hidden: ``h``, the projection and attention width (512).
    heads: attention heads (8, so 64 per head).
    dtype: compute dtype of the projection and attention, "float32" or "bfloat16".
    """

    embed_dim: int = 768
    hidden: int = 512
    heads: int = 8
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if min(self.embed_dim, self.hidden, self.heads) < 1 or self.hidden % self.heads:
            raise ValueError(
                f"need positive sizes and hidden divisible by heads: {self.hidden=}, {self.heads=}"
            )
        if self.dtype not in _DTYPES:
            raise ValueError(f"unknown sharpener dtype {self.dtype!r}; expected {list(_DTYPES)}")


def sharpener_param_count(embed_dim: int, hidden: int = 512) -> int:
    """``2 d h + 4 h^2 + 2 h + d``: ``W1, b1`` (``d h + h``), q/k/v (``3 h^2``), out
    (``h^2 + h``), ``W2, b2`` (``h d + d``); ``1025 d + 1,049,600`` at ``h = 512``."""
    return 2 * embed_dim * hidden + 4 * hidden**2 + 2 * hidden + embed_dim


class Sharpener(nnx.Module):
    """``S(c, u)``: ``c, u [B, L, d] -> [B, L, d]`` float32 (see the module docstring)."""

    def __init__(self, cfg: SharpenerConfig, *, rngs: nnx.Rngs) -> None:
        self.cfg = cfg
        d, h, dt = cfg.embed_dim, cfg.hidden, _DTYPES[cfg.dtype]
        self.proj_in = Linear(d, h, dtype=dt, rngs=rngs)
        self.to_q = Linear(h, h, bias=False, dtype=dt, rngs=rngs)
        self.to_k = Linear(h, h, bias=False, dtype=dt, rngs=rngs)
        self.to_v = Linear(h, h, bias=False, dtype=dt, rngs=rngs)
        self.to_out = Linear(h, h, dtype=dt, rngs=rngs)
        self.proj_out = Linear(h, d, dtype=jnp.float32, rngs=rngs)

    def __call__(self, c: jax.Array, u: jax.Array) -> jax.Array:
        d = self.cfg.embed_dim
        if c.ndim != 3 or c.shape[-1] != d or u.shape[-1] != d or u.ndim != 3:
            raise ValueError(f"sharpener inputs must be [B, L, {d}], got {c.shape} and {u.shape}")
        hc = jax.nn.relu(self.proj_in(c))
        hu = jax.nn.relu(self.proj_in(u))
        a = attention(self.to_q(hc), self.to_k(hu), self.to_v(hu), self.cfg.heads)
        return self.proj_out(jax.nn.relu(self.to_out(a)).astype(jnp.float32))


def sharpen(sharpener: Sharpener, c: jax.Array, u: jax.Array, alpha: float = 1.0) -> jax.Array:
    """The refined embedding ``c' = c + alpha S(c, u)`` with token 0 unchanged.

    Args:
      sharpener: the trained :class:`Sharpener`.
      c: ``[B, L, d]`` prompt embedding.
      u: ``[B, L, d]`` (or ``[1, L, d]``, broadcast) empty- or negative-prompt embedding; a
        negative prompt gives ``S(c, c_neg)``.
      alpha: strength (1.0 as trained; 0 is the identity).

    Returns:
      ``[B, L, d]`` float32.
    """
    c = jnp.asarray(c, jnp.float32)
    u = jnp.broadcast_to(u, (c.shape[0],) + u.shape[1:])
    delta = sharpener(c, u)
    keep_bos = (jnp.arange(c.shape[1]) > 0).astype(jnp.float32)[None, :, None]
    return c + jnp.asarray(alpha, jnp.float32) * delta * keep_bos


def scale_embedding(c: jax.Array, scale: float) -> jax.Array:
    """The "embedding scaling" baseline of the paper's table: ``s c`` (every token)."""
    return jnp.asarray(scale, jnp.float32) * jnp.asarray(c, jnp.float32)
