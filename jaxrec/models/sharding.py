"""Sharding-aware primitives that model code needs in both Auto and Explicit mesh modes."""

from __future__ import annotations

import jax
from jax.sharding import AxisType, PartitionSpec

__all__ = ["take_rows"]


def _explicit_mesh() -> bool:
    mesh = jax.sharding.get_abstract_mesh()
    return not mesh.empty and any(t == AxisType.Explicit for t in mesh.axis_types)


def take_rows(table: jax.Array, ids: jax.Array) -> jax.Array:
    """``table[ids]``: rows of a ``[rows, dim]`` table for integer ``ids`` of shape ``[...]``.

    Under an Explicit mesh the gather from a row-sharded table is ambiguous, so the output is
    declared to follow the ids' sharding (``[..., dim]`` with ``dim`` replicated); under Auto
    meshes or without a mesh this is plain indexing.
    """
    if not _explicit_mesh():
        return table[ids]
    spec = jax.typeof(ids).sharding.spec
    spec = tuple(spec) + (None,) * (ids.ndim - len(spec))
    return table.at[ids].get(out_sharding=PartitionSpec(*spec, None))
