"""FM, FwFM and FmFM: second-order pair interactions over field embeddings e [B, F, D].

- LR: ``y = b + sum_f w_f`` (logistic regression, first order only; the baseline).
- FM (Rendle 2010): ``y = b + sum_f w_f + sum_{i<j} <e_i, e_j>``, computed in O(F D) as
  ``0.5 * sum_d [(sum_f e_fd)^2 - sum_f e_fd^2]``.
- FwFM (Pan et al., WWW 2018): ``sum_{i<j} r_ij <e_i, e_j>`` with a learned scalar per field pair.
- FmFM (Sun et al., WWW 2021): ``sum_{i<j} e_i^T M_ij e_j`` with a learned [D, D] matrix per pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.models.ctr.embedding import FieldEmbedding

__all__ = ["FM", "LR", "FmFM", "FwFM", "fm_interaction", "pair_indices", "weighted_pair_sum"]


def fm_interaction(emb: jax.Array) -> jax.Array:
    """``sum_{i<j} <e_i, e_j>`` [B] from e [B, F, D] via the O(F D) identity."""
    s = jnp.sum(emb, 1)
    return 0.5 * jnp.sum(jnp.square(s) - jnp.sum(jnp.square(emb), 1), -1)


def pair_indices(num_fields: int) -> tuple[np.ndarray, np.ndarray]:
    """Row / column indices of the C(F, 2) pairs i < j, in row-major order."""
    i, j = np.triu_indices(num_fields, 1)
    return i.astype(np.int32), j.astype(np.int32)


def weighted_pair_sum(emb: jax.Array, weight: jax.Array) -> jax.Array:
    """``sum_{i<j} w_ij <e_i, e_j>`` [B] from e [B, F, D] and one weight per pair ``w`` [P]
    (:func:`pair_indices` order), as ``sum_d e_d^T U e_d`` with ``U`` [F, F] strictly upper
    triangular: dense ``O(B F^2 D)`` work instead of a [B, P, D] gather of the pairs."""
    f = emb.shape[1]
    i, j = pair_indices(f)
    upper = jnp.zeros((f, f), emb.dtype).at[i, j].set(weight.astype(emb.dtype))
    return jnp.einsum("bkd,kl,bld->b", emb, upper, emb)


class _PairModel(nnx.Module):
    """``bias + first-order term + pair_term(emb)``; each subclass defines ``pair_term``
    (``[B, F, D] -> [B]``)."""

    pair_term: Callable[[jax.Array], jax.Array]

    def __init__(self, vocab_sizes: Sequence[int], num_sequences: int, dim: int, *, rngs: nnx.Rngs):
        self.embedding = FieldEmbedding(vocab_sizes, num_sequences, dim, rngs=rngs)
        self.bias = nnx.Param(jnp.zeros(()))
        self.num_fields = len(vocab_sizes)

    def __call__(self, x: jax.Array, seqs: Sequence[jax.Array] = ()) -> tuple[jax.Array, jax.Array]:
        """Logit [B] and the field embeddings [B, F, D] (for the L2 regulariser)."""
        emb, lin = self.embedding(x, seqs)
        return self.bias[...] + lin + self.pair_term(emb), emb


class LR(_PairModel):
    """Logistic regression on the one-hot fields (no pair term); the embeddings are returned
    only so that a caller can regularise or align them."""

    def pair_term(self, emb: jax.Array) -> jax.Array:
        return jnp.zeros(emb.shape[:1], emb.dtype)


class FM(_PairModel):
    """Factorisation machine."""

    def pair_term(self, emb: jax.Array) -> jax.Array:
        return fm_interaction(emb)


class FwFM(_PairModel):
    """Field-weighted FM; pair weights r_ij start at 1 (FM)."""

    def __init__(self, vocab_sizes: Sequence[int], num_sequences: int, dim: int, *, rngs: nnx.Rngs):
        super().__init__(vocab_sizes, num_sequences, dim, rngs=rngs)
        self.pair_weight = nnx.Param(jnp.ones(len(pair_indices(self.num_fields)[0])))

    def pair_term(self, emb: jax.Array) -> jax.Array:
        return weighted_pair_sum(emb, self.pair_weight[...])


class FmFM(_PairModel):
    """Field-matrixed FM; each M_ij starts at the identity (FM)."""

    def __init__(self, vocab_sizes: Sequence[int], num_sequences: int, dim: int, *, rngs: nnx.Rngs):
        super().__init__(vocab_sizes, num_sequences, dim, rngs=rngs)
        eye = jnp.broadcast_to(jnp.eye(dim), (len(pair_indices(self.num_fields)[0]), dim, dim))
        self.pair_matrix = nnx.Param(jnp.array(eye))

    def pair_term(self, emb: jax.Array) -> jax.Array:
        i, j = pair_indices(self.num_fields)
        left = jnp.einsum("bpd,pde->bpe", emb[:, i], self.pair_matrix[...])
        return jnp.sum(left * emb[:, j], (-1, -2))
