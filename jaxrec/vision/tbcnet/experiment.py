"""A TBCNet run end to end: world -> two-stage sharded training -> trunk-only top-1 accuracy.

``run(cfg, run_dir)`` is what ``jaxrec run`` calls for ``method="tbcnet"`` configs. Stage 1
trains in ``run_dir/stage1`` (trunk parameters only; the branches ride frozen in the model
state), stage 2 in ``run_dir/stage2`` from stage 1's best checkpoint; each stage is a
:func:`jaxrec.train.fit_experiment` run, so a killed run resumes within its stage and a finished
stage is not retrained.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec import train
from jaxrec.data import shared_root
from jaxrec.data.batches import GatheredBatches
from jaxrec.losses import classification_ce, tbcnet_objective
from jaxrec.train.logging import write_json_atomic
from jaxrec.train.stage import StageSetup
from jaxrec.vision.tbcnet.config import TBCNetExperiment
from jaxrec.vision.tbcnet.model import TBCNet
from jaxrec.vision.tbcnet.world import load_mnist_images, protocol_split, synthetic_action_world

__all__ = ["ClipBatches", "build_stage", "load_splits", "normalise", "run"]

TRUNK_ONLY = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("branches")))


def normalise(clips: np.ndarray) -> np.ndarray:
    """uint8 clips -> float32 ``(x/255 - 0.45)/0.225`` (the authors' normalisation)."""
    return ((clips.astype(np.float32) / 255.0) - 0.45) / 0.225


def load_splits(cfg: TBCNetExperiment) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "valid", "test"} -> (uint8 clips, labels)`` of the configured protocol."""
    d, m = cfg.data, cfg.model
    mnist = load_mnist_images(shared_root() / "vision" / "mnist" / "t10k-images-idx3-ubyte.gz")
    world = synthetic_action_world(
        mnist, num_scenes=d.num_scenes, clips_per_scene=d.clips_per_scene, frames=m.frames,
        size=m.size, digits_per_scene=d.digits_per_scene, seed=d.world_seed,
    )  # fmt: skip
    split = protocol_split(world, d.protocol)
    x, y = split["train"]
    order = np.random.default_rng((d.world_seed, 1)).permutation(len(y))
    n_valid = int(round(d.valid_fraction * len(y)))
    va, tr = order[:n_valid], order[n_valid:]
    return {"train": (x[tr], y[tr]), "valid": (x[va], y[va]), "test": split["test"]}


class ClipBatches(GatheredBatches):
    """Shuffled, resumable batches ``{"clips": float32 [b, V, T, H, W, 3], "labels": [b]}``
    (a :class:`jaxrec.train.BatchSource`; the incomplete last batch is dropped)."""

    def __init__(self, clips: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        def gather(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            i = part["index"]
            return {"clips": normalise(clips[i]), "labels": labels[i].astype(np.int32)}

        super().__init__(len(labels), batch_size, seed, gather, drop_remainder=True)


def make_loss_fn(cfg: TBCNetExperiment, stage: int):
    """The step objective: stage 1 (or mode "c") trunk CE; stage 2 the total TBCNet loss."""
    lc = cfg.loss
    with_branches = stage == 2 and lc.mode != "c"

    def loss_fn(model, batch, *, key, context, extra):
        del context, extra
        out = model(batch["clips"], train=True, branches=with_branches, key=key)
        if not with_branches:
            ce = classification_ce(out["logits"], batch["labels"], double_softmax=lc.double_softmax)
            return ce, {"ce_trunk": ce}
        return tbcnet_objective(
            out["logits"], batch["labels"], out["view_logits"], out["emb"], out["view_emb"],
            mode=lc.mode, temperature=lc.temperature, view_weight=lc.view_weight,
            tbc_weight=lc.tbc_weight, double_softmax=lc.double_softmax,
            extra_positive_term=lc.extra_positive_term, shift_row_max=lc.shift_row_max,
        )  # fmt: skip

    return loss_fn


def build_stage(
    cfg: TBCNetExperiment,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    stage: int,
    init: nnx.Module | None = None,
    devices: list[jax.Device] | None = None,
) -> StageSetup:
    """Stage 1 from a fresh model (``init=None``), stage 2 from ``init`` (stage 1's model)."""
    mesh = train.make_mesh(cfg.mesh, devices)
    batches = ClipBatches(*splits["train"], cfg.batch_size, cfg.seed + stage)
    epochs = cfg.stage1_epochs if stage == 1 else cfg.loop.epochs
    total = epochs * batches.steps_per_epoch
    tx = train.make_optimizer(cfg.optimizer, total)
    trainable = TRUNK_ONLY if stage == 1 or cfg.loss.mode == "c" else nnx.Param
    with train.mesh_context(mesh, cfg.mesh.rules):
        if init is None:
            graphdef, state = train.init_train_state(
                lambda rngs: TBCNet(cfg.model, rngs=rngs), tx, seed=cfg.seed, trainable=trainable
            )
        else:
            graphdef, state = train.train_state_from_model(init, tx, trainable=trainable)
            state = jax.device_put(state, train.replicated(mesh))
        step = train.make_train_step(
            graphdef, tx, make_loss_fn(cfg, stage), trainable=trainable,
            schedule=train.make_schedule(cfg.optimizer, total),
        )  # fmt: skip
        compiled = train.compile_train_step(step, mesh, state, batches.batch(0, 0), {})
    return StageSetup(mesh, state, compiled, batches, {}, graphdef)


def evaluator(graphdef, clips: np.ndarray, labels: np.ndarray, batch_size: int):
    """``evaluate(state) -> {"top1"}``: trunk-only accuracy, jit-compiled batches."""

    @jax.jit
    def predict(state: train.TrainState, x: jax.Array) -> jax.Array:
        model = nnx.merge(graphdef, state.params, state.model_state)
        return jnp.argmax(model(x, train=False)["logits"], axis=-1)

    def evaluate(state: train.TrainState) -> dict[str, float]:
        correct = 0
        for lo in range(0, len(labels), batch_size):
            x = normalise(clips[lo : lo + batch_size])
            pad = batch_size - len(x)
            x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
            pred = np.asarray(predict(state, x))[: len(x) - pad]
            correct += int(np.sum(pred == labels[lo : lo + batch_size]))
        return {"top1": correct / len(labels)}

    return evaluate


def run(cfg: TBCNetExperiment, run_dir: str | Path, *, resume: bool = True) -> dict[str, Any]:
    """Both stages in ``run_dir/stage{1,2}``; returns (and writes ``run_dir/results.json``)
    ``{"name", "stage1", "stage2", "test_top1"}``."""
    run_dir = Path(run_dir)
    splits = load_splits(cfg)
    summaries, model = {}, None
    for stage in (1, 2):
        scfg = cfg if stage == 2 else dataclasses.replace(
            cfg, loop=dataclasses.replace(cfg.loop, epochs=cfg.stage1_epochs)
        )  # fmt: skip
        setup = build_stage(cfg, splits, stage, init=model)
        kept: dict[str, Any] = {}

        def describe(result: train.FitResult, kept=kept, stage=stage) -> dict[str, Any]:
            kept["state"] = result.state
            return {"stage": stage, "clips": {k: len(v[1]) for k, v in splits.items()}}

        with train.mesh_context(setup.mesh, cfg.mesh.rules):
            summaries[f"stage{stage}"] = train.fit_experiment(
                scfg, setup, run_dir / f"stage{stage}",
                evaluate=evaluator(setup.graphdef, *splits["valid"], cfg.batch_size),
                test=evaluator(setup.graphdef, *splits["test"], cfg.batch_size),
                describe=describe, resume=resume,
            )  # fmt: skip
        state = kept["state"]
        model = nnx.merge(setup.graphdef, state.params, state.model_state)
    out = {"name": cfg.name, **summaries, "test_top1": summaries["stage2"]["test"]["top1"]}
    write_json_atomic(run_dir / "results.json", out)
    return out
