"""Reader for the Planetoid citation graphs (Yang et al. 2016): ``ind.<name>.{x,y,tx,ty,allx,ally,
graph,test.index}`` in one folder (Cora, Citeseer, Pubmed as published by kimiyoung/planetoid).

Format (Yang et al. 2016's release; Kipf & Welling 2017's ``utils.load_data``). The first seven files are Python-2 pickles: ``x``/``tx``/``allx`` scipy CSR
feature matrices, ``y``/``ty``/``ally`` one-hot numpy arrays, ``graph`` a dict node -> neighbour
list; ``test.index`` is text, one node id per line. Assembly: nodes ``0 .. len(allx)-1`` take the
rows of ``allx``/``ally``; row j of ``tx``/``ty`` belongs to node ``test.index[j]``. Citeseer's test
ids skip 15 isolated nodes; those nodes get zero features and label 0 and belong to no split
(the GCN reference code's padding), so n = max(len(allx), max test id + 1, largest graph id + 1).
Public split: train = the first ``len(y)`` nodes, validation = the next 500, test = the test ids.

Safety: unpickling runs code named in the file, so a restricted unpickler admits only the numpy,
scipy.sparse and builtin classes the format uses and refuses any other class by name, before
anything is called. Sizes are checked before anything is allocated from them: a sparse matrix's
arrays must agree with its shape, its dense form may hold at most ``_MAX_DENSE_PER_BYTE``
elements per byte of its file (Cora's feature files need ~10), and the node count
``max id + 1`` may leave at most as many ids unnamed (zero rows, as Citeseer's 15) as the files
name, so a small file cannot ask for a terabyte-sized feature matrix.
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from jaxrec.data.loaders import DataFormatError
from jaxrec.data.node_graph import NodeGraph, row_normalize, undirected_adjacency

__all__ = ["PLANETOID_PARTS", "load_planetoid"]

PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")
NUM_VALIDATION = 500
_MAX_DENSE_PER_BYTE = 256


def _reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct as fn
    return fn


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct(),
    ("scipy.sparse.csr", "csr_matrix"): sp.csr_matrix,
    ("scipy.sparse._csr", "csr_matrix"): sp.csr_matrix,
    ("scipy.sparse.csc", "csc_matrix"): sp.csc_matrix,
    ("scipy.sparse._csc", "csc_matrix"): sp.csc_matrix,
    ("collections", "defaultdict"): defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
    ("__builtin__", "dict"): dict,
    ("builtins", "dict"): dict,
}


class _PlanetoidUnpickler(pickle.Unpickler):
    """Admits only the classes of the Planetoid format; anything else raises before it is used."""

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: not a class the Planetoid format uses"
            )
        return obj


def _unpickle(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"Planetoid file {path} does not exist")
    try:
        with path.open("rb") as f:
            return _PlanetoidUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataFormatError(f"{path}: not a valid Planetoid pickle ({err})") from None


def _as_matrix(path: Path, obj: Any, dense: bool) -> np.ndarray:
    if sp.issparse(obj):
        try:
            obj.check_format(full_check=True)
        except (ValueError, TypeError, AttributeError) as err:
            raise DataFormatError(f"{path}: sparse matrix arrays disagree ({err})") from None
        limit = _MAX_DENSE_PER_BYTE * path.stat().st_size
        if obj.shape[0] * obj.shape[1] > limit:
            raise DataFormatError(
                f"{path}: shape {obj.shape} would densify to {obj.shape[0] * obj.shape[1]} "
                f"elements, more than {_MAX_DENSE_PER_BYTE} per byte of the file ({limit})"
            )
        obj = obj.toarray()
    if not isinstance(obj, np.ndarray) or obj.ndim != 2:
        raise DataFormatError(f"{path}: expected a 2-D matrix, got {type(obj).__name__}")
    return np.asarray(obj, np.float32) if dense else obj


def _read_test_index(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"Planetoid file {path} does not exist")
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                ids.append(int(line))
            except ValueError:
                raise DataFormatError(f"{path}:{number}: {line!r} is not a node id") from None
    if not ids:
        raise DataFormatError(f"{path}: no test ids")
    return np.asarray(ids, np.int64)


def _labels(path: Path, onehot: np.ndarray) -> np.ndarray:
    if onehot.ndim != 2:
        raise DataFormatError(f"{path}: expected one-hot labels [n, C], got {onehot.shape}")
    return np.asarray(onehot).argmax(axis=1)


def load_planetoid(root: str | Path, name: str, *, normalize_features: bool = False) -> NodeGraph:
    """Loads ``root/ind.<name>.*`` with the public split.

    Args:
      root: folder holding the eight files.
      name: "cora", "citeseer", "pubmed" (any name with the Planetoid layout).
      normalize_features: row-normalise the features (OpenGSL ``feat_norm``: GCN, IDGL, GEN).

    Raises:
      FileNotFoundError: a file is missing (named).
      DataFormatError: a file is corrupt or truncated, holds a class outside the format, or the
        parts disagree in shape (the file and the mismatch are named).
    """
    root = Path(root)
    path = {part: root / f"ind.{name}.{part}" for part in (*PLANETOID_PARTS, "test.index")}
    raw = {part: _unpickle(path[part]) for part in PLANETOID_PARTS}
    x, tx, allx = (_as_matrix(path[p], raw[p], dense=True) for p in ("x", "tx", "allx"))
    y, ty, ally = (_as_matrix(path[p], raw[p], dense=False) for p in ("y", "ty", "ally"))
    graph = raw["graph"]
    if not isinstance(graph, dict):
        raise DataFormatError(f"{path['graph']}: expected a dict of adjacency lists")
    test_ids = _read_test_index(path["test.index"])

    d, num_classes = allx.shape[1], ally.shape[1]
    checks = [
        ("x", x.shape[1] == d and tx.shape[1] == d, "feature widths of x/tx/allx differ"),
        ("y", y.shape[1] == num_classes == ty.shape[1], "label widths of y/ty/ally differ"),
        ("y", len(y) == len(x), f"{len(y)} labels for {len(x)} rows of x"),
        ("ally", len(ally) == len(allx), f"{len(ally)} labels for {len(allx)} rows of allx"),
        ("ty", len(ty) == len(tx), f"{len(ty)} labels for {len(tx)} rows of tx"),
        ("test.index", len(test_ids) == len(tx), f"{len(test_ids)} ids for {len(tx)} rows of tx"),
        ("test.index", len(np.unique(test_ids)) == len(test_ids), "duplicate test ids"),
        ("test.index", test_ids.min() >= len(allx), f"test ids must be >= len(allx)={len(allx)}"),
        ("x", len(x) + NUM_VALIDATION <= len(allx), "fewer than len(x)+500 rows in allx"),
    ]
    for part, ok, message in checks:
        if not ok:
            raise DataFormatError(f"{path[part]}: {message}")

    try:
        src = np.fromiter((int(k) for k, vs in graph.items() for _ in vs), np.int64)
        dst = np.fromiter((int(v) for vs in graph.values() for v in vs), np.int64)
        keys = np.fromiter((int(k) for k in graph), np.int64)
    except (TypeError, ValueError) as err:
        raise DataFormatError(f"{path['graph']}: node ids must be integers ({err})") from None
    ids = np.concatenate([keys, src, dst])
    if ids.size and ids.min() < 0:
        raise DataFormatError(f"{path['graph']}: negative node id {ids.min()}")
    n = max(len(allx), int(test_ids.max()) + 1, int(ids.max()) + 1 if ids.size else 0)
    named = len(allx) + np.union1d(test_ids, ids[ids >= len(allx)]).size
    if n > 2 * named:
        where = path["test.index"] if n == int(test_ids.max()) + 1 else path["graph"]
        raise DataFormatError(
            f"{where}: largest node id {n - 1} implies {n} nodes, but the files name only "
            f"{named} (at most as many unnamed ids as named ones are accepted)"
        )

    features = np.zeros((n, d), np.float32)
    labels = np.zeros(n, np.int32)
    features[: len(allx)] = allx
    labels[: len(allx)] = _labels(path["ally"], ally)
    features[test_ids] = tx
    labels[test_ids] = _labels(path["ty"], ty)
    if normalize_features:
        features = row_normalize(features)

    def mask(index: np.ndarray) -> np.ndarray:
        m = np.zeros(n, bool)
        m[index] = True
        return m

    return NodeGraph(
        name=name,
        features=features,
        labels=labels,
        adjacency=undirected_adjacency(src, dst, n),
        train_mask=mask(np.arange(len(y))),
        val_mask=mask(np.arange(len(y), len(y) + NUM_VALIDATION)),
        test_mask=mask(test_ids),
        num_classes=int(num_classes),
    )
