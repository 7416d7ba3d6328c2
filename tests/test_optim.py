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


def test_adam_weight_decay_is_l2_on_the_gradient_and_adamw_is_decoupled():
    params = {"w": jnp.array([2.0])}
    adam = make_optimizer(OptimizerConfig(name="adam", lr=0.1, weight_decay=0.5), total_steps=10)
    adamw = make_optimizer(OptimizerConfig(name="adamw", lr=0.1, weight_decay=0.5), total_steps=10)
    grad = {"w": jnp.array([3.0])}
    ua, _ = adam.update(grad, adam.init(params), params)
    uw, _ = adamw.update(grad, adamw.init(params), params)
    np.testing.assert_allclose(ua["w"], [-0.1], rtol=1e-4)  # normalised (3 + 1)
    np.testing.assert_allclose(uw["w"], [-0.1 - 0.1], rtol=1e-4)  # normalised 3, plus decay


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
