"""The training state pytree and the loop's checkpointed bookkeeping."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import optax

__all__ = ["LoopState", "TrainState"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything a step reads and writes; what a checkpoint stores.

    Attributes:
      step: int32 scalar, optimizer steps taken.
      params: pure dict of trainable ``nnx.Param`` values.
      model_state: pure dict of the model's other variables (buffers, batch statistics).
      opt_state: optax state for ``params``.
      extra: state of adaptive schedules (e.g. an adaptive temperature EMA); ``{}`` if none.
    """

    step: jax.Array
    params: Any
    model_state: Any
    opt_state: optax.OptState
    extra: Any

    def replace(self, **changes: Any) -> TrainState:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass
class LoopState:
    """The loop's host-side bookkeeping, checkpointed as JSON beside the :class:`TrainState`.

    Attributes:
      epoch: epochs completed.
      best: best value of the selection metric so far (None before the first validation).
      best_step: step of that validation.
      bad_evals: validations since the last improvement (early-stopping patience).
      stopped: early stopping triggered.
      train_seconds: summed epoch wall times, excluding each process's first (compiling) epoch.
      epochs_timed: epochs counted in ``train_seconds``.
      epoch_sums: float64 sums of the current epoch's per-step metrics (so a resumed epoch
        reports the same means as an uninterrupted one).
      epoch_count: steps folded into ``epoch_sums``.
    """

    epoch: int = 0
    best: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped: bool = False
    train_seconds: float = 0.0
    epochs_timed: int = 0
    epoch_sums: dict[str, float] = dataclasses.field(default_factory=dict)
    epoch_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoopState:
        """Inverse of :meth:`to_json`; a missing or unknown key raises ``ValueError`` naming it."""
        names = {f.name for f in dataclasses.fields(cls)}
        if set(data) != names:
            raise ValueError(
                f"loop state keys differ: missing {sorted(names - set(data))}, "
                f"unknown {sorted(set(data) - names)}"
            )
        return cls(**{**data, "epoch_sums": dict(data["epoch_sums"])})
