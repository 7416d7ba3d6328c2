"""Plain GCN baseline (OpenGSL ``gcn``): a 2-layer GCN on the fixed graph ``D^-1/2 (A + I) D^-1/2``.

No graph is learned, so UnGSL does not apply (the hook is never called). OpenGSL v0.0.6 config
``gcn_<dataset>.yaml``: hidden 64, dropout 0.5, lr 1e-2, weight decay 5e-4, 200 epochs, no
patience, features row-normalised.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax

from jaxrec.graph import ops
from jaxrec.graph.data import GraphData
from jaxrec.graph.host import HostVars
from jaxrec.graph.hosts._common import (
    UnGSLDefaults,
    adam_l2,
    masked_cross_entropy,
    merge,
    module_graphdef,
    module_params,
)
from jaxrec.graph.ungsl import EdgeReweight
from jaxrec.models import GCN

__all__ = ["GCNHost", "GCNHostConfig", "build", "ungsl_defaults"]


@dataclasses.dataclass(frozen=True)
class GCNHostConfig:
    """OpenGSL v0.0.6 ``gcn_<dataset>.yaml`` (the same for Cora, Citeseer and Pubmed).

    Attributes: hidden size, dropout, Adam lr and L2 weight decay, and the run protocol
    (epochs, evaluation interval, patience in epochs (0 = off), feature row-normalisation)."""

    hidden: int = 64
    dropout: float = 0.5
    lr: float = 1e-2
    weight_decay: float = 5e-4
    epochs: int = 200
    eval_every: int = 1
    patience: int = 0
    normalize_features: bool = True

    def __post_init__(self) -> None:
        if self.hidden < 1 or not 0 <= self.dropout < 1 or self.lr <= 0:
            raise ValueError(f"bad GCN config: {self.hidden=}, {self.dropout=}, {self.lr=}")


def ungsl_defaults(dataset: str) -> UnGSLDefaults | None:
    """None: GCN learns no graph, so UnGSL does not apply."""
    del dataset
    return None


def normalized_adjacency(data: GraphData) -> jax.Array:
    """``D^-1/2 (A + I) D^-1/2`` of the original graph."""
    return ops.normalize_symmetric(ops.add_self_loops(data.adjacency))


class GCNHost:
    name = "gcn"

    def __init__(self, cfg: GCNHostConfig, in_dim: int, num_classes: int):
        self.cfg = cfg
        self._factory = lambda rngs: GCN(
            in_dim, cfg.hidden, num_classes, dropout=cfg.dropout, rngs=rngs
        )
        self._graphdef = module_graphdef(self._factory)

    def init(self, key: jax.Array, data: GraphData) -> HostVars:
        return HostVars(params=module_params(self._factory, key), state={})

    def optimizer(self) -> optax.GradientTransformation:
        return adam_l2(self.cfg.lr, self.cfg.weight_decay)

    def _forward(self, params: Any, data: GraphData, key: jax.Array | None) -> jax.Array:
        model = merge(self._graphdef, params)
        return model(data.features, normalized_adjacency(data), dropout_key=key)

    def loss(self, params, state, data, key, reweight: EdgeReweight):
        logits = self._forward(params, data, key)
        loss = masked_cross_entropy(logits, data.labels, data.train_mask)
        return loss, (state, {"ce": loss})

    def logits(self, params, state, data, key, reweight: EdgeReweight):
        return self._forward(params, data, None)


def build(cfg: GCNHostConfig, data: GraphData) -> GCNHost:
    return GCNHost(cfg, data.features.shape[1], data.num_classes)
