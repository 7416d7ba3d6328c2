"""The training loop: epochs of compiled steps, periodic evaluation, keep-best, early stopping,
exact resume, non-finite detection, and the run folder's ``metrics.jsonl``, checkpoints and curves.

The loop is method-agnostic: a method hands it a compiled step, a checkpointable batch source,
the step's ``context`` and host-side ``evaluate``/``test`` callables. It writes no
``results.json``: :func:`jaxrec.train.fit_experiment` is that file's one writer; a standalone
caller can write ``FitResult.summary()`` itself.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from jax.experimental import multihost_utils

from jaxrec.train.checkpoint import Checkpointer
from jaxrec.train.logging import MetricsLog, plot_curves
from jaxrec.train.mesh import batch_sharding
from jaxrec.train.progress import Progress
from jaxrec.train.state import LoopState, TrainState

__all__ = ["BatchSource", "FitResult", "LoopConfig", "NonFiniteError", "fit", "place_batch"]


class NonFiniteError(FloatingPointError, ValueError):
    """The loss or the parameters became NaN/inf (``LoopConfig.nan_policy="raise"``)."""


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
    nan_policy: "raise" (stop with :class:`NonFiniteError` naming the step when a step's loss,
      or the parameters at a checkpoint or epoch end, are not finite) or "ignore".
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
    nan_policy: str = "raise"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.eval_every < 1:
            raise ValueError(
                f"need epochs >= 1 and eval_every >= 1, got {self.epochs=}, {self.eval_every=}"
            )
        if self.select_mode not in ("max", "min"):
            raise ValueError(f"select_mode must be 'max' or 'min', got {self.select_mode=}")
        if self.patience < 0 or self.checkpoint_every_steps < 0:
            raise ValueError("patience and checkpoint_every_steps must be >= 0")
        if self.nan_policy not in ("raise", "ignore"):
            raise ValueError(f"nan_policy must be 'raise' or 'ignore', got {self.nan_policy=}")


class BatchSource(Protocol):
    """A deterministic, checkpointable source of fixed-shape host batches (this process's part)."""

    steps_per_epoch: int

    def epoch(self) -> Iterator[dict[str, np.ndarray]]:
        """Yields the rest of the current epoch, then advances to the next epoch."""

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: Mapping[str, Any]) -> None: ...


@dataclasses.dataclass
class FitResult:
    """What :func:`fit` returns; ``summary()`` is the loop's part of ``results.json``."""

    state: TrainState
    best_valid: dict[str, float]
    best_step: int | None
    test: dict[str, float]
    history: list[dict[str, Any]]
    seconds_per_epoch: float
    stopped_early: bool
    select_metric: str

    def summary(self) -> dict[str, Any]:
        return {
            "final_step": int(self.state.step),
            "best_step": self.best_step,
            "select_metric": self.select_metric,
            "best_valid": self.best_valid,
            "test": self.test,
            "seconds_per_epoch": self.seconds_per_epoch,
            "stopped_early": self.stopped_early,
        }


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


def _accumulate(
    loop: LoopState, pending: list[tuple[int, dict[str, jax.Array]]], check: bool
) -> None:
    """Folds pending ``(step, device metrics)`` into the epoch's host sums (one transfer).

    The sums live in the checkpointed loop state, so an epoch interrupted and resumed reports
    the same means as an uninterrupted one. With ``check``, a non-finite loss raises
    :class:`NonFiniteError` naming its step.
    """
    if not pending:
        return
    steps = [step for step, _ in pending]
    stacked = jax.device_get({k: [m[k] for _, m in pending] for k in pending[0][1]})
    pending.clear()
    if check and "loss" in stacked:
        bad = np.flatnonzero(~np.isfinite(np.asarray(stacked["loss"], np.float64)))
        if bad.size:
            value = stacked["loss"][bad[0]]
            raise NonFiniteError(
                f"loss is {value} at step {steps[bad[0]]} (loop.nan_policy='raise'; "
                "lower optimizer.lr or set loop.nan_policy=ignore)"
            )
    for name, values in stacked.items():
        loop.epoch_sums[name] = loop.epoch_sums.get(name, 0.0) + float(
            np.sum(values, dtype=np.float64)
        )
    loop.epoch_count += len(steps)


