"""UnGSL re-weighting: the unit tests that follow from the definition (jaxrec/graph/README.md,
"What is tested", 1-6)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrec.graph import ops
from jaxrec.graph.ungsl import ungsl_dense, ungsl_edges

BOOST_MAX = 2 * float(jax.nn.sigmoid(1.0))


def _case(seed, n=7):
    rng = np.random.default_rng(seed)
    s = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    s = (s + s.T).astype(np.float32)  # symmetric, with zeros
    c = rng.random(n).astype(np.float32)
    tau = rng.random(n).astype(np.float32)
    return s, c, tau


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.floats(1e-4, 1.0))
def test_mask_values_and_zeros(seed, beta):
    s, c, tau = _case(seed)
    out = np.asarray(ungsl_dense(jnp.asarray(s), c, tau, beta))
    edge = s > 0
    m = out[edge] / s[edge]
    is_beta = np.isclose(m, beta, rtol=1e-5)
    boosted = (m >= 1 - 1e-6) & (m <= BOOST_MAX + 1e-6)
    assert (is_beta | boosted).all()  # property 1
    assert (out[~edge] == 0).all()  # property 3
    # the boosted branch is taken exactly when c_j >= tau_i
    kept = (c[None, :] >= tau[:, None])[edge]
    assert boosted[kept].all()
    np.testing.assert_allclose(m[~kept], beta, rtol=1e-5)


def test_directional_exactly_where_confidences_differ():
    s, c, _ = _case(1)
    c[2] = c[4]  # nodes 2 and 4 share a confidence
    tau = np.full(7, 0.3, np.float32)
    out = np.asarray(ungsl_dense(jnp.asarray(s), c, tau, 0.5))
    asym = ~np.isclose(out, out.T, rtol=1e-6)
    # a pair (i, j) differs iff the two directions get different masks
    m = np.where(c[None, :] >= tau[:, None], 2 / (1 + np.exp(-(c[None, :] - tau[:, None]))), 0.5)
    expected = (s > 0) & ~np.isclose(m, m.T)
    np.testing.assert_array_equal(asym, expected)  # property 2
    assert asym.any() and not asym[2, 4]


def test_no_tau_gradient_when_all_neighbours_below_threshold():
    s, c, tau = _case(2)
    tau[0] = 1.5  # above every confidence: node 0 is dead
    g = jax.grad(lambda t: (ungsl_dense(jnp.asarray(s), c, t, 0.4) ** 2).sum())(jnp.asarray(tau))
    assert g[0] == 0  # property 4
    live = [(c[s[i] > 0] >= tau[i]).any() for i in range(7)]
    assert all(bool(g[i] != 0) == live[i] for i in range(7))


def test_all_confident_output_dominates_and_beta_irrelevant():
    s, c, _ = _case(3)
    tau = np.full(7, c.min(), np.float32)  # every c_j >= tau_i
    a = np.asarray(ungsl_dense(jnp.asarray(s), c, tau, 0.1))
    b = np.asarray(ungsl_dense(jnp.asarray(s), c, tau, 0.9))
    assert (a >= s).all()  # property 5
    np.testing.assert_array_equal(a, b)


def test_dense_and_edge_forms_agree():
    s, c, tau = _case(4)
    rows, cols, values = ops.dense_to_edges(s)
    e = np.asarray(ungsl_edges(rows, cols, jnp.asarray(values), c, tau, 0.3))
    d = np.asarray(ungsl_dense(jnp.asarray(s), c, tau, 0.3))
    np.testing.assert_allclose(e, d[rows, cols], rtol=1e-6)  # property 6
    # and gradients w.r.t. tau agree
    gd = jax.grad(lambda t: ungsl_dense(jnp.asarray(s), c, t, 0.3).sum())(jnp.asarray(tau))
    ge = jax.grad(lambda t: ungsl_edges(rows, cols, jnp.asarray(values), c, t, 0.3).sum())(
        jnp.asarray(tau)
    )
    np.testing.assert_allclose(gd, ge, rtol=1e-5)
