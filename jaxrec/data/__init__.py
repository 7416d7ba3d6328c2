"""Data: collaborative filtering (interactions) and node-classification graphs (Planetoid,
synthetic SBM): file formats -> numpy, splits, samplers, batch iterators.

The TFDS/grain input path (``interaction_dataset``, ``tfds_interaction_dataset``) needs the
optional extra ``pip install 'jaxrec[tfds]'``; it imports those packages only when called.
"""

from jaxrec.data.batches import InteractionBatches
from jaxrec.data.interactions import CFDataset, Interactions, csr, split_validation
from jaxrec.data.loaders import DataFormatError, load_ir_benchmark, load_lightgcn, write_lightgcn
from jaxrec.data.node_graph import NodeGraph, row_normalize
from jaxrec.data.planetoid import load_planetoid
from jaxrec.data.sampling import sample_negatives, uniform_negatives
from jaxrec.data.synthetic import SyntheticCF, synthetic_interactions
from jaxrec.data.synthetic_graph import synthetic_sbm_graph
from jaxrec.data.tfds_source import (
    GrainBatches,
    interaction_dataset,
    tfds_interaction_dataset,
    tfds_interactions,
)

__all__ = [
    "CFDataset",
    "DataFormatError",
    "InteractionBatches",
    "Interactions",
    "SyntheticCF",
    "csr",
    "GrainBatches",
    "interaction_dataset",
    "load_ir_benchmark",
    "load_lightgcn",
    "load_planetoid",
    "NodeGraph",
    "row_normalize",
    "sample_negatives",
    "split_validation",
    "synthetic_interactions",
    "synthetic_sbm_graph",
    "tfds_interaction_dataset",
    "tfds_interactions",
    "uniform_negatives",
    "write_lightgcn",
]
