"""The device-side graph a GSL host trains on."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from jaxrec.data.node_graph import NodeGraph

__all__ = ["GraphData"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GraphData:
    """A node-classification graph with a fixed split (n nodes, d features, C classes).

    Attributes:
      features: [n, d] float32 node features (row-normalised or raw, as the host's config says).
      labels: [n] int32 class ids.
      adjacency: [n, n] float32 original adjacency A (symmetric, 0/1, no self-loops).
      train_mask, val_mask, test_mask: [n] bool.
      num_classes: C (static).
    """

    features: jax.Array
    labels: jax.Array
    adjacency: jax.Array
    train_mask: jax.Array
    val_mask: jax.Array
    test_mask: jax.Array
    num_classes: int = dataclasses.field(metadata={"static": True})

    @property
    def num_nodes(self) -> int:
        return self.features.shape[0]

    @classmethod
    def from_dataset(cls, dataset: NodeGraph) -> GraphData:
        """Device copy of a host-side :class:`jaxrec.data.NodeGraph` (dense adjacency)."""
        return cls(
            features=jnp.asarray(dataset.features, jnp.float32),
            labels=jnp.asarray(dataset.labels, jnp.int32),
            adjacency=jnp.asarray(dataset.dense_adjacency()),
            train_mask=jnp.asarray(dataset.train_mask),
            val_mask=jnp.asarray(dataset.val_mask),
            test_mask=jnp.asarray(dataset.test_mask),
            num_classes=int(dataset.num_classes),
        )
