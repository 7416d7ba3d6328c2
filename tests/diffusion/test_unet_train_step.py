"""The UNet denoising step through jaxrec.train: 1 device equals 8 devices (data x fsdp)."""

from __future__ import annotations

import chex
import jax
import numpy as np
import optax
import pytest

from jaxrec import diffusion as dfn
from jaxrec import train
from jaxrec.models.unet import UNet2DCondition, UNetConfig

CFG = UNetConfig.tiny(block_out_channels=(8, 16), cross_attention_dim=8)


@pytest.mark.slow
def test_unet_step_one_device_equals_eight_devices():
    """Adam turns reduction-order noise in near-zero gradients into parameter differences of
    ~1e-4 (observed 8.8e-5 after 2 steps at lr 1e-3), hence atol 3e-4."""
    rng = np.random.default_rng(0)
    batch = {
        "x0": rng.normal(size=(8, 4, 4, 4)).astype(np.float32),
        "context": rng.normal(size=(8, 3, 8)).astype(np.float32),
    }
    loss_fn = dfn.make_denoising_loss(dfn.make_noise_schedule())
    tx = optax.adam(1e-3)
    results = []
    for cfg, devices in [
        (train.MeshConfig(data=1, fsdp=1), jax.devices()[:1]),
        (train.MeshConfig(data=2, fsdp=4), jax.devices()),
    ]:
        mesh = train.make_mesh(cfg, devices)
        with train.mesh_context(mesh, cfg.rules):
            graphdef, state = train.init_train_state(
                lambda r: UNet2DCondition(CFG, rngs=r), tx, seed=0
            )
            step = train.make_train_step(graphdef, tx, loss_fn)
            compiled = train.compile_train_step(step, mesh, state, batch, {})
            for _ in range(2):
                state, metrics = compiled(
                    state, train.place_batch(mesh, batch), jax.random.key(1), {}
                )
        results.append((jax.device_get(state.params), jax.device_get(metrics)))
    assert np.isfinite(results[0][1]["loss"]) and results[0][1]["loss"] > 0.1
    chex.assert_trees_all_close(results[0], results[1], rtol=2e-4, atol=3e-4)
