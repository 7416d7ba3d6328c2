"""TBCNet sampling, deformable attention and CRPB against hand computations and loops."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxrec.vision.tbcnet.attention import DeformableAttention, crpb_bias, reference_grid
from jaxrec.vision.tbcnet.sampling import grid_to_index, sample_batched, trilinear_sample


def np_trilinear(vol, idx):
    """Corner-by-corner trilinear interpolation with zero padding (float64)."""
    lo = np.floor(idx).astype(int)
    f = idx - lo
    out = np.zeros(vol.shape[-1])
    for c in itertools.product((0, 1), repeat=3):
        p = lo + np.array(c)
        if np.all(p >= 0) and np.all(p < np.array(vol.shape[:3])):
            w = np.prod([f[a] if c[a] else 1.0 - f[a] for a in range(3)])
            out += w * vol[tuple(p)]
    return out


def test_trilinear_hand_computed_and_clamped():
    vol = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4, 1)
    # interior point: value of a linear volume is linear in the index
    got = trilinear_sample(jnp.asarray(vol), jnp.asarray([[0.25, 1.5, 2.75]]))
    np.testing.assert_allclose(got[0, 0], 0.25 * 12 + 1.5 * 4 + 2.75, rtol=1e-6)
    # out-of-range normalised point: clamped to (1, -1, 0.2), align_corners=False
    g = np.array([[1.7, -3.0, 0.2]], np.float32)
    idx = np.asarray(grid_to_index(jnp.asarray(g), (2, 3, 4), False))
    np.testing.assert_allclose(idx[0], [1.5, -0.5, ((1.2 * 4) - 1) / 2], rtol=1e-6)
    # by hand: axis0 index 1.5 -> 0.5 * v[1] + 0.5 * 0 (outside); axis1 -0.5 -> 0.5 * v[., 0]
    x2 = idx[0, 2]
    lo = int(np.floor(x2))
    fx = x2 - lo
    hand = 0.5 * 0.5 * ((1 - fx) * vol[1, 0, lo, 0] + fx * vol[1, 0, lo + 1, 0])
    got = sample_batched(jnp.asarray(vol)[None], jnp.asarray(g)[None])
    np.testing.assert_allclose(got[0, 0, 0], hand, rtol=1e-5)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 4, 5, 2))
    pts = rng.uniform(-1, [3, 4, 5], size=(20, 3))
    got = trilinear_sample(jnp.asarray(v, jnp.float32), jnp.asarray(pts, jnp.float32))
    want = np.stack([np_trilinear(v, p) for p in pts])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _attn(after=False, seed=0, views=2, volume=(3, 4, 4), dim=16):
    return DeformableAttention(
        dim, 4, 2, views, volume, crpb_after_softmax=after, rngs=nnx.Rngs(seed)
    )


def _inputs(b=2, views=2, volume=(3, 4, 4), dim=16, seed=1):
    rng = np.random.default_rng(seed)
    t, h, w = volume
    vol = jnp.asarray(rng.normal(size=(b, views, t, h, w, dim)), jnp.float32)
    x = jnp.asarray(rng.normal(size=(b, h, views * w, dim)), jnp.float32)
    return x, vol


def test_zero_offsets_sample_the_reference_grid():
    att = _attn()
    att.off_out.kernel.set_value(jnp.zeros_like(att.off_out.kernel.get_value()))
    x, vol = _inputs()
    _, info = jax.jit(att)(x, vol)
    ref = np.asarray(reference_grid(att.key_grid))
    np.testing.assert_array_equal(
        np.asarray(info["grid"]), np.broadcast_to(ref, info["grid"].shape)
    )
    # spatially the reference points sit between cells 2k and 2k+1: exact 2x2 means
    idx = np.asarray(grid_to_index(jnp.asarray(ref), att.volume, False))
    np.testing.assert_allclose(idx[0, :, 0, 1], [0.5, 2.5])


def test_offsets_stay_within_one_cell():
    att = _attn(seed=3)
    k = att.off_out.kernel
    k.set_value(k.get_value() * 100.0)  # saturate tanh
    x, vol = _inputs(seed=4)
    _, info = jax.jit(att)(x, vol)
    ref = np.asarray(reference_grid(att.key_grid))
    step = np.array([1.0 / (n - 1) for n in att.volume])
    delta = np.abs(np.asarray(info["grid"]) - ref)
    assert np.all(delta <= step + 1e-6)
    assert np.max(delta[..., 0]) > 0.5 * step[0]  # the offsets really moved
    assert np.all(np.abs(np.asarray(info["grid"])) <= 1.0)


@pytest.mark.parametrize("after", [False, True])
def test_attention_rows_and_batch_traced(after):
    att = _attn(after)
    x, vol = _inputs(b=3)
    out, info = jax.jit(att)(x, vol)
    assert out.shape == x.shape and np.all(np.isfinite(out))
    rows = np.asarray(info["attn"]).sum(-1)
    if after:
        assert not np.allclose(rows, 1.0, atol=1e-4)
    else:
        np.testing.assert_allclose(rows, 1.0, rtol=1e-5)
    # batch is a traced dimension: a sub-batch gives the same rows
    out1, _ = jax.jit(att)(x[:1], vol[:1])
    np.testing.assert_allclose(out1, out[:1], rtol=1e-4, atol=1e-6)


def test_crpb_matches_brute_force_loop():
    rng = np.random.default_rng(5)
    heads, groups, views, (t, h, w) = 4, 2, 2, (3, 4, 4)
    shape = (heads, 2 * t - 1, 2 * h - 1, 2 * w - 1)
    intra, cross = rng.normal(size=shape), rng.normal(size=shape)
    wi, wc = rng.uniform(0.5, 2, views), rng.uniform(0.5, 2, views)
    nq, ns_v = 5, 3
    q_pos = rng.uniform(-1, 1, (nq, 3))
    q_view = rng.integers(0, views, nq)
    k_pos = rng.uniform(-1, 1, (2, groups, views * ns_v, 3))
    k_view = np.repeat(np.arange(views), ns_v)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    got = crpb_bias(f32(intra), f32(cross), f32(wi), f32(wc), f32(q_pos),
                    jnp.asarray(q_view), f32(k_pos), jnp.asarray(k_view))  # fmt: skip
    sizes = np.array(shape[1:])
    want = np.zeros(got.shape)
    for b, hd, q, k in itertools.product(range(2), range(heads), range(nq), range(views * ns_v)):
        g = hd // (heads // groups)
        d = 0.5 * (q_pos[q] - k_pos[b, g, k])
        idx = (d + 1) * (sizes - 1) / 2  # align_corners=True
        same = q_view[q] == k_view[k]
        table = intra if same else cross
        scale = (wi if same else wc)[k_view[k]]
        want[b, hd, q, k] = scale * np_trilinear(table[hd][..., None], idx)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
