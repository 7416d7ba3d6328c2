"""SLAPS host: trains on a planted graph, the learned graph and the UnGSL hook against a numpy
reference, DAE mask rates, the frozen classifier during the DAE warm-up, vmap over seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxrec.data import synthetic_sbm_graph
from jaxrec.graph import GraphData
from jaxrec.graph.hosts import get_host
from jaxrec.graph.hosts.slaps import SLAPSConfig, SLAPSHost, dae_mask, frozen_until
from jaxrec.graph.trainer import UnGSLSetup, train_host
from jaxrec.graph.ungsl import EdgeReweight

BOOST = 2.0 * float(jax.nn.sigmoid(1.0))


@pytest.fixture(scope="module")
def sbm():
    # SLAPS learns its graph from the features alone (A is unused), so the words carry more signal
    g = synthetic_sbm_graph(
        num_nodes=150, num_features=24, binary=True, q_hi=0.4, num_val=40, num_test=60
    )
    return GraphData.from_dataset(g)


def _config(**changes):
    small = {"k": 5, "hidden_adj": 32, "hidden": 16, "epochs": 100}
    return SLAPSConfig(**{**small, **changes})


def test_trains_well_above_chance_with_ungsl_and_vmapped_seeds(sbm):
    spec = get_host("slaps")
    host = spec.build(_config(), sbm)  # 19 DAE-only steps, then CE + 10 L_DAE
    d = spec.ungsl_defaults("cora")
    conf = np.linspace(0.2, 1.0, sbm.num_nodes)
    setup = UnGSLSetup(confidence=conf, beta=d.beta, tau_init=d.tau_init, lr=d.lr)
    res = train_host(host, sbm, seeds=[0, 1], epochs=100, eval_every=5, ungsl=setup)
    # chance is 1/3: every seed beats it by > 0.25, the mean by > 0.35
    assert res.test_at_best.min() > 0.6 and res.test_at_best.mean() > 0.7
    assert res.best_epoch.min() > 19  # the untrained classifier never wins selection
    assert np.isfinite(res.tau).all() and not np.allclose(
        res.probs_at_best[0], res.probs_at_best[1]
    )


def _reference_graph(gen, x, k):
    """numpy: MLP -> unit rows -> top-(k+1) per row -> ReLU -> (S+S^T)/2 -> D^-1/2 S D^-1/2."""
    g = {n: np.asarray(v, np.float64) for n, v in gen.items()}
    e = np.maximum(x @ g["w1"] + g["b1"], 0) @ g["w2"] + g["b2"]
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    keep = np.argsort(-sim, axis=1, kind="stable")[:, : k + 1]
    s = np.zeros_like(sim)
    np.put_along_axis(s, keep, np.take_along_axis(sim, keep, 1), 1)
    s = np.maximum(s, 0)
    s = (s + s.T) / 2
    d = s.sum(1) ** -0.5
    return d[:, None] * s * d[None, :]


def test_learned_graph_and_ungsl_hook_feed_the_classifier(sbm):
    host = SLAPSHost(_config(), 24, 3)
    params = host.init(jax.random.key(0), sbm).params
    # identity-initialised generator (OpenGSL's "MLP full" when mlp_h = d)
    np.testing.assert_array_equal(params["generator"]["w1"], np.eye(24))
    x = np.asarray(sbm.features, np.float64)
    ref = _reference_graph(params["generator"], x, 5)
    plain = host.learned_graph(params, sbm, EdgeReweight())
    np.testing.assert_allclose(plain, ref, rtol=1e-4, atol=1e-6)
    hook = EdgeReweight(jnp.ones(sbm.num_nodes), jnp.zeros(sbm.num_nodes), beta=0.3)
    boosted = host.learned_graph(params, sbm, hook)
    np.testing.assert_allclose(boosted, BOOST * ref, rtol=1e-4, atol=1e-6)  # zeros stay zero
    # evaluation logits are the classifier GCN on exactly that graph
    clf = nnx.merge(host._graphdef, params).classifier
    w1, b1 = (np.asarray(v[...], np.float64) for v in (clf.layers[0].kernel, clf.layers[0].bias))
    w2, b2 = (np.asarray(v[...], np.float64) for v in (clf.layers[1].kernel, clf.layers[1].bias))
    a = BOOST * ref
    expected = a @ np.maximum(a @ x @ w1 + b1, 0) @ w2 + b2
    logits = host.logits(params, {}, sbm, None, hook)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_dae_mask_rates_match_the_binary_rule():
    x = jax.random.bernoulli(jax.random.key(0), 0.05, (400, 500)).astype(jnp.float32)
    mask = np.asarray(dae_mask(x, jax.random.key(1), ratio=10.0, nr=5.0))
    ones = np.asarray(x) > 0
    n1, n0 = ones.sum(), (~ones).sum()
    p1, p0 = 1 / 10, n1 / n0 * 5 / 10
    for rate, p, n in ((mask[ones].mean(), p1, n1), (mask[~ones].mean(), p0, n0)):
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n)  # within 4 standard errors
    cont = np.asarray(dae_mask(x, jax.random.key(2), 10.0, 5.0, feat_type="continuous"))
    assert abs(cont.mean() - 0.1) < 4 * np.sqrt(0.09 / cont.size)


def test_warmup_freezes_the_classifier_then_trains_it(sbm):
    host = SLAPSHost(_config(epochs=20, epoch_d=5), 24, 3)  # warm-up: 20 // 5 - 1 = 3 steps
    variables = host.init(jax.random.key(0), sbm)
    params, opt = variables.params, host.optimizer()
    opt_state = opt.init(params)

    @jax.jit
    def step(params, state, opt_state, key):
        grad_fn = jax.grad(host.loss, has_aux=True)
        grads, (state, metrics) = grad_fn(params, state, sbm, key, EdgeReweight())
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, grads, metrics

    state, first = variables.state, params["classifier"]
    for t in range(4):
        before = params
        params, state, opt_state, grads, metrics = step(params, state, opt_state, jax.random.key(t))
        clf_grad = jax.tree.leaves(grads["classifier"])
        moved = jax.tree.leaves(jax.tree.map(lambda a, b: a - b, params["classifier"], first))
        if t < 3:  # DAE-only: zero gradient AND zero update (no weight decay, no Adam step)
            assert float(metrics["warmup"]) == 1.0
            assert all(float(jnp.abs(g).max()) == 0.0 for g in clf_grad)
            assert all(float(jnp.abs(m).max()) == 0.0 for m in moved)
        else:  # first classifier step: a fresh Adam moves every coordinate by ~lr
            assert float(metrics["warmup"]) == 0.0
            assert any(float(jnp.abs(g).max()) > 0 for g in clf_grad)
            step_size = jnp.abs(
                params["classifier"]["layers"][1]["bias"] - first["layers"][1]["bias"]
            )
            np.testing.assert_allclose(step_size, 1e-2, rtol=1e-2)
        gen_moved = jnp.abs(params["generator"]["w1"] - before["generator"]["w1"]).max()
        assert float(gen_moved) > 0  # the generator trains from the first step on (DAE loss)
    assert int(state["epoch"]) == 4


def test_frozen_until_counts_steps_without_touching_the_inner_state():
    opt = frozen_until(optax.sgd(1.0), 2)
    p = {"w": jnp.ones(3)}
    s = opt.init(p)
    out = []
    for _ in range(3):
        u, s = opt.update({"w": jnp.full(3, 0.5)}, s, p)
        out.append(float(u["w"][0]))
    assert out == [0.0, 0.0, -0.5]


def test_prefit_pulls_the_generator_towards_the_knn_graph(sbm):
    host = SLAPSHost(_config(mlp_h=8, mlp_epochs=40), 24, 3)
    prefit = host.init(jax.random.key(0), sbm).params["generator"]
    raw = SLAPSHost(_config(mlp_h=8, mlp_epochs=1), 24, 3).init(jax.random.key(0), sbm)
    from jaxrec.graph import ops

    target = ops.top_k_rows(ops.cosine_similarity(sbm.features), 5)
    err = [
        float(jnp.sum((host._similarities(g, sbm.features) - target) ** 2))
        for g in (raw.params["generator"], prefit)
    ]
    assert err[1] < 0.7 * err[0]


def test_warmup_and_bad_config():
    assert SLAPSConfig().warmup_steps == 399  # 2000 // 5 - 1: CE from epoch 400 (1-based) on
    with pytest.raises(ValueError, match="non_linearity"):
        SLAPSConfig(non_linearity="tanh")
