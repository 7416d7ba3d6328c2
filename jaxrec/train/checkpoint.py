"""Checkpoints through one module (Orbax ``CheckpointManager``, V0 API with ``args=``).

A checkpoint holds the :class:`TrainState` (params, optimizer state, step, adaptive-schedule state),
the run's RNG key data, the data-iterator position and the loop's bookkeeping (best metric,
patience). Two managers live under the run folder: ``ckpt/latest`` (resume) and ``ckpt/best``
(keep-best by a named validation metric). Orbax writes to a temporary folder and renames it when
complete, so a killed run never leaves a half-written checkpoint that restore would pick up.

Saves are synchronous: with several processes, orbax's background finalisation can interleave
its cross-process synchronisation with the training step's collectives differently on each
process, which we saw hang 2-process CPU runs at shutdown; the checkpoints here are small next to
an epoch, so blocking costs little.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from jaxrec.train.state import TrainState

__all__ = ["Checkpoint", "Checkpointer"]


@dataclasses.dataclass
class Checkpoint:
    """A restored checkpoint: state (placed with the target's shardings) and JSON metadata."""

    state: TrainState
    rng: jax.Array
    data: dict[str, Any]
    loop: dict[str, Any]


def _abstract(tree: Any) -> Any:
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
    """Latest + best checkpoint managers for one run folder.

    Args:
      directory: the run folder; checkpoints go to ``directory/ckpt/{latest,best}``.
      metric: name of the validation metric that defines "best".
      mode: "max" or "min" for ``metric``.
      keep_latest: how many latest checkpoints to keep.
    """

    def __init__(
        self, directory: str | Path, *, metric: str, mode: str = "max", keep_latest: int = 1
    ):
        if mode not in ("max", "min"):
            raise ValueError(f"checkpoint mode must be 'max' or 'min', got {mode=}")
        root = Path(directory).absolute() / "ckpt"
        self.metric = metric
        self._latest = ocp.CheckpointManager(
            root / "latest",
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep_latest, create=True, enable_async_checkpointing=False
            ),
        )
        self._best = ocp.CheckpointManager(
            root / "best",
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1,
                create=True,
                best_fn=lambda m: float(m[metric]),
                best_mode=mode,
                enable_async_checkpointing=False,
            ),
        )

    @staticmethod
    def _args(state: TrainState, rng: jax.Array, data: dict, loop: dict) -> ocp.args.Composite:
        return ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            rng=ocp.args.StandardSave({"key": rng}),
            data=ocp.args.JsonSave(data),
            loop=ocp.args.JsonSave(loop),
        )

    def save_latest(self, state: TrainState, rng: jax.Array, data: dict, loop: dict) -> None:
        step = int(state.step)
        if step in self._latest.all_steps():
            return
        self._latest.save(step, args=self._args(state, rng, data, loop), force=True)

    def save_best(self, state: TrainState, rng: jax.Array, metrics: dict[str, float]) -> None:
        if self.metric not in metrics:
            raise KeyError(f"best-checkpoint metric {self.metric!r} not in {sorted(metrics)}")
        self._best.save(
            int(state.step), args=self._args(state, rng, {}, {}), metrics=metrics, force=True
        )

    def _restore(
        self, manager: ocp.CheckpointManager, step: int, target: TrainState, rng: jax.Array
    ) -> Checkpoint:
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(_abstract(target)),
                rng=ocp.args.StandardRestore(_abstract({"key": rng})),
                data=ocp.args.JsonRestore(),
                loop=ocp.args.JsonRestore(),
            ),
        )
        return Checkpoint(
            restored.state, restored.rng["key"], restored.data or {}, restored.loop or {}
        )

    def restore_latest(self, target: TrainState, rng: jax.Array) -> Checkpoint | None:
        """The newest complete checkpoint restored into ``target``'s shapes and shardings."""
        step = self._latest.latest_step()
        return None if step is None else self._restore(self._latest, step, target, rng)

    def restore_best(self, target: TrainState, rng: jax.Array) -> Checkpoint | None:
        step = self._best.best_step()
        return None if step is None else self._restore(self._best, step, target, rng)

    def wait(self) -> None:
        self._latest.wait_until_finished()
        self._best.wait_until_finished()

    def close(self) -> None:
        self._latest.close()
        self._best.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