def _check_params(state: TrainState, where: str) -> None:
    """Raises :class:`NonFiniteError` if any parameter is NaN/inf (one device reduction)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(state.params)]
    if leaves and not bool(jnp.all(jnp.stack(leaves))):
        raise NonFiniteError(
            f"parameters are not finite at step {int(state.step)} ({where}; "
            "loop.nan_policy='raise')"
        )


def _rollback_log(log: MetricsLog, step: int) -> None:
    """Drops the log's records newer than ``step`` and its test records (the test runs again
    at the end), so a resumed or re-run folder reads as one uninterrupted run."""
    log.records = [r for r in log.records if r["split"] != "test"]
    log.truncate_after(step)


def _clear_run(run_dir: epath.Path, lead: bool) -> None:
    """Removes a previous run's checkpoints and log (lead process), then lets all processes on."""
    if lead:
        (run_dir / "ckpt").rmtree(missing_ok=True)
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices("jaxrec-clear-run")


def _improved(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value > best if mode == "max" else value < best)


def fit(
    *,
    run_dir: str | os.PathLike,
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
    refresh: Callable[[TrainState], TrainState] | None = None,
    refresh_every_steps: int = 0,
    after_validation: Callable[[TrainState, dict[str, float], bool], TrainState] | None = None,
    resume: bool = True,
    examples_per_step: int | None = None,
) -> FitResult:
    """Trains ``state`` with ``train_step`` until ``cfg.epochs`` or early stopping.

    A run folder that already holds a checkpoint is resumed from its newest intact one
    (params, optimizer, step, RNG, data position, :class:`LoopState`), and the folder is rolled
    back to it (newer latest checkpoints and log records dropped), so a run killed at any point
    finishes with exactly the parameters, log and checkpoints of an uninterrupted one; a
    finished run run again only repeats the test. ``callbacks`` run after every step (for
    example to stop a job from outside). ``refresh(state) -> state`` updates host-driven
    schedules (:mod:`jaxrec.train.schedules`) in ``state.extra``: at every epoch end before
    validation, and also every ``refresh_every_steps`` steps when that is > 0; its result is
    checkpointed, so a resumed run continues the schedule exactly.
    ``after_validation(state, valid, improved) -> state`` runs after each validation (``improved``:
    it set a new best) and before the epoch's checkpoint, e.g. to reduce the learning rate on a
    plateau (:mod:`jaxrec.train.plateau`). At the end the best checkpoint (by
    ``cfg.select_metric``) is restored and ``test`` is evaluated on it. ``resume=False`` deletes
    the folder's checkpoints and log first. Writes ``metrics.jsonl``, ``ckpt/`` and
    ``curves.png``; the caller writes ``results.json`` (from :meth:`FitResult.summary`).

    Raises:
      NonFiniteError: ``cfg.nan_policy == "raise"`` and the loss or parameters are not finite.
      CheckpointError: the folder's checkpoints are all damaged or belong to another model.
    """
    run_dir = epath.Path(run_dir)
    lead = jax.process_index() == 0
    check = cfg.nan_policy == "raise"
    if not resume:
        _clear_run(run_dir, lead)
    log = MetricsLog(run_dir / "metrics.jsonl", enabled=lead, tensorboard=cfg.tensorboard)
    rng = jax.random.key_data(jax.random.key(seed))
    loop = LoopState()
    with Checkpointer(run_dir, metric=cfg.select_metric, mode=cfg.select_mode) as ckpt:
        restored = ckpt.restore_latest(state, rng)
        if restored is not None:
            state, rng = restored.state, restored.rng
            loop = LoopState.from_json(restored.loop)
            batches.set_state(restored.data)
            if check:
                _check_params(state, "in the resumed checkpoint")
        ckpt.rollback(int(state.step))
        _rollback_log(log, int(state.step))
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

        pending: list[tuple[int, dict[str, jax.Array]]] = []
        epochs_here = 0

        def checkpoint() -> None:
            _accumulate(loop, pending, check)
            if check:
                _check_params(state, "before its checkpoint")
            ckpt.save_latest(state, rng, batches.get_state(), loop.to_json())

        while not loop.stopped and loop.epoch < cfg.epochs:
            epoch = loop.epoch
            epoch_end = (epoch + 1) * batches.steps_per_epoch
            start = time.perf_counter()
            first_step = host_step = int(state.step)
            for local_batch in batches.epoch():
                state, metrics = train_step(state, place_batch(mesh, local_batch), key, context)
                host_step += 1
                pending.append((host_step, metrics))
                bar.step(metrics)
                # An epoch's last step is saved once, after the epoch's bookkeeping below.
                every = cfg.checkpoint_every_steps
                if every and host_step % every == 0 and host_step != epoch_end:
                    checkpoint()
                if refresh is not None and refresh_every_steps and host_step != epoch_end:
                    if host_step % refresh_every_steps == 0:
                        state = refresh(state)
                for callback in callbacks:
                    callback(state)
            if refresh is not None:
                state = refresh(state)
            _accumulate(loop, pending, check)
            means = {k: v / max(loop.epoch_count, 1) for k, v in loop.epoch_sums.items()}
            loop.epoch_sums, loop.epoch_count = {}, 0
            seconds = time.perf_counter() - start
            if epochs_here:  # this process's first epoch includes compilation
                loop.train_seconds += seconds
                loop.epochs_timed += 1
            extra = {}
            if examples_per_step and host_step > first_step:
                extra["examples_per_s"] = examples_per_step * (host_step - first_step) / seconds
            log.write(int(state.step), "train", means, epoch=epoch + 1, time_s=seconds, **extra)
            loop.epoch = epoch + 1
            epochs_here += 1

            last = loop.epoch == cfg.epochs
            valid = None
            if evaluate is not None and (loop.epoch % cfg.eval_every == 0 or last):
                valid = evaluate(state)
                if cfg.select_metric not in valid:
                    raise KeyError(
                        f"select_metric {cfg.select_metric!r} not in validation metrics {sorted(valid)}"
                    )
                log.write(int(state.step), "valid", valid, epoch=loop.epoch)
                value = valid[cfg.select_metric]
                if _improved(value, loop.best, cfg.select_mode):
                    loop.best, loop.best_step, loop.bad_evals = value, int(state.step), 0
                    if check:
                        _check_params(state, "before its best checkpoint")
                    ckpt.save_best(state, rng, valid)
                    improved = True
                else:
                    loop.bad_evals += 1
                    if cfg.patience and loop.bad_evals >= cfg.patience:
                        loop.stopped = True
                    improved = False
                if after_validation is not None:
                    state = after_validation(state, valid, improved)
            bar.epoch_end(loop.epoch, means, valid, seconds=seconds)
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
                if r["split"] == "valid" and r["step"] == loop.best_step
            ),
            {},
        )
        test_metrics = test(best_state) if test is not None else {}
        if test_metrics:
            log.write(int(best_state.step), "test", test_metrics)

    log.close()
    if lead:
        plot_curves(log.records, run_dir / "curves.png", title=run_dir.name)
    return FitResult(
        state=state,
        best_valid={k: v for k, v in best_valid.items() if k not in ("step", "split", "epoch")},
        best_step=loop.best_step,
        test=test_metrics,
        history=log.records,
        seconds_per_epoch=loop.train_seconds / max(loop.epochs_timed, 1),
        stopped_early=loop.stopped,
        select_metric=cfg.select_metric,
    )
