"""The training state pytree."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax

__all__ = ["TrainState"]


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
