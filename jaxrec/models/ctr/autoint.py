"""AutoInt+ (Song et al., CIKM 2019): multi-head self-attention over field embeddings plus an MLP.

Layer ``l`` on fields ``h`` [B, F, d_in]: per head ``Q = h W_Q, K = h W_K, V = h W_V`` (head width
``attention_dim / num_heads``), ``A = softmax(Q K^T [/ sqrt(d_head)])`` over fields, heads
concatenated, ``h' = ReLU(A V + h W_res)`` (eq. 5-8; ``use_scale`` off as in the paper).
``y = w^T flatten(h_L) + MLP(concat_f e_f)`` (the "+" variant's deep part).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.ctr.deepfm import MLP
from jaxrec.models.ctr.embedding import FieldEmbedding

__all__ = ["AutoIntPlus", "FieldSelfAttention"]


class FieldSelfAttention(nnx.Module):
    """One interacting layer: [B, F, d_in] -> [B, F, attention_dim]."""

    def __init__(
        self, d_in: int, attention_dim: int, num_heads: int, *, use_scale: bool, rngs: nnx.Rngs
    ):
        if attention_dim % num_heads:
            raise ValueError(
                f"attention_dim {attention_dim} is not divisible by num_heads {num_heads}"
            )
        self.num_heads, self.use_scale = num_heads, use_scale
        self.q, self.k, self.v, self.res = (
            nnx.Linear(d_in, attention_dim, use_bias=False, rngs=rngs) for _ in range(4)
        )

    def __call__(self, h: jax.Array) -> jax.Array:
        b, f, _ = h.shape

        def heads(t: jax.Array) -> jax.Array:
            return jnp.reshape(t, (b, f, self.num_heads, -1))

        q, k, v = heads(self.q(h)), heads(self.k(h)), heads(self.v(h))
        scores = jnp.einsum("bfhd,bghd->bhfg", q, k)
        if self.use_scale:
            scores = scores / jnp.sqrt(q.shape[-1])
        out = jnp.einsum("bhfg,bghd->bfhd", jax.nn.softmax(scores, -1), v)
        return jax.nn.relu(jnp.reshape(out, (b, f, -1)) + self.res(h))


class AutoIntPlus(nnx.Module):
    """AutoInt+ (``hidden=()`` gives plain AutoInt)."""

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_sequences: int,
        dim: int,
        *,
        attention_layers: int = 2,
        attention_dim: int = 16,
        num_heads: int = 2,
        use_scale: bool = False,
        hidden: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        f = len(vocab_sizes)
        self.embedding = FieldEmbedding(vocab_sizes, num_sequences, dim, rngs=rngs)
        dims = [dim] + [attention_dim] * attention_layers
        self.attention = nnx.List(
            [
                FieldSelfAttention(a, attention_dim, num_heads, use_scale=use_scale, rngs=rngs)
                for a in dims[:-1]
            ]
        )
        self.out = nnx.Linear(f * dims[-1], 1, rngs=rngs)
        self.mlp = MLP(f * dim, hidden, 1, dropout=dropout, rngs=rngs) if hidden else None

    def __call__(self, x: jax.Array, seqs: Sequence[jax.Array] = ()) -> tuple[jax.Array, jax.Array]:
        """Logit [B] and the field embeddings [B, F, D]."""
        emb, _ = self.embedding(x, seqs)
        h = emb
        for layer in self.attention:
            h = layer(h)
        logit = self.out(jnp.reshape(h, (h.shape[0], -1)))[:, 0]
        if self.mlp is not None:
            logit = logit + self.mlp(jnp.reshape(emb, (emb.shape[0], -1)))[:, 0]
        return logit, emb
