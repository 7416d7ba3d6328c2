"""CTR models: each logit equals an independent numpy transcription of its formula (float64 loops
over field pairs), on small random weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import AxisType

from jaxrec.models.ctr import (
    FM,
    AutoIntPlus,
    DCNv2,
    DeepFM,
    FinalMLP,
    FmFM,
    FwFM,
    WuKong,
    fm_interaction,
    l2_embedding,
)

RULES = (("vocab", "fsdp"), ("embed", None))
VOCAB = (5, 4, 3, 6)  # three categorical fields + one sequence field
D = 3


def build(cls, **kw):
    mesh = jax.make_mesh(
        (1, 1), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2, devices=jax.devices()[:1]
    )
    with jax.set_mesh(mesh), nnx.logical_axis_rules(RULES):
        model = cls(VOCAB, 1, D, rngs=nnx.Rngs(0), **kw)
    rng = np.random.default_rng(1)
    # Random weights everywhere (the defaults start pair weights at FM and linear at 0).
    for _path, var in nnx.iter_graph(model):
        if isinstance(var, nnx.Param):
            var[...] = jnp.asarray(rng.normal(0, 0.5, var[...].shape), var[...].dtype)
    return model


def inputs():
    rng = np.random.default_rng(2)
    x = np.stack([rng.integers(0, v, 7) for v in VOCAB[:3]], 1).astype(np.int32)
    seq = rng.integers(0, VOCAB[3], (7, 4)).astype(np.int32)
    seq[0] = 0  # an all-padding row pools to 0
    return x, seq


def np_embed(model, x, seq):
    table = np.asarray(model.embedding.table[...], np.float64)
    lin = np.asarray(model.embedding.linear[...], np.float64)[:, 0]
    off = np.concatenate([[0], np.cumsum(VOCAB)[:-1]])
    emb = np.zeros((len(x), 4, D))
    first = np.zeros(len(x))
    for b in range(len(x)):
        for k in range(3):
            emb[b, k] = table[off[k] + x[b, k]]
            first[b] += lin[off[k] + x[b, k]]
        ids = [s for s in seq[b] if s > 0]
        if ids:
            emb[b, 3] = np.mean([table[off[3] + s] for s in ids], 0)
            first[b] += np.mean([lin[off[3] + s] for s in ids])
    return emb, first


def np_pairs(emb, weight):
    out = np.zeros(len(emb))
    p = 0
    for i in range(emb.shape[1]):
        for j in range(i + 1, emb.shape[1]):
            out += weight(p, emb[:, i], emb[:, j])
            p += 1
    return out


@pytest.mark.parametrize("cls", [FM, FwFM, FmFM, DeepFM])
def test_logit_matches_numpy(cls):
    kw = {"hidden": (5, 4)} if cls is DeepFM else {}
    model = build(cls, **kw)
    x, seq = inputs()
    logit, emb_j = model(jnp.asarray(x), [jnp.asarray(seq)])
    emb, first = np_embed(model, x, seq)
    np.testing.assert_allclose(emb_j, emb, rtol=1e-5, atol=1e-6)
    if cls is FwFM:
        r = np.asarray(model.pair_weight[...], np.float64)
        pair = np_pairs(emb, lambda p, a, b: r[p] * np.sum(a * b, -1))
    elif cls is FmFM:
        m = np.asarray(model.pair_matrix[...], np.float64)
        pair = np_pairs(emb, lambda p, a, b: np.einsum("bd,de,be->b", a, m[p], b))
    else:
        pair = np_pairs(emb, lambda p, a, b: np.sum(a * b, -1))
    expect = float(model.bias[...]) + first + pair
    if cls is DeepFM:
        h = emb.reshape(len(x), -1)
        layers = model.mlp.layers
        for n, layer in enumerate(layers):
            h = h @ np.asarray(layer.kernel[...], np.float64) + np.asarray(
                layer.bias[...], np.float64
            )
            if n < len(layers) - 1:
                h = np.maximum(h, 0)
        expect = expect + h[:, 0]
    np.testing.assert_allclose(logit, expect, rtol=1e-4, atol=1e-5)


def test_fm_identity_and_l2():
    emb = np.random.default_rng(3).normal(size=(6, 5, 4))
    pair = np_pairs(emb, lambda p, a, b: np.sum(a * b, -1))  # O(K^2 D) pair sum
    np.testing.assert_allclose(
        fm_interaction(jnp.asarray(emb, jnp.float32)), pair, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        l2_embedding(jnp.asarray(emb), 0.1), 0.1 * np.sum(emb**2) / 6, rtol=1e-6
    )


def np_mlp(layers, h, relu_last=False):
    for n, layer in enumerate(layers):
        h = h @ np.asarray(layer.kernel[...], np.float64) + np.asarray(layer.bias[...], np.float64)
        if n < len(layers) - 1 or relu_last:
            h = np.maximum(h, 0)
    return h


def test_dcnv2_matches_numpy():
    model = build(DCNv2, hidden=(5, 4), num_cross=2)
    x, seq = inputs()
    logit, _ = model(jnp.asarray(x), [jnp.asarray(seq)])
    emb, _ = np_embed(model, x, seq)
    x0 = emb.reshape(len(x), -1)
    h = x0
    for layer in model.cross:  # x_{l+1} = x_0 * (W x_l + b) + x_l
        h = x0 * np_mlp([layer], h) + h
    deep = np_mlp(model.mlp.layers, x0, relu_last=True)
    expect = np_mlp([model.out], np.concatenate([h, deep], -1))[:, 0]
    np.testing.assert_allclose(logit, expect, rtol=1e-4, atol=1e-5)


def test_autoint_matches_numpy():
    model = build(AutoIntPlus, hidden=(5,), attention_layers=2, attention_dim=4, num_heads=2)
    x, seq = inputs()
    logit, _ = model(jnp.asarray(x), [jnp.asarray(seq)])
    emb, _ = np_embed(model, x, seq)
    h = emb
    for layer in model.attention:
        w = {
            n: np.asarray(getattr(layer, n).kernel[...], np.float64) for n in ("q", "k", "v", "res")
        }
        out = np.zeros((len(x), 4, 4))
        for head in range(2):
            cols = slice(2 * head, 2 * head + 2)
            q, k, v = (h @ w[n][:, cols] for n in ("q", "k", "v"))
            s = np.einsum("bfd,bgd->bfg", q, k)
            a = np.exp(s - s.max(-1, keepdims=True))
            out[..., cols] = (a / a.sum(-1, keepdims=True)) @ v
        h = np.maximum(out + h @ w["res"], 0)
    expect = np_mlp([model.out], h.reshape(len(x), -1))[:, 0]
    expect = expect + np_mlp(model.mlp.layers, emb.reshape(len(x), -1))[:, 0]
    np.testing.assert_allclose(logit, expect, rtol=1e-4, atol=1e-5)


def test_finalmlp_matches_numpy():
    model = build(FinalMLP, hidden1=(6, 4), hidden2=(6,), gate_hidden=(5,), num_heads=2)
    x, seq = inputs()
    logit, _ = model(jnp.asarray(x), [jnp.asarray(seq)])
    emb, _ = np_embed(model, x, seq)
    e = emb.reshape(len(x), -1)
    ctx = np.asarray(model.context[...], np.float64)
    o = []
    for i in range(2):
        gate = 2.0 / (1.0 + np.exp(-np_mlp(model.gates[i].layers, ctx[i][None])))
        o.append(np_mlp(model.streams[i].layers, e * gate, relu_last=True))
    w1 = np.asarray(model.w1.kernel[...], np.float64)[:, 0]
    b = float(model.w1.bias[...][0])
    w2 = np.asarray(model.w2.kernel[...], np.float64)[:, 0]
    w3 = np.asarray(model.w3[...], np.float64)
    expect = np.zeros(len(x))
    for h in range(2):  # o_1 chunks of 2, o_2 chunks of 3
        a, c = o[0][:, 2 * h : 2 * h + 2], o[1][:, 3 * h : 3 * h + 3]
        expect += b + a @ w1 + c @ w2 + np.einsum("bi,ij,bj->b", a, w3[h], c)
    np.testing.assert_allclose(logit, expect, rtol=1e-4, atol=1e-5)


def test_wukong_matches_numpy():
    model = build(WuKong, num_layers=2, n_fmb=2, n_lcb=2, rank=3, fmb_hidden=(5,), hidden=(4,))
    x, seq = inputs()
    logit, _ = model(jnp.asarray(x), [jnp.asarray(seq)])
    h, _ = np_embed(model, x, seq)

    def ln(t, norm):
        mu, var = t.mean(-1, keepdims=True), t.var(-1, keepdims=True)
        scale, bias = (np.asarray(v[...], np.float64) for v in (norm.scale, norm.bias))
        return (t - mu) / np.sqrt(var + norm.epsilon) * scale + bias

    for layer in model.layers:  # layer 0: 4 -> 4 fields, identity residual
        b = len(h)
        fm = np.einsum("bnd,bmd->bnm", h, h) @ np.asarray(layer.proj[...], np.float64)
        fmb = np_mlp(layer.fm_mlp.layers, ln(fm.reshape(b, -1), layer.fm_norm)).reshape(b, 2, D)
        lcb = np.einsum("ln,bnd->bld", np.asarray(layer.lcb[...], np.float64), h)
        h = ln(np.concatenate([fmb, lcb], 1) + h, layer.norm)
    expect = np_mlp(model.mlp.layers, h.reshape(len(x), -1))[:, 0]
    np.testing.assert_allclose(logit, expect, rtol=1e-4, atol=1e-4)
