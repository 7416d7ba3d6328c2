"""CTR data: FuxiCTR h5 + ``feature_map.json`` reader and a planted-interaction synthetic world.

A CTR table is ``x: int32 [N, K]`` (one categorical id per field, each in ``[0, vocab_k)``) and
``label: float32 [N]`` in ``{0, 1}``. FuxiCTR's h5 layout (the one in
``shared_root()/ctr/amazon_gift_cards``) is one float dataset ``data`` of shape ``[N, K + 1]``:
the K feature columns in ``feature_specs[*].index`` order, then the label column.

Reading h5 needs the optional extra ``pip install 'jaxrec[ctr]'`` (h5py); it is imported only
when a file is read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxrec.data.loaders import DataFormatError

__all__ = [
    "CTRTable",
    "CTRWorld",
    "load_feature_map",
    "load_fuxictr_h5",
    "select_fields",
    "synthetic_ctr_world",
    "validate_ctr",
]


@dataclass(frozen=True)
class CTRTable:
    """One CTR split. ``x``: int32 [N, K]; ``label``: float32 [N]; ``fields``: K names;
    ``vocab_sizes``: int [K] (every id of field k lies in ``[0, vocab_sizes[k])``).
    ``sequences``: multi-valued fields, name -> (int32 [N, L] ids padded with 0, vocab size);
    a model mean-pools the non-padding embeddings of each row (FuxiCTR's sequence fields)."""

    x: np.ndarray
    label: np.ndarray
    fields: tuple[str, ...]
    vocab_sizes: tuple[int, ...]
    sequences: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)

    @property
    def offsets(self) -> np.ndarray:
        """Row offset of each field in one concatenated embedding table: int64 [K]."""
        return np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def validate_ctr(
    x: np.ndarray, label: np.ndarray, fields: Sequence[str], vocab_sizes: Sequence[int], source: str
) -> CTRTable:
    """Check a raw table and return it as a :class:`CTRTable`; never clamps.

    Raises :class:`DataFormatError` naming ``source``, the field and the first bad row for: a
    column count other than ``len(fields)``, a non-integer / negative / ``>= vocab`` id, a label
    that is NaN or outside {0, 1}.
    """
    x = np.asarray(x)
    label = np.asarray(label)
    fields = tuple(fields)
    vocab = tuple(int(v) for v in vocab_sizes)
    if x.ndim != 2 or x.shape[1] != len(fields):
        raise DataFormatError(
            f"{source}: {x.shape[-1] if x.ndim else 0} feature columns but the feature map names "
            f"{len(fields)} fields {fields}"
        )
    if label.shape != (x.shape[0],):
        raise DataFormatError(f"{source}: label shape {label.shape} != ({x.shape[0]},)")
    for k, name in enumerate(fields):
        col = x[:, k]
        bad = ~np.isfinite(col) | (col != np.round(col)) if col.dtype.kind == "f" else None
        if bad is not None and bad.any():
            row = int(np.argmax(bad))
            raise DataFormatError(
                f"{source}: field {name!r} row {row}: id {col[row]} is not an integer"
            )
        out = (col < 0) | (col >= vocab[k])
        if out.any():
            row = int(np.argmax(out))
            raise DataFormatError(
                f"{source}: field {name!r} row {row}: id {int(col[row])} outside [0, {vocab[k]})"
            )
    bad_label = ~((label == 0) | (label == 1))
    if bad_label.any():
        row = int(np.argmax(bad_label))
        raise DataFormatError(f"{source}: row {row}: label {label[row]} is not 0 or 1")
    return CTRTable(x.astype(np.int32), label.astype(np.float32), fields, vocab)


