"""SUBLIME host: NT-Xent against numpy, the per-node loss, FGP init, UnGSL placement, training."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.data.synthetic_graph import synthetic_sbm_graph
from jaxrec.graph.contrastive import feature_column_mask, ntxent_per_node
from jaxrec.graph.data import GraphData
from jaxrec.graph.hosts import HOSTS, sublime
from jaxrec.graph.trainer import train_host
from jaxrec.graph.ungsl import EdgeReweight

SMALL = sublime.SublimeConfig(
    epochs=40, eval_every=20, k=5, hidden_dim=32, embed_dim=16, proj_dim=16,
    cls_epochs=60, cls_lr=0.01,
)  # fmt: skip


@pytest.fixture(scope="module")
def data() -> GraphData:
    return GraphData.from_dataset(synthetic_sbm_graph(num_nodes=240, num_features=32, seed=0))


def _numpy_ntxent(z1, z2, t):
    """The authors' formula: pos / (sum - pos) with exp(cos / T), both directions."""
    u1 = z1 / np.linalg.norm(z1, axis=1, keepdims=True)
    u2 = z2 / np.linalg.norm(z2, axis=1, keepdims=True)
    sim = np.exp(u1 @ u2.T / t)
    pos = np.diag(sim)
    l0 = -np.log(pos / (sim.sum(0) - pos))
    l1 = -np.log(pos / (sim.sum(1) - pos))
    return (l0 + l1) / 2


def test_ntxent_matches_numpy_reference():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(2, 12, 5))
    ours = jax.jit(ntxent_per_node, static_argnums=2)(z1, z2, 0.2)
    np.testing.assert_allclose(ours, _numpy_ntxent(z1, z2, 0.2), rtol=1e-4)
    # Chunked contrast (contrast_batch_size): each chunk is an independent NT-Xent.
    groups = jnp.arange(12) // 5
    chunked = ntxent_per_node(z1, z2, 0.2, groups)
    for g in range(3):
        sl = slice(5 * g, 5 * g + 5)
        np.testing.assert_allclose(chunked[sl], _numpy_ntxent(z1[sl], z2[sl], 0.2), rtol=1e-4)


def test_feature_mask_zeroes_exactly_the_rate():
    m = feature_column_mask(jax.random.key(0), 50, 0.7)
    assert float(m.sum()) == 50 - 35 and set(np.unique(m)) <= {0.0, 1.0}
    assert not np.array_equal(m, feature_column_mask(jax.random.key(1), 50, 0.7))


def test_fgp_init_and_learned_graph(data):
    omega = sublime.fgp_init(data.features, 5)
    s = jax.nn.elu(omega) + 1.0
    np.testing.assert_allclose(np.diag(s), 1.0)  # self-loop
    np.testing.assert_allclose((s > 0.5).sum(1), 6)  # k neighbours + self, others exp(-6)
    np.testing.assert_allclose(s[s < 0.5], np.exp(-6.0), rtol=1e-4)
    g = sublime.learned_graph(omega)
    np.testing.assert_allclose(g, g.T, atol=1e-7)


def test_node_contrastive_loss_averages_to_the_loss(data):
    host = sublime.build(SMALL, data)
    hv = host.init(jax.random.key(0), data)
    key = jax.random.key(3)
    per_node = host.node_contrastive_loss(hv.params, hv.state, data, key)
    loss, (state, _) = host.loss(hv.params, hv.state, data, key, EdgeReweight())
    assert per_node.shape == (data.num_nodes,)
    np.testing.assert_allclose(per_node.sum() / data.num_nodes, loss, rtol=1e-5)
    # Bootstrapping: anchor <- tau_b anchor + (1 - tau_b) S, epoch counter advances.
    expected = 0.9999 * hv.state["anchor"] + 1e-4 * host.graph(hv.params, EdgeReweight())
    np.testing.assert_allclose(state["anchor"], expected, rtol=1e-5, atol=1e-9)
    assert int(state["epoch"]) == 1


def test_ungsl_reweights_the_learner_view_inside_the_contrastive_step(data):
    host = sublime.build(SMALL, data)
    hv = host.init(jax.random.key(0), data)
    n = data.num_nodes
    hook = EdgeReweight(jnp.ones(n), jnp.zeros(n), beta=0.3)
    plain = host.graph(hv.params, EdgeReweight())
    boosted = host.graph(hv.params, hook)
    kappa = 2 * jax.nn.sigmoid(1.0)
    np.testing.assert_allclose(boosted, jnp.where(plain > 1e-5, plain * kappa, 0.0), rtol=1e-6)
    key = jax.random.key(5)
    loss_hooked = host.loss(hv.params, hv.state, data, key, hook)[0]
    by_hand = host._node_losses(hv.params, hv.state, data, key, plain * kappa).mean()
    np.testing.assert_allclose(loss_hooked, by_hand, rtol=1e-5)
    assert abs(float(loss_hooked) - float(host.loss(hv.params, hv.state, data, key,
                                                    EdgeReweight())[0])) > 1e-4  # fmt: skip


def test_trains_above_chance_with_two_seeds_vmapped(data):
    host = sublime.build(SMALL, data)
    res = train_host(host, data, seeds=[0, 1], epochs=SMALL.epochs, eval_every=SMALL.eval_every)
    # chance is 1/3; the evaluation GCN on the learned graph clears it by a wide margin
    assert res.test_at_best.shape == (2,) and (res.test_at_best > 0.7).all(), res.test_at_best
    n = data.num_nodes
    ungsl_res = train_host(host, data, seeds=[0], epochs=20, eval_every=20,
                           ungsl=_setup(np.full(n, 0.5)))  # fmt: skip
    assert np.isfinite(ungsl_res.tau).all() and ungsl_res.test_at_best[0] > 0.7


def _setup(confidence):
    from jaxrec.graph.trainer import UnGSLSetup

    d = HOSTS["sublime"].ungsl_defaults("cora")
    return UnGSLSetup(confidence=confidence, beta=d.beta, tau_init=d.tau_init, lr=d.lr)


def test_ungsl_defaults_and_validation():
    assert HOSTS["sublime"].ungsl_defaults("citeseer").edge_threshold == 1e-5
    with pytest.raises(ValueError, match="n_layers"):
        dataclasses.replace(SMALL, n_layers=1)
