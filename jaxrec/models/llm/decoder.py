"""Decoder-only transformer (Llama / Qwen2 / Mistral family) with a KV cache.

``x_0 = E[ids]``; each block ``l`` computes ``x += Attn(RMSNorm(x))``, ``x += MLP(RMSNorm(x))``;
``logits = RMSNorm(x_L) W_out`` with ``W_out = E^T`` when embeddings are tied.

Layer parameters are stored stacked, ``[L, ...]`` (logical axis ``"layers"``, replicated by the
default rules). ``cfg.scan_layers=True`` runs the blocks with ``lax.scan`` over that stack (one
compiled block); ``False`` unrolls a Python loop over the same stack (layer ``l`` is the slice
``[l]``), so both layouts load the same checkpoint and give identical logits. ``cfg.remat``
wraps each block in ``jax.checkpoint``.

Padding and positions. Prompts are left-padded; ``attention_mask [B, T]`` marks real tokens.
The rotary position of a token is the number of real tokens before it in its row
(``cumsum(mask) - 1``), and a query attends to real keys at or before its own slot (and, with a
sliding window W, at most W - 1 slots back). Outputs at padding positions are finite but
meaningless.

Sharding. Parameters carry logical axis names (vocab, embed, heads, kv_heads, mlp, layers);
build the model under :func:`jaxrec.train.mesh_context` to shard them. Activations are left to
GSPMD propagation, so meshes must use ``axis_type="auto"`` (jaxrec's default for model code);
Explicit meshes would need an ``out_sharding`` on every contraction over a sharded axis. Without
a mesh the names are kept as metadata only and the model lives on the default device.

Randomness. The modules hold no RNG; LoRA dropout is active only when a ``dropout_key`` is
passed to :meth:`Decoder.__call__`.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.models.llm.cache import KVCache
from jaxrec.models.llm.config import LLMConfig
from jaxrec.models.llm.layers import (
    MLP,
    Attention,
    RMSNorm,
    make_param,
    rope_cos_sin,
    rope_inv_freq,
)
from jaxrec.models.sharding import take_rows

__all__ = ["Block", "Decoder", "attention_mask_for_slots", "sharding_scope"]


def sharding_scope() -> contextlib.AbstractContextManager:
    """Eager sharding when a mesh is set; otherwise variables keep their axis names as metadata
    only, so a model can be built without a mesh."""
    if jax.sharding.get_abstract_mesh().empty:
        return nnx.use_eager_sharding(False)
    return contextlib.nullcontext()


def attention_mask_for_slots(
    valid: jax.Array, query_slots: jax.Array, window: int | None
) -> jax.Array:
    """``[B, T, S]`` bool: key slot s is valid, ``s <= query slot`` and (with a window W)
    ``query slot - s < W``.

    Args:
      valid: ``[B, S]`` bool, slot s holds a real token.
      query_slots: ``[T]`` int, the slot of each query.
      window: sliding-window size or None.
    """
    slots = jnp.arange(valid.shape[1])
    allowed = slots[None, :] <= query_slots[:, None]
    if window is not None:
        allowed = allowed & (query_slots[:, None] - slots[None, :] < window)
    return valid[:, None, :] & allowed[None]


class Block(nnx.Module):
    """Pre-norm decoder block; attribute names mirror the HF checkpoints'."""

    def __init__(self, cfg: LLMConfig, *, stack: tuple[int, ...] = (), rngs: nnx.Rngs) -> None:
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg, stack=stack)
        self.self_attn = Attention(cfg, stack=stack, rngs=rngs)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg, stack=stack)
        self.mlp = MLP(cfg, stack=stack, rngs=rngs)

    def __call__(self, x, *, cos, sin, mask, kv=None, index=None, dropout_key=None):
        attn_key = mlp_key = None
        if dropout_key is not None:
            attn_key, mlp_key = jax.random.split(dropout_key)
        h, kv = self.self_attn(
            self.input_layernorm(x),
            cos=cos,
            sin=sin,
            mask=mask,
            kv=kv,
            index=index,
            dropout_key=attn_key,
        )
        x = x + h
        x = x + self.mlp(self.post_attention_layernorm(x), dropout_key=mlp_key)
        return x, kv


