"""MovieLens 100K as a CTR set (``shared_root()/ctr/movielens-100k``: ``u.data``, ``u.user``, ``u.item``).

One row per rating; label ``rating >= 4``; rows sorted by timestamp (stable) and split 8:1:1
chronologically. Categorical fields ``user_id, item_id, age, gender, occupation, zip, title,
release_year`` and the multi-valued field ``genres``. Vocabularies are fit on the train split
only, FuxiCTR style: id 0 is padding / out-of-vocabulary (a value unseen in train, or a missing
release date), seen values get ``1..V`` in sorted order. ``genres`` holds each movie's genre ids
(``1 + u.genre index``) padded with 0 to the largest genre count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxrec.data.ctr import CTRTable, validate_ctr
from jaxrec.data.loaders import DataFormatError
from jaxrec.data.paths import shared_root

__all__ = ["MOVIELENS_CTR_FIELDS", "load_movielens_ctr"]

MOVIELENS_CTR_FIELDS = (
    "user_id",
    "item_id",
    "age",
    "gender",
    "occupation",
    "zip",
    "title",
    "release_year",
)
_NUM_GENRES = 19


def _read(path: Path, sep: str, ncols: int) -> list[list[str]]:
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    rows = [line.split(sep) for line in path.read_text(encoding="latin-1").splitlines() if line]
    for r, row in enumerate(rows):
        if len(row) < ncols:
            raise DataFormatError(f"{path}: row {r} has {len(row)} columns, expected {ncols}")
    return rows


def _encode(train: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, int]:
    """Ids for ``values`` from the train vocabulary (0 = OOV / missing ""), and the vocab size."""
    vocab = np.unique(train[train != ""])
    pos = np.searchsorted(vocab, values).clip(0, max(len(vocab) - 1, 0))
    seen = (values != "") & (vocab[pos] == values) if len(vocab) else np.zeros(len(values), bool)
    return np.where(seen, pos + 1, 0).astype(np.int32), len(vocab) + 1


def load_movielens_ctr(root: str | Path | None = None) -> tuple[CTRTable, CTRTable, CTRTable]:
    """(train, valid, test) :class:`CTRTable` s of MovieLens 100K; ``root`` defaults to
    ``shared_root()/ctr/movielens-100k``."""
    root = Path(root) if root is not None else shared_root() / "ctr" / "movielens-100k"
    ratings = np.array(_read(root / "u.data", "\t", 4)).astype(np.int64)[:, :4]
    users = {int(r[0]): r[1:5] for r in _read(root / "u.user", "|", 5)}
    items = {int(r[0]): r for r in _read(root / "u.item", "|", 5 + _NUM_GENRES)}
    missing = [u for u in np.unique(ratings[:, 0]) if u not in users]
    missing += [i for i in np.unique(ratings[:, 1]) if i not in items]
    if missing:
        raise DataFormatError(f"{root}: ids {missing[:5]} in u.data are absent from u.user/u.item")
    ratings = ratings[np.argsort(ratings[:, 3], kind="stable")]
    u, i = ratings[:, 0], ratings[:, 1]
    raw = {
        "user_id": u.astype(str),
        "item_id": i.astype(str),
        "age": np.array([users[x][0] for x in u]),
        "gender": np.array([users[x][1] for x in u]),
        "occupation": np.array([users[x][2] for x in u]),
        "zip": np.array([users[x][3] for x in u]),
        "title": np.array([items[x][1] for x in i]),
        "release_year": np.array([items[x][2][-4:] for x in i]),
    }
    flags = np.array([[int(g) for g in items[x][-_NUM_GENRES:]] for x in i], dtype=bool)
    width = int(flags.sum(1).max())
    order = np.argsort(~flags, axis=1, kind="stable")[:, :width]
    genres = np.where(np.take_along_axis(flags, order, 1), order + 1, 0).astype(np.int32)
    label = (ratings[:, 2] >= 4).astype(np.float32)
    n = len(ratings)
    cut = (0, int(0.8 * n), int(0.9 * n), n)
    a = cut[1]
    columns = [_encode(raw[f][:a], raw[f]) for f in MOVIELENS_CTR_FIELDS]
    x = np.stack([c[0] for c in columns], axis=1)
    vocab = tuple(c[1] for c in columns)
    tables = []
    for lo, hi in zip(cut[:-1], cut[1:], strict=True):
        t = validate_ctr(x[lo:hi], label[lo:hi], MOVIELENS_CTR_FIELDS, vocab, str(root / "u.data"))
        tables.append(
            CTRTable(
                t.x, t.label, t.fields, t.vocab_sizes, {"genres": (genres[lo:hi], _NUM_GENRES + 1)}
            )
        )
    return tables[0], tables[1], tables[2]
