"""PROSE host (stage-free): anchors, anchor message passing, degree loss, UnGSL placement, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.data.synthetic_graph import synthetic_sbm_graph
from jaxrec.graph.data import GraphData
from jaxrec.graph.hosts import HOSTS, prose
from jaxrec.graph.trainer import UnGSLSetup, train_host
from jaxrec.graph.ungsl import EdgeReweight, ungsl_dense

SMALL = prose.ProseConfig(epochs=60, anchor_num=50, contrast_batch_size=100, patience=0)


@pytest.fixture(scope="module")
def data() -> GraphData:
    return GraphData.from_dataset(synthetic_sbm_graph(num_nodes=240, num_features=32, seed=0))


def test_anchors_change_with_the_key():
    a = prose.sample_anchors(jax.random.key(0), 240, 50)
    assert a.shape == (50,) and len(np.unique(a)) == 50
    np.testing.assert_array_equal(a, prose.sample_anchors(jax.random.key(0), 240, 50))
    assert not np.array_equal(np.sort(a), np.sort(prose.sample_anchors(jax.random.key(1), 240, 50)))
    assert prose.sample_anchors(jax.random.key(0), 30, 700).shape == (30,)


def test_anchor_message_passing_and_degree_loss_closed_form():
    r = np.random.default_rng(0).uniform(size=(7, 3)).astype(np.float32)
    h = np.random.default_rng(1).normal(size=(7, 2)).astype(np.float32)
    col = r / r.sum(0, keepdims=True)
    row = r / r.sum(1, keepdims=True)
    np.testing.assert_allclose(prose.anchor_message_passing(r, h), row @ (col.T @ h), rtol=1e-5)
    b = col.T @ r
    expected = -0.03 * np.log(b.sum(1) + 1e-10).sum() / 3
    np.testing.assert_allclose(prose.degree_loss(r, 0.03), expected, rtol=1e-5)


def test_ungsl_uses_anchor_columns_and_node_rows(data):
    host = prose.build(SMALL, data)
    hv = host.init(jax.random.key(0), data)
    key = jax.random.key(4)
    plain, anchors = host.node_anchor_graph(hv.params, data, key, EdgeReweight())
    assert plain.shape == (data.num_nodes, 50) and bool((plain[plain != 0] > 0.1).all())
    n = data.num_nodes
    kappa = 2 * jax.nn.sigmoid(1.0)
    boosted, _ = host.node_anchor_graph(
        hv.params, data, key, EdgeReweight(jnp.ones(n), jnp.zeros(n), 0.3)
    )
    np.testing.assert_allclose(boosted, plain * kappa, rtol=1e-6)
    c = jax.random.uniform(jax.random.key(7), (n,))
    tau = jax.random.uniform(jax.random.key(8), (n,))
    hooked, _ = host.node_anchor_graph(hv.params, data, key, EdgeReweight(c, tau, 0.3))
    np.testing.assert_allclose(
        hooked, ungsl_dense(plain, c[anchors], tau, 0.3, -jnp.inf), rtol=1e-6
    )


def test_trains_above_chance_with_two_seeds_vmapped(data):
    host = prose.build(SMALL, data)
    res = train_host(host, data, seeds=[0, 1], epochs=SMALL.epochs, eval_every=10)
    # chance is 1/3
    assert res.test_at_best.shape == (2,) and (res.test_at_best > 0.7).all(), res.test_at_best
    d = HOSTS["prose"].ungsl_defaults("cora")
    setup = UnGSLSetup(np.full(data.num_nodes, 0.8), d.beta, d.tau_init, d.lr)
    res_u = train_host(host, data, seeds=[0, 1], epochs=SMALL.epochs, eval_every=10, ungsl=setup)
    assert (res_u.test_at_best > 0.7).all() and np.isfinite(res_u.tau).all()
    assert not np.allclose(res_u.tau, d.tau_init)  # tau trains through the anchor graph


def test_ungsl_defaults_carry_the_retuned_pubmed_host_values():
    assert dict(HOSTS["prose"].ungsl_defaults("pubmed").retuned_host)["mi_ratio"] == 0.05
    with pytest.raises(ValueError, match="emb_fusion_ratio"):
        prose.ProseConfig(emb_fusion_ratio=1.5)
