"""The contract between a graph-structure-learning (GSL) host and the shared trainer.

A host is a full-batch node classifier that learns its own adjacency. It is written as pure
functions of pytrees, so the trainer (:mod:`jaxrec.graph.trainer`) can ``jax.vmap`` a whole
training run over seeds and ``lax.scan`` it over epochs:

- ``init(key, data) -> HostVars``: trainable ``params`` and non-trainable ``state`` (for example
  SUBLIME's bootstrapped anchor graph or fixed anchors), both pytrees of arrays.
- ``optimizer() -> optax.GradientTransformation`` over ``params`` (``optax.multi_transform``
  inside when the host trains parameter groups with different learning rates, as GRCN's two Adams).
- ``loss(params, state, data, key, reweight) -> (loss, (state, aux))``: one training step's
  objective in training mode (dropout from ``key``), the updated ``state`` and scalar metrics.
- ``logits(params, state, data, key, reweight) -> [n, C]``: class scores of every node in
  evaluation mode. Hosts whose protocol evaluates with a separately trained classifier (SUBLIME)
  train it here from ``key``.

``reweight`` is the UnGSL hook (:class:`jaxrec.graph.ungsl.EdgeReweight`): every host passes its
learned graph through ``reweight.dense(S)`` or ``reweight.edges(rows, cols, values)`` at the point
the UnGSL authors patched (``jaxrec/graph/README.md``, "Hosts"); with UnGSL off the hook is the identity.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import optax

from jaxrec.graph.data import GraphData
from jaxrec.graph.ungsl import EdgeReweight

__all__ = ["GSLHost", "HostVars"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class HostVars:
    """``params``: trained by the host's optimizer. ``state``: carried, not differentiated."""

    params: Any
    state: Any


class GSLHost(Protocol):
    name: str

    def init(self, key: jax.Array, data: GraphData) -> HostVars: ...

    def optimizer(self) -> optax.GradientTransformation: ...

    def loss(
        self, params: Any, state: Any, data: GraphData, key: jax.Array, reweight: EdgeReweight
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]: ...

    def logits(
        self, params: Any, state: Any, data: GraphData, key: jax.Array, reweight: EdgeReweight
    ) -> jax.Array: ...
