"""IR-Benchmark and LightGCN loaders: real file counts, round trip, and clear errors."""

import zipfile

import numpy as np
import pytest

from jaxrec.data import (
    CFDataset,
    DataFormatError,
    Interactions,
    csr,
    load_ir_benchmark,
    load_lightgcn,
    write_lightgcn,
)

HEADER = "user_procid\titem_procid\n"


def _write_ir(folder, train, test, summary=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text(HEADER + train)
    (folder / "test.tsv").write_text(HEADER + test)
    if summary is not None:
        (folder / "summary.txt").write_text(summary)
    return folder


def test_real_health_counts_match_spec(shared_data):
    dataset = load_ir_benchmark(shared_data / "cf" / "amazon2014-health" / "proc.zip")
    assert dataset.name == "amazon2014-health"
    assert (dataset.num_users, dataset.num_items) == (1974, 1200)
    assert (len(dataset.train), len(dataset.test), dataset.valid) == (37784, 10405, None)
    assert dataset.train.users.dtype == np.int32 and dataset.test.items.dtype == np.int32
    # Every user appears in both splits; test and train are disjoint per user.
    assert np.unique(dataset.train.users).size == np.unique(dataset.test.users).size == 1974
    train_pairs = set(zip(dataset.train.users.tolist(), dataset.train.items.tolist(), strict=True))
    assert not train_pairs & set(
        zip(dataset.test.users.tolist(), dataset.test.items.tolist(), strict=True)
    )


def test_directory_without_summary_infers_counts(tmp_path):
    folder = _write_ir(tmp_path / "toy", "0\t1\n0\t3\n1\t0\n", "0\t2\n2\t4\n")
    dataset = load_ir_benchmark(folder)
    assert (dataset.name, dataset.num_users, dataset.num_items) == ("toy", 3, 5)
    np.testing.assert_array_equal(dataset.train.users, [0, 0, 1])
    np.testing.assert_array_equal(dataset.train.items, [1, 3, 0])
    np.testing.assert_array_equal(dataset.test.items, [2, 4])


def test_zip_with_summary_uses_declared_counts(tmp_path):
    folder = _write_ir(
        tmp_path / "src",
        "0\t1\n1\t0\n",
        "1\t2\n",
        "Number of users: 4\nNumber of items: 6\nNumber of train interactions: 2\n",
    )
    archive = tmp_path / "named" / "proc.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("train.tsv", "test.tsv", "summary.txt"):
            zf.write(folder / name, name)
    dataset = load_ir_benchmark(archive)
    assert (dataset.name, dataset.num_users, dataset.num_items) == ("named", 4, 6)


def test_missing_path_and_member(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.zip"):
        load_ir_benchmark(tmp_path / "nope.zip")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "train.tsv").write_text(HEADER + "0\t0\n")
    with pytest.raises(FileNotFoundError, match="test.tsv"):
        load_ir_benchmark(tmp_path / "only")
    with pytest.raises(FileNotFoundError, match="train.txt"):
        load_lightgcn(tmp_path / "only")


def test_bad_zip(tmp_path):
    bad = tmp_path / "proc.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="proc.zip: not a valid zip"):
        load_ir_benchmark(bad)


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ("0\t1\n0\t2\t3\n", r"train.tsv:3: 3 tab-separated fields, expected 2"),
        ("0\t1\n1\n", r"train.tsv:3: 1 tab-separated fields, expected 2"),
        ("0\t1\n1\tx7\n", r"train.tsv:3: item_procid 'x7' is not an integer"),
        ("0\t1\n1.5\t2\n", r"train.tsv:3: user_procid '1.5' is not an integer"),
        ("0\t1\n\n-1\t2\n", r"train.tsv:4: user_procid id -1 out of range"),
        ("0\t1\n1\t2 # note\n", r"train.tsv:3: item_procid '2 # note' is not an integer"),
        ("", r"train.tsv: no interactions after the header"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, train, message):
    folder = _write_ir(tmp_path / "bad", train, "0\t1\n")
    with pytest.raises(DataFormatError, match=message):
        load_ir_benchmark(folder)


def test_wrong_header_and_empty_file(tmp_path):
    folder = _write_ir(tmp_path / "bad", "0\t1\n", "0\t1\n")
    (folder / "train.tsv").write_text("user\titem\n0\t1\n")
    with pytest.raises(DataFormatError, match=r"train.tsv:1: header"):
        load_ir_benchmark(folder)
    (folder / "train.tsv").write_text("")
    with pytest.raises(DataFormatError, match=r"train.tsv: empty file"):
        load_ir_benchmark(folder)


def test_ids_out_of_declared_range_and_count_mismatch(tmp_path):
    summary = "Number of users: 2\nNumber of items: 3\n"
    folder = _write_ir(tmp_path / "a", "0\t1\n1\t2\n", "1\t3\n", summary)
    with pytest.raises(
        DataFormatError, match=r"test.tsv:2: item_procid id 3 out of range.*\[0, 3\)"
    ):
        load_ir_benchmark(folder)
    folder = _write_ir(tmp_path / "b", "0\t1\n2\t0\n", "1\t0\n", summary)
    with pytest.raises(DataFormatError, match=r"train.tsv:3: user_procid id 2 out of range"):
        load_ir_benchmark(folder)
    folder = _write_ir(
        tmp_path / "c", "0\t1\n", "1\t0\n", summary + "Number of test interactions: 5\n"
    )
    with pytest.raises(DataFormatError, match=r"test.tsv: 1 interactions, but .* declares 5"):
        load_ir_benchmark(folder)
    (folder / "summary.txt").write_text("Number of users: 2\n")
    with pytest.raises(DataFormatError, match=r"summary.txt: missing field 'Number of items'"):
        load_ir_benchmark(folder)


def test_lightgcn_round_trip(tmp_path):
    train = Interactions(np.array([0, 0, 2, 2, 2]), np.array([5, 1, 0, 3, 1]))
    test = Interactions(np.array([0, 2]), np.array([2, 6]))
    dataset = CFDataset("toy", 4, 7, train, None, test)  # user 1 and user 3 have no items
    write_lightgcn(dataset, tmp_path / "toy")
    assert (tmp_path / "toy" / "train.txt").read_text() == "0 1 5\n1\n2 0 1 3\n3\n"
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == ["test.txt", "train.txt"]
    loaded = load_lightgcn(tmp_path / "toy")
    assert (loaded.name, loaded.num_users, loaded.num_items) == ("toy", 4, 7)
    for split in ("train", "test"):
        for got, want in zip(
            csr(getattr(loaded, split), 4), csr(getattr(dataset, split), 4), strict=True
        ):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"train.txt: empty file"),
        ("0 1 2\n1 3 b\n", r"train.txt:2: 'b' is not an integer id"),
        ("0 1 2\n\n1 -3\n", r"train.txt:3: item id -3 out of range, expected in \[0, 2147483648\)"),
        ("-1 2\n", r"train.txt:1: user id -1 out of range"),
        ("0 1\n1 2147483648\n", r"train.txt:2: item id 2147483648 out of range"),
        ("0 1\n1 99999999999999999999\n", r"train.txt: ids do not fit in int64"),
    ],
)
def test_lightgcn_errors(tmp_path, content, message):
    (tmp_path / "train.txt").write_text(content)
    (tmp_path / "test.txt").write_text("0 1\n")
    with pytest.raises(DataFormatError, match=message):
        load_lightgcn(tmp_path)


