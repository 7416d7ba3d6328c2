"""Collaborative-filtering data: file formats -> numpy, splits, samplers, batch iterators."""

from jaxrec.data.interactions import CFDataset, Interactions, csr, split_validation
from jaxrec.data.loaders import DataFormatError, load_ir_benchmark, load_lightgcn, write_lightgcn

__all__ = [
    "CFDataset",
    "DataFormatError",
    "Interactions",
    "csr",
    "load_ir_benchmark",
    "load_lightgcn",
    "split_validation",
    "write_lightgcn",
]
