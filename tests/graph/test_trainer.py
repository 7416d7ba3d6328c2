"""The shared trainer: seed vectorisation, best-validation selection, patience, UnGSL's tau."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec.data import synthetic_sbm_graph
from jaxrec.graph import GraphData, HostVars
from jaxrec.graph.hosts import get_host
from jaxrec.graph.trainer import UnGSLSetup, train_host


@pytest.fixture(scope="module")
def sbm():
    return GraphData.from_dataset(
        synthetic_sbm_graph(num_nodes=150, num_features=16, num_val=40, num_test=60)
    )


def _gcn(data, **changes):
    spec = get_host("gcn")
    return spec.build(spec.config_cls(hidden=16, **changes), data)


def test_gcn_trains_well_above_chance_and_vmap_equals_single_runs(sbm):
    host = _gcn(sbm)
    both = train_host(host, sbm, seeds=[0, 1], epochs=40, eval_every=4)
    assert both.test_at_best.min() > 0.7  # chance is 1/3
    # the loop runs the un-vmapped per-seed computation once per seed
    single = train_host(host, sbm, seeds=[0, 1], epochs=40, eval_every=4, vectorize_seeds=False)
    np.testing.assert_allclose(both.best_val, single.best_val, atol=1e-6)
    np.testing.assert_allclose(both.test_at_best, single.test_at_best, atol=1e-6)
    np.testing.assert_array_equal(both.best_epoch, single.best_epoch)
    np.testing.assert_allclose(both.probs_at_best, single.probs_at_best, atol=1e-5)
    np.testing.assert_allclose(both.val_curve, single.val_curve, atol=1e-6)
    assert not np.allclose(both.probs_at_best[0], both.probs_at_best[1])  # seeds differ
    np.testing.assert_allclose(both.probs_at_best.sum(-1), 1.0, rtol=1e-5)
    assert np.isnan(both.dead_fraction).all() and both.tau is None


# Scripted host: after epoch t (1-based) the first VAL[t-1] validation nodes and TEST[t-1] test
# nodes are classified correctly, so the selection can be checked by hand.
VAL = np.array([1, 3, 3, 2, 4, 4, 0, 5])
TEST = np.array([0, 1, 2, 3, 4, 5, 2, 1])


class ScriptedHost:
    name = "scripted"

    def init(self, key, data):
        return HostVars(params={"w": jnp.zeros(())}, state={"epoch": jnp.asarray(0)})

    def optimizer(self):
        return optax.sgd(0.1)

    def loss(self, params, state, data, key, reweight):
        return params["w"] ** 2, ({"epoch": state["epoch"] + 1}, {})

    def logits(self, params, state, data, key, reweight):
        t = state["epoch"] - 1
        nodes = jnp.arange(10)
        correct = jnp.where(
            nodes < 5, nodes < jnp.asarray(VAL)[t], nodes - 5 < jnp.asarray(TEST)[t]
        )
        return jnp.stack([correct, ~correct], axis=1).astype(jnp.float32) * 3.0


def _toy_data():
    return GraphData(
        features=jnp.zeros((10, 1)),
        labels=jnp.zeros(10, jnp.int32),
        adjacency=jnp.zeros((10, 10)),
        train_mask=jnp.zeros(10, bool),
        val_mask=jnp.arange(10) < 5,
        test_mask=jnp.arange(10) >= 5,
        num_classes=2,
    )


def test_selection_first_best_validation_epoch():
    r = train_host(ScriptedHost(), _toy_data(), seeds=[3], epochs=8)
    # best validation 5/5 at epoch 8
    assert r.best_epoch[0] == 8 and r.best_val[0] == 1.0 and r.test_at_best[0] == pytest.approx(0.2)
    np.testing.assert_allclose(r.val_curve[0], VAL / 5)
    r = train_host(ScriptedHost(), _toy_data(), seeds=[3], epochs=6)
    # 4/5 first reached at epoch 5 (not 6: ties keep the earlier epoch)
    assert r.best_epoch[0] == 5 and r.test_at_best[0] == pytest.approx(0.8)
    expected = np.where(np.arange(10) < 4, 0, 1)
    np.testing.assert_array_equal(r.probs_at_best[0].argmax(-1)[:5], expected[:5])


def test_eval_every_and_patience():
    r = train_host(ScriptedHost(), _toy_data(), seeds=[0], epochs=8, eval_every=2)
    np.testing.assert_array_equal(r.eval_epochs, [2, 4, 6, 8])
    np.testing.assert_allclose(r.val_curve[0], VAL[1::2] / 5)
    assert r.best_epoch[0] == 8
    # patience 2: best 3/5 at epoch 2, no improvement at 3 and 4 -> frozen at epoch 4
    r = train_host(ScriptedHost(), _toy_data(), seeds=[0], epochs=8, patience=2)
    assert r.best_epoch[0] == 2 and r.stopped_epoch[0] == 4
    assert r.test_at_best[0] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="eval_every"):
        train_host(ScriptedHost(), _toy_data(), seeds=[0], epochs=7, eval_every=2)


class ReweightHost:
    """Logits = UnGSL-reweighted fixed graph times a linear map: tau gets a gradient exactly
    through kept edges."""

    name = "reweight"

    def __init__(self, graph):
        self.graph = graph

    def init(self, key, data):
        w = 0.01 * jax.random.normal(key, (data.features.shape[1], data.num_classes))
        return HostVars(params={"w": w}, state={})

    def optimizer(self):
        return optax.adam(0.01)

    def logits(self, params, state, data, key, reweight):
        return reweight.dense(self.graph) @ (data.features @ params["w"])

    def loss(self, params, state, data, key, reweight):
        logits = self.logits(params, state, data, key, reweight)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, data.labels)
        return jnp.mean(jnp.where(data.train_mask, ce, 0.0)), (state, {})


def test_ungsl_tau_trains_and_dead_thresholds_are_counted(sbm):
    n = sbm.num_nodes
    host = ReweightHost(sbm.adjacency + jnp.eye(n))
    conf = np.linspace(0.2, 1.0, n).astype(np.float32)
    r = train_host(
        host,
        sbm,
        seeds=[0, 1],
        epochs=20,
        ungsl=UnGSLSetup(confidence=conf, beta=0.3, tau_init=0.5, lr=0.05),
    )
    assert r.tau.shape == (2, n)
    # only train rows of the re-weighted graph reach the loss, so exactly the train nodes with a
    # kept-branch in-edge (some c_j >= tau_i, self-loop included) get gradient and move
    a = np.asarray(sbm.adjacency) + np.eye(n)
    has_kept = np.array([(conf[a[i] > 0] >= 0.5).any() for i in range(n)])
    expected_live = np.asarray(sbm.train_mask) & has_kept
    assert 0 < expected_live.sum() < n
    for tau in r.tau:
        np.testing.assert_array_equal(np.abs(tau - 0.5) > 1e-4, expected_live)
    # dead (zero-gradient) fraction at the first evaluation: everything else
    np.testing.assert_allclose(r.dead_fraction[:, 0], 1 - expected_live.mean(), atol=1e-6)
    # all thresholds above every confidence: nothing trains, everything dead
    r = train_host(
        host,
        sbm,
        seeds=[0],
        epochs=4,
        ungsl=UnGSLSetup(confidence=conf, beta=0.3, tau_init=1.5, lr=0.05),
    )
    np.testing.assert_array_equal(r.tau, 1.5)
    np.testing.assert_array_equal(r.dead_fraction, 1.0)
    with pytest.raises(ValueError, match="confidence has shape"):
        train_host(
            host,
            sbm,
            seeds=[0],
            epochs=2,
            ungsl=UnGSLSetup(confidence=conf[:5], beta=0.3, tau_init=0.5, lr=0.1),
        )
