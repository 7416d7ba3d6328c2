"""Mesh rules: the batch axis resolves through the logical rules like every parameter, and a
step under rules that shard the batch over "data" only equals the 1-device step."""

from __future__ import annotations

import chex
import jax
import numpy as np
import pytest
from flax import nnx

from jaxrec import train
from jaxrec.models.sharding import take_rows
from jaxrec.train.mesh import active_rules, logical_spec

DATA_ONLY = tuple((k, ("data",) if k == "batch" else v) for k, v in train.DEFAULT_RULES)


def test_batch_sharding_reads_the_batch_rule():
    mesh = train.make_mesh(train.MeshConfig(data=2, fsdp=4))
    assert active_rules() == train.DEFAULT_RULES  # no context: the defaults
    assert train.batch_sharding(mesh, 2).spec == jax.P(("data", "fsdp"), None)
    assert train.batch_sharding(mesh, 3, DATA_ONLY).spec == jax.P(("data",), None, None)
    with train.mesh_context(mesh, DATA_ONLY):
        assert active_rules() == DATA_ONLY
        placed = train.place_batch(mesh, {"x": np.arange(32, dtype=np.float32).reshape(16, 2)})
    sharding = placed["x"].sharding
    assert sharding.spec == jax.P(("data",), None)
    # two distinct halves, each held by the 4 devices of one "data" row
    starts = sorted({s.index[0].start or 0 for s in placed["x"].addressable_shards})
    assert starts == [0, 8]
    for shard in placed["x"].addressable_shards:
        row = shard.index[0].start or 0
        np.testing.assert_array_equal(shard.data, np.arange(32).reshape(16, 2)[row : row + 8])
    assert len(placed["x"].addressable_shards) == 8


def test_missing_batch_rule_is_named():
    mesh = train.make_mesh(train.MeshConfig(data=2, fsdp=4))
    rules = tuple(r for r in train.DEFAULT_RULES if r[0] != "batch")
    with pytest.raises(ValueError, match=r"\['batch'\] have no sharding rule"):
        train.batch_sharding(mesh, 1, rules)
    assert logical_spec(("users", None, "mlp")) == jax.P("fsdp", None, "tensor")


class _Table(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        init = nnx.with_partitioning(nnx.initializers.normal(0.5), ("users", "embed"))
        self.table = nnx.Param(init(rngs.params(), (32, 4)))

    def __call__(self, ids):
        return take_rows(self.table[...], ids).sum(-1)


def _loss(model, batch, *, key, context, extra):
    err = (model(batch["ids"]) - batch["y"]) ** 2
    return err.mean(), {"mse": err.mean()}


@pytest.mark.parametrize("axis_type", ["auto", "explicit"])
def test_data_only_batch_rule_step_equals_one_device(axis_type):
    rng = np.random.default_rng(0)
    batch = {"ids": rng.integers(0, 32, 16).astype(np.int32), "y": rng.normal(size=16)}
    batch["y"] = batch["y"].astype(np.float32)
    tx = train.make_optimizer(train.OptimizerConfig(name="adam", lr=0.05), total_steps=10)
    results = []
    for cfg, devices in [
        (train.MeshConfig(data=1, axis_type=axis_type, rules=DATA_ONLY), jax.devices()[:1]),
        (train.MeshConfig(data=2, fsdp=4, axis_type=axis_type, rules=DATA_ONLY), jax.devices()),
    ]:
        mesh = train.make_mesh(cfg, devices)
        with train.mesh_context(mesh, cfg.rules):
            graphdef, state = train.init_train_state(lambda r: _Table(rngs=r), tx, seed=1)
            step = train.make_train_step(graphdef, tx, _loss)
            compiled = train.compile_train_step(step, mesh, state, batch, {})
            placed = train.place_batch(mesh, batch)
            assert placed["ids"].sharding.spec == jax.P(("data",))
            for _ in range(2):
                state, metrics = compiled(state, placed, jax.random.key(0), {})
        results.append(jax.device_get((state.params, metrics)))
    chex.assert_trees_all_close(results[0], results[1], rtol=1e-5, atol=1e-6)
