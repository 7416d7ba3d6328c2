"""The device-side graph a GSL host trains on."""

from __future__ import annotations

import dataclasses

import jax

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
