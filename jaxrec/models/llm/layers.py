"""Building blocks of the decoder: RMSNorm, rotary embeddings, projections (with optional LoRA),
grouped-query attention and the SwiGLU MLP.

Every parameter may carry leading *stack* dimensions (``stack=(L,)`` for the scanned layer
layout): its shape is ``stack + shape`` and its logical axis names ``("layers",) * len(stack) +
names``. A module built with ``stack=(L,)`` holds all L layers; the decoder slices layer ``l``
out of its state and merges a per-layer module from it (see :mod:`.decoder`).

Numerics follow the Hugging Face reference implementations of Llama/Qwen2/Mistral: RMSNorm and
softmax in float32, rotary embeddings with the half-split ("rotate_half") layout, query head
``h`` reads key/value head ``h // (H / Hkv)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.models.llm.config import Llama3RopeScaling, LLMConfig

__all__ = [
    "MLP",
    "Attention",
    "Dense",
    "RMSNorm",
    "apply_rope",
    "dot_product_attention",
    "rope_cos_sin",
    "rope_inv_freq",
]

LAYERS_AXIS = "layers"
_MASKED = float(np.finfo(np.float32).min)


def make_param(
    kind: type[nnx.Variable],
    init: nnx.initializers.Initializer,
    key: jax.Array,
    shape: Sequence[int],
    names: Sequence[str | None],
    dtype: jnp.dtype,
    stack: tuple[int, ...],
) -> nnx.Variable:
    """A ``kind`` variable of shape ``stack + shape`` annotated with logical axis names."""
    init = nnx.with_partitioning(init, (LAYERS_AXIS,) * len(stack) + tuple(names))
    return kind(init(key, tuple(stack) + tuple(shape), dtype))


class RMSNorm(nnx.Module):
    """``y = scale * x / sqrt(mean(x^2) + eps)``; the statistic is computed in float32."""

    def __init__(self, dim: int, cfg: LLMConfig, *, stack: tuple[int, ...] = ()) -> None:
        self.eps = cfg.rms_norm_eps
        self.dtype = cfg.compute_dtype
        ones = nnx.initializers.ones
        self.weight = make_param(
            nnx.Param, ones, jax.random.key(0), (dim,), ("embed",), cfg.weight_dtype, stack
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        scale = jnp.broadcast_to(self.weight[...].astype(self.dtype), x.shape)
        return normed.astype(self.dtype) * scale


def rope_inv_freq(
    head_dim: int, theta: float, scaling: Llama3RopeScaling | None = None
) -> np.ndarray:
    """``[head_dim // 2]`` float32 rotary frequencies ``theta^(-2i / head_dim)``, optionally
    rescaled as Llama 3.1 does (see :class:`~.config.Llama3RopeScaling`)."""
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if scaling is not None:
        wavelen = 2 * math.pi / inv_freq
        old_len = scaling.original_max_position_embeddings
        low, high = scaling.low_freq_factor, scaling.high_freq_factor
        smooth = (old_len / wavelen - low) / (high - low)
        interpolated = (1 - smooth) * inv_freq / scaling.factor + smooth * inv_freq
        inv_freq = np.where(
            wavelen < old_len / high,
            inv_freq,
            np.where(wavelen > old_len / low, inv_freq / scaling.factor, interpolated),
        )
    return inv_freq.astype(np.float32)


def rope_cos_sin(positions: jax.Array, inv_freq: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """``cos, sin`` of angles ``positions * inv_freq``: ``[B, T] -> 2 x [B, T, Dh // 2]`` float32."""
    freqs = jnp.asarray(inv_freq).reshape((1,) * positions.ndim + (-1,))
    angles = positions.astype(jnp.float32)[..., None] * freqs
    return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotates ``x [B, T, heads, Dh]`` pairwise ``(x_i, x_{i + Dh/2})`` by the angles of
    ``cos/sin [B, T, Dh/2]`` (the half-split layout of the HF checkpoints)."""
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    c, s = cos[:, :, None, :], sin[:, :, None, :]
    return jnp.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1).astype(x.dtype)


def dot_product_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """Masked softmax attention with grouped KV heads.

    Args:
      q: ``[B, T, H, Dh]`` queries.
      k: ``[B, S, Hkv, Dh]`` keys (H % Hkv == 0; query head h reads KV head h // (H / Hkv)).
      v: ``[B, S, Hkv, Dh]`` values.
      mask: ``[B, T, S]`` bool, True where query t may attend to key s. A fully masked row
        gives a uniform average (finite), never NaN.

    Returns:
      ``[B, T, H, Dh]`` in ``q.dtype``; scores and softmax are float32.
    """
    b, t, h, d = q.shape
    hkv = k.shape[2]
    qg = q.reshape(b, t, hkv, h // hkv, d)
    scores = jnp.einsum("btkgd,bskd->bkgts", qg, k, preferred_element_type=jnp.float32)
    scores = jnp.where(mask[:, None, None], scores / math.sqrt(d), _MASKED)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    out = jnp.einsum("bkgts,bskd->btkgd", probs, v)
    return out.reshape(b, t, h, d)


class Dense(nnx.Module):
    """``y = x W (+ b)`` with ``W [in, out]`` (the transpose of torch's ``Linear.weight``).

    A LoRA adapter (:func:`jaxrec.models.llm.add_lora`) adds ``scale * dropout(x) A B`` with
    ``A [in, r]``, ``B [r, out]`` held as :class:`nnx.LoRAParam`; dropout is active only when a
    ``dropout_key`` is passed.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        names: tuple[str | None, str | None],
        cfg: LLMConfig,
        *,
        use_bias: bool = False,
        stack: tuple[int, ...] = (),
        rngs: nnx.Rngs,
    ) -> None:
        self.in_features, self.out_features, self.names = in_features, out_features, names
        self.stack = stack
        self.dtype = cfg.compute_dtype
        normal = nnx.initializers.normal(cfg.init_std)
        self.kernel = make_param(
            nnx.Param, normal, rngs.params(), (in_features, out_features), names,
            cfg.weight_dtype, stack,
        )  # fmt: skip
        self.bias = nnx.data(None)
        if use_bias:
            self.bias = make_param(
                nnx.Param, nnx.initializers.zeros, rngs.params(), (out_features,), names[1:],
                cfg.weight_dtype, stack,
            )  # fmt: skip
        self.lora_a = nnx.data(None)
        self.lora_b = nnx.data(None)
        self.lora_scale = 0.0
        self.lora_dropout = 0.0

    def __call__(self, x: jax.Array, *, dropout_key: jax.Array | None = None) -> jax.Array:
        x = x.astype(self.dtype)
        y = jnp.einsum("...i,io->...o", x, self.kernel[...].astype(self.dtype))
        if self.lora_a is not None:
            h = x
            if dropout_key is not None and self.lora_dropout > 0:
                keep = jax.random.bernoulli(dropout_key, 1.0 - self.lora_dropout, x.shape)
                h = jnp.where(keep, x / (1.0 - self.lora_dropout), 0).astype(self.dtype)
            low = jnp.einsum("...i,ir->...r", h, self.lora_a[...].astype(self.dtype))
            y = y + self.lora_scale * jnp.einsum(
                "...r,ro->...o", low, self.lora_b[...].astype(self.dtype)
            )
        if self.bias is not None:
            y = y + jnp.broadcast_to(self.bias[...].astype(self.dtype), y.shape)
        return y


def _key(key: jax.Array | None, i: int) -> jax.Array | None:
    return None if key is None else jax.random.fold_in(key, i)


class Attention(nnx.Module):
    """Rotary grouped-query self-attention, optionally reading and writing a KV cache."""

    def __init__(self, cfg: LLMConfig, *, stack: tuple[int, ...] = (), rngs: nnx.Rngs) -> None:
        d, dh = cfg.hidden_size, cfg.dim_per_head
        self.num_heads, self.num_kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, dh
        bias = cfg.qkv_bias
        self.q_proj = Dense(d, cfg.num_heads * dh, ("embed", "heads"), cfg, use_bias=bias,
                            stack=stack, rngs=rngs)  # fmt: skip
        self.k_proj = Dense(d, cfg.num_kv_heads * dh, ("embed", "kv_heads"), cfg, use_bias=bias,
                            stack=stack, rngs=rngs)  # fmt: skip
        self.v_proj = Dense(d, cfg.num_kv_heads * dh, ("embed", "kv_heads"), cfg, use_bias=bias,
                            stack=stack, rngs=rngs)  # fmt: skip
        self.o_proj = Dense(cfg.num_heads * dh, d, ("heads", "embed"), cfg, stack=stack, rngs=rngs)

    def __call__(
        self,
        x: jax.Array,
        *,
        cos: jax.Array,
        sin: jax.Array,
        mask: jax.Array,
        kv: tuple[jax.Array, jax.Array] | None = None,
        index: jax.Array | None = None,
        dropout_key: jax.Array | None = None,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        """Attention over the new tokens ``x [B, T, D]``.

        Without ``kv`` the keys are the new tokens themselves (``mask [B, T, T]``). With
        ``kv = (k_cache, v_cache)`` (``[B, S, Hkv, Dh]``) the new keys/values are written into
        slots ``[index, index + T)`` and the queries attend to the whole cache (``mask
        [B, T, S]``); the updated cache is returned.
        """
        b, t, _ = x.shape
        q = self.q_proj(x, dropout_key=_key(dropout_key, 0)).reshape(
            b, t, self.num_heads, self.head_dim
        )
        k = self.k_proj(x, dropout_key=_key(dropout_key, 1)).reshape(
            b, t, self.num_kv_heads, self.head_dim
        )
        v = self.v_proj(x, dropout_key=_key(dropout_key, 2)).reshape(
            b, t, self.num_kv_heads, self.head_dim
        )
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if kv is not None:
            start = (0, index, 0, 0)
            kv = (
                jax.lax.dynamic_update_slice(kv[0], k.astype(kv[0].dtype), start),
                jax.lax.dynamic_update_slice(kv[1], v.astype(kv[1].dtype), start),
            )
            k, v = kv[0].astype(q.dtype), kv[1].astype(q.dtype)
        out = dot_product_attention(q, k, v, mask).reshape(b, t, -1)
        return self.o_proj(out, dropout_key=_key(dropout_key, 3)), kv


class MLP(nnx.Module):
    """SwiGLU: ``down(silu(gate(x)) * up(x))``."""

    def __init__(self, cfg: LLMConfig, *, stack: tuple[int, ...] = (), rngs: nnx.Rngs) -> None:
        d, f = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = Dense(d, f, ("embed", "mlp"), cfg, stack=stack, rngs=rngs)
        self.up_proj = Dense(d, f, ("embed", "mlp"), cfg, stack=stack, rngs=rngs)
        self.down_proj = Dense(f, d, ("mlp", "embed"), cfg, stack=stack, rngs=rngs)

    def __call__(self, x: jax.Array, *, dropout_key: jax.Array | None = None) -> jax.Array:
        gate = self.gate_proj(x, dropout_key=_key(dropout_key, 0))
        up = self.up_proj(x, dropout_key=_key(dropout_key, 1))
        return self.down_proj(jax.nn.silu(gate) * up, dropout_key=_key(dropout_key, 2))
