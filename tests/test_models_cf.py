"""Tests for jaxrec.models.cf: graph construction, LightGCN propagation, scores, sharding."""

import contextlib
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrec.models import (
    MF,
    BipartiteGraph,
    CFModelConfig,
    LightGCN,
    build_bipartite_graph,
    full_scores,
    gather_rows,
    l2_normalize,
    lightgcn_propagate,
    score_pairs,
)

RULES = (("users", "fsdp"), ("items", "fsdp"), ("embed", None))

# 4 users (user 3 isolated), 5 items (item 4 isolated), one duplicate interaction (1, 2).
USERS = np.array([0, 0, 1, 1, 2, 1, 2])
ITEMS = np.array([0, 1, 1, 2, 3, 2, 0])
NUM_USERS, NUM_ITEMS = 4, 5


@contextlib.contextmanager
def single_device_mesh() -> Iterator[None]:
    """1-device mesh + rules: what an unsharded unit test needs to build annotated models."""
    mesh = jax.make_mesh(
        (1, 1), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2, devices=jax.devices()[:1]
    )
    with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
        yield


def make_model(cls, **kw) -> MF | LightGCN:
    cfg = CFModelConfig(num_users=NUM_USERS, num_items=NUM_ITEMS, dim=3, **kw)
    with single_device_mesh():
        return cls(cfg, rngs=nnx.Rngs(0))


def dense_normalized_adjacency(users, items, num_users, num_items) -> np.ndarray:
    n = num_users + num_items
    a = np.zeros((n, n))
    a[users, num_users + items] = 1.0
    a[num_users + items, users] = 1.0
    deg = a.sum(1)
    d = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1.0)), 0.0)
    return d[:, None] * a * d[None, :]


