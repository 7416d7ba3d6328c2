"""DICE sharpener invariants and the distillation loss against numpy references (tiny shapes)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxrec import diffusion as dfn
from jaxrec import train
from jaxrec.models.clip_text import CLIPTextConfig, CLIPTextEncoder
from jaxrec.vision import dice

SMALL = dice.SharpenerConfig(embed_dim=16, hidden=32, heads=4)
TEXT = CLIPTextConfig(vocab_size=12, max_position_embeddings=6, hidden_size=16,
                      intermediate_size=32, num_layers=1, num_heads=2, eos_token_id=1)  # fmt: skip


@pytest.fixture(scope="module")
def mesh():
    m = train.make_mesh(train.MeshConfig(data=1), jax.devices()[:1])
    with train.mesh_context(m, train.DEFAULT_RULES):
        yield m


@pytest.fixture(scope="module")
def sharpener(mesh):
    model = dice.Sharpener(SMALL, rngs=nnx.Rngs(3))
    # non-zero biases, so that the reference checks them too
    for lin in (model.proj_in, model.to_out, model.proj_out):
        lin.bias[...] = 0.1 * jax.random.normal(jax.random.key(7), lin.bias.shape)
    return model


def _np_sharpener(p: dict, c: np.ndarray, u: np.ndarray, heads: int) -> np.ndarray:
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
    hc = relu(c @ p["proj_in"]["kernel"] + p["proj_in"]["bias"])
    hu = relu(u @ p["proj_in"]["kernel"] + p["proj_in"]["bias"])
    q, k, v = hc @ p["to_q"]["kernel"], hu @ p["to_k"]["kernel"], hu @ p["to_v"]["kernel"]
    b, length, h = q.shape
    split = lambda x: x.reshape(b, -1, heads, h // heads).transpose(0, 2, 1, 3)  # noqa: E731
    s = split(q) @ split(k).transpose(0, 1, 3, 2) / np.sqrt(h // heads)
    w = np.exp(s - s.max(-1, keepdims=True))
    a = (w / w.sum(-1, keepdims=True)) @ split(v)
    a = a.transpose(0, 2, 1, 3).reshape(b, length, h)
    a = relu(a @ p["to_out"]["kernel"] + p["to_out"]["bias"])
    return a @ p["proj_out"]["kernel"] + p["proj_out"]["bias"]


def _inputs(seed: int, b: int = 3, length: int = 5):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=(b, length, 16)).astype(np.float32) for _ in range(2))


def test_parameter_count_is_1025d_plus_1049600(mesh):
    for cfg in (dice.SharpenerConfig(), dice.SharpenerConfig(embed_dim=2048), SMALL):
        model = nnx.eval_shape(lambda cfg=cfg: dice.Sharpener(cfg, rngs=nnx.Rngs(0)))
        n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
        assert n == dice.sharpener_param_count(cfg.embed_dim, cfg.hidden)
    assert dice.sharpener_param_count(768) == 1025 * 768 + 1_049_600 == 1_836_800
    assert not hasattr(model.to_q, "bias") or model.to_q.bias is None  # no q/k/v bias


def test_sharpen_matches_numpy_and_keeps_bos(sharpener):
    c, u = _inputs(0)
    p = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(sharpener, nnx.Param)))
    out = np.asarray(jax.jit(lambda c, u: dice.sharpen(sharpener, c, u, 0.7))(c, u))
    ref = c + 0.7 * _np_sharpener(p, c, u, SMALL.heads)
    ref[:, 0] = c[:, 0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out[:, 0], c[:, 0])
    assert np.abs(out[:, 1:] - c[:, 1:]).max() > 1e-2  # the other tokens do move


def test_alpha_zero_is_the_identity(sharpener):
    c, u = _inputs(1)
    out = jax.jit(lambda c, u: dice.sharpen(sharpener, c, u, 0.0))(c, u)
    np.testing.assert_array_equal(np.asarray(out), c)


def test_negative_prompt_feeds_the_attention_keys(sharpener):
    """``sharpen(c, c_neg)`` is ``c + S(c, c_neg)``: a [1, L, d] negative broadcasts, and a
    different negative prompt changes the result."""
    c, u = _inputs(2)
    neg = u[:1]
    p = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(sharpener, nnx.Param)))
    out = np.asarray(jax.jit(dice.sharpen)(sharpener, c, neg))
    ref = c + _np_sharpener(p, c, np.broadcast_to(neg, c.shape), SMALL.heads)
    np.testing.assert_allclose(out[:, 1:], ref[:, 1:], rtol=1e-4, atol=1e-5)
    other = np.asarray(jax.jit(dice.sharpen)(sharpener, c, u[1:2]))
    assert np.abs(other - out).max() > 1e-3


def _toy_eps(x, t, cond):
    """A closed-form denoiser: ``x w(t) + mean(cond)`` per example (nonlinear in cond)."""
    w = 1.0 + t.astype(jnp.float32)[:, None, None, None] / 1000.0
    m = jnp.tanh(cond).mean(axis=(1, 2))[:, None, None, None]
    return x * w + m


@pytest.mark.parametrize("loss,per_example_t", [("l1", False), ("l2", True)])
def test_dice_loss_matches_closed_form(loss, per_example_t):
    sched = dfn.make_noise_schedule("linear", 100)
    rng = np.random.default_rng(4)
    x0 = rng.normal(size=(4, 2, 2, 1)).astype(np.float32)
    c, u = (rng.normal(size=s).astype(np.float32) for s in ((4, 3, 5), (1, 3, 5)))
    shift = rng.normal(size=(1, 1, 5)).astype(np.float32)
    refine = lambda c_, u_: c_ + 0.3 * u_ + shift  # noqa: E731
    key = jax.random.key(9)
    fn = jax.jit(lambda x0, c, u: dice.dice_loss(_toy_eps, refine, sched, x0, c, u, key=key,
                                                 omega=5.0, loss=loss, per_example_t=per_example_t))  # fmt: skip
    value, aux = fn(x0, c, u)
    # reference: the same draws, everything else in numpy float64
    k_t, k_eps = jax.random.split(key)
    t = np.asarray(jax.random.randint(k_t, (4,) if per_example_t else (), 0, 100))
    t = np.broadcast_to(t, (4,)).astype(np.float64)
    eps = np.asarray(jax.random.normal(k_eps, x0.shape), np.float64)
    abar = np.cumprod(1 - np.linspace(1e-4, 0.02, 100))[t.astype(int)][:, None, None, None]
    xt = np.sqrt(abar) * x0 + np.sqrt(1 - abar) * eps
    w = 1.0 + t[:, None, None, None] / 1000.0
    den = lambda cond: xt * w + np.tanh(cond).mean(axis=(1, 2))[:, None, None, None]  # noqa: E731
    ub = np.broadcast_to(u, c.shape)
    target = den(ub) + 5.0 * (den(c) - den(ub))
    err = den(c + 0.3 * ub + shift) - target
    ref = (np.abs(err) if loss == "l1" else err**2).sum() / 4
    np.testing.assert_allclose(float(value), ref, rtol=1e-5)
    assert (len(set(t)) > 1) == per_example_t
    unref = den(c) - target
    expect = (np.abs(unref) if loss == "l1" else unref**2).sum() / 4
    np.testing.assert_allclose(float(aux["loss_unrefined"]), expect, rtol=1e-5)


def test_bad_loss_and_negative_guidance_fail_clearly():
    sched = dfn.make_noise_schedule("linear", 10)
    with pytest.raises(ValueError, match="unknown DICE loss 'huber'"):
        dice.make_dice_loss(sched, None, None, loss="huber")
    with pytest.raises(ValueError, match="guidance scale must be finite and >= 0"):
        dice.make_dice_loss(sched, None, None, omega=-1.0)


def _frozen_setup(denoiser):
    unet = denoiser(rngs=nnx.Rngs(1))
    text = CLIPTextEncoder(TEXT, rngs=nnx.Rngs(2))
    (ug, us), (tg, ts) = nnx.split(unet), nnx.split(text)
    context = {"unet": nnx.to_pure_dict(us), "text": nnx.to_pure_dict(ts),
               "uncond_ids": jnp.asarray([[0, 1, 2, 2, 2, 2]], jnp.int32)}  # fmt: skip
    rng = np.random.default_rng(5)
    batch = {
        "x0": rng.normal(size=(8, 8, 8, 1)).astype(np.float32),
        "ids": np.concatenate([np.zeros((8, 1)), rng.integers(3, 12, (8, 4)), np.ones((8, 1))],
                              1).astype(np.int32),
    }  # fmt: skip
    return ug, tg, context, batch


def test_only_the_sharpener_trains(mesh, stand_in_denoiser):
    """No gradient reaches the frozen denoiser (a stand-in: any model works the same way, the
    stop_gradient is on the step context) or the real text encoder."""
    ug, tg, context, batch = _frozen_setup(stand_in_denoiser)
    loss_fn = dice.make_dice_loss(dfn.make_noise_schedule(), ug, tg)
    tx = optax.adam(2e-4)
    graphdef, state = train.init_train_state(lambda r: dice.Sharpener(SMALL, rngs=r), tx, seed=0)

    def objective(params, weights):
        model = nnx.merge(graphdef, params, state.model_state)
        ctx = {**weights, "uncond_ids": context["uncond_ids"]}
        return loss_fn(model, batch, key=jax.random.key(0), context=ctx, extra={})[0]

    weights = {k: context[k] for k in ("unet", "text")}
    g_sharp, g_frozen = jax.jit(jax.grad(objective, argnums=(0, 1)))(state.params, weights)
    assert optax.tree.norm(g_sharp) > 0
    assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(g_frozen))
    # the optimiser state covers exactly the sharpener's parameters
    n_sharp = dice.sharpener_param_count(SMALL.embed_dim, SMALL.hidden)
    assert sum(x.size for x in jax.tree.leaves(state.params)) == n_sharp
    assert sum(x.size for x in jax.tree.leaves(state.opt_state) if x.ndim) == 2 * n_sharp
