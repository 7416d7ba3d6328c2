"""GRCN host: trains on the SBM graph, UnGSL applied before fusion, Cora-shaped shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.data import synthetic_sbm_graph
from jaxrec.graph import EdgeReweight, GraphData, ops
from jaxrec.graph.hosts import get_host
from jaxrec.graph.trainer import UnGSLSetup, train_host


@pytest.fixture(scope="module")
def sbm():
    g = synthetic_sbm_graph(num_nodes=150, num_features=16, num_val=40, num_test=60, seed=1)
    return GraphData.from_dataset(g)


def _host(data, **changes):
    spec = get_host("grcn")
    return spec.build(spec.config_cls(k=10, **changes), data)


def test_learned_graph_matches_hand_computed_pipeline(sbm):
    host = _host(sbm)
    params = host.init(jax.random.key(0), sbm).params
    enc = {"w1": params["encoder"]["w1"] * 0.5, "w2": params["encoder"]["w2"]}
    a = np.asarray(sbm.adjacency) + np.eye(sbm.num_nodes)
    d = a.sum(1)
    a_hat = a / np.sqrt(d[:, None] * d[None, :])
    x = np.asarray(sbm.features)
    z = a_hat @ (np.tanh(a_hat @ (x * 0.5)) * 1.0)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    s = z @ z.T
    kth = -np.sort(-s, axis=1)[:, 9:10]
    s_k = np.where(s >= kth, s, 0)
    expected = s_k + s_k.T
    np.testing.assert_allclose(host.learned_graph(enc, sbm, EdgeReweight()), expected, atol=1e-5)


def test_ungsl_applied_to_learned_graph_only(sbm):
    """All confidences 1 and tau 0: every learned edge is boosted by exactly 2 sigma(1), and the
    original graph is fused afterwards, unchanged."""
    host = _host(sbm)
    params = host.init(jax.random.key(0), sbm).params
    n = sbm.num_nodes
    boost = EdgeReweight(jnp.ones(n), jnp.zeros(n), 0.3)
    plain = host.learned_graph(params["encoder"], sbm, EdgeReweight())
    boosted = host.learned_graph(params["encoder"], sbm, boost)
    np.testing.assert_allclose(boosted, plain * 2 * jax.nn.sigmoid(1.0), rtol=1e-5)
    # asymmetric confidences make the fused, normalised graph directional
    c = jnp.linspace(0.1, 1.0, n)
    directed = host.learned_graph(params["encoder"], sbm, EdgeReweight(c, jnp.full(n, 0.5), 0.3))
    assert not np.allclose(directed, directed.T)
    fused = ops.normalize_symmetric(directed + ops.add_self_loops(sbm.adjacency))
    assert np.isfinite(np.asarray(fused)).all()


def test_trains_well_above_chance_with_and_without_ungsl(sbm):
    host = _host(sbm)
    base = train_host(host, sbm, seeds=[0, 1], epochs=30, eval_every=3)
    assert base.test_at_best.mean() > 0.7  # chance 1/3
    conf = base.probs_at_best.max(-1).mean(0)
    with_ungsl = train_host(
        host,
        sbm,
        seeds=[0, 1],
        epochs=30,
        eval_every=3,
        ungsl=UnGSLSetup(confidence=conf, beta=0.4, tau_init=float(np.median(conf)), lr=0.01),
    )
    assert with_ungsl.test_at_best.mean() > 0.7
    assert np.abs(with_ungsl.tau - np.median(conf)).max() > 1e-3  # tau trains
    assert with_ungsl.dead_fraction[:, 0].max() < 0.9
    assert np.isfinite(with_ungsl.probs_at_best).all()
