"""Graph convolutional network (Kipf & Welling, ICLR 2017) on a dense normalised adjacency.

OpenGSL's ``GCNEncoder`` conventions (the backbone of every GSL host, README.md "UnGSL"): each
layer is ``H' = A H W + b``; every layer but the last is followed by ReLU and dropout (no dropout
on the input features); weights and biases start as ``torch.nn.Linear``'s default,
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``. The adjacency is whatever the caller passes —
normalised, learned, possibly asymmetric — as a dense ``[n, n]`` array; hosts with edge lists
use :func:`jaxrec.graph.ops.spmm` and :meth:`GCN.layer` directly.

No sharding annotations: graph models run replicated.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["GCN", "GCNLayer", "torch_linear_init"]


def torch_linear_init(fan_in: int):
    """``torch.nn.Linear``'s default init (kernel and bias): ``U(+-1/sqrt(fan_in))``."""
    bound = 1.0 / jnp.sqrt(float(fan_in))

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class GCNLayer(nnx.Module):
    """``A (H W) + b`` for a dense ``A`` [n, n] and ``H`` [n, in_dim]."""

    def __init__(self, in_dim: int, out_dim: int, *, bias: bool = True, rngs: nnx.Rngs):
        init = torch_linear_init(in_dim)
        self.kernel = nnx.Param(init(rngs.params(), (in_dim, out_dim)))
        self.bias = nnx.Param(init(rngs.params(), (out_dim,))) if bias else None

    def transform(self, h: jax.Array) -> jax.Array:
        """The feature transform ``H W`` alone (for callers that propagate with an edge list)."""
        return h @ self.kernel[...]

    def __call__(self, h: jax.Array, adj: jax.Array) -> jax.Array:
        out = adj @ self.transform(h)
        return out if self.bias is None else out + self.bias[...][None, :]


class GCN(nnx.Module):
    """A stack of :class:`GCNLayer`: ``in_dim -> hidden_dims... -> out_dim``.

    Args:
      in_dim: feature size d.
      hidden_dims: one int (2-layer GCN) or the sizes of every hidden layer.
      out_dim: output size (number of classes).
      dropout: dropout rate after every hidden activation (OpenGSL: 0.5).
      bias: add a bias in every layer.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: int | Sequence[int],
        out_dim: int,
        *,
        dropout: float = 0.5,
        bias: bool = True,
        rngs: nnx.Rngs,
    ):
        hidden = (hidden_dims,) if isinstance(hidden_dims, int) else tuple(hidden_dims)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout=}")
        dims = (in_dim, *hidden, out_dim)
        self.layers = nnx.List(
            [GCNLayer(a, b, bias=bias, rngs=rngs) for a, b in itertools.pairwise(dims)]
        )
        self.dropout = dropout

    def __call__(
        self,
        x: jax.Array,
        adj: jax.Array,
        *,
        dropout_key: jax.Array | None = None,
        return_hidden: bool = False,
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        """Logits [n, out_dim] (and, with ``return_hidden``, the last hidden layer's output after
        activation and dropout). Dropout is applied only when ``dropout_key`` is given."""
        if adj.shape != (x.shape[0], x.shape[0]):
            raise ValueError(f"adj must be [{x.shape[0]}, {x.shape[0]}], got {adj.shape}")
        h = x
        keys = jax.random.split(dropout_key, len(self.layers)) if dropout_key is not None else None
        for i, layer in enumerate(self.layers[:-1]):
            h = jax.nn.relu(layer(h, adj))
            if keys is not None and self.dropout > 0:
                keep = jax.random.bernoulli(keys[i], 1.0 - self.dropout, h.shape)
                h = jnp.where(keep, h / (1.0 - self.dropout), 0.0)
        out = self.layers[-1](h, adj)
        return (out, h) if return_hidden else out
