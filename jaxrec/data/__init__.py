"""Data: collaborative filtering (interactions), node-classification graphs (Planetoid,
synthetic SBM), CTR tables (FuxiCTR h5, MovieLens 100K, planted world) item-title sequences (MSL/BIGRec CSV, synthetic title world) and real-vs-fake image folders (ForenSynths, GenImage layouts): file formats -> numpy, splits, samplers, batch iterators.

The TFDS/grain input path (``interaction_dataset``, ``tfds_interaction_dataset``) needs the
optional extra ``pip install 'jaxrec[tfds]'``; it imports those packages only when called.
"""

from jaxrec.data.batches import InteractionBatches
from jaxrec.data.ctr import CTRTable, CTRWorld, load_fuxictr_h5, synthetic_ctr_world
from jaxrec.data.ctr_movielens import load_movielens_ctr
from jaxrec.data.ctr_preprocess import preprocess_csv
from jaxrec.data.image_folders import ImageRecord, load_images, scan_image_folder
from jaxrec.data.interactions import CFDataset, Interactions, csr, split_validation
from jaxrec.data.loaders import DataFormatError, load_ir_benchmark, load_lightgcn, write_lightgcn
from jaxrec.data.node_graph import NodeGraph, row_normalize
from jaxrec.data.paths import shared_root
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
from jaxrec.data.title_sequences import (
    TitleSequences,
    TitleWorld,
    chronological_holdout,
    load_item_titles,
    load_llmrec_csv,
    synthetic_title_world,
)

__all__ = [
    "CTRTable",
    "CTRWorld",
    "load_fuxictr_h5",
    "load_movielens_ctr",
    "preprocess_csv",
    "synthetic_ctr_world",
    "CFDataset",
    "DataFormatError",
    "GrainBatches",
    "ImageRecord",
    "InteractionBatches",
    "Interactions",
    "NodeGraph",
    "SyntheticCF",
    "TitleSequences",
    "TitleWorld",
    "chronological_holdout",
    "csr",
    "interaction_dataset",
    "load_images",
    "load_ir_benchmark",
    "load_item_titles",
    "load_lightgcn",
    "load_llmrec_csv",
    "load_planetoid",
    "row_normalize",
    "sample_negatives",
    "scan_image_folder",
    "shared_root",
    "split_validation",
    "synthetic_interactions",
    "synthetic_sbm_graph",
    "synthetic_title_world",
    "tfds_interaction_dataset",
    "tfds_interactions",
    "uniform_negatives",
    "write_lightgcn",
]
