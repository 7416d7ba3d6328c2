"""DeepFM (Guo et al., IJCAI 2017): ``y = y_FM + MLP(concat_f e_f)`` sharing one embedding table.

The MLP is ``[F D] -> hidden... -> 1`` with ReLU (FuxiCTR's default ``hidden_activations``) and
optional dropout on the hidden layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.ctr.fm import FM

__all__ = ["MLP", "DeepFM"]


class MLP(nnx.Module):
    """``in_dim -> hidden[0] -> ... -> out_dim``, ReLU + dropout between layers, linear output."""

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int],
        out_dim: int,
        *,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        dims = [in_dim, *hidden, out_dim]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims[:-1], dims[1:], strict=True)]
        )
        # no RNG stream is stored without dropout (a stored key would sit in the model state)
        self.dropout = nnx.Dropout(dropout, rngs=rngs if dropout else None)

    def __call__(self, h: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            h = self.dropout(jax.nn.relu(layer(h)))
        return self.layers[-1](h)


class DeepFM(FM):
    """FM plus a deep component on the concatenated field embeddings."""

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_sequences: int,
        dim: int,
        *,
        hidden: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        super().__init__(vocab_sizes, num_sequences, dim, rngs=rngs)
        self.mlp = MLP(len(vocab_sizes) * dim, hidden, 1, dropout=dropout, rngs=rngs)

    def __call__(self, x: jax.Array, seqs: Sequence[jax.Array] = ()) -> tuple[jax.Array, jax.Array]:
        emb, lin = self.embedding(x, seqs)
        deep = self.mlp(jnp.reshape(emb, (emb.shape[0], -1)))[:, 0]
        return self.bias[...] + lin + self.pair_term(emb) + deep, emb
