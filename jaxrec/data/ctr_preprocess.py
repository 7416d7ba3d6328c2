"""FuxiCTR-style CSV preprocessing: fit vocabularies on train, encode train/valid/test, write h5 +
``feature_map.json`` that :func:`jaxrec.data.ctr.load_fuxictr_h5` reads.

Encoding (fit on the train CSV only):
- categorical: values seen ``>= min_categr_count`` times get ``1..V`` (sorted); id 0 is padding
  and out-of-vocabulary (rare, unseen or empty);
- numeric, bucketed: ``num_buckets`` train quantile edges; a value gets its bucket ``1..B``,
  an empty / non-finite value 0;
- sequence (multi-valued, ``sep``-joined): each element encoded as categorical, padded / cut to
  ``max_len`` with 0; a model mean-pools the non-padding embeddings.

h5 layout: one float64 dataset ``data`` [N, K_cat + sum(max_len) + 1]: the categorical columns, then
each sequence's ``max_len`` columns, then the label (FuxiCTR's single-array layout).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jaxrec.data.loaders import DataFormatError

__all__ = ["preprocess_csv"]


def _read_csv(path: Path, columns: Sequence[str]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFormatError(
                f"{path}: unknown field(s) {missing}; header is {reader.fieldnames}"
            )
        rows = list(reader)
    return {c: np.array([r[c] for r in rows], dtype=object) for c in columns}


def _vocab(values: Sequence[str], min_count: int) -> dict[str, int]:
    counts = Counter(v for v in values if v != "")
    return {v: i + 1 for i, v in enumerate(sorted(v for v, c in counts.items() if c >= min_count))}


def _float(values: np.ndarray, path: Path, name: str, strict: bool = True) -> np.ndarray:
    """Floats of a CSV column, NaN where empty; a non-number is an error (NaN if not ``strict``)."""
    out = np.full(len(values), np.nan)
    for r, v in enumerate(values):
        if v == "":
            continue
        try:
            out[r] = float(v)
        except ValueError as err:
            if strict:
                raise DataFormatError(
                    f"{path}: row {r}: field {name!r} = {v!r} is not a number"
                ) from err
    return out


def _label(values: np.ndarray, path: Path, name: str) -> np.ndarray:
    y = _float(values, path, name, strict=False)
    bad = ~((y == 0) | (y == 1))
    if bad.any():
        row = int(np.argmax(bad))
        raise DataFormatError(f"{path}: row {row}: label {name!r} = {values[row]!r} is not 0 or 1")
    return y


def preprocess_csv(
    splits: Mapping[str, str | Path],
    out_dir: str | Path,
    *,
    categorical: Sequence[str] = (),
    numeric_buckets: Mapping[str, int] | None = None,
    sequences: Mapping[str, int] | None = None,
    label: str = "label",
    min_categr_count: int = 1,
    sep: str = "^",
) -> dict:
    """Encode ``splits`` (``{"train": csv, "valid": csv, "test": csv}``; train required) into
    ``out_dir/<split>.h5`` + ``out_dir/feature_map.json``; returns the feature map.
    ``numeric_buckets``: field -> bucket count; ``sequences``: field -> ``max_len``."""
    numeric_buckets = dict(numeric_buckets or {})
    sequences = dict(sequences or {})
    if "train" not in splits:
        raise ValueError("splits needs a 'train' CSV to fit the vocabularies on")
    scalar = list(categorical) + list(numeric_buckets)
    columns = [*scalar, *sequences, label]
    raw = {name: _read_csv(Path(p), columns) for name, p in splits.items()}
    train = raw["train"]
    vocabs = {c: _vocab(train[c], min_categr_count) for c in categorical}
    edges = {}
    for c, b in numeric_buckets.items():
        v = _float(train[c], Path(splits["train"]), c)
        edges[c] = np.quantile(v[np.isfinite(v)], np.linspace(0, 1, b + 1)[1:-1])
    seq_vocab = {
        c: _vocab([e for s in train[c] for e in s.split(sep) if s], min_categr_count)
        for c in sequences
    }
    specs: dict[str, dict] = {}
    index = 0
    for c in scalar:
        size = len(vocabs[c]) + 1 if c in vocabs else numeric_buckets[c] + 1
        specs[c] = {
            "source": "",
            "type": "categorical",
            "min_categr_count": min_categr_count,
            "vocab_size": size,
            "index": index,
            "padding_idx": 0,
            "oov_idx": 0,
        }
        index += 1
    for c, max_len in sequences.items():
        specs[c] = {
            "source": "",
            "type": "sequence",
            "min_categr_count": min_categr_count,
            "vocab_size": len(seq_vocab[c]) + 1,
            "max_len": max_len,
            "splitter": sep,
            "index": list(range(index, index + max_len)),
            "padding_idx": 0,
            "oov_idx": 0,
        }
        index += max_len
    feature_map = {
        "dataset_id": Path(out_dir).name,
        "num_fields": len(specs),
        "num_features": sum(s["vocab_size"] for s in specs.values()),
        "feature_len": index,
        "labels": [label],
        "feature_specs": specs,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    import h5py  # optional extra jaxrec[ctr]

    for name, cols in raw.items():
        n = len(cols[label])
        data = np.zeros((n, index + 1))
        for c in scalar:
            if c in vocabs:
                data[:, specs[c]["index"]] = [vocabs[c].get(v, 0) for v in cols[c]]
            else:
                v = _float(cols[c], Path(splits[name]), c)
                ok = np.isfinite(v)
                data[:, specs[c]["index"]] = np.where(
                    ok, np.searchsorted(edges[c], np.where(ok, v, 0), "right") + 1, 0
                )
        for c, max_len in sequences.items():
            ids = [
                [seq_vocab[c].get(e, 0) for e in s.split(sep)][:max_len] if s else []
                for s in cols[c]
            ]
            block = np.zeros((n, max_len))
            for r, row in enumerate(ids):  # file preprocessing, once per dataset
                block[r, : len(row)] = row
            data[:, specs[c]["index"]] = block
        data[:, -1] = _label(cols[label], Path(splits[name]), label)
        with h5py.File(out / f"{name}.h5", "w") as f:
            f.create_dataset("data", data=data)
    (out / "feature_map.json").write_text(json.dumps(feature_map, indent=4))
    return feature_map
