"""Optimizer factory: schedule values, weight-decay semantics, clipping, bad settings."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrec.train import OptimizerConfig, make_optimizer, make_schedule


def test_warmup_then_cosine_schedule_values():
    sched = make_schedule(
        OptimizerConfig(lr=1.0, schedule="cosine", warmup_steps=10), total_steps=110
    )
    np.testing.assert_allclose(
        [sched(0), sched(5), sched(10), sched(60), sched(110)], [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-6
    )
    linear = make_schedule(
        OptimizerConfig(lr=2.0, schedule="linear", final_lr_ratio=0.5), total_steps=100
    )
    np.testing.assert_allclose([linear(0), linear(50), linear(100)], [2.0, 1.5, 1.0], atol=1e-6)


def _numpy_adam(params, grad_fn, steps, lr, wd, decoupled, b1=0.9, b2=0.999, eps=1e-8):
    """float64 transcription: Adam on ``g + wd p`` (L2, torch.optim.Adam) or AdamW
    (``p -= lr (adam_step + wd p)``); returns the parameters after each step."""
    p = np.asarray(params, np.float64)
    m, v, out = np.zeros_like(p), np.zeros_like(p), []
    for t in range(1, steps + 1):
        g = grad_fn(p)
        if not decoupled:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        p = p - lr * (step + wd * p if decoupled else step)
        out.append(p)
    return np.array(out)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_weight_decay_is_l2_on_the_gradient_and_adamw_is_decoupled(name):
    # grad = p - target; at w[0] the decay (0.5 * 2 = 1) outweighs and flips the gradient (-0.3),
    # so Adam's sign-like first step goes the other way than AdamW's.
    target = np.array([2.3, -1.0, 0.5])
    grad_fn = lambda p: p - target
    params = {"w": jnp.array([2.0, 1.0, -0.5])}
    tx = make_optimizer(OptimizerConfig(name=name, lr=0.1, weight_decay=0.5), total_steps=10)
    state, w, got = tx.init(params), params, []
    for _ in range(6):
        grads = {"w": w["w"] - target.astype(np.float32)}
        updates, state = tx.update(grads, state, w)
        w = optax.apply_updates(w, updates)
        got.append(np.asarray(w["w"]))
    ref = {
        d: _numpy_adam([2.0, 1.0, -0.5], grad_fn, 6, lr=0.1, wd=0.5, decoupled=d)
        for d in (False, True)
    }
    np.testing.assert_allclose(got, ref[name == "adamw"], rtol=1e-5, atol=2e-5)  # float32
    # first step by hand (Adam's first step is -lr sign(g)): L2 flips w[0]'s gradient
    # (-0.3 + 0.5 * 2 > 0), AdamW's decay cancels its step: -0.1 * (-1 + 0.5 * 2) = 0
    np.testing.assert_allclose(ref[False][0], [1.9, 0.9, -0.4], atol=1e-6)
    np.testing.assert_allclose(ref[True][0], [2.0, 0.85, -0.375], atol=1e-6)
    assert np.abs(ref[False] - ref[True]).max() > 0.05


def test_clipping_bounds_the_gradient_norm():
    tx = make_optimizer(OptimizerConfig(name="sgd", lr=1.0, clip_norm=1.0), total_steps=1)
    params = {"w": jnp.zeros(4)}
    updates, _ = tx.update({"w": jnp.full(4, 10.0)}, tx.init(params), params)
    np.testing.assert_allclose(optax.tree.norm(updates), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "cfg, message",
    [
        (OptimizerConfig(name="lion"), "unknown optimizer"),
        (OptimizerConfig(schedule="step"), "unknown schedule"),
        (OptimizerConfig(lr=0.0), "lr must be positive"),
        (OptimizerConfig(warmup_steps=20), "warmup_steps"),
        (OptimizerConfig(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_settings_are_named(cfg, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(cfg, total_steps=10)
