"""FinalMLP (Mao et al., AAAI 2023): two gated MLP streams fused by multi-head bilinear fusion.

With ``e = concat_f e_f`` [B, F D]:
- stream-specific feature selection (eq. 2): ``g_i = 2 sigmoid(MLP_g_i(c_i))``, ``h_i = g_i * e``,
  where the context ``c_i`` [D] is a learned vector (the paper's choice when no context fields are
  given); ``MLP_g_i``: ``D -> gate_hidden -> F D``;
- ``o_i = ReLU-MLP_i(h_i)`` (ReLU on every layer);
- fusion (eq. 4-5): split ``o_1``, ``o_2`` into ``num_heads`` chunks; per head
  ``b + w_1^T o_1h + w_2^T o_2h + o_1h^T W_3 o_2h``; the logit is the sum over heads.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.ctr.deepfm import MLP
from jaxrec.models.ctr.embedding import FieldEmbedding

__all__ = ["FinalMLP"]


class FinalMLP(nnx.Module):
    """Two streams ``hidden1`` / ``hidden2`` whose last widths must divide by ``num_heads``."""

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_sequences: int,
        dim: int,
        *,
        hidden1: Sequence[int] = (400, 400, 400),
        hidden2: Sequence[int] = (800,),
        gate_hidden: Sequence[int] = (800,),
        num_heads: int = 1,
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        if hidden1[-1] % num_heads or hidden2[-1] % num_heads:
            raise ValueError(
                f"stream widths {hidden1[-1]}, {hidden2[-1]} not divisible by {num_heads} heads"
            )
        width = len(vocab_sizes) * dim
        self.num_heads = num_heads
        self.embedding = FieldEmbedding(vocab_sizes, num_sequences, dim, rngs=rngs)
        self.context = nnx.Param(jnp.zeros((2, dim)))
        self.gates = nnx.List([MLP(dim, gate_hidden, width, rngs=rngs) for _ in range(2)])
        self.streams = nnx.List(
            [MLP(width, h[:-1], h[-1], dropout=dropout, rngs=rngs) for h in (hidden1, hidden2)]
        )
        d1, d2 = hidden1[-1] // num_heads, hidden2[-1] // num_heads
        self.w1 = nnx.Linear(d1, 1, rngs=rngs)  # w_1 and the head bias b
        self.w2 = nnx.Linear(d2, 1, use_bias=False, rngs=rngs)
        self.w3 = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (num_heads, d1, d2)))

    def __call__(self, x: jax.Array, seqs: Sequence[jax.Array] = ()) -> tuple[jax.Array, jax.Array]:
        """Logit [B] and the field embeddings [B, F, D]."""
        emb, _ = self.embedding(x, seqs)
        e = jnp.reshape(emb, (emb.shape[0], -1))
        outs = []
        for i in range(2):
            gate = 2.0 * jax.nn.sigmoid(self.gates[i](self.context[...][i]))
            outs.append(jax.nn.relu(self.streams[i](e * gate[None, :])))
        o1 = jnp.reshape(outs[0], (e.shape[0], self.num_heads, -1))
        o2 = jnp.reshape(outs[1], (e.shape[0], self.num_heads, -1))
        bilinear = jnp.einsum("bhi,hij,bhj->bh", o1, self.w3[...], o2)
        heads = self.w1(o1)[..., 0] + self.w2(o2)[..., 0] + bilinear
        return jnp.sum(heads, -1), emb
