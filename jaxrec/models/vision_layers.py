"""Layers shared by the diffusion models (UNet, CLIP text encoder): dense, 2-D convolution,
group and layer norm, and multi-head attention.

Parameters are named after their PyTorch counterparts so that checkpoint name maps stay
mechanical: ``Linear.kernel [in, out]`` is torch's ``weight.T``, ``Conv2d.kernel [kh, kw, in,
out]`` is torch's ``weight`` (``[out, in, kh, kw]``) transposed, norms hold ``scale`` (torch
``weight``) and ``bias``. Every parameter carries logical axis names (``embed`` for inputs,
``mlp`` for outputs: replicated and tensor-split under :data:`jaxrec.train.DEFAULT_RULES`);
build under :func:`jaxrec.train.mesh_context`. Activations use ``dtype`` (bf16 or f32);
normalisation statistics and attention softmax are float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["Conv2d", "GroupNorm", "LayerNorm", "Linear", "attention", "make_param"]


def _affine(y: jax.Array, scale: jax.Array, bias: jax.Array) -> jax.Array:
    """``y * scale + bias`` with per-channel (last axis) parameters."""
    return y * jnp.broadcast_to(scale, y.shape) + jnp.broadcast_to(bias, y.shape)


def make_param(
    init: nnx.initializers.Initializer,
    key: jax.Array,
    shape: Sequence[int],
    names: Sequence[str | None],
    dtype: jnp.dtype = jnp.float32,
) -> nnx.Param:
    """An ``nnx.Param`` of ``shape`` annotated with logical axis ``names``."""
    return nnx.Param(nnx.with_partitioning(init, tuple(names))(key, tuple(shape), dtype))


class Linear(nnx.Module):
    """``y = x W + b``, ``W [in, out]``."""

    def __init__(
        self, d_in: int, d_out: int, *, bias: bool = True, dtype=jnp.float32, rngs: nnx.Rngs
    ) -> None:
        self.dtype = dtype
        init = nnx.initializers.normal(1.0 / math.sqrt(d_in))
        self.kernel = make_param(init, rngs.params(), (d_in, d_out), ("embed", "mlp"))
        self.bias = nnx.data(None)
        if bias:
            self.bias = make_param(nnx.initializers.zeros, rngs.params(), (d_out,), ("mlp",))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.einsum("...i,io->...o", x.astype(self.dtype), self.kernel[...].astype(self.dtype))
        if self.bias is not None:
            y = y + jnp.broadcast_to(self.bias[...].astype(self.dtype), y.shape)
        return y


class Conv2d(nnx.Module):
    """NHWC convolution with ``kernel [k, k, in, out]``, symmetric zero padding ``k // 2``."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ) -> None:
        self.stride, self.pad, self.dtype = stride, kernel_size // 2, dtype
        init = nnx.initializers.normal(1.0 / math.sqrt(d_in * kernel_size**2))
        shape = (kernel_size, kernel_size, d_in, d_out)
        self.kernel = make_param(init, rngs.params(), shape, (None, None, "embed", "mlp"))
        self.bias = make_param(nnx.initializers.zeros, rngs.params(), (d_out,), ("mlp",))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            self.kernel[...].astype(self.dtype),
            window_strides=(self.stride, self.stride),
            padding=((self.pad, self.pad), (self.pad, self.pad)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return y + jnp.broadcast_to(self.bias[...].astype(self.dtype), y.shape)


class GroupNorm(nnx.Module):
    """Group norm over ``[B, H, W, C]`` (or ``[B, N, C]``): channels in ``groups`` consecutive
    groups, statistics over the spatial axes and the group's channels, as ``torch.nn.GroupNorm``."""

    def __init__(self, channels: int, groups: int, eps: float, *, dtype=jnp.float32) -> None:
        if channels % groups:
            raise ValueError(
                f"group norm needs channels divisible by groups: {channels=}, {groups=}"
            )
        self.groups, self.eps, self.dtype = groups, eps, dtype
        key = jax.random.key(0)
        self.scale = make_param(nnx.initializers.ones, key, (channels,), ("mlp",))
        self.bias = make_param(nnx.initializers.zeros, key, (channels,), ("mlp",))

    def __call__(self, x: jax.Array) -> jax.Array:
        shape = x.shape
        g = x.astype(jnp.float32).reshape(shape[0], -1, self.groups, shape[-1] // self.groups)
        mean = g.mean(axis=(1, 3), keepdims=True)
        var = jnp.square(g - mean).mean(axis=(1, 3), keepdims=True)
        y = ((g - mean) * jax.lax.rsqrt(var + self.eps)).reshape(shape)
        return _affine(y, self.scale[...], self.bias[...]).astype(self.dtype)


class LayerNorm(nnx.Module):
    """Layer norm over the last axis (float32 statistics)."""

    def __init__(self, dim: int, eps: float = 1e-5, *, dtype=jnp.float32) -> None:
        self.eps, self.dtype = eps, dtype
        key = jax.random.key(0)
        self.scale = make_param(nnx.initializers.ones, key, (dim,), ("embed",))
        self.bias = make_param(nnx.initializers.zeros, key, (dim,), ("embed",))

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        mean = x32.mean(-1, keepdims=True)
        var = jnp.square(x32 - mean).mean(-1, keepdims=True)
        y = (x32 - mean) * jax.lax.rsqrt(var + self.eps)
        return _affine(y, self.scale[...], self.bias[...]).astype(self.dtype)


def attention(
    q: jax.Array, k: jax.Array, v: jax.Array, heads: int, mask: jax.Array | None = None
) -> jax.Array:
    """Multi-head softmax attention: ``q [B, T, D]``, ``k, v [B, S, D]`` -> ``[B, T, D]``.

    ``mask`` (``[T, S]`` or ``[B, T, S]`` bool, True = may attend) is optional; scores and
    softmax are float32, scale ``1 / sqrt(D / heads)``.
    """
    b, t, d = q.shape
    dh = d // heads
    qh = q.reshape(b, t, heads, dh)
    kh = k.reshape(b, k.shape[1], heads, dh)
    vh = v.reshape(b, v.shape[1], heads, dh)
    scores = jnp.einsum("bthd,bshd->bhts", qh, kh, preferred_element_type=jnp.float32)
    scores = scores / math.sqrt(dh)
    if mask is not None:
        m = mask if mask.ndim == 3 else mask[None]
        scores = jnp.where(m[:, None], scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    return jnp.einsum("bhts,bshd->bthd", probs, vh).reshape(b, t, d)
