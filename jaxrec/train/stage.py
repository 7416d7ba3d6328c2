"""One training stage of a multi-stage experiment: its sharded state, compiled step and batches
(:class:`StageSetup`, an :class:`~jaxrec.train.run.ExperimentSetup`), built from a model
constructor and a loss (:func:`build_stage`), and run or resumed in its own folder
(:func:`train_stage`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from jaxrec.data.batches import ArrayBatches
from jaxrec.train.mesh import make_mesh, mesh_context, replicated
from jaxrec.train.optim import OptimizerConfig, make_optimizer, make_schedule
from jaxrec.train.run import FitResult, fit_experiment
from jaxrec.train.state import TrainState
from jaxrec.train.step import LossFn, compile_train_step, init_train_state, make_train_step

__all__ = ["StageSetup", "build_stage", "train_stage"]


@dataclasses.dataclass
class StageSetup:
    """One stage's sharded state, compiled step and data."""

    mesh: jax.sharding.Mesh
    state: TrainState
    train_step: Any
    batches: Any
    context: Any
    graphdef: Any


def build_stage(
    cfg: Any,
    model_fn: Callable[[nnx.Rngs], nnx.Module],
    loss_fn: LossFn,
    arrays: Mapping[str, np.ndarray],
    batch_size: int,
    seed: int,
    epochs: int,
    tx_cfg: OptimizerConfig,
    devices: list[jax.Device] | None = None,
    context: Any = None,
    trainable: nnx.filterlib.Filter = nnx.Param,
) -> StageSetup:
    """A fresh ``model_fn`` model on ``cfg.mesh``, trained on shuffled ``arrays`` batches for
    ``epochs`` epochs with ``tx_cfg``'s optimizer and schedule; ``context`` is replicated."""
    mesh = make_mesh(cfg.mesh, devices)
    batches = ArrayBatches(arrays, batch_size, seed)
    total = epochs * batches.steps_per_epoch
    tx = make_optimizer(tx_cfg, total)
    with mesh_context(mesh, cfg.mesh.rules):
        graphdef, state = init_train_state(model_fn, tx, seed=seed, trainable=trainable)
        context = {} if context is None else jax.device_put(context, replicated(mesh))
        step = make_train_step(graphdef, tx, loss_fn, trainable=trainable,
                               schedule=make_schedule(tx_cfg, total))  # fmt: skip
        compiled = compile_train_step(step, mesh, state, batches.batch(0, 0), context)
    return StageSetup(mesh, state, compiled, batches, context, graphdef)


def train_stage(cfg, setup: StageSetup, folder: Path, evaluate, resume: bool) -> dict[str, Any]:
    """Runs (or resumes, or just re-tests) one stage with ``evaluate`` as validation and test;
    returns its summary with the final ``state`` under the key ``"_state"``."""
    kept: dict[str, Any] = {}

    def describe(result: FitResult) -> dict[str, Any]:
        kept["state"] = result.state
        return {}

    with mesh_context(setup.mesh, cfg.mesh.rules):
        summary = fit_experiment(cfg, setup, folder, evaluate=evaluate, test=evaluate,
                                 describe=describe, resume=resume)  # fmt: skip
    return {**summary, "_state": kept["state"]}
