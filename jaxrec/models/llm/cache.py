"""The key/value cache for incremental decoding.

Slots are shared by all rows: a left-padded prompt batch of length T occupies slots ``[0, T)``
(padding slots are marked invalid), and every decode step writes slot ``index`` of every row.
Rotary positions are per row (``positions``), so a row's first real token has position 0
whatever its padding.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

__all__ = ["KVCache"]


@jax.tree_util.register_dataclass  # outermost: registers the finished dataclass
@dataclasses.dataclass(frozen=True)
class KVCache:
    """Per-layer keys and values of every written slot.

    Attributes:
      k: ``[L, B, S, Hkv, Dh]`` rotated keys (S = max cache length).
      v: ``[L, B, S, Hkv, Dh]`` values.
      valid: ``[B, S]`` bool, the slot holds a real (non-padding) token.
      positions: ``[B]`` int32, rotary position id of the next token of each row.
      index: ``[]`` int32, next slot to write (shared by all rows).
    """

    k: jax.Array
    v: jax.Array
    valid: jax.Array
    positions: jax.Array
    index: jax.Array

    @classmethod
    def zeros(
        cls, num_layers: int, batch: int, max_len: int, num_kv_heads: int, head_dim: int, dtype
    ) -> KVCache:
        """An empty cache: nothing valid, every row at position 0, writing slot 0 next."""
        shape = (num_layers, batch, max_len, num_kv_heads, head_dim)
        return cls(
            k=jnp.zeros(shape, dtype),
            v=jnp.zeros(shape, dtype),
            valid=jnp.zeros((batch, max_len), bool),
            positions=jnp.zeros((batch,), jnp.int32),
            index=jnp.zeros((), jnp.int32),
        )

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def take(self, rows: jax.Array) -> KVCache:
        """The cache of rows ``rows [B']`` (beam reordering or expansion); ``index`` is shared."""
        rows = jnp.asarray(rows)
        return KVCache(
            k=jnp.take(self.k, rows, axis=1),
            v=jnp.take(self.v, rows, axis=1),
            valid=jnp.take(self.valid, rows, axis=0),
            positions=jnp.take(self.positions, rows, axis=0),
            index=self.index,
        )
