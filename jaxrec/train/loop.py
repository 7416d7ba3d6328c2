"""The training loop: epochs of compiled steps, periodic evaluation, keep-best, early stopping,
exact resume, and the run folder's logs, ``results.json`` and curves.

The loop is method-agnostic: a method hands it a compiled step, a checkpointable batch source,
the step's ``context`` and host-side ``evaluate``/``test`` callables.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxrec.train.checkpoint import Checkpointer
from jaxrec.train.logging import MetricsLog, plot_curves, write_json_atomic
from jaxrec.train.mesh import batch_sharding
from jaxrec.train.progress import Progress
from jaxrec.train.state import TrainState

__all__ = ["LoopConfig", "BatchSource", "FitResult", "fit", "place_batch"]


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Attributes:
    epochs: maximum number of epochs.
    eval_every: validate every this many epochs (and after the last one).
    patience: stop after this many validations without improvement; 0 disables early stopping.
    select_metric: validation metric that picks the best checkpoint (and drives early stopping).
    select_mode: "max" or "min".
    checkpoint_every_steps: also save the latest checkpoint every this many steps (0: per epoch).
    log_every_steps: show the loss every this many steps (0: never); see :class:`Progress`.
    progress: report progress: a tqdm bar on a terminal, else one ``logging`` line per epoch.
    tensorboard: also write metrics.jsonl's records as TensorBoard scalars to ``run_dir/tb``.
    """

    epochs: int = 10
    eval_every: int = 1
    patience: int = 0
    select_metric: str = "ndcg@20"
    select_mode: str = "max"
    checkpoint_every_steps: int = 0
    log_every_steps: int = 50
    progress: bool = True
    tensorboard: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.eval_every < 1:
            raise ValueError(
                f"need epochs >= 1 and eval_every >= 1, got {self.epochs=}, {self.eval_every=}"
            )
        if self.select_mode not in ("max", "min"):
            raise ValueError(f"select_mode must be 'max' or 'min', got {self.select_mode=}")
        if self.patience < 0 or self.checkpoint_every_steps < 0:
            raise ValueError("patience and checkpoint_every_steps must be >= 0")


class BatchSource(Protocol):
    """A deterministic, checkpointable source of fixed-shape host batches (this process's part)."""

    steps_per_epoch: int

    def epoch(self) -> Iterator[dict[str, np.ndarray]]:
        """Yields the rest of the current epoch, then advances to the next epoch."""

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: Mapping[str, Any]) -> None: ...


@dataclasses.dataclass
class FitResult:
    state: TrainState
    best_valid: dict[str, float]
    best_step: int | None
    test: dict[str, float]
    history: list[dict[str, Any]]
    seconds_per_epoch: float
    stopped_early: bool


def place_batch(
    mesh: jax.sharding.Mesh, local_batch: Mapping[str, np.ndarray]
) -> dict[str, jax.Array]:
    """Assembles this process's slice of the global batch into arrays sharded over the batch axis."""
    out = {}
    for name, value in local_batch.items():
        sharding = batch_sharding(mesh, value.ndim)
        global_shape = (value.shape[0] * jax.process_count(), *value.shape[1:])
        out[name] = jax.make_array_from_process_local_data(sharding, value, global_shape)
    return out


def _accumulate(loop: dict[str, Any], pending: list[dict[str, jax.Array]]) -> None:
    """Folds pending per-step device metrics into the epoch's host sums (one transfer).

    The sums live in the checkpointed loop state, so an epoch interrupted and resumed reports
    the same means as an uninterrupted one.
    """
    if not pending:
        return
    stacked = jax.device_get({k: [m[k] for m in pending] for k in pending[0]})
    sums = loop["epoch_sums"]
    for name, values in stacked.items():
        sums[name] = sums.get(name, 0.0) + float(np.sum(values, dtype=np.float64))
    loop["epoch_count"] += len(pending)
    pending.clear()


def _clear_run(run_dir: Path, lead: bool) -> None:
    """Removes a previous run's checkpoints and log (lead process), then lets all processes on."""
    if lead:
        shutil.rmtree(run_dir / "ckpt", ignore_errors=True)
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("jaxrec-clear-run")


def _improved(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value > best if mode == "max" else value < best)


