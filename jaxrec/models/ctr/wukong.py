"""WuKong (Zhang et al., ICML 2024): stacked Wukong layers of a factorization-machine block (FMB)
and a linear compression block (LCB), then an MLP.

Layer on ``X`` [B, n, d] (``n`` embeddings; layer 0 takes the F field embeddings):
- ``FMB(X) = reshape(MLP(LN(flatten(X (X^T Y)))))`` [B, n_F, d], the optimised FM
  ``X X^T Y`` with a learned projection ``Y`` [n, k] (sec. 3.4);
- ``LCB(X) = W_L X`` [B, n_L, d];
- ``X' = LN(concat(FMB, LCB) + res(X))`` with ``res`` the identity when ``n = n_F + n_L`` and a
  learned [n_F + n_L, n] map otherwise; LN over ``d``.
The logit is ``MLP(flatten(X_L))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.ctr.deepfm import MLP
from jaxrec.models.ctr.embedding import FieldEmbedding

__all__ = ["WuKong", "WukongLayer"]


class WukongLayer(nnx.Module):
    """One FMB + LCB layer: [B, n, d] -> [B, n_F + n_L, d]."""

    def __init__(
        self,
        n: int,
        dim: int,
        n_fmb: int,
        n_lcb: int,
        rank: int,
        hidden: Sequence[int],
        *,
        rngs: nnx.Rngs,
    ):
        init = nnx.initializers.lecun_normal()
        self.n_fmb, self.dim = n_fmb, dim
        self.proj = nnx.Param(init(rngs.params(), (n, rank)))
        self.fm_norm = nnx.LayerNorm(n * rank, rngs=rngs)
        self.fm_mlp = MLP(n * rank, hidden, n_fmb * dim, rngs=rngs)
        self.lcb = nnx.Param(init(rngs.params(), (n_lcb, n)))
        out = n_fmb + n_lcb
        self.res = None if out == n else nnx.Param(init(rngs.params(), (out, n)))
        self.norm = nnx.LayerNorm(dim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b = x.shape[0]
        fm = jnp.einsum("bnd,bmd,mk->bnk", x, x, self.proj[...])
        fmb = self.fm_mlp(self.fm_norm(jnp.reshape(fm, (b, -1))))
        fmb = jnp.reshape(fmb, (b, self.n_fmb, self.dim))
        lcb = jnp.einsum("ln,bnd->bld", self.lcb[...], x)
        res = x if self.res is None else jnp.einsum("on,bnd->bod", self.res[...], x)
        return self.norm(jnp.concatenate([fmb, lcb], 1) + res)


class WuKong(nnx.Module):
    """``num_layers`` Wukong layers (``n_fmb`` + ``n_lcb`` outputs each) and a final MLP."""

    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_sequences: int,
        dim: int,
        *,
        num_layers: int = 3,
        n_fmb: int = 16,
        n_lcb: int = 16,
        rank: int = 8,
        fmb_hidden: Sequence[int] = (200, 200),
        hidden: Sequence[int] = (400, 400),
        rngs: nnx.Rngs,
    ):
        self.embedding = FieldEmbedding(vocab_sizes, num_sequences, dim, rngs=rngs)
        sizes = [len(vocab_sizes)] + [n_fmb + n_lcb] * num_layers
        self.layers = nnx.List(
            [WukongLayer(n, dim, n_fmb, n_lcb, rank, fmb_hidden, rngs=rngs) for n in sizes[:-1]]
        )
        self.mlp = MLP(sizes[-1] * dim, hidden, 1, rngs=rngs)

    def __call__(self, x: jax.Array, seqs: Sequence[jax.Array] = ()) -> tuple[jax.Array, jax.Array]:
        """Logit [B] and the field embeddings [B, F, D]."""
        emb, _ = self.embedding(x, seqs)
        h = emb
        for layer in self.layers:
            h = layer(h)
        return self.mlp(jnp.reshape(h, (h.shape[0], -1)))[:, 0], emb
