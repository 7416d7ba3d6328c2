"""The GCN backbone: closed form of the forward pass, dropout semantics, gradients against a\nnumpy back-propagation, and the plain GCN host's normalised propagation against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.data import synthetic_sbm_graph
from jaxrec.graph import EdgeReweight, GraphData
from jaxrec.graph.hosts import gcn
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


def _numpy_backprop(x, adj, w1, b1, w2, b2):
    """Gradients of ``sum(Z^2)``, ``Z = A relu(A X W1 + b1) W2 + b2``, by hand (float64)."""
    xw = x @ w1
    p = adj @ xw + b1
    h = np.maximum(p, 0)
    q = h @ w2
    g = 2 * (adj @ q + b2)  # dL/dZ
    dq = adj.T @ g
    dp = (dq @ w2.T) * (p > 0)
    return {
        "adj": g @ q.T + dp @ xw.T,
        "w1": x.T @ (adj.T @ dp),
        "b1": dp.sum(0),
        "w2": h.T @ dq,
        "b2": g.sum(0),
    }


def test_gradients_through_split_merge_match_numpy_backprop():
    model = GCN(3, 4, 2, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    x = jax.random.normal(jax.random.key(5), (6, 3))
    adj = jax.random.uniform(jax.random.key(6), (6, 6))  # asymmetric: A and A^T both matter

    def loss(p, adj):
        return (nnx.merge(graphdef, p)(x, adj) ** 2).sum()

    g_params, g_adj = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, adj)
    l1, l2 = model.layers
    f64 = lambda v: np.asarray(v, np.float64)
    ref = _numpy_backprop(f64(x), f64(adj), *(f64(v[...]) for v in (
        l1.kernel, l1.bias, l2.kernel, l2.bias)))  # fmt: skip
    got = {
        "adj": g_adj,
        "w1": g_params["layers"][0]["kernel"][...],
        "b1": g_params["layers"][0]["bias"][...],
        "w2": g_params["layers"][1]["kernel"][...],
        "b2": g_params["layers"][1]["bias"][...],
    }
    for name, value in got.items():
        np.testing.assert_allclose(value, ref[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_gcn_host_propagates_with_the_symmetric_normalised_graph():
    """The plain GCN host's eval logits equal ``Â relu(Â X W1 + b1) W2 + b2`` with
    ``Â = D^-1/2 (A + I) D^-1/2`` built in numpy from the 0/1 adjacency."""
    graph = synthetic_sbm_graph(num_nodes=60, num_features=5, num_val=10, num_test=10)
    data = GraphData.from_dataset(graph)
    host = gcn.build(gcn.GCNHostConfig(hidden=8), data)
    params = host.init(jax.random.key(0), data).params
    a = np.asarray(data.adjacency, np.float64) + np.eye(data.num_nodes)
    d = a.sum(1) ** -0.5
    a_hat = d[:, None] * a * d[None, :]
    x = np.asarray(data.features, np.float64)
    (w1, b1), (w2, b2) = (
        (np.asarray(layer["kernel"], np.float64), np.asarray(layer["bias"], np.float64))
        for layer in params["layers"].values()
    )
    expected = a_hat @ (np.maximum(a_hat @ x @ w1 + b1, 0) @ w2) + b2
    logits = host.logits(params, {}, data, jax.random.key(1), EdgeReweight())
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
