"""Device mesh from config, and logical-axis sharding rules.

Models name their parameter axes logically (``("users", "embed")``, ``("vocab", "embed")``); the
config maps logical names to physical mesh axes with a MaxText-style rules table. The same code
runs on one CPU device, on 8 simulated devices and on a pod: only the mesh sizes change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence

import jax
import numpy as np
from flax import nnx
from flax.core import spmd
from jax.sharding import AxisType, NamedSharding, PartitionSpec

__all__ = [
    "DEFAULT_RULES",
    "MeshConfig",
    "active_rules",
    "batch_sharding",
    "logical_spec",
    "make_mesh",
    "mesh_context",
    "replicated",
]

# Logical axis -> mesh axes. The batch is split over every data-parallel axis; embedding tables
# and vocabularies are split row-wise over fsdp (ZeRO-3 style) and hidden dims over tensor. The
# stacked-layers axis of scanned transformer blocks stays whole.
DEFAULT_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", ("data", "fsdp")),
    ("users", "fsdp"),
    ("items", "fsdp"),
    ("vocab", ("fsdp", "tensor")),
    ("embed", None),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("layers", None),
)


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Mesh shape. A size of -1 is filled with the devices left over (at most one -1).

    Attributes:
      data: data-parallel size (parameters replicated).
      fsdp: fully-sharded data-parallel size (batch and parameter rows split).
      tensor: tensor-parallel size (hidden dims split).
      axis_type: "auto" (GSPMD propagation; jaxrec's default for model code) or "explicit".
      rules: logical-axis rules ``(logical name, mesh axes)``, one entry per logical name (flax
        reads them as a dict), a mesh axis used at most once per array. ``"batch"`` names the
        leading axis of every input batch (:func:`batch_sharding`).
    """

    data: int = -1
    fsdp: int = 1
    tensor: int = 1
    axis_type: str = "auto"
    rules: tuple[tuple[str, str | tuple[str, ...] | None], ...] = DEFAULT_RULES

    @property
    def axis_names(self) -> tuple[str, str, str]:
        return ("data", "fsdp", "tensor")

    def resolve(self, num_devices: int) -> tuple[int, int, int]:
        """Mesh sizes for ``num_devices``, with -1 filled in.

        Raises:
          ValueError: if sizes are invalid or do not multiply to ``num_devices``.
        """
        sizes = [self.data, self.fsdp, self.tensor]
        if any(s == 0 or s < -1 for s in sizes):
            raise ValueError(f"mesh sizes must be positive or -1, got {sizes=}")
        if sizes.count(-1) > 1:
            raise ValueError(f"at most one mesh size may be -1, got {sizes=}")
        known = math.prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if num_devices % known:
                raise ValueError(
                    f"{num_devices=} is not divisible by the fixed mesh sizes {sizes=}"
                )
            sizes[sizes.index(-1)] = num_devices // known
        if math.prod(sizes) != num_devices:
            raise ValueError(f"mesh {sizes=} needs {math.prod(sizes)} devices, have {num_devices}")
        return tuple(sizes)  # type: ignore[return-value]


def make_mesh(cfg: MeshConfig, devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """Builds the (data, fsdp, tensor) mesh with explicit axis types."""
    if cfg.axis_type not in ("auto", "explicit"):
        raise ValueError(f"mesh axis_type must be 'auto' or 'explicit', got {cfg.axis_type=}")
    devices = list(jax.devices() if devices is None else devices)
    sizes = cfg.resolve(len(devices))
    axis_type = AxisType.Auto if cfg.axis_type == "auto" else AxisType.Explicit
    return jax.make_mesh(
        sizes, cfg.axis_names, axis_types=(axis_type,) * 3, devices=np.asarray(devices).ravel()
    )


@contextlib.contextmanager
def mesh_context(mesh: jax.sharding.Mesh, rules: Sequence[tuple]) -> Iterator[None]:
    """Enters the mesh and the logical rules: build models and run steps inside it."""
    with jax.set_mesh(mesh), nnx.logical_axis_rules(list(rules)):
        yield


Rules = Sequence[tuple[str, str | tuple[str, ...] | None]]


def active_rules() -> tuple[tuple[str, str | tuple[str, ...] | None], ...]:
    """The rules entered by the innermost :func:`mesh_context`, else :data:`DEFAULT_RULES`."""
    return tuple(spmd.get_logical_axis_rules()) or DEFAULT_RULES


def logical_spec(logical_axes: Sequence[str | None], rules: Rules | None = None) -> PartitionSpec:
    """``PartitionSpec`` of an array whose axes carry ``logical_axes`` (``None``: not split).

    Resolved as flax resolves parameter annotations (a dict lookup per axis) with ``rules``,
    default :func:`active_rules`.

    Raises:
      ValueError: a logical name has no rule.
    """
    table = dict(active_rules() if rules is None else rules)
    missing = [a for a in logical_axes if a is not None and a not in table]
    if missing:
        raise ValueError(
            f"logical axes {missing} have no sharding rule; rules cover {sorted(table)}"
        )
    return PartitionSpec(*(None if a is None else table[a] for a in logical_axes))


def batch_sharding(
    mesh: jax.sharding.Mesh, ndim: int = 1, rules: Rules | None = None
) -> NamedSharding:
    """Sharding of a ``[batch, ...]`` array with ``ndim`` axes: the leading axis over the mesh
    axes of the ``"batch"`` rule (``rules``, default :func:`active_rules`), the rest replicated."""
    return NamedSharding(mesh, logical_spec(("batch",) + (None,) * (ndim - 1), rules))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())
