"""Shared helpers for jaxrec losses: input checks and NaN-safe masked reductions."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike


def is_concrete(*xs: object) -> bool:
    """Whether every argument is a concrete value (not traced under ``jit``/``grad``/``vmap``),
    i.e. whether an eager value check is possible."""
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def check_temperature(temperature: ArrayLike) -> None:
    """Raises unless a concrete ``temperature`` is a finite, positive real scalar.

    Python numbers, numpy and concrete jax scalars are checked; a traced temperature (e.g. an
    adaptive one computed inside ``jit``) cannot be inspected at trace time and is not.

    Raises:
        ValueError: a non-scalar, non-real, non-finite or non-positive concrete temperature.
    """
    if not is_concrete(temperature):
        return
    t = np.asarray(temperature)
    if t.ndim or not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise ValueError(f"temperature must be a real scalar, got {temperature!r}.")
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be positive and finite, got {temperature!r}.")


def as_float_array(name: str, x: ArrayLike) -> jax.Array:
    """Returns ``x`` as an array in at least float32, raising if it is not floating point.

    Losses are computed and reduced in float32 (or wider) even for bf16/f16 inputs.

    Raises:
        ValueError: if ``x`` does not have a floating dtype.
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must have a floating dtype, got {x.dtype}.")
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def as_mask(name: str, where: ArrayLike | None, shape: tuple[int, ...]) -> jax.Array | None:
    """Returns ``where`` as a bool array of exactly ``shape`` (or ``None``), raising otherwise."""
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.dtype != jnp.bool_:
        raise ValueError(f"{name} must be a bool mask, got dtype {where.dtype}.")
    if where.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {where.shape}.")
    return where


def safe_mean(x: jax.Array, where: jax.Array | None = None, axis: int | None = None) -> jax.Array:
    """Mean of ``x`` over the entries where ``where`` is True; 0 where no entry is.

    Unlike ``jnp.mean(x, where=...)`` an empty selection (or an empty ``x``) gives 0 with a
    zero (not NaN) gradient. NaNs in selected entries propagate; masked entries are ignored.
    """
    if where is None:
        # an empty reduction (e.g. an empty batch) is 0, not NaN; jnp.sum gives its shape
        return jnp.mean(x, axis=axis) if x.size else jnp.sum(x, axis=axis)
    total = jnp.sum(jnp.where(where, x, 0.0), axis=axis)
    count = jnp.sum(where, axis=axis, dtype=x.dtype)
    return total / jnp.maximum(count, 1.0)


def masked_reduce(
    values: jax.Array,
    where: jax.Array | None,
    reduce_fn: Callable[..., jax.Array] | None,
) -> jax.Array:
    """Reduces per-example ``values`` over the examples where ``where`` is True.

    Args:
        values: per-example values, shape ``[...]``.
        where: bool ``[...]`` marking the examples that count, or ``None`` for all.
        reduce_fn: ``None`` returns ``values`` with excluded examples set to 0 (so a manual
            sum equals ``reduce_fn=jnp.sum``); ``jnp.mean`` averages the included examples
            (0, with zero gradient, if there are none, e.g. an empty batch); any other reduction is called as
            ``reduce_fn(values, where=where)`` with excluded values zeroed.

    Returns:
        The reduced value, or ``values`` of shape ``[...]`` when ``reduce_fn`` is ``None``.
    """
    if where is None:
        if reduce_fn is None:
            return values
        return safe_mean(values) if reduce_fn is jnp.mean else reduce_fn(values)
    values = jnp.where(where, values, 0.0)
    if reduce_fn is None:
        return values
    if reduce_fn is jnp.mean:
        return safe_mean(values, where)
    return reduce_fn(values, where=where)
