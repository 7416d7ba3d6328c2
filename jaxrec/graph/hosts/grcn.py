"""GRCN (Yu et al., ECML-PKDD 2020) as in OpenGSL v0.0.6, with the UnGSL patch (README,
"Hosts").

Forward pass (A: original 0/1 adjacency plus self-loops, ``Â = D^-1/2 A D^-1/2``):

1. Graph encoder ("diag" GCN, weights ``w1, w2 in R^d`` initialised to ones):
   ``Z = Â (tanh(Â (X diag w1)) diag w2)``; optionally L2-normalise the rows of Z.
2. Similarity ``S = Z Z^T``; keep the K largest entries of every row (self included),
   symmetrise by SUM ``S_K + S_K^T``.
3. UnGSL (when enabled) re-weights this learned graph, before the fusion (original edges are
   not re-weighted).
4. Fuse ``A_f = S_sym + A``; ``Â_f = D^-1/2 A_f D^-1/2`` with row degrees (``A_f`` is asymmetric
   after UnGSL, README "Quirks kept" 2); classifier: 2-layer GCN (hidden 32, ReLU, dropout 0.5) on
   ``(X, Â_f)``.
5. Loss: cross-entropy on the training nodes. Two Adams (torch-style L2): classifier ``lr`` with
   ``weight_decay``; encoder ``lr_graph`` without.

UnGSL and negative similarities: the authors' patch multiplies every stored entry of the kNN
graph by the mask, with the confidence zeroed where ``S <= 0``; a negative kept similarity
therefore gets ``m = 2 sigma(-tau_i)`` if ``tau_i <= 0`` and ``beta`` otherwise — which is what
``reweight.dense`` does for every non-edge entry.

Cost: the propagation on the original graph uses its edge list (:func:`ops.spmm`); ``Z Z^T`` is a
dense ``n x n x d`` product (Cora: 10.5 GFLOP forward, as much backward), the dominant cost.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
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

__all__ = ["GRCNConfig", "GRCNHost", "build", "ungsl_defaults"]


@dataclasses.dataclass(frozen=True)
class GRCNConfig:
    """GRCN hyperparameters; defaults: OpenGSL v0.0.6 ``grcn_cora.yaml`` (other datasets:
    ``configs/gsl/grcn.py``).

    Attributes:
    k: similarity entries kept per row.
    normalize_embeddings: L2-normalise the rows of Z (Cora yes, Citeseer no).
    hidden, dropout: classifier GCN.
    lr, weight_decay: classifier Adam; lr_graph: encoder Adam (no weight decay).
    epochs, eval_every, patience (epochs, 0 = off), normalize_features: run protocol.
    """

    k: int = 100
    normalize_embeddings: bool = True
    hidden: int = 32
    dropout: float = 0.5
    lr: float = 5e-3
    weight_decay: float = 5e-3
    lr_graph: float = 1e-3
    epochs: int = 300
    eval_every: int = 1
    patience: int = 0
    normalize_features: bool = False

    def __post_init__(self) -> None:
        if self.k < 1 or self.hidden < 1 or not 0 <= self.dropout < 1:
            raise ValueError(f"bad GRCN config: {self.k=}, {self.hidden=}, {self.dropout=}")
        if min(self.lr, self.lr_graph) <= 0 or self.weight_decay < 0:
            raise ValueError(f"bad GRCN learning rates: {self.lr=}, {self.lr_graph=}")


def ungsl_defaults(dataset: str) -> UnGSLDefaults:
    """Authors' best params: ``config/GRCNUnGSL{Cora,Citeseer}BestParams.json`` (the plain GRCN
    files; the "GRCN F" Citeseer variant is not reproduced). Other datasets: the Cora values."""
    if dataset == "citeseer":
        return UnGSLDefaults(
            beta=0.5646571984565859,
            tau_init=0.4751049441994838,
            lr=0.006325818226927723,
            retuned_host=(("lr", 0.04472467710646162), ("lr_graph", 0.02311791256594875)),
        )
    return UnGSLDefaults(
        beta=0.40364199178973365,
        tau_init=0.576226387307271,
        lr=0.0005603530619781931,
        retuned_host=(("lr", 0.06245740990517031), ("lr_graph", 0.0016337774405164925)),
    )


class GRCNHost:
    name = "grcn"

    def __init__(self, cfg: GRCNConfig, data: GraphData):
        if cfg.k > data.num_nodes:
            raise ValueError(f"GRCN k={cfg.k} exceeds the {data.num_nodes} nodes")
        self.cfg = cfg
        d = data.features.shape[1]
        self._factory = lambda rngs: GCN(
            d, cfg.hidden, data.num_classes, dropout=cfg.dropout, rngs=rngs
        )
        self._graphdef = module_graphdef(self._factory)
        a = np.asarray(data.adjacency) + np.eye(data.num_nodes, dtype=np.float32)
        self._rows, self._cols = (idx.astype(np.int32) for idx in np.nonzero(a))

    def init(self, key: jax.Array, data: GraphData) -> HostVars:
        d = data.features.shape[1]
        params = {
            "classifier": module_params(self._factory, key),
            "encoder": {"w1": jnp.ones((d,)), "w2": jnp.ones((d,))},
        }
        return HostVars(params=params, state={})

    def optimizer(self) -> optax.GradientTransformation:
        return optax.multi_transform(
            {
                "classifier": adam_l2(self.cfg.lr, self.cfg.weight_decay),
                "encoder": adam_l2(self.cfg.lr_graph),
            },
            {"classifier": "classifier", "encoder": "encoder"},
        )

    def embeddings(self, encoder: dict, data: GraphData) -> jax.Array:
        """Z [n, d] of the diag-GCN encoder on the original graph."""
        a = ops.add_self_loops(data.adjacency)
        values = ops.normalize_symmetric(a)[self._rows, self._cols]
        n = data.num_nodes

        def propagate(h: jax.Array) -> jax.Array:
            return ops.spmm(self._rows, self._cols, values, h, n)

        h = jnp.tanh(propagate(data.features * encoder["w1"][None, :]))
        z = propagate(h * encoder["w2"][None, :])
        if self.cfg.normalize_embeddings:
            z = z / jnp.maximum(jnp.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        return z

    def learned_graph(self, encoder: dict, data: GraphData, reweight: EdgeReweight) -> jax.Array:
        """The (UnGSL re-weighted) symmetrised top-K similarity graph, before fusion."""
        z = self.embeddings(encoder, data)
        s = ops.symmetrize(ops.top_k_rows(ops.inner_product(z), self.cfg.k), "sum")
        return reweight.dense(s)

    def _forward(self, params: Any, data: GraphData, reweight, key) -> jax.Array:
        s = self.learned_graph(params["encoder"], data, reweight)
        adj = ops.normalize_symmetric(s + ops.add_self_loops(data.adjacency))
        model = merge(self._graphdef, params["classifier"])
        return model(data.features, adj, dropout_key=key)

    def loss(self, params, state, data, key, reweight: EdgeReweight):
        logits = self._forward(params, data, reweight, key)
        loss = masked_cross_entropy(logits, data.labels, data.train_mask)
        return loss, (state, {"ce": loss})

    def logits(self, params, state, data, key, reweight: EdgeReweight):
        return self._forward(params, data, reweight, None)


def build(cfg: GRCNConfig, data: GraphData) -> GRCNHost:
    return GRCNHost(cfg, data)
