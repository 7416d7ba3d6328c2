"""Flax NNX models. CTR zoo: :mod:`jaxrec.models.ctr`; collaborative filtering: :mod:`jaxrec.models.cf`; GCN: :mod:`jaxrec.models.gcn`;
decoder-only LLMs with LoRA and Hugging Face interop: :mod:`jaxrec.models.llm`; 3-D ResNet
(r3d_18) video backbone: :mod:`jaxrec.models.video`; 2-D ResNet (torchvision layout, the NPR
detector's backbone): :mod:`jaxrec.models.resnet`; CLIP vision tower:
:mod:`jaxrec.models.clip_vision`."""

from jaxrec.models import ctr, llm
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
from jaxrec.models.clip_vision import (
    CLIPVisionConfig,
    CLIPVisionEncoder,
    clip_normalize,
    load_clip_vision,
)
from jaxrec.models.gcn import GCN, GCNLayer
from jaxrec.models.resnet import ResNet, ResNetConfig, load_torchvision_resnet
from jaxrec.models.video import R3D, load_torchvision_r3d, torchvision_name_map

__all__ = [
    "CLIPVisionConfig",
    "CLIPVisionEncoder",
    "clip_normalize",
    "load_clip_vision",
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
    "ctr",
    "llm",
    "score_pairs",
    "R3D",
    "ResNet",
    "ResNetConfig",
    "load_torchvision_resnet",
    "load_torchvision_r3d",
    "torchvision_name_map",
]
