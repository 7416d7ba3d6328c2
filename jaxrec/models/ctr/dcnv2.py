"""DCNv2 (Wang et al., WWW 2021), full-rank cross network in the "parallel" structure.

With ``x_0 = concat_f e_f`` [B, F D], cross layer ``l``: ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``
(eq. 1). In parallel with an MLP on ``x_0``; ``y = w^T [x_L ; MLP(x_0)] + b`` (the paper's
parallel structure, FuxiCTR's default ``model_structure``). No first-order term.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.ctr.deepfm import MLP
from jaxrec.models.ctr.embedding import FieldEmbedding

__all__ = ["DCNv2"]


class DCNv2(nnx.Module):
    """Cross network (``num_cross``) + parallel MLP (``hidden``) over one embedding table."""

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_sequences: int,
        dim: int,
        *,
        num_cross: int = 3,
        hidden: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        width = len(vocab_sizes) * dim
        self.embedding = FieldEmbedding(vocab_sizes, num_sequences, dim, rngs=rngs)
        self.cross = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(num_cross)])
        self.mlp = MLP(width, hidden[:-1], hidden[-1], dropout=dropout, rngs=rngs)
        self.out = nnx.Linear(width + hidden[-1], 1, rngs=rngs)

    def __call__(self, x: jax.Array, seqs: Sequence[jax.Array] = ()) -> tuple[jax.Array, jax.Array]:
        """Logit [B] and the field embeddings [B, F, D]."""
        emb, _ = self.embedding(x, seqs)
        x0 = jnp.reshape(emb, (emb.shape[0], -1))
        h = x0
        for layer in self.cross:
            h = x0 * layer(h) + h
        deep = jax.nn.relu(self.mlp(x0))
        return self.out(jnp.concatenate([h, deep], -1))[:, 0], emb
