"""Collaborative-filtering data: file formats -> numpy, splits, samplers, batch iterators.

The optional TFDS/grain input path lives in ``jaxrec.data.tfds_source`` (``pip install
'jaxrec[tfds]'``) and is not imported here.
"""

from jaxrec.data.batches import InteractionBatches
from jaxrec.data.interactions import CFDataset, Interactions, csr, split_validation
from jaxrec.data.loaders import DataFormatError, load_ir_benchmark, load_lightgcn, write_lightgcn
from jaxrec.data.sampling import sample_negatives, uniform_negatives
from jaxrec.data.synthetic import SyntheticCF, synthetic_interactions

__all__ = [
    "CFDataset",
    "DataFormatError",
    "InteractionBatches",
    "Interactions",
    "SyntheticCF",
    "csr",
    "load_ir_benchmark",
    "load_lightgcn",
    "sample_negatives",
    "split_validation",
    "synthetic_interactions",
    "uniform_negatives",
    "write_lightgcn",
]