def test_inferred_counts_are_bounded_by_the_rows(tmp_path):
    """Without summary.txt, one row with id 2e9 would size a 2e9-row table: refused by name."""
    folder = _write_ir(tmp_path / "big", "0\t1\n2000000000\t0\n", "0\t2\n")
    with pytest.raises(
        DataFormatError,
        match=r"big/train.tsv \+ test.tsv: largest user_procid id 2000000000 implies "
        r"2000000001 user_procids, more than the 3 rows",
    ):
        load_ir_benchmark(folder)
    folder = _write_ir(tmp_path / "items", "0\t1\n1\t0\n", "0\t3\n")  # 4 items, 3 rows
    with pytest.raises(DataFormatError, match=r"item_procid id 3 implies 4 item_procids"):
        load_ir_benchmark(folder)
    lightgcn = tmp_path / "lg"
    lightgcn.mkdir()
    (lightgcn / "train.txt").write_text("0 1\n1 2\n")
    (lightgcn / "test.txt").write_text("2000000000 1\n")
    with pytest.raises(DataFormatError, match=r"lg/train.txt \+ test.txt: largest user id"):
        load_lightgcn(lightgcn)
    (lightgcn / "test.txt").write_text("0 99\n")
    with pytest.raises(
        DataFormatError, match=r"item id 99 implies 100 items, more than the 3 item"
    ):
        load_lightgcn(lightgcn)


def test_zip_member_claiming_more_than_it_can_hold(tmp_path):
    archive = tmp_path / "bomb" / "proc.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train.tsv", HEADER + "0\t0\n")
        zf.writestr("test.tsv", HEADER + "0\t0\n")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("train.tsv")
    # patch the central directory's uncompressed size (offset 24 in its record) to 2 GB
    central = data.index(b"PK\x01\x02")
    assert data[central + 46 : central + 46 + 9] == b"train.tsv"
    data[central + 24 : central + 28] = (2**31).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(
        DataFormatError,
        match=rf"proc.zip!train.tsv: declared size 2147483648 bytes cannot come from "
        rf"{info.compress_size} compressed",
    ):
        load_ir_benchmark(archive)