class Decoder(nnx.Module):
    """Causal language model ``ids [B, T] -> logits [B, T, V]`` with KV-cache decoding.

    Construct as ``Decoder(cfg, rngs=nnx.Rngs(0))`` (under ``mesh_context`` to shard).
    """

    def __init__(self, cfg: LLMConfig, *, rngs: nnx.Rngs) -> None:
        self.cfg = cfg
        with sharding_scope():
            normal = nnx.initializers.normal(cfg.init_std)
            self.embed_tokens = make_param(
                nnx.Param, normal, rngs.params(), (cfg.vocab_size, cfg.hidden_size),
                ("vocab", "embed"), cfg.weight_dtype, (),
            )  # fmt: skip
            self.layers = Block(cfg, stack=(cfg.num_layers,), rngs=rngs)
            self.norm = RMSNorm(cfg.hidden_size, cfg)
            self.lm_head = nnx.data(None)
            if not cfg.tie_embeddings:
                self.lm_head = make_param(
                    nnx.Param, normal, rngs.params(), (cfg.hidden_size, cfg.vocab_size),
                    ("embed", "vocab"), cfg.weight_dtype, (),
                )  # fmt: skip

    # ----------------------------------------------------------------- training / scoring

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        *,
        dropout_key: jax.Array | None = None,
    ) -> jax.Array:
        """Logits of every position.

        Args:
          input_ids: ``[B, T]`` int token ids in ``[0, vocab_size)``.
          attention_mask: ``[B, T]`` (bool or 0/1), 1 for real tokens; None means all real.
          dropout_key: enables LoRA dropout (training); None is deterministic.

        Returns:
          ``[B, T, V]`` float32 logits.
        """
        return self._logits(self._forward(input_ids, attention_mask, dropout_key))

    def hidden_states(
        self, input_ids: jax.Array, attention_mask: jax.Array | None = None
    ) -> jax.Array:
        """The last layer's states after the final norm, ``[B, T, D]`` float32 (HF's
        ``output_hidden_states[-1]``); deterministic. Arguments as for :meth:`__call__`."""
        x = self._forward(input_ids, attention_mask, None)
        return self.norm(x).astype(jnp.float32)

    def _forward(self, input_ids, attention_mask, dropout_key) -> jax.Array:
        """The residual stream after the last block, ``[B, T, D]``."""
        mask = self._check_inputs(input_ids, attention_mask)
        positions = jnp.maximum(jnp.cumsum(mask, axis=1, dtype=jnp.int32) - 1, 0)
        attn = attention_mask_for_slots(
            mask, jnp.arange(input_ids.shape[1]), self.cfg.sliding_window
        )
        x, _ = self._run_blocks(
            self._embed(input_ids), positions, attn, kv=None, index=None, dropout_key=dropout_key
        )
        return x

    # ----------------------------------------------------------------- decoding

    def init_cache(self, batch: int, max_len: int, dtype=None) -> KVCache:
        """An empty cache for ``batch`` rows and ``max_len`` slots (dtype: compute dtype)."""
        if batch < 1 or max_len < 1:
            raise ValueError(
                f"init_cache needs batch >= 1 and max_len >= 1, got {batch=}, {max_len=}"
            )
        cfg = self.cfg
        return KVCache.zeros(
            cfg.num_layers, batch, max_len, cfg.num_kv_heads, cfg.dim_per_head,
            cfg.compute_dtype if dtype is None else dtype,
        )  # fmt: skip

    def prefill(
        self, input_ids: jax.Array, attention_mask: jax.Array | None, cache: KVCache
    ) -> tuple[jax.Array, KVCache]:
        """Runs left-padded prompts ``[B, T]`` and writes them into slots
        ``[cache.index, cache.index + T)`` (``[0, T)`` for a fresh cache).

        Returns:
          ``(logits [B, T, V], cache)`` with the logits equal to :meth:`__call__`'s.
        """
        mask = self._check_inputs(input_ids, attention_mask)
        return self._extend(input_ids, mask, cache)

    def decode(self, token_ids: jax.Array, cache: KVCache) -> tuple[jax.Array, KVCache]:
        """Feeds one new token per row (``[B]``) at slot ``cache.index``.

        Returns:
          ``(logits [B, V], cache)`` with the cache advanced by one slot.
        """
        if token_ids.ndim != 1:
            raise ValueError(f"decode expects token_ids of shape [B], got {token_ids.shape}")
        ids = token_ids[:, None]
        mask = self._check_inputs(ids, None)
        logits, cache = self._extend(ids, mask, cache)
        return logits[:, 0], cache

    def _extend(self, ids: jax.Array, mask: jax.Array, cache: KVCache) -> tuple[jax.Array, KVCache]:
        b, t = ids.shape
        if cache.valid.shape[0] != b:
            raise ValueError(f"cache has {cache.valid.shape[0]} rows but the input has {b}")
        if t > cache.max_len:
            raise ValueError(f"{t} new tokens do not fit a cache of {cache.max_len} slots")
        if not isinstance(cache.index, jax.core.Tracer) and int(cache.index) + t > cache.max_len:
            raise ValueError(
                f"cache overflow: writing {t} tokens at slot {int(cache.index)} of {cache.max_len}"
            )
        positions = cache.positions[:, None] + jnp.cumsum(mask, axis=1, dtype=jnp.int32) - 1
        valid = jax.lax.dynamic_update_slice(cache.valid, mask, (0, cache.index))
        attn = attention_mask_for_slots(valid, cache.index + jnp.arange(t), self.cfg.sliding_window)
        x, (k, v) = self._run_blocks(
            self._embed(ids),
            jnp.maximum(positions, 0),
            attn,
            kv=(cache.k, cache.v),
            index=cache.index,
            dropout_key=None,
        )
        new_cache = KVCache(
            k=k,
            v=v,
            valid=valid,
            positions=cache.positions + jnp.sum(mask, axis=1, dtype=jnp.int32),
            index=cache.index + t,
        )
        return self._logits(x), new_cache

    # ----------------------------------------------------------------- internals

    def _check_inputs(self, input_ids: jax.Array, attention_mask: jax.Array | None) -> jax.Array:
        """Validates shapes (and, for concrete ids, the id range); returns a bool mask."""
        if input_ids.ndim != 2 or not jnp.issubdtype(input_ids.dtype, jnp.integer):
            raise ValueError(
                f"input_ids must be an integer array [B, T], got {input_ids.dtype}{input_ids.shape}"
            )
        if attention_mask is None:
            return jnp.ones(input_ids.shape, bool)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask shape {attention_mask.shape} differs from input_ids "
                f"{input_ids.shape}"
            )
        if not isinstance(input_ids, jax.core.Tracer):
            ids = np.asarray(input_ids)
            if ids.size and (ids.min() < 0 or ids.max() >= self.cfg.vocab_size):
                raise ValueError(
                    f"input_ids must lie in [0, {self.cfg.vocab_size}), got "
                    f"[{ids.min()}, {ids.max()}]"
                )
        return jnp.asarray(attention_mask).astype(bool)

    def _embed(self, ids: jax.Array) -> jax.Array:
        return take_rows(self.embed_tokens[...], ids).astype(self.cfg.compute_dtype)

    def _logits(self, x: jax.Array) -> jax.Array:
        dtype = self.cfg.compute_dtype
        x = self.norm(x)
        if self.lm_head is None:
            out = jnp.einsum("btd,vd->btv", x, self.embed_tokens[...].astype(dtype))
        else:
            out = jnp.einsum("btd,dv->btv", x, self.lm_head[...].astype(dtype))
        return out.astype(jnp.float32)

    def _run_blocks(self, x, positions, attn, *, kv, index, dropout_key):
        """Runs the L blocks (scanned or unrolled); returns ``(x, (k, v) or None)``."""
        cfg = self.cfg
        inv_freq = rope_inv_freq(cfg.dim_per_head, cfg.rope_theta, cfg.rope_scaling)
        cos, sin = rope_cos_sin(positions, inv_freq)
        graphdef, state = nnx.split(self.layers)
        keys = None if dropout_key is None else jax.random.split(dropout_key, cfg.num_layers)

        def block(h, layer):
            layer_state, layer_kv, key = layer
            return nnx.merge(graphdef, layer_state)(
                h, cos=cos, sin=sin, mask=attn, kv=layer_kv, index=index, dropout_key=key
            )

        if cfg.remat:
            block = jax.checkpoint(block)
        xs = (state, kv, keys)
        if cfg.scan_layers:
            return jax.lax.scan(block, x, xs)
        outs = []
        for layer in range(cfg.num_layers):
            x, layer_kv = block(x, jax.tree.map(lambda a, layer=layer: a[layer], xs))
            outs.append(layer_kv)
        return x, (None if kv is None else jax.tree.map(lambda *a: jnp.stack(a), *outs))
