"""Stateful schedules: optax-style ``(init, update)`` pairs for values that adapt to what the
run observes (an adaptive temperature, a curriculum mixing weight).

A :class:`StatefulSchedule` is pure: ``state = init(...)`` builds a pytree of arrays,
``value, state = update(state, observation)`` returns the value to use now and the next state.
The state lives in ``TrainState.extra[<name>]``, so :class:`jaxrec.train.Checkpointer` saves it
with the parameters and a resumed run continues the schedule exactly. Where the update runs is
the caller's choice: inside the jitted step (``update_extra``, e.g. a per-step EMA) or on the
host between steps (:func:`jaxrec.train.fit`'s ``refresh`` hook, e.g. once per epoch from an
evaluation). Both functions must be jit-compatible when used inside the step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["StatefulSchedule", "distance_curriculum"]


class StatefulSchedule(NamedTuple):
    """``init(*args) -> state`` and ``update(state, observation) -> (value, state)``."""

    init: Callable[..., Any]
    update: Callable[[Any, Any], tuple[jax.Array, Any]]


def distance_curriculum(alpha: float) -> StatefulSchedule:
    """A mixing weight driven by a distance ratio (SOFT's self-adaptive scheduler):

    ``lambda_1 = 1``; after observing ``d_k``, ``lambda_{k+1} = min(1, exp(alpha (d_k / d_0 - 1)))``.

    ``init(d0)`` -> ``{"value": 1, "d0", "last_d": d0, "updates": 0}`` (float32 / int32 scalars);
    ``update(state, d)`` -> ``(lambda, state)``. A non-finite or non-positive ``d0`` or ``d``
    keeps the previous value (it is logged by the caller; never a NaN weight).

    Raises:
      ValueError: ``alpha <= 0`` (the weight would grow as the model improves).
    """
    if not alpha > 0:
        raise ValueError(f"curriculum alpha must be > 0, got {alpha}")

    def init(d0: Any) -> dict[str, jax.Array]:
        d0 = jnp.asarray(d0, jnp.float32)
        return {
            "value": jnp.ones((), jnp.float32),
            "d0": d0,
            "last_d": jnp.copy(d0),  # its own buffer: a train step donates the state
            "updates": jnp.zeros((), jnp.int32),
        }

    def update(state: dict[str, jax.Array], d: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
        d = jnp.asarray(d, jnp.float32)
        d0 = state["d0"]
        ok = jnp.isfinite(d) & jnp.isfinite(d0) & (d0 > 0) & (d >= 0)
        ratio = d / jnp.where(ok, d0, 1.0)
        lam = jnp.minimum(1.0, jnp.exp(alpha * (ratio - 1.0)))
        lam = jnp.where(ok, lam, state["value"]).astype(jnp.float32)
        new = {"value": lam, "d0": d0, "last_d": d, "updates": state["updates"] + 1}
        return lam, new

    return StatefulSchedule(init, update)
