"""A node-classification graph held on the host (numpy/scipy): what every graph loader and the
synthetic generator return. :meth:`jaxrec.graph.GraphData.from_dataset` moves it to the device."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

__all__ = ["NodeGraph", "row_normalize", "undirected_adjacency"]


@dataclasses.dataclass(frozen=True)
class NodeGraph:
    """A graph with one fixed split (n nodes, d features, C classes).

    Attributes:
      name: dataset name.
      features: [n, d] float32.
      labels: [n] int32 class ids in [0, C).
      adjacency: [n, n] scipy CSR float32, symmetric, 0/1, no self-loops.
      train_mask, val_mask, test_mask: [n] bool, pairwise disjoint.
      num_classes: C.
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    adjacency: sp.csr_matrix
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    num_classes: int

    def __post_init__(self) -> None:
        n = self.features.shape[0]
        if self.features.ndim != 2:
            raise ValueError(f"{self.name}: features must be [n, d], got {self.features.shape}")
        if self.labels.shape != (n,) or self.adjacency.shape != (n, n):
            raise ValueError(
                f"{self.name}: labels {self.labels.shape} / adjacency {self.adjacency.shape} "
                f"do not match {n} nodes"
            )
        for split in ("train_mask", "val_mask", "test_mask"):
            mask = getattr(self, split)
            if mask.shape != (n,) or mask.dtype != bool:
                raise ValueError(f"{self.name}: {split} must be a bool [{n}] array")
        if (self.train_mask & self.val_mask).any() or (
            (self.train_mask | self.val_mask) & self.test_mask
        ).any():
            raise ValueError(f"{self.name}: train/val/test masks overlap")
        if n and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise ValueError(f"{self.name}: labels outside [0, {self.num_classes})")
        if not np.isfinite(self.features).all():
            raise ValueError(f"{self.name}: features contain NaN or inf")

    @property
    def num_nodes(self) -> int:
        return self.features.shape[0]

    @property
    def num_edges(self) -> int:
        """Undirected edges (each stored twice in ``adjacency``)."""
        return self.adjacency.nnz // 2

    def dense_adjacency(self) -> np.ndarray:
        """[n, n] float32 dense copy of ``adjacency``."""
        return np.asarray(self.adjacency.todense(), dtype=np.float32)


def row_normalize(features: np.ndarray) -> np.ndarray:
    """``X / rowsum(X)`` (OpenGSL's ``feat_norm``); all-zero rows stay zero."""
    sums = features.sum(axis=1, keepdims=True)
    return np.divide(features, sums, out=np.zeros_like(features), where=sums != 0)


def undirected_adjacency(rows: np.ndarray, cols: np.ndarray, num_nodes: int) -> sp.csr_matrix:
    """Symmetric 0/1 CSR adjacency from directed pairs: both directions, self-loops and duplicate
    pairs dropped."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    keep = rows != cols
    r = np.concatenate([rows[keep], cols[keep]])
    c = np.concatenate([cols[keep], rows[keep]])
    a = sp.coo_matrix((np.ones(len(r), np.float32), (r, c)), shape=(num_nodes, num_nodes)).tocsr()
    a.data[:] = 1.0  # duplicates were summed by tocsr
    a.sort_indices()
    return a
