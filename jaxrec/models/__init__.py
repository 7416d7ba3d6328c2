"""Flax NNX models. Collaborative filtering: :mod:`jaxrec.models.cf`; decoder-only LLMs with LoRA
and Hugging Face interop: :mod:`jaxrec.models.llm`."""

from jaxrec.models import llm
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

__all__ = [
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
    "llm",
    "score_pairs",
]
