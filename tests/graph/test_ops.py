"""Graph ops against small hand-computed graphs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.graph import ops

# A path 0-1-2 plus an isolated node 3.
PATH = np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], np.float32)


def test_self_loops_add_and_remove():
    a = ops.add_self_loops(jnp.asarray(PATH), 2.0)
    np.testing.assert_array_equal(np.diag(a), [2, 2, 2, 2])
    np.testing.assert_array_equal(ops.remove_self_loops(a), PATH)


def test_normalize_symmetric_hand_computed():
    out = np.asarray(jax.jit(ops.normalize_symmetric)(jnp.asarray(PATH)))
    # degrees 1, 2, 1, 0: entry (0, 1) = 1 / sqrt(1 * 2); isolated row and column stay 0.
    expected = np.zeros((4, 4), np.float32)
    expected[0, 1] = expected[1, 0] = expected[1, 2] = expected[2, 1] = 1 / np.sqrt(2)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_normalize_symmetric_uses_row_degrees_of_asymmetric_input():
    a = np.array([[0.0, 2.0], [1.0, 0.0]], np.float32)  # row sums 2, 1
    out = np.asarray(ops.normalize_symmetric(jnp.asarray(a)))
    np.testing.assert_allclose(out, [[0, 2 / np.sqrt(2)], [1 / np.sqrt(2), 0]], rtol=1e-6)
    # a negative row sum (possible for learned graphs) gives zeros, never NaN
    neg = ops.normalize_symmetric(jnp.asarray([[-1.0, 0.0], [0.0, 1.0]]))
    assert np.isfinite(np.asarray(neg)).all()
    np.testing.assert_allclose(neg, [[0, 0], [0, 1]])


def test_normalize_row():
    out = np.asarray(ops.normalize_row(jnp.asarray(PATH)))
    np.testing.assert_allclose(out.sum(1), [1, 1, 1, 0])
    np.testing.assert_allclose(out[1], [0.5, 0, 0.5, 0])


def test_similarities():
    x = jnp.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(ops.inner_product(x), [[1, 1, 0], [1, 2, 0], [0, 0, 0]])
    cos = np.asarray(ops.cosine_similarity(x))
    np.testing.assert_allclose(cos[0, 1], 1 / np.sqrt(2), rtol=1e-6)
    assert cos[2].tolist() == [0, 0, 0]  # zero row: similarity 0, no NaN
    # weighted cosine with weights (1, 0) on head 1 and ones on head 2
    w = jnp.asarray([[1.0, 0.0], [1.0, 1.0]])
    wc = np.asarray(ops.weighted_cosine(x, w))
    np.testing.assert_allclose(wc[0, 1], (1.0 + 1 / np.sqrt(2)) / 2, rtol=1e-6)
    anchors = x[:2]
    np.testing.assert_allclose(ops.weighted_cosine(x, w, anchors), wc[:, :2], rtol=1e-6)
    with pytest.raises(ValueError, match="heads"):
        ops.weighted_cosine(x, jnp.ones((2, 3)))


def test_top_k_rows_ties_by_index_and_self_eligible():
    s = jnp.asarray([[5.0, 1.0, 1.0, 0.0], [2.0, 3.0, 2.0, 9.0], [0.0, 0.0, 0.0, 0.0]])
    out = np.asarray(jax.jit(ops.top_k_rows, static_argnums=1)(s, 2))
    np.testing.assert_array_equal(out[0], [5, 1, 0, 0])  # tie 1 vs 1: lower index kept
    np.testing.assert_array_equal(out[1], [0, 3, 0, 9])
    np.testing.assert_array_equal(ops.top_k_mask(s, 2)[2], [True, True, False, False])
    with pytest.raises(ValueError, match="k must be"):
        ops.top_k_mask(s, 5)


def test_knn_graph_self_included_and_excluded():
    x = jnp.asarray([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    with_self = np.asarray(ops.knn_graph(x, 1))
    np.testing.assert_array_equal(
        with_self, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    )
    without = np.asarray(ops.knn_graph(x, 1, include_self=False))
    np.testing.assert_array_equal(without, with_self - np.eye(4))


def test_epsilon_symmetrize():
    s = jnp.asarray([[0.0, 0.5], [0.1, 0.3]])
    np.testing.assert_allclose(ops.epsilon_neighbourhood(s, 0.2), [[0, 0.5], [0, 0.3]])
    np.testing.assert_allclose(ops.symmetrize(s, "mean"), [[0, 0.3], [0.3, 0.3]])
    np.testing.assert_allclose(ops.symmetrize(s, "sum"), [[0, 0.6], [0.6, 0.6]])
    np.testing.assert_allclose(ops.symmetrize(s, "max"), [[0, 0.5], [0.5, 0.3]])
    with pytest.raises(ValueError, match="mode"):
        ops.symmetrize(s, "min")


def test_dropout_edges_rate_and_rescale():
    a = jnp.ones((200, 200))
    key = jax.random.key(0)
    out = np.asarray(ops.dropout_edges(a, 0.25, key))
    assert set(np.unique(out)) == {0.0, 1.0}
    assert abs((out == 0).mean() - 0.25) < 0.01
    scaled = np.asarray(ops.dropout_edges(a, 0.25, key, rescale=True))
    np.testing.assert_allclose(scaled[out > 0], 1 / 0.75)
    assert (scaled[out == 0] == 0).all()  # same key, same kept entries


def test_spmm_equals_dense_product():
    rng = np.random.default_rng(0)
    a = (rng.random((6, 6)) < 0.4) * rng.random((6, 6))
    rows, cols, values = ops.dense_to_edges(a)
    h = rng.normal(size=(6, 3))
    out = jax.jit(ops.spmm, static_argnums=4)(rows, cols, jnp.asarray(values), jnp.asarray(h), 6)
    np.testing.assert_allclose(out, a @ h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [1, 7, 40])
def test_top_k_mask_equals_lax_top_k_with_ties_and_negatives(k):
    rng = np.random.default_rng(k)
    values = np.round(rng.normal(size=(30, 40)) * 2) / 2  # many ties, negatives, zeros
    values[values == 0] = 0.0  # lax.top_k orders -0.0 below +0.0; we treat them as equal
    values[:3] = rng.normal(size=(3, 40)) * 1e30  # extreme magnitudes
    _, index = jax.lax.top_k(jnp.asarray(values, jnp.float32), k)
    expected = np.zeros(values.shape, bool)
    np.put_along_axis(expected, np.asarray(index), True, axis=1)
    np.testing.assert_array_equal(ops.top_k_mask(jnp.asarray(values, jnp.float32), k), expected)
