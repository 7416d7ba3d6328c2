"""One concatenated embedding table for all CTR fields, with per-field row offsets.

Field k's id ``x_k`` in ``[0, V_k)`` reads row ``offset_k + x_k`` of ``table`` [sum_k V_k, D]
(logical axes ``("vocab", "embed")``, so a mesh rule ``("vocab", "fsdp")`` shards the rows). A
sequence field's ``[B, L]`` ids (0 = padding) are mean-pooled over non-padding rows (an all-padding
row gives 0). A first-order table [sum_k V_k, 1] gives the linear term ``sum_k w[x_k]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.models.sharding import take_rows

__all__ = ["FieldEmbedding", "l2_embedding", "sequence_inputs"]


class FieldEmbedding(nnx.Module):
    """``vocab_sizes``: the K categorical fields then the sequence fields, in input order."""

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_sequences: int,
        dim: int,
        *,
        init_std: float = 1e-4,
        rngs: nnx.Rngs,
    ):
        self.num_sequences = num_sequences
        self.offsets = tuple(int(o) for o in np.cumsum([0, *vocab_sizes[:-1]]))
        rows = int(np.sum(vocab_sizes))
        init = nnx.with_partitioning(nnx.initializers.normal(init_std), ("vocab", "embed"))
        lin = nnx.with_partitioning(nnx.initializers.zeros, ("vocab", None))
        self.table = nnx.Param(init(rngs.params(), (rows, dim)))
        self.linear = nnx.Param(lin(rngs.params(), (rows, 1)))

    def _rows(self, tab: jax.Array, x: jax.Array, seqs: Sequence[jax.Array]) -> jax.Array:
        k = x.shape[1]
        out = take_rows(tab, x + jnp.asarray(self.offsets[:k], x.dtype)[None, :])
        pooled = []
        for s, seq in enumerate(seqs):
            e = take_rows(tab, seq + self.offsets[k + s])
            mask = (seq > 0).astype(e.dtype)[..., None]
            pooled.append(jnp.sum(e * mask, 1) / jnp.maximum(jnp.sum(mask, 1), 1.0))
        return jnp.concatenate([out, jnp.stack(pooled, 1)], 1) if pooled else out

    def __call__(self, x: jax.Array, seqs: Sequence[jax.Array] = ()) -> tuple[jax.Array, jax.Array]:
        """Field embeddings [B, F, D] and the first-order term ``sum_f w_f`` [B]
        (F = K categorical + S sequence fields)."""
        if len(seqs) != self.num_sequences:
            raise ValueError(f"expected {self.num_sequences} sequence inputs, got {len(seqs)}")
        emb = self._rows(self.table[...], x, seqs)
        lin = self._rows(self.linear[...], x, seqs)[..., 0].sum(1)
        return emb, lin


def l2_embedding(emb: jax.Array, weight: float) -> jax.Array:
    """Batch-scoped embedding L2: ``weight * sum(e^2) / B`` over the gathered [B, F, D]
    embeddings of a batch (only rows in the batch are penalised). FuxiCTR 2.3.10's
    ``embedding_regularizer`` penalises the whole tables instead (``jaxrec.ctr``'s default;
    this form is its ``loss.regularizer_scope="batch"``)."""
    return weight * jnp.sum(jnp.square(emb)) / emb.shape[0]


def sequence_inputs(seqs: Mapping[str, jax.Array], names: Sequence[str]) -> list[jax.Array]:
    """The sequence arrays in ``names`` order; an unknown name is an error."""
    missing = [n for n in names if n not in seqs]
    if missing:
        raise KeyError(f"sequence field(s) {missing} not in the batch ({list(seqs)})")
    return [seqs[n] for n in names]
