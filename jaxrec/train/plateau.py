"""Reduce-LR-on-plateau driven by the host's validation results (FuxiCTR's ``lr_decay``).

FuxiCTR (``rank_model.py``, v2.3.10) multiplies every learning rate by ``factor`` (0.1), floored
at ``min_lr`` (1e-6), after each validation whose monitor did not improve, and keeps training from
the current weights. Here the optimizer is ``optax.chain(tx, scale_by_plateau())``: the extra
transform multiplies the updates by a scale kept in its own state, so for Adam/SGD the effective
learning rate is ``lr * scale``. :func:`reduce_lr_on_plateau` is an ``after_validation`` hook for
:func:`jaxrec.train.fit`; the scale lives in ``opt_state`` and so is checkpointed and resumed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrec.train.state import TrainState

__all__ = ["PlateauState", "lr_scale", "reduce_lr_on_plateau", "scale_by_plateau"]


class PlateauState(NamedTuple):
    """``scale``: float32 scalar multiplying the updates (1 until the first plateau)."""

    scale: jax.Array


def scale_by_plateau() -> optax.GradientTransformation:
    """``updates * state.scale``; the state changes only through :func:`reduce_lr_on_plateau`."""

    def init(params):
        del params
        return PlateauState(jnp.ones((), jnp.float32))

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u: u * state.scale.astype(u.dtype), updates), state

    return optax.GradientTransformation(init, update)


def lr_scale(state: TrainState) -> float:
    """The current plateau scale of ``state`` (its optimizer must end with :func:`scale_by_plateau`)."""
    return float(state.opt_state[-1].scale)


def reduce_lr_on_plateau(
    *, factor: float = 0.1, min_scale: float = 0.0
) -> Callable[[TrainState, dict[str, float], bool], TrainState]:
    """The ``after_validation`` hook: ``scale <- max(scale * factor, min_scale)`` when the
    validation did not improve (``min_scale = min_lr / lr`` gives FuxiCTR's floor).

    The state's ``opt_state`` must be ``(tx_state, PlateauState)``, as created by
    ``optax.chain(tx, scale_by_plateau())``."""
    if not 0.0 < factor <= 1.0:
        raise ValueError(f"plateau factor must be in (0, 1], got {factor=}")

    def hook(state: TrainState, valid: dict[str, float], improved: bool) -> TrainState:
        del valid
        *rest, plateau = state.opt_state
        if not isinstance(plateau, PlateauState):
            raise TypeError("the optimizer must be optax.chain(tx, scale_by_plateau())")
        if improved:
            return state
        new = jnp.maximum(plateau.scale * factor, jnp.float32(min_scale))
        new = jax.device_put(new, plateau.scale.sharding)
        return state.replace(opt_state=(*rest, PlateauState(new)))

    return hook
