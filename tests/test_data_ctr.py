"""CTR data: FuxiCTR h5 reader on the shared Gift Cards files, bad-input errors, planted world."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxrec.data.ctr import (
    load_feature_map,
    load_fuxictr_h5,
    select_fields,
    synthetic_ctr_world,
    validate_ctr,
)
from jaxrec.data.loaders import DataFormatError
from jaxrec.metrics import auc

h5py = pytest.importorskip("h5py", reason="FuxiCTR h5 reading needs h5py (jaxrec[ctr])")


def _write(tmp_path, data, vocab=(3, 4)):
    specs = {
        f"f{k}": {"type": "categorical", "vocab_size": v, "index": k} for k, v in enumerate(vocab)
    }
    (tmp_path / "feature_map.json").write_text(json.dumps({"feature_specs": specs}))
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("data", data=np.asarray(data, dtype=np.float64))
    return tmp_path / "s.h5"


def test_gift_cards_reader(shared_data):
    root = shared_data / "ctr" / "amazon_gift_cards"
    table = load_fuxictr_h5(root / "valid.h5")
    fields, vocab, _ = load_feature_map(root / "feature_map.json")
    assert table.fields == fields and len(fields) == 13
    assert table.fields == tuple((root / "field.txt").read_text().split())
    assert table.x.shape == (15241, 13) and table.x.dtype == np.int32
    assert (table.x < np.asarray(vocab)).all() and set(np.unique(table.label)) == {0.0, 1.0}
    with h5py.File(root / "valid.h5", "r") as f:
        np.testing.assert_array_equal(table.x[:50], f["data"][:50, :13])
    assert table.offsets[1] == vocab[0] and table.offsets[-1] == sum(vocab[:-1])


def test_roundtrip_and_errors(tmp_path):
    good = [[0, 3, 1], [2, 0, 0]]
    table = load_fuxictr_h5(_write(tmp_path, good))
    np.testing.assert_array_equal(table.x, [[0, 3], [2, 0]])
    np.testing.assert_array_equal(table.label, [1, 0])
    with pytest.raises(DataFormatError, match="columns"):
        load_fuxictr_h5(_write(tmp_path, [[0, 1, 3, 1]]))
    with pytest.raises(DataFormatError, match=r"'f1' row 1: id 4 outside \[0, 4\)"):
        load_fuxictr_h5(_write(tmp_path, [[0, 3, 1], [0, 4, 1]]))
    with pytest.raises(DataFormatError, match="row 0: label 2"):
        load_fuxictr_h5(_write(tmp_path, [[0, 0, 2]]))
    with pytest.raises(DataFormatError, match="label nan"):
        load_fuxictr_h5(_write(tmp_path, [[0, 0, 1], [0, 0, np.nan]]))
    with pytest.raises(DataFormatError, match="not an integer"):
        validate_ctr(np.array([[0.5, 1.0]]), np.array([1.0]), ("a", "b"), (3, 3), "mem")
    with pytest.raises(DataFormatError, match="unknown field"):
        select_fields(table, ["f1", "price"])
    assert select_fields(table, ["f1"]).vocab_sizes == (4,)


def test_planted_world_oracle():
    world = synthetic_ctr_world(num_rows=6000, seed=1)
    assert len(world.train) == 4800 and len(world.test) == 600
    oracle = float(auc(world.test.label, world.test_logit))
    # The true logit separates the labels well; a label-independent score does not.
    assert 0.75 < oracle < 0.95
    shuffled = float(auc(world.test.label, np.random.default_rng(0).permutation(world.test_logit)))
    assert abs(shuffled - 0.5) < 0.06


def test_movielens_ctr(shared_data):
    from jaxrec.data.ctr_movielens import MOVIELENS_CTR_FIELDS, load_movielens_ctr

    root = shared_data / "ctr" / "movielens-100k"
    train, valid, test = load_movielens_ctr(root)
    assert (len(train), len(valid), len(test)) == (80000, 10000, 10000)
    assert train.fields == MOVIELENS_CTR_FIELDS
    raw = np.loadtxt(root / "u.data", dtype=np.int64)
    ts = np.sort(raw[:, 3], kind="stable")
    # Chronological: labels follow the timestamp-sorted ratings, train before valid before test.
    order = np.argsort(raw[:, 3], kind="stable")
    labels = np.concatenate([train.label, valid.label, test.label])
    np.testing.assert_array_equal(labels, (raw[order, 2] >= 4).astype(np.float32))
    assert ts[79999] <= ts[80000]
    # Vocab fit on train only: every train value is known (id >= 1) except a missing release date
    # (item 267 "unknown"); gender has 2 values + OOV.
    assert (train.x[:, :7] >= 1).all() and train.vocab_sizes[3] == 3
    no_date = train.x[:, 7] == 0
    assert no_date.any() and (raw[order[:80000], 1][no_date] == 267).all()
    # Genres: Toy Story (item 1) is Animation, Children's, Comedy = u.genre 3, 4, 5 -> ids 4, 5, 6.
    genres, gvocab = train.sequences["genres"]
    row = int(np.argmax(raw[order[:80000], 1] == 1))
    assert gvocab == 20 and sorted(g for g in genres[row] if g) == [4, 5, 6]


def test_preprocess_csv_roundtrip(tmp_path):
    from jaxrec.data.ctr_preprocess import preprocess_csv

    header = "city,price,tags,label\n"
    (tmp_path / "train.csv").write_text(
        header + "a,1.0,x^y,1\na,2.0,y,0\nb,3.0,,1\nc,4.0,z^x^y,0\n"
    )
    (tmp_path / "test.csv").write_text(header + "a,9.0,y^w,1\nd,,x,0\n")
    fmap = preprocess_csv(
        {"train": tmp_path / "train.csv", "test": tmp_path / "test.csv"},
        tmp_path / "out",
        categorical=["city"],
        numeric_buckets={"price": 2},
        sequences={"tags": 2},
        min_categr_count=2,
    )
    # city: only "a" is seen twice -> {a: 1}, the rest OOV 0; tags x, y (twice each) -> 1, 2.
    assert fmap["feature_specs"]["city"]["vocab_size"] == 2
    train = load_fuxictr_h5(tmp_path / "out" / "train.h5")
    test = load_fuxictr_h5(tmp_path / "out" / "test.h5")
    np.testing.assert_array_equal(train.x, [[1, 1], [1, 1], [0, 2], [0, 2]])
    np.testing.assert_array_equal(test.x, [[1, 2], [0, 0]])  # price 9 > median; empty -> 0
    np.testing.assert_array_equal(train.sequences["tags"][0], [[1, 2], [2, 0], [0, 0], [0, 1]])
    np.testing.assert_array_equal(test.sequences["tags"][0], [[2, 0], [1, 0]])
    np.testing.assert_array_equal(test.label, [1, 0])
    (tmp_path / "bad.csv").write_text(header + "a,1.0,x,yes\n")
    with pytest.raises(DataFormatError, match="row 0: label 'label' = 'yes'"):
        preprocess_csv({"train": tmp_path / "bad.csv"}, tmp_path / "o2", categorical=["city"])
    with pytest.raises(DataFormatError, match="unknown field"):
        preprocess_csv({"train": tmp_path / "train.csv"}, tmp_path / "o3", categorical=["zip"])
