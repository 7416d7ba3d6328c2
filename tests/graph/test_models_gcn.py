"""The GCN backbone: closed form of one forward pass, dropout semantics, gradient flow."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.models import GCN


def test_forward_equals_closed_form():
    model = GCN(3, 4, 2, dropout=0.5, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (5, 3))
    adj = jax.random.uniform(jax.random.key(2), (5, 5))
    l1, l2 = model.layers
    h = np.maximum(adj @ (x @ l1.kernel[...]) + l1.bias[...][None], 0)
    expected = adj @ (h @ l2.kernel[...]) + l2.bias[...][None]
    np.testing.assert_allclose(model(x, adj), expected, rtol=1e-5, atol=1e-6)


def test_init_bounds_follow_torch_linear():
    model = GCN(100, 16, 3, rngs=nnx.Rngs(0))
    k = np.asarray(model.layers[0].kernel[...])
    assert np.abs(k).max() <= 0.1 and np.abs(k).max() > 0.09  # U(-1/sqrt(100), 1/sqrt(100))


def test_dropout_only_with_key_and_scaled():
    model = GCN(3, 64, 2, dropout=0.5, rngs=nnx.Rngs(0))
    x = jnp.ones((4, 3))
    adj = jnp.eye(4)
    _, h_eval = model(x, adj, return_hidden=True)
    _, h_train = model(x, adj, dropout_key=jax.random.key(3), return_hidden=True)
    h_eval, h_train = np.asarray(h_eval), np.asarray(h_train)
    kept = h_train != 0
    assert 0 < kept.sum() < (h_eval != 0).sum()
    np.testing.assert_allclose(h_train[kept], 2 * h_eval[kept], rtol=1e-6)


def test_split_merge_grad_through_adjacency():
    model = GCN(3, 4, 2, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    x = jax.random.normal(jax.random.key(5), (4, 3))

    def loss(p, adj):
        return (nnx.merge(graphdef, p)(x, adj) ** 2).sum()

    g_params, g_adj = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, jnp.eye(4))
    assert np.abs(np.asarray(g_adj)).sum() > 0
    assert all(np.isfinite(np.asarray(v)).all() for v in jax.tree.leaves(g_params))
