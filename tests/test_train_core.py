"""Training core: 1-device vs 8-device equality, exact kill-and-resume, loop outputs."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxrec import train
from jaxrec.models.sharding import take_rows


class TinyRegressor(nnx.Module):
    """An embedding table (rows sharded over fsdp) feeding a linear head."""

    def __init__(self, *, rngs: nnx.Rngs, rows: int = 32, dim: int = 8):
        init = nnx.with_partitioning(nnx.initializers.normal(0.5), ("users", "embed"))
        self.table = nnx.Param(init(rngs.params(), (rows, dim)))
        self.head = nnx.Param(
            nnx.with_partitioning(nnx.initializers.normal(0.5), ("embed", None))(
                rngs.params(), (dim, 1)
            )
        )

    def __call__(self, ids: jax.Array) -> jax.Array:
        return (take_rows(self.table[...], ids) @ self.head[...])[..., 0]


def loss_fn(model, batch, *, key, context, extra):
    noise = 0.01 * jax.random.normal(key, batch["ids"].shape)  # exercises the folded key
    pred = model(batch["ids"]) + noise
    err = jnp.where(batch["mask"], (pred - batch["y"] * context["scale"]) ** 2, 0.0)
    return err.sum() / jnp.maximum(batch["mask"].sum(), 1), {"mse": err.mean()}


class ArrayBatches:
    """Minimal deterministic checkpointable batch source for the core tests."""

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.ids = rng.integers(0, 32, n).astype(np.int32)
        self.y = rng.normal(size=n).astype(np.float32)
        self.batch_size = batch_size
        self.steps_per_epoch = -(-n // batch_size)
        self.epoch_index, self.position = 0, 0

    def epoch(self):
        order = np.random.default_rng((7, self.epoch_index)).permutation(len(self.ids))
        while self.position < self.steps_per_epoch:
            idx = order[self.position * self.batch_size : (self.position + 1) * self.batch_size]
            pad = self.batch_size - len(idx)
            mask = np.r_[np.ones(len(idx), bool), np.zeros(pad, bool)]
            idx = np.r_[idx, np.zeros(pad, idx.dtype)]
            self.position += 1
            yield {"ids": self.ids[idx], "y": self.y[idx], "mask": mask}
        self.epoch_index, self.position = self.epoch_index + 1, 0

    def get_state(self):
        return {"epoch": self.epoch_index, "position": self.position}

    def set_state(self, state):
        self.epoch_index, self.position = state["epoch"], state["position"]


def _setup(mesh_cfg: train.MeshConfig, devices):
    mesh = train.make_mesh(mesh_cfg, devices)
    tx = train.make_optimizer(
        train.OptimizerConfig(name="adam", lr=0.05, weight_decay=1e-4, clip_norm=1.0),
        total_steps=100,
    )
    with train.mesh_context(mesh, mesh_cfg.rules):
        graphdef, state = train.init_train_state(lambda r: TinyRegressor(rngs=r), tx, seed=3)
        context = {"scale": jax.device_put(jnp.float32(2.0), train.replicated(mesh))}
    step = train.make_train_step(graphdef, tx, loss_fn)
    return mesh, state, step, context


@pytest.mark.parametrize("axis_type", ["auto", "explicit"])
def test_one_device_step_equals_eight_device_step(axis_type):
    batch = {
        "ids": np.arange(16, dtype=np.int32) % 32,
        "y": np.linspace(-1, 1, 16, dtype=np.float32),
        "mask": np.ones(16, bool),
    }
    results = []
    for cfg, devices in [
        (train.MeshConfig(data=1, fsdp=1, axis_type=axis_type), jax.devices()[:1]),
        (train.MeshConfig(data=2, fsdp=4, axis_type=axis_type), jax.devices()),
    ]:
        mesh, state, step, context = _setup(cfg, devices)
        with train.mesh_context(mesh, cfg.rules):
            compiled = train.compile_train_step(step, mesh, state, batch, context)
            key = jax.random.key(0)
            for _ in range(3):
                state, metrics = compiled(state, train.place_batch(mesh, batch), key, context)
        results.append((jax.device_get(state.params), jax.device_get(metrics)))
        if len(devices) == 8:
            expected = jax.sharding.NamedSharding(mesh, jax.P("fsdp", None))
            assert state.params["table"].sharding.is_equivalent_to(expected, 2)
            assert len(state.params["table"].sharding.device_set) == 8
    chex.assert_trees_all_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def _fit(tmp_path, callbacks=(), epochs=4, resume=True):
    cfg = train.MeshConfig(data=2, fsdp=4)
    mesh, state, step, context = _setup(cfg, jax.devices())
    batches = ArrayBatches(100, 16)
    evaluations = []

    def evaluate(s):
        value = -float(jnp.sum(s.params["head"] ** 2))
        evaluations.append(int(s.step))
        return {"score": value}

    with train.mesh_context(mesh, cfg.rules):
        batch = next(ArrayBatches(100, 16).epoch())
        compiled = train.compile_train_step(step, mesh, state, batch, context)
        return train.fit(
            run_dir=tmp_path,
            cfg=train.LoopConfig(
                epochs=epochs, select_metric="score", progress=False, checkpoint_every_steps=3
            ),
            mesh=mesh,
            state=state,
            train_step=compiled,
            batches=batches,
            context=context,
            seed=5,
            evaluate=evaluate,
            test=lambda s: {"test_score": float(s.step)},
            callbacks=callbacks,
            resume=resume,
        )


def test_killed_run_resumes_to_identical_parameters(tmp_path):
    reference = _fit(tmp_path / "ref")

    class Killed(Exception):
        pass

    def kill_at(step):
        def callback(state):
            if int(state.step) == step:
                raise Killed

        return callback

    with pytest.raises(Killed):  # mid-epoch, right after the step-9 checkpoint, before step 10's
        _fit(tmp_path / "run", callbacks=[kill_at(10)])
    resumed = _fit(tmp_path / "run")
    assert int(resumed.state.step) == int(reference.state.step) == 4 * 7
    chex.assert_trees_all_equal(
        jax.device_get(resumed.state.params), jax.device_get(reference.state.params)
    )
    chex.assert_trees_all_equal(
        jax.device_get(resumed.state.opt_state), jax.device_get(reference.state.opt_state)
    )
    assert resumed.test == reference.test
    # The log reads as if never interrupted: same records apart from timings.
    strip = lambda rs: [
        {k: v for k, v in r.items() if k not in ("time_s", "examples_per_s")} for r in rs
    ]
    assert strip(resumed.history) == strip(reference.history)


def test_fit_writes_run_folder_and_keeps_best(tmp_path):
    result = _fit(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"metrics.jsonl", "curves.png", "ckpt"} <= files
    assert "results.json" not in files  # fit_experiment is results.json's one writer
    saved = result.summary()
    valid = [r for r in result.history if r["split"] == "valid"]
    best = max(valid, key=lambda r: r["score"])
    assert saved["best_step"] == best["step"] and saved["final_step"] == 4 * 7
    assert saved["test"] == {"test_score": float(best["step"])}  # test ran on the best checkpoint


def test_mesh_config_fills_minus_one_and_rejects_bad_sizes():
    assert train.MeshConfig(data=-1, fsdp=4).resolve(8) == (2, 4, 1)
    with pytest.raises(ValueError, match="divisible"):
        train.MeshConfig(data=-1, fsdp=3).resolve(8)
    with pytest.raises(ValueError, match="at most one"):
        train.MeshConfig(data=-1, fsdp=-1).resolve(8)


def test_restart_ignores_and_replaces_an_old_run(tmp_path):
    reference = _fit(tmp_path / "ref")
    _fit(tmp_path / "run", epochs=2)  # an older, shorter run in the folder
    restarted = _fit(tmp_path / "run", resume=False)
    chex.assert_trees_all_equal(
        jax.device_get(restarted.state.params), jax.device_get(reference.state.params)
    )
    assert restarted.best_step == reference.best_step and restarted.test == reference.test
    assert [r["step"] for r in restarted.history] == [r["step"] for r in reference.history]


class FrozenBaseWithAdapter(nnx.Module):
    """y = x W + x A B with W frozen (nnx.Param) and the low-rank A, B trainable (LoRAParam)."""

    def __init__(self, rngs: nnx.Rngs):
        self.w = nnx.Param(jax.random.normal(rngs.params(), (4, 3)))
        self.a = nnx.LoRAParam(jax.random.normal(rngs.params(), (4, 2)))
        self.b = nnx.LoRAParam(jnp.ones((2, 3)))

    def __call__(self, x):
        return x @ self.w + x @ self.a @ self.b


def test_trainable_filter_trains_only_the_adapter():
    def loss_fn(model, batch, *, key, context, extra):
        del key, context, extra
        return jnp.mean((model(batch["x"]) - batch["y"]) ** 2), {}

    tx = optax.sgd(0.1)
    graphdef, state = train.init_train_state(
        lambda r: FrozenBaseWithAdapter(r), tx, seed=0, trainable=nnx.LoRAParam
    )
    assert set(state.params) == {"a", "b"} and "w" in state.model_state
    step = jax.jit(train.make_train_step(graphdef, tx, loss_fn, trainable=nnx.LoRAParam))
    batch = {"x": jnp.ones((5, 4)), "y": jnp.zeros((5, 3))}
    new_state, metrics = step(state, batch, jax.random.key(0), None)
    np.testing.assert_array_equal(new_state.model_state["w"], state.model_state["w"])
    assert not np.allclose(new_state.params["a"], state.params["a"])
    assert float(metrics["grad_norm"]) > 0


class _WeakScale(nnx.Module):
    """A parameter filled from a Python scalar: weakly typed unless init makes it strong."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.scale = nnx.Param(jnp.full((8,), 0.5))
        self.inner = TinyRegressor(rngs=rngs)

    def __call__(self, ids: jax.Array) -> jax.Array:
        return self.inner(ids) * self.scale[...].mean()


def test_the_compiled_step_compiles_once_for_weakly_typed_initial_parameters():
    mesh = train.make_mesh(train.MeshConfig(), jax.devices()[:1])
    tx = optax.adam(1e-2)
    with train.mesh_context(mesh, train.DEFAULT_RULES):
        graphdef, state = train.init_train_state(lambda r: _WeakScale(rngs=r), tx, seed=0)
        batch = next(ArrayBatches(8, 8).epoch())
        context = {"scale": jnp.float32(1.0)}
        step = train.compile_train_step(
            train.make_train_step(graphdef, tx, loss_fn), mesh, state, batch, context
        )
        for _ in range(3):
            state, _ = step(state, train.place_batch(mesh, batch), jax.random.key(0), context)
    assert not state.params["scale"].weak_type
    assert step._cache_size() == 1
