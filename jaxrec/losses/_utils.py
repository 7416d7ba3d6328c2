"""Shared helpers for jaxrec losses: input checks and NaN-safe masked reductions."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


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

    Unlike ``jnp.mean(x, where=...)`` an empty selection gives 0 with a zero (not NaN)
    gradient. NaNs in selected entries propagate; masked entries are ignored.
    """
    if where is None:
        return jnp.mean(x, axis=axis)
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
            (0, with zero gradient, if there are none); any other reduction is called as
            ``reduce_fn(values, where=where)`` with excluded values zeroed.

    Returns:
        The reduced value, or ``values`` of shape ``[...]`` when ``reduce_fn`` is ``None``.
    """
    if where is None:
        return values if reduce_fn is None else reduce_fn(values)
    values = jnp.where(where, values, 0.0)
    if reduce_fn is None:
        return values
    if reduce_fn is jnp.mean:
        return safe_mean(values, where)
    return reduce_fn(values, where=where)
