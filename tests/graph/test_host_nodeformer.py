"""NodeFormer host: random features vs softmax, dense == kernel form, UnGSL placement, training."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.data.synthetic_graph import synthetic_sbm_graph
from jaxrec.graph.data import GraphData
from jaxrec.graph.hosts import HOSTS
from jaxrec.graph.hosts import nodeformer as nf
from jaxrec.graph.trainer import UnGSLSetup, train_host
from jaxrec.graph.ungsl import EdgeReweight

# A sparse, strongly homophilous SBM: NodeFormer's 3-hop relational bias over-smooths denser ones.
SMALL = nf.NodeFormerConfig(epochs=60, normalize_features=False)


@pytest.fixture(scope="module")
def data() -> GraphData:
    g = synthetic_sbm_graph(num_nodes=240, num_features=32, p_in=0.03, p_out=0.001, seed=0)
    return GraphData.from_dataset(g)


def test_random_feature_attention_approaches_softmax():
    q, k = 0.5 * jax.random.normal(jax.random.key(0), (2, 1, 16, 8))
    v = jax.random.normal(jax.random.key(1), (1, 16, 4))
    exact = jax.nn.softmax(jnp.einsum("hnd,hjd->hnj", q, k), axis=-1) @ v

    def err(m, seed):
        proj = nf.orthogonal_random_features(jax.random.key(seed), m, 8)
        qf = nf.positive_random_features(q, proj, True)
        kf = nf.positive_random_features(k, proj, False)
        return float(jnp.abs(nf.kernel_attention(qf, kf, v) - exact).mean())

    small = np.mean([err(8, s) for s in range(10)])
    large = np.mean([err(2048, s) for s in range(10)])
    # Monte-Carlo error shrinks like 1/sqrt(M): 256x the features, expect ~16x smaller error
    assert large < small / 4 and large < 0.05, (small, large)


def test_dense_form_equals_kernel_form(data):
    host = nf.build(SMALL, data)
    dense = nf.build(dataclasses.replace(SMALL, attention="dense"), data)
    p = host.init(jax.random.key(0), data).params
    for train in (True, False):  # with and without Gumbel noise
        a = host._forward(p, data, jax.random.key(3), train, EdgeReweight())[0]
        b = dense._forward(p, data, jax.random.key(3), train, EdgeReweight())[0]
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_ungsl_scales_the_attention_before_aggregation(data):
    cfg = dataclasses.replace(SMALL, rb_order=0)  # isolate the all-pair attention
    host = nf.build(cfg, data)
    p = host.init(jax.random.key(0), data).params
    layer = nf.nnx.merge(host._def, p).layers[0]
    z = jax.random.normal(jax.random.key(1), (data.num_nodes, cfg.hidden))
    n = data.num_nodes
    plain, ll = host._attend(layer, z, jax.random.key(2), True, EdgeReweight())
    hooked, ll_h = host._attend(layer, z, jax.random.key(2), True,
                                EdgeReweight(jnp.ones(n), jnp.zeros(n), 0.3))  # fmt: skip
    bias = layer.wo.bias[...][None, :]
    kappa = 2 * jax.nn.sigmoid(1.0)
    np.testing.assert_allclose(hooked - bias, kappa * (plain - bias), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ll, ll_h)  # the edge regulariser sees the un-reweighted attention


def test_init_follows_torch_linear(data):
    # kernel and bias U(+-1/sqrt(fan_in)): Flax's LeCun-normal default collapsed some seeds
    p = nf.build(SMALL, data).init(jax.random.key(0), data).params
    for w, fan_in in ((p["inp"], 32), (p["layers"][0]["wq"], 32), (p["layers"][0]["wo"], 128)):
        for a in (w["kernel"], w["bias"]):
            bound = 1.0 / np.sqrt(fan_in)
            assert np.abs(a).max() <= bound and np.abs(a).max() > 0.9 * bound


def test_every_seed_trains_well_above_chance_with_and_without_ungsl(data):
    host = nf.build(SMALL, data)
    # Chance is 1/3; every seed must clear 0.75 (margin > 0.4). Measured 0.94-0.97 on seeds 0-5;
    # with Flax's default init seed 1 collapsed to 0.30 (train CE stuck at ln 3).
    res = train_host(host, data, seeds=[0, 1, 2, 3], epochs=SMALL.epochs, eval_every=10)
    assert res.test_at_best.shape == (4,), res.test_at_best
    assert res.test_at_best.min() > 0.75, res.test_at_best
    d = HOSTS["nodeformer"].ungsl_defaults("cora")
    setup = UnGSLSetup(np.full(data.num_nodes, 0.8), d.beta, d.tau_init, d.lr)
    res_u = train_host(host, data, seeds=[0, 1], epochs=SMALL.epochs, eval_every=10, ungsl=setup)
    assert res_u.test_at_best.min() > 0.75, res_u.test_at_best
    assert np.isfinite(res_u.tau).all() and not np.allclose(res_u.tau, d.tau_init)


def test_bad_config():
    with pytest.raises(ValueError, match="attention"):
        nf.NodeFormerConfig(attention="sparse")


@pytest.mark.parametrize(("mode", "hops"), [("squaring", (1, 2, 4)), ("consecutive", (1, 2, 3))])
def test_relational_bias_graphs_are_normalised_powers_of_a_plus_i(data, mode, hops):
    cfg = nf.NodeFormerConfig(rb_powers=mode, rb_order=3)
    host = nf.build(cfg, data)
    a = (np.asarray(data.adjacency) != 0).astype(np.int64) + np.eye(data.num_nodes, dtype=np.int64)
    for (rows, cols, vals), hop in zip(host._bias_graphs, hops, strict=True):
        pattern = np.linalg.matrix_power(a, hop) != 0
        dense = np.zeros(pattern.shape)
        dense[rows, cols] = vals
        deg = pattern.sum(axis=1)
        np.testing.assert_allclose(dense, pattern / np.sqrt(np.outer(deg, deg)), rtol=1e-6)