def fit(
    *,
    run_dir: str | Path,
    cfg: LoopConfig,
    mesh: jax.sharding.Mesh,
    state: TrainState,
    train_step: Callable,
    batches: BatchSource,
    context: Any,
    seed: int,
    evaluate: Callable[[TrainState], dict[str, float]] | None = None,
    test: Callable[[TrainState], dict[str, float]] | None = None,
    callbacks: Sequence[Callable[[TrainState], None]] = (),
    resume: bool = True,
    examples_per_step: int | None = None,
) -> FitResult:
    """Trains ``state`` with ``train_step`` until ``cfg.epochs`` or early stopping.

    A run folder that already holds a checkpoint is resumed from it (params, optimizer, step,
    RNG, data position, best metric and patience), so a killed run finishes with exactly the
    parameters of an uninterrupted one. ``callbacks`` run after every step (for example to stop a
    job from outside). At the end the best checkpoint (by ``cfg.select_metric``) is restored and
    ``test`` is evaluated on it. ``resume=False`` deletes the folder's checkpoints and log first.
    """
    run_dir = Path(run_dir)
    lead = jax.process_index() == 0
    if not resume:
        _clear_run(run_dir, lead)
    log = MetricsLog(run_dir / "metrics.jsonl", enabled=lead, tensorboard=cfg.tensorboard)
    rng = jax.random.key_data(jax.random.key(seed))
    loop: dict[str, Any] = {
        "epoch": 0,
        "best": None,
        "best_step": None,
        "bad_evals": 0,
        "stopped": False,
        "train_seconds": 0.0,
        "epochs_timed": 0,
        "epoch_sums": {},
        "epoch_count": 0,
    }
    with Checkpointer(run_dir, metric=cfg.select_metric, mode=cfg.select_mode) as ckpt:
        restored = ckpt.restore_latest(state, rng)
        if restored is not None:
            state, rng, loop = restored.state, restored.rng, {**loop, **restored.loop}
            batches.set_state(restored.data)
        log.truncate_after(int(state.step))
        key = jax.random.wrap_key_data(rng)

        total = cfg.epochs * batches.steps_per_epoch
        bar = Progress(
            total=total,
            initial=int(state.step),
            epochs=cfg.epochs,
            desc=run_dir.name,
            enabled=cfg.progress and lead,
            log_every_steps=cfg.log_every_steps,
        )

        pending: list[dict[str, jax.Array]] = []
        epochs_here = 0

        def checkpoint() -> None:
            _accumulate(loop, pending)
            ckpt.save_latest(state, rng, batches.get_state(), loop)

        while not loop["stopped"] and loop["epoch"] < cfg.epochs:
            epoch = loop["epoch"]
            start = time.perf_counter()
            first_step = host_step = int(state.step)
            for local_batch in batches.epoch():
                state, metrics = train_step(state, place_batch(mesh, local_batch), key, context)
                pending.append(metrics)
                host_step += 1
                bar.step(metrics)
                if cfg.checkpoint_every_steps and host_step % cfg.checkpoint_every_steps == 0:
                    checkpoint()
                for callback in callbacks:
                    callback(state)
            _accumulate(loop, pending)
            means = {k: v / max(loop["epoch_count"], 1) for k, v in loop["epoch_sums"].items()}
            loop["epoch_sums"], loop["epoch_count"] = {}, 0
            seconds = time.perf_counter() - start
            if epochs_here:  # this process's first epoch includes compilation
                loop["train_seconds"] += seconds
                loop["epochs_timed"] += 1
            extra = {}
            if examples_per_step and host_step > first_step:
                extra["examples_per_s"] = examples_per_step * (host_step - first_step) / seconds
            log.write(int(state.step), "train", means, epoch=epoch + 1, time_s=seconds, **extra)
            loop["epoch"] = epoch + 1
            epochs_here += 1

            last = loop["epoch"] == cfg.epochs
            valid = None
            if evaluate is not None and (loop["epoch"] % cfg.eval_every == 0 or last):
                valid = evaluate(state)
                if cfg.select_metric not in valid:
                    raise KeyError(
                        f"select_metric {cfg.select_metric!r} not in validation metrics {sorted(valid)}"
                    )
                log.write(int(state.step), "valid", valid, epoch=loop["epoch"])
                value = valid[cfg.select_metric]
                if _improved(value, loop["best"], cfg.select_mode):
                    loop.update(best=value, best_step=int(state.step), bad_evals=0)
                    ckpt.save_best(state, rng, valid)
                else:
                    loop["bad_evals"] += 1
                    if cfg.patience and loop["bad_evals"] >= cfg.patience:
                        loop["stopped"] = True
            bar.epoch_end(loop["epoch"], means, valid, seconds=seconds)
            checkpoint()
        bar.close()
        ckpt.wait()

        best_state = state
        if evaluate is not None:
            best = ckpt.restore_best(state, rng)
            if best is not None:
                best_state = best.state
        best_valid = next(
            (
                r
                for r in reversed(log.records)
                if r["split"] == "valid" and r["step"] == loop["best_step"]
            ),
            {},
        )
        test_metrics = test(best_state) if test is not None else {}
        if test_metrics:
            log.write(int(best_state.step), "test", test_metrics)

    timed = max(loop["epochs_timed"], 1)
    result = FitResult(
        state=state,
        best_valid={k: v for k, v in best_valid.items() if k not in ("step", "split", "epoch")},
        best_step=loop["best_step"],
        test=test_metrics,
        history=log.records,
        seconds_per_epoch=loop["train_seconds"] / timed,
        stopped_early=bool(loop["stopped"]),
    )
    if lead:
        write_json_atomic(
            run_dir / "results.json",
            {
                "final_step": int(state.step),
                "best_step": result.best_step,
                "select_metric": cfg.select_metric,
                "best_valid": result.best_valid,
                "test": result.test,
                "seconds_per_epoch": result.seconds_per_epoch,
                "stopped_early": result.stopped_early,
            },
        )
        plot_curves(log.records, run_dir / "curves.png", title=run_dir.name)
        log.close()
    return result
