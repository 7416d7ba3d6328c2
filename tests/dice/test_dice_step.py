"""The sharpener's train step through jaxrec.train: 1 device == 8 devices (data x fsdp), the
frozen weights untouched, and a killed run resumes to the uninterrupted parameters.

The frozen denoiser here is the one-block stand-in of ``conftest.py`` so that the steps compile
in seconds (the suite's time budget); the real UNet's own 1-vs-8 step is
``tests/diffusion/test_unet_train_step.py``; the real UNet + DICE loss run end to end in
``benchmarks/dice_reproduce.py`` and ``jaxrec run dice/digits:tiny``.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxrec import diffusion as dfn
from jaxrec import train
from jaxrec.data.batches import ArrayBatches
from jaxrec.models.clip_text import CLIPTextConfig, CLIPTextEncoder
from jaxrec.vision import dice

SHARP = dice.SharpenerConfig(embed_dim=16, hidden=32, heads=4)
TEXT = CLIPTextConfig(vocab_size=12, max_position_embeddings=6, hidden_size=16,
                      intermediate_size=32, num_layers=1, num_heads=2, eos_token_id=1)  # fmt: skip
TX = optax.adam(2e-4)


@pytest.fixture(scope="module")
def frozen(stand_in_denoiser):
    """``(loss_fn, host context, 16 training rows)`` of a random frozen stand-in denoiser + text encoder."""
    mesh = train.make_mesh(train.MeshConfig(data=1), jax.devices()[:1])
    with train.mesh_context(mesh, train.DEFAULT_RULES):
        (ug, us), (tg, ts) = (nnx.split(stand_in_denoiser(rngs=nnx.Rngs(1))),
                              nnx.split(CLIPTextEncoder(TEXT, rngs=nnx.Rngs(2))))  # fmt: skip
    context = jax.device_get({"unet": nnx.to_pure_dict(us), "text": nnx.to_pure_dict(ts),
                              "uncond_ids": np.array([[0, 1, 2, 2, 2, 2]], np.int32)})  # fmt: skip
    rng = np.random.default_rng(5)
    ids = np.concatenate([np.zeros((16, 1)), rng.integers(3, 12, (16, 4)), np.ones((16, 1))], 1)
    rows = {"x0": rng.normal(size=(16, 8, 8, 1)).astype(np.float32), "ids": ids.astype(np.int32)}
    return dice.make_dice_loss(dfn.make_noise_schedule(), ug, tg), context, rows


def _compiled(frozen, mesh_cfg: train.MeshConfig, devices):
    loss_fn, context, rows = frozen
    mesh = train.make_mesh(mesh_cfg, devices)
    with train.mesh_context(mesh, mesh_cfg.rules):
        graphdef, state = train.init_train_state(lambda r: dice.Sharpener(SHARP, rngs=r), TX, 0)
        ctx = jax.device_put(context, train.replicated(mesh))
        step = train.make_train_step(graphdef, TX, loss_fn)
        batch = {k: v[:8] for k, v in rows.items()}
        compiled = train.compile_train_step(step, mesh, state, batch, ctx)
    host = (jax.device_get(state), jax.tree.map(lambda a: a.sharding, state))
    return mesh, state, compiled, ctx, host


@pytest.fixture(scope="module")
def one_device(frozen):
    return _compiled(frozen, train.MeshConfig(data=1, fsdp=1), jax.devices()[:1])


def test_sharpener_step_one_device_equals_eight_devices(frozen, one_device):
    _, _, rows = frozen
    batch = {k: v[:8] for k, v in rows.items()}
    results = []
    for mesh, state, compiled, ctx, _ in (
        one_device,
        _compiled(frozen, train.MeshConfig(data=2, fsdp=4), jax.devices()),
    ):
        before = jax.device_get(ctx)
        for _ in range(2):
            state, metrics = compiled(state, train.place_batch(mesh, batch), jax.random.key(1), ctx)
        chex.assert_trees_all_equal(before, jax.device_get(ctx))  # frozen weights untouched
        results.append((jax.device_get(state.params), jax.device_get(metrics)))
    m = results[0][1]
    assert np.isfinite(m["loss"]) and m["loss"] > 0 and m["grad_norm"] > 0
    assert int(results[0][1]["t"]) == pytest.approx(m["t"])  # one t for the whole batch
    chex.assert_trees_all_close(results[0], results[1], rtol=1e-4, atol=1e-5)


class _Killed(RuntimeError):
    pass


@pytest.mark.slow
def test_kill_and_resume_gives_the_uninterrupted_parameters(frozen, one_device, tmp_path):
    _, _, rows = frozen
    mesh, _, compiled, ctx, (host_state, sharding) = one_device
    loop = train.LoopConfig(epochs=2, checkpoint_every_steps=2, progress=False, log_every_steps=0)

    def fit(folder, kill_at=None):
        def kill(s):
            if kill_at is not None and int(s.step) == kill_at:
                raise _Killed

        state = jax.device_put(host_state, sharding)  # a fresh copy (the step donates it)
        with train.mesh_context(mesh, train.DEFAULT_RULES):
            result = train.fit(
                run_dir=folder, cfg=loop, mesh=mesh, state=state, train_step=compiled,
                batches=ArrayBatches(rows, 8, 0), context=ctx, seed=0, callbacks=(kill,),
            )  # fmt: skip
        return int(result.state.step), jax.device_get(result.state.params)

    steps, ref = fit(tmp_path / "ref")
    assert steps == 4
    with pytest.raises(_Killed):
        fit(tmp_path / "run", kill_at=3)  # mid epoch 2, after the step-2 checkpoint
    steps, resumed = fit(tmp_path / "run")
    assert steps == 4
    chex.assert_trees_all_equal(ref, resumed)
    assert optax.tree.norm(jax.tree.map(jnp.subtract, ref, host_state.params)) > 0
