"""Flax NNX models. Collaborative filtering: :mod:`jaxrec.models.cf`; GCN: :mod:`jaxrec.models.gcn`."""

from jaxrec.models.cf import (
    MF,
    BipartiteGraph,
    CFModelConfig,
    LightGCN,
    build_bipartite_graph,
    full_scores,
    gather_rows,
    graph_conv,
    l2_normalize,
    lightgcn_propagate,
    score_pairs,
)
from jaxrec.models.gcn import GCN, GCNLayer

__all__ = [
    "GCN",
    "GCNLayer",
    "MF",
    "BipartiteGraph",
    "CFModelConfig",
    "LightGCN",
    "build_bipartite_graph",
    "full_scores",
    "gather_rows",
    "graph_conv",
    "l2_normalize",
    "lightgcn_propagate",
    "score_pairs",
]
