"""Planetoid loader: real Cora, the Citeseer layout (missing test ids), restricted unpickling."""

import os
import pickle
from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse as sp

from jaxrec.data import DataFormatError, load_planetoid
from jaxrec.graph import GraphData


def test_real_cora(shared_data):
    g = load_planetoid(shared_data / "graph" / "planetoid", "cora")
    assert g.features.shape == (2708, 1433) and g.features.dtype == np.float32
    assert g.num_edges == 5278 and g.adjacency.nnz == 2 * 5278
    a = g.adjacency
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0 and set(a.data) == {1.0}
    assert np.bincount(g.labels).tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert int(g.features.sum()) == 49216  # binary bag of words
    assert (g.train_mask.sum(), g.val_mask.sum(), g.test_mask.sum()) == (140, 500, 1000)
    assert g.train_mask[:140].all() and g.val_mask[140:640].all()
    assert np.bincount(g.labels[g.train_mask]).tolist() == [20] * 7
    test_ids = np.flatnonzero(g.test_mask)
    assert test_ids.min() == 1708 and test_ids.max() == 2707
    normed = load_planetoid(shared_data / "graph" / "planetoid", "cora", normalize_features=True)
    np.testing.assert_allclose(normed.features.sum(1), 1.0, rtol=1e-5)
    data = GraphData.from_dataset(g)
    assert data.adjacency.shape == (2708, 2708) and data.num_classes == 7


def _write(folder, name, part, obj):
    with open(folder / f"ind.{name}.{part}", "wb") as f:
        pickle.dump(obj, f, protocol=4)


def _onehot(labels, c):
    return np.eye(c, dtype=np.int64)[labels]


@pytest.fixture
def citeseer_layout(tmp_path):
    """504 allx nodes (4 train), 4 test rows for ids 509, 504, 507, 505 (506 and 508 missing)."""
    rng = np.random.default_rng(0)
    d, c, n_all = 3, 3, 504
    allx = rng.integers(0, 2, (n_all, d)).astype(np.float32)
    ally = rng.integers(0, c, n_all)
    tx = np.arange(1, 13, dtype=np.float32).reshape(4, d)
    ty = np.array([2, 1, 0, 2])
    test_ids = [509, 504, 507, 505]
    graph = defaultdict(list, {0: [1, 1, 509], 1: [0], 509: [0, 509], 504: [], 3: [2]})
    for part, obj in {
        "x": sp.csr_matrix(allx[:4]),
        "y": _onehot(ally[:4], c),
        "allx": sp.csr_matrix(allx),
        "ally": _onehot(ally, c),
        "tx": sp.csr_matrix(tx),
        "ty": _onehot(ty, c),
        "graph": graph,
    }.items():
        _write(tmp_path, "toy", part, obj)
    (tmp_path / "ind.toy.test.index").write_text("\n".join(map(str, test_ids)) + "\n")
    return tmp_path, allx, ally, tx, ty, test_ids


def test_citeseer_layout_pads_missing_test_ids(citeseer_layout):
    root, allx, ally, tx, ty, test_ids = citeseer_layout
    g = load_planetoid(root, "toy")
    assert g.num_nodes == 510
    np.testing.assert_array_equal(g.features[:504], allx)
    np.testing.assert_array_equal(g.labels[:504], ally)
    for row, node in enumerate(test_ids):  # row j of tx belongs to node test.index[j]
        np.testing.assert_array_equal(g.features[node], tx[row])
        assert g.labels[node] == ty[row]
    for missing in (506, 508):
        assert not g.features[missing].any() and g.labels[missing] == 0
        assert not (g.train_mask[missing] or g.val_mask[missing] or g.test_mask[missing])
    assert np.flatnonzero(g.test_mask).tolist() == sorted(test_ids)
    assert g.train_mask.sum() == 4 and np.flatnonzero(g.val_mask).tolist() == list(range(4, 504))
    # edges: 0-1 (listed three times), 0-509, 2-3; the self-loop 509-509 is dropped
    assert g.num_edges == 3
    assert {tuple(e) for e in np.argwhere(g.dense_adjacency())} == {
        (0, 1),
        (1, 0),
        (0, 509),
        (509, 0),
        (2, 3),
        (3, 2),
    }


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_refuses_foreign_classes_without_running_them(citeseer_layout, tmp_path, monkeypatch):
    root = citeseer_layout[0]
    monkeypatch.chdir(tmp_path)
    _write(root, "toy", "graph", _Exploit())
    with pytest.raises(DataFormatError, match=r"refusing to load (posix|os|nt)\.system") as err:
        load_planetoid(root, "toy")
    assert "ind.toy.graph" in str(err.value)
    assert not (tmp_path / "pwned").exists()


def test_truncated_pickle_names_file(citeseer_layout):
    root = citeseer_layout[0]
    path = root / "ind.toy.allx"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataFormatError, match="ind.toy.allx"):
        load_planetoid(root, "toy")


def test_missing_file_and_shape_mismatch(citeseer_layout):
    root = citeseer_layout[0]
    (root / "ind.toy.test.index").write_text("509\n504\n507\n")  # 3 ids for 4 tx rows
    with pytest.raises(DataFormatError, match="test.index"):
        load_planetoid(root, "toy")
    (root / "ind.toy.ty").unlink()
    with pytest.raises(FileNotFoundError, match="ind.toy.ty"):
        load_planetoid(root, "toy")


def test_sizes_are_checked_before_allocating(citeseer_layout):
    """Tiny files claiming 2e9 columns or node ids are refused, naming the file and field."""
    root = citeseer_layout[0]
    original = {p: (root / f"ind.toy.{p}").read_bytes() for p in ("allx", "graph")}
    wide = sp.csr_matrix(
        (np.ones(1, np.float32), np.array([5], np.int32), np.array([0, 1], np.int32)),
        shape=(1, 2_000_000_000),
    )
    _write(root, "toy", "allx", wide)
    with pytest.raises(DataFormatError, match=r"ind.toy.allx: shape \(1, 2000000000\) would"):
        load_planetoid(root, "toy")
    inconsistent = sp.csr_matrix(np.eye(2, dtype=np.float32))
    inconsistent._shape = (2_000_000_000, 2)  # rows the index pointer does not have
    _write(root, "toy", "allx", inconsistent)
    with pytest.raises(DataFormatError, match="ind.toy.allx: sparse matrix arrays disagree"):
        load_planetoid(root, "toy")
    (root / "ind.toy.allx").write_bytes(original["allx"])
    _write(root, "toy", "graph", {0: [2_000_000_000]})
    with pytest.raises(
        DataFormatError, match=r"ind.toy.graph: largest node id 2000000000 implies 2000000001"
    ):
        load_planetoid(root, "toy")
    (root / "ind.toy.graph").write_bytes(original["graph"])
    (root / "ind.toy.test.index").write_text("509\n504\n507\n2000000000\n")
    with pytest.raises(DataFormatError, match=r"ind.toy.test.index: largest node id 2000000000"):
        load_planetoid(root, "toy")