def load_feature_map(
    path: str | Path,
) -> tuple[tuple[str, ...], tuple[int, ...], dict[str, tuple[list[int], int]]]:
    """From a FuxiCTR ``feature_map.json``: categorical field names (in column ``index`` order),
    their vocab sizes, and the sequence fields (name -> (column indices, vocab size)). Any other
    field type is a :class:`DataFormatError`."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: feature map not found")
    specs = json.loads(path.read_text())["feature_specs"]
    seqs: dict[str, tuple[list[int], int]] = {}
    cats: dict[str, dict] = {}
    for name, spec in specs.items():
        if spec.get("type") == "categorical":
            cats[name] = spec
        elif spec.get("type") == "sequence":
            seqs[name] = (list(spec["index"]), int(spec["vocab_size"]))
        else:
            raise DataFormatError(
                f"{path}: field {name!r} has type {spec.get('type')!r}; "
                "only categorical and sequence are read"
            )
    order = sorted(cats, key=lambda n: cats[n]["index"])
    return tuple(order), tuple(int(cats[n]["vocab_size"]) for n in order), seqs


def load_fuxictr_h5(h5_path: str | Path, feature_map: str | Path | None = None) -> CTRTable:
    """Read a FuxiCTR h5 split (``data`` [N, columns + 1], label last) checked against its feature
    map (default: ``feature_map.json`` beside the h5 file)."""
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("reading FuxiCTR h5 needs h5py: pip install 'jaxrec[ctr]'") from err
    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise DataFormatError(f"{h5_path}: file not found")
    map_path = Path(feature_map or h5_path.with_name("feature_map.json"))
    fields, vocab, seqs = load_feature_map(map_path)
    width = len(fields) + sum(len(cols) for cols, _ in seqs.values())
    with h5py.File(h5_path, "r") as f:
        if "data" not in f:
            raise DataFormatError(f"{h5_path}: no 'data' dataset (keys {list(f)})")
        data = f["data"][:]
    if data.ndim != 2 or data.shape[1] != width + 1:
        raise DataFormatError(
            f"{h5_path}: {data.shape[-1]} columns but {map_path.name} describes {width} "
            "feature columns + 1 label"
        )
    with open(map_path) as fm:
        specs = json.load(fm)["feature_specs"]
    cat_cols = [specs[n]["index"] for n in fields]
    table = validate_ctr(data[:, cat_cols], data[:, -1], fields, vocab, str(h5_path))
    sequences = {}
    for name, (cols, size) in seqs.items():
        checked = validate_ctr(
            data[:, cols],
            data[:, -1],
            [f"{name}[{j}]" for j in range(len(cols))],
            [size] * len(cols),
            str(h5_path),
        )
        sequences[name] = (checked.x, size)
    return CTRTable(table.x, table.label, fields, vocab, sequences)


def select_fields(table: CTRTable, names: Sequence[str]) -> CTRTable:
    """The sub-table of the named fields, in the given order; an unknown name is an error."""
    unknown = [n for n in names if n not in table.fields]
    if unknown:
        raise DataFormatError(f"unknown field(s) {unknown}; the data has {table.fields}")
    idx = [table.fields.index(n) for n in names]
    return CTRTable(
        table.x[:, idx], table.label, tuple(names), tuple(table.vocab_sizes[i] for i in idx)
    )


@dataclass(frozen=True)
class CTRWorld:
    """A synthetic CTR world with known ground truth: train/valid/test tables, the true logit of
    every test row (``test_logit`` [N_test]) and the planted field pairs."""

    train: CTRTable
    valid: CTRTable
    test: CTRTable
    test_logit: np.ndarray
    pairs: tuple[tuple[int, int], ...]


def synthetic_ctr_world(
    *,
    num_rows: int = 20_000,
    vocab_sizes: Sequence[int] = (50, 40, 30, 20, 10, 8),
    pairs: Sequence[tuple[int, int]] = ((0, 1), (2, 3), (1, 4)),
    rank: int = 4,
    pair_scale: float = 1.5,
    seed: int = 0,
) -> CTRWorld:
    """Planted field-pair interactions: with ids drawn uniformly per field,

    ``logit = b + sum_k w_k[x_k] + pair_scale * sum_{(i,j) in pairs} <u_i[x_i], u_j[x_j]> / sqrt(rank)``

    (``w ~ N(0, 0.5^2)``, ``u ~ N(0, 1)`` of width ``rank``), ``label ~ Bernoulli(sigmoid(logit))``,
    rows split 8:1:1. The oracle AUC is ``auc(test.label, test_logit)``: no model can beat it in
    expectation, and only a model with pairwise interactions can approach it.
    """
    rng = np.random.default_rng(seed)
    vocab = tuple(int(v) for v in vocab_sizes)
    k = len(vocab)
    for i, j in pairs:
        if not (0 <= i < k and 0 <= j < k and i != j):
            raise ValueError(f"planted pair {(i, j)} is not two distinct fields of {k}")
    x = np.stack([rng.integers(0, v, num_rows) for v in vocab], axis=1)
    w = [rng.normal(0.0, 0.5, v) for v in vocab]
    u = [rng.normal(0.0, 1.0, (v, rank)) for v in vocab]
    logit = np.full(num_rows, -0.3) + sum(w[f][x[:, f]] for f in range(k))
    for i, j in pairs:
        logit = logit + pair_scale * np.sum(u[i][x[:, i]] * u[j][x[:, j]], axis=1) / np.sqrt(rank)
    label = (rng.random(num_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    fields = tuple(f"field_{f}" for f in range(k))
    a, b = int(0.8 * num_rows), int(0.9 * num_rows)

    def part(lo: int, hi: int) -> CTRTable:
        return validate_ctr(x[lo:hi], label[lo:hi], fields, vocab, "synthetic")

    return CTRWorld(part(0, a), part(a, b), part(b, num_rows), logit[b:], tuple(map(tuple, pairs)))