def test_graph_dedup_degrees_and_weights():
    g = build_bipartite_graph(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
    assert g.source.dtype == np.int32 and g.target.dtype == np.int32
    assert g.weight.dtype == np.float32
    assert g.source.shape == (12,)  # 6 distinct pairs, both directions
    assert np.all(np.diff(g.target) >= 0)
    deg = np.bincount(g.target, minlength=g.num_nodes)
    np.testing.assert_array_equal(deg, [2, 2, 2, 0, 2, 2, 1, 1, 0])
    dense = np.zeros((g.num_nodes, g.num_nodes))
    np.add.at(dense, (g.target, g.source), g.weight)
    ref = dense_normalized_adjacency(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
    np.testing.assert_allclose(dense, ref, rtol=1e-6)
    np.testing.assert_allclose(dense, dense.T)


def test_graph_rejects_bad_ids():
    with pytest.raises(ValueError, match="items ids"):
        build_bipartite_graph(np.array([0]), np.array([5]), 1, 5)
    with pytest.raises(ValueError, match="differ in length"):
        build_bipartite_graph(np.array([0, 1]), np.array([0]), 2, 2)


def test_graph_is_a_pytree_with_static_sizes():
    g = build_bipartite_graph(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
    assert len(jax.tree.leaves(g)) == 3
    out = jax.jit(lambda g: g.weight.sum() + g.num_nodes)(g)
    np.testing.assert_allclose(out, g.weight.sum() + 9, rtol=1e-6)


@pytest.mark.parametrize("num_layers", [0, 1, 2, 3])
def test_lightgcn_matches_dense_reference(num_layers):
    model = make_model(LightGCN, num_layers=num_layers)
    g = build_bipartite_graph(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
    user_emb, item_emb = jax.jit(lambda m, g: m.embed(g))(model, g)
    e0 = np.concatenate([model.user_embedding[...], model.item_embedding[...]])
    a_hat = dense_normalized_adjacency(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
    layers, h = [e0], e0
    for _ in range(num_layers):
        h = a_hat @ h
        layers.append(h)
    ref = np.mean(layers, axis=0)
    np.testing.assert_allclose(user_emb, ref[:NUM_USERS], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(item_emb, ref[NUM_USERS:], rtol=1e-5, atol=1e-6)
    # Isolated nodes: finite, only their layer-0 term survives the average.
    np.testing.assert_allclose(user_emb[3], e0[3] / (num_layers + 1), rtol=1e-6)
    np.testing.assert_allclose(item_emb[4], e0[NUM_USERS + 4] / (num_layers + 1), rtol=1e-6)


@pytest.mark.parametrize("cls", [MF, LightGCN])
def test_embedding_gradients_match_numpy_closed_form(cls):
    # L = sum_{u,i} W_ui <e_u, e_i> with [e_U; e_I] = M E0: M = mean_k A^k (LightGCN) or I (MF)
    # gives dL/dE0 = M_U^T W M_I E0 + M_I^T W^T M_U E0.
    model = make_model(cls, num_layers=2) if cls is LightGCN else make_model(cls)
    g = build_bipartite_graph(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
    weights = np.random.default_rng(0).normal(size=(NUM_USERS, NUM_ITEMS))
    graphdef, params = nnx.split(model, nnx.Param)

    def loss(params):
        u, i = nnx.merge(graphdef, params).embed(g)
        return jnp.sum(weights * score_pairs(u[:, None, :], i[None, :, :], kind="dot"))

    grads = nnx.merge(graphdef, jax.jit(jax.grad(loss))(params))
    e0 = np.concatenate([model.user_embedding[...], model.item_embedding[...]]).astype(np.float64)
    if cls is LightGCN:
        a_hat = dense_normalized_adjacency(USERS, ITEMS, NUM_USERS, NUM_ITEMS)
        m = np.mean([np.linalg.matrix_power(a_hat, k) for k in range(3)], axis=0)
    else:
        m = np.eye(NUM_USERS + NUM_ITEMS)
    m_u, m_i = m[:NUM_USERS], m[NUM_USERS:]
    ref = m_u.T @ weights @ m_i @ e0 + m_i.T @ weights.T @ m_u @ e0
    np.testing.assert_allclose(grads.user_embedding[...], ref[:NUM_USERS], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads.item_embedding[...], ref[NUM_USERS:], rtol=1e-4, atol=1e-6)
    value = loss(params)
    u_ref, i_ref = m_u @ e0, m_i @ e0
    np.testing.assert_allclose(value, np.sum(weights * (u_ref @ i_ref.T)), rtol=1e-5)


def test_lightgcn_requires_the_graph():
    with pytest.raises(ValueError, match="BipartiteGraph"):
        make_model(LightGCN).embed()


def test_mf_embed_returns_tables_and_config_validates():
    model = make_model(MF)
    u, i = model.embed()
    assert u.shape == (NUM_USERS, 3) and i.shape == (NUM_ITEMS, 3)
    np.testing.assert_array_equal(u, model.user_embedding[...])
    with pytest.raises(ValueError, match="num_items"):
        CFModelConfig(num_users=2, num_items=0)


def test_mf_gradients_touch_gathered_rows_only():
    model = make_model(MF)
    graphdef, params = nnx.split(model, nnx.Param)
    users = jnp.array([0, 2])
    items = jnp.array([[1, 3], [3, 1]])

    def loss(params):
        u_tab, i_tab = nnx.merge(graphdef, params).embed()
        u = gather_rows(u_tab, users)[:, None, :]
        v = gather_rows(i_tab, items)
        return jnp.sum(score_pairs(u, v, kind="cosine", scale=0.5) ** 2)

    grads = nnx.to_pure_dict(jax.jit(jax.grad(loss))(params))
    user_rows = np.abs(grads["user_embedding"]).sum(1) > 0
    item_rows = np.abs(grads["item_embedding"]).sum(1) > 0
    np.testing.assert_array_equal(user_rows, [True, False, True, False])
    np.testing.assert_array_equal(item_rows, [False, True, False, True, False])


def test_score_pairs_cosine_and_dot():
    key_u, key_v = jax.random.split(jax.random.key(1))
    # Rows of wildly different norms: cosine must not care.
    u = jax.random.normal(key_u, (6, 1, 8)) * jnp.logspace(-3, 3, 6)[:, None, None]
    v = jax.random.normal(key_v, (6, 7, 8)) * 50.0
    v = v.at[0, 0].set(0.0)  # zero vector: score 0, gradient finite
    s = jax.jit(lambda u, v: score_pairs(u, v, kind="cosine", scale=0.5))(u, v)
    assert s.shape == (6, 7)
    assert np.all(np.abs(s) <= 0.5 + 1e-6)
    ref = 0.5 * jnp.sum(l2_normalize(u) * l2_normalize(v), -1)
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-6)
    assert s[0, 0] == 0.0
    np.testing.assert_allclose(score_pairs(u, u, kind="cosine", scale=2.0), 2.0, rtol=1e-5)
    g = jax.jit(jax.grad(lambda v: score_pairs(u, v).sum()))(v)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(
        score_pairs(u, v, kind="dot", scale=3.0), 3.0 * jnp.sum(u * v, -1), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="kind"):
        score_pairs(u, v, kind="cos")
    with pytest.raises(ValueError, match="equal rank"):
        score_pairs(u[:, 0], v)


@pytest.mark.parametrize("kind", ["cosine", "dot"])
def test_full_scores_matches_pairwise(kind):
    key_u, key_v = jax.random.split(jax.random.key(2))
    u = jax.random.normal(key_u, (3, 4))
    items = jax.random.normal(key_v, (5, 4))
    s = full_scores(u, items, kind=kind, scale=0.5)
    assert s.shape == (3, 5)
    ref = score_pairs(u[:, None, :], items[None, :, :], kind=kind, scale=0.5)
    np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-6)


def test_gather_rows_normalize():
    table = jnp.arange(12.0).reshape(4, 3)
    rows = gather_rows(table, jnp.array([[3, 1]]), normalize=True)
    assert rows.shape == (1, 2, 3)
    np.testing.assert_allclose(jnp.linalg.norm(rows, axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(rows[0, 0], table[3] / jnp.linalg.norm(table[3]), rtol=1e-6)


def test_split_on_param_yields_only_params():
    model = make_model(LightGCN)
    _, params, rest = nnx.split(model, nnx.Param, ...)
    assert set(nnx.to_pure_dict(params)) == {"user_embedding", "item_embedding"}
    assert jax.tree.leaves(rest) == []


def test_construction_without_mesh_raises():
    with pytest.raises(ValueError, match="mesh"):
        MF(CFModelConfig(num_users=2, num_items=2, dim=2), rngs=nnx.Rngs(0))


@pytest.mark.parametrize("axis_type", [AxisType.Auto, AxisType.Explicit])
def test_sharded_construction_and_propagation(axis_type):
    mesh = jax.make_mesh((2, 4), ("data", "fsdp"), axis_types=(axis_type,) * 2)
    cfg = CFModelConfig(num_users=16, num_items=24, dim=4)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 16, 60), rng.integers(0, 24, 60)
    g = build_bipartite_graph(users, items, 16, 24)
    with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
        model = LightGCN(cfg, rngs=nnx.Rngs(0))
        for table in (model.user_embedding[...], model.item_embedding[...]):
            assert table.sharding == NamedSharding(mesh, P("fsdp", None))
        user_emb, item_emb = jax.jit(lambda m, g: m.embed(g))(model, g)
    e0 = (np.asarray(model.user_embedding[...]), np.asarray(model.item_embedding[...]))
    ref_u, ref_i = lightgcn_propagate(g, *map(jnp.asarray, e0), num_layers=2)
    np.testing.assert_allclose(user_emb, ref_u, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(item_emb, ref_i, rtol=1e-5, atol=1e-6)
    assert isinstance(g, BipartiteGraph)
