"""Title-sequence data for LLM recommenders (the MSL/BIGRec format) and a synthetic title world.

Files (the authors' Amazon data layout, see jaxrec/llmrec/README.md):

- ``id2name4Rec.json``: JSON object ``{"<item id>": "<raw title>"}``. Titles are kept raw (no
  HTML unescaping, no stripping): trie, prompts and evaluation use the same string.
- ``train.csv`` / ``train_10000.csv`` / ``test_5000.csv``: header exactly
  ``user_id,item_ids,timestamp``; ``item_ids`` is a quoted Python list of integer item ids, the
  last being the target and the others the history (oldest first).

The validation split (not shipped by the authors) is the chronologically last windows
of ``train.csv`` that are not in ``train_10000.csv`` (:func:`chronological_holdout`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from jaxrec.data.loaders import DataFormatError

__all__ = [
    "TitleSequences",
    "TitleWorld",
    "chronological_holdout",
    "load_item_titles",
    "load_llmrec_csv",
    "synthetic_title_world",
]

_HEADER = ["user_id", "item_ids", "timestamp"]
_ID_LIST = re.compile(r"\s*\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]\s*\Z")


@dataclasses.dataclass(frozen=True)
class TitleSequences:
    """Windows of item ids: ``items[i, :lengths[i] - 1]`` is the history, the last the target.

    Attributes:
      user_ids: int64 ``[n]``.
      items: int32 ``[n, L]`` item ids padded with -1 on the right.
      lengths: int32 ``[n]`` ids per window (>= 2).
      timestamps: int64 ``[n]`` Unix seconds.
    """

    user_ids: np.ndarray
    items: np.ndarray
    lengths: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def targets(self) -> np.ndarray:
        return self.items[np.arange(len(self)), self.lengths - 1]

    def histories(self) -> list[list[int]]:
        return [row[: n - 1].tolist() for row, n in zip(self.items, self.lengths)]

    def subset(self, rows: np.ndarray | slice) -> TitleSequences:
        return TitleSequences(
            self.user_ids[rows], self.items[rows], self.lengths[rows], self.timestamps[rows]
        )


@dataclasses.dataclass(frozen=True)
class TitleWorld:
    """A dataset: ``{item id: title}`` and train/valid/test windows."""

    name: str
    titles: dict[int, str]
    train: TitleSequences
    valid: TitleSequences
    test: TitleSequences


def load_item_titles(path: str | Path) -> dict[int, str]:
    """Reads ``id2name4Rec.json`` into ``{item id: raw title}``.

    Raises:
      FileNotFoundError: if the file is missing.
      DataFormatError: if it is not a JSON object of integer-string keys to strings.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: item title file not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: not valid UTF-8 JSON ({err})") from None
    if not isinstance(raw, dict) or not raw:
        raise DataFormatError(f"{path}: expected a non-empty JSON object {{item id: title}}")
    titles = {}
    for key, title in raw.items():
        if not re.fullmatch(r"\d+", key):
            raise DataFormatError(f"{path}: key {key!r} is not a non-negative integer item id")
        if not isinstance(title, str):  # raw titles; the Book file has one empty title (id 5746)
            raise DataFormatError(f"{path}: item {key}: title {title!r} is not a string")
        titles[int(key)] = title
    return titles


def load_llmrec_csv(
    path: str | Path, titles: Mapping[int, str] | None = None, max_len: int = 11
) -> TitleSequences:
    """Reads a ``user_id,item_ids,timestamp`` window file.

    Args:
      path: the CSV file.
      titles: if given, every item id must be one of its keys.
      max_len: the most ids per window (MSL: 11).

    Raises:
      FileNotFoundError: if the file is missing.
      DataFormatError: naming ``file:line`` for a wrong header, a malformed field, a window with
        fewer than 2 or more than ``max_len`` ids, or an unknown item id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: window file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not UTF-8 text ({err})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header != _HEADER:
        raise DataFormatError(f"{path}:1: header {header}, expected {_HEADER}")
    users, stamps, windows = [], [], []
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if len(row) != 3:
            raise DataFormatError(f"{path}:{line}: {len(row)} fields, expected 3 ({_HEADER})")
        match = _ID_LIST.match(row[1])
        if not match:
            raise DataFormatError(
                f"{path}:{line}: item_ids {row[1]!r} is not a list of integer ids"
            )
        ids = [int(x) for x in match.group(1).split(",")]
        if not 2 <= len(ids) <= max_len:
            raise DataFormatError(f"{path}:{line}: {len(ids)} item ids, expected 2..{max_len}")
        if titles is not None:
            unknown = [i for i in ids if i not in titles]
            if unknown:
                raise DataFormatError(f"{path}:{line}: item ids {unknown} have no title")
        for name, value in (("user_id", row[0]), ("timestamp", row[2])):
            if not re.fullmatch(r"-?\d+", value.strip()):
                raise DataFormatError(f"{path}:{line}: {name} {value!r} is not an integer")
        users.append(int(row[0]))
        stamps.append(int(row[2]))
        windows.append(ids)
    if not windows:
        raise DataFormatError(f"{path}: no rows after the header")
    lengths = np.array([len(w) for w in windows], np.int32)
    items = np.full((len(windows), int(lengths.max())), -1, np.int32)
    for i, w in enumerate(windows):
        items[i, : len(w)] = w
    return TitleSequences(np.array(users, np.int64), items, lengths, np.array(stamps, np.int64))


def _row_keys(seqs: TitleSequences) -> list[tuple]:
    return [
        (int(u), tuple(r[:n].tolist()), int(t))
        for u, r, n, t in zip(seqs.user_ids, seqs.items, seqs.lengths, seqs.timestamps)
    ]


def chronological_holdout(
    all_windows: TitleSequences, used: TitleSequences, size: int = 500
) -> TitleSequences:
    """The ``size`` latest windows of ``all_windows`` that are not in ``used`` (compared by user,
    ids and timestamp), in chronological order (stable for equal timestamps)."""
    taken = set(_row_keys(used))
    free = np.array([k not in taken for k in _row_keys(all_windows)])
    rows = np.flatnonzero(free)
    order = rows[np.argsort(all_windows.timestamps[rows], kind="stable")]
    return all_windows.subset(order[-size:])


# --------------------------------------------------------------------------------------------
# Synthetic title world

_GENRES = (
    "Dragon", "Harbor", "Quantum", "Velvet", "Prairie", "Cipher", "Ember", "Glacier",
    "Orchid", "Thunder", "Marble", "Lantern",
)  # fmt: skip
_ADJECTIVES = (
    "Silent", "Golden", "Hidden", "Broken", "Crimson", "Distant", "Electric", "Gentle",
    "Hollow", "Iron", "Lucky", "Midnight", "Paper", "Restless", "Secret", "Wild",
)  # fmt: skip
_NOUNS = (
    "Garden", "Empire", "River", "Promise", "Machine", "Voyage", "Kingdom", "Letter",
    "Mirror", "Orbit", "Shadow", "Summer", "Tower", "Winter", "Engine", "Island",
)  # fmt: skip


def synthetic_title_world(
    num_genres: int = 6,
    items_per_genre: int = 12,
    num_users: int = 600,
    windows_per_user: int = 3,
    window_len: int = 6,
    genre_loyalty: float = 0.85,
    num_valid: int = 150,
    num_test: int = 300,
    seed: int = 0,
) -> TitleWorld:
    """Users with a planted favourite genre; titles built from words, the genre word first.

    Item ``i`` of genre ``g`` is titled ``"<genre word> <adjective> <noun>: Book <k>"``; one
    title is duplicated on purpose (two ids, one title). Each user has a favourite genre; every
    item in a window is from that genre with probability ``genre_loyalty`` (else uniform), chosen
    by a Zipf popularity within the genre. A recommender that reads the history's genre beats
    popularity by a wide margin. Windows are timestamped; the latest windows form test, the ones
    before them valid.
    """
    if num_genres > len(_GENRES) or items_per_genre > len(_ADJECTIVES) * len(_NOUNS):
        raise ValueError(f"at most {len(_GENRES)} genres, got {num_genres=}")
    rng = np.random.default_rng(seed)
    titles: dict[int, str] = {}
    for g in range(num_genres):
        combos = rng.choice(len(_ADJECTIVES) * len(_NOUNS), size=items_per_genre, replace=False)
        for k, c in enumerate(combos):
            adj, noun = _ADJECTIVES[c // len(_NOUNS)], _NOUNS[c % len(_NOUNS)]
            titles[g * items_per_genre + k + 1] = f"{_GENRES[g]} {adj} {noun}: Book {k + 1}"
    # a duplicated title, as real catalogues have (jaxrec/llmrec/README.md, "Quirks")
    titles[len(titles) + 1] = titles[1]
    ids = np.array(sorted(titles))
    genre = np.minimum((ids - 1) // items_per_genre, num_genres - 1)
    popularity = 1.0 / np.arange(1, items_per_genre + 2) ** 0.8
    favourite = rng.integers(num_genres, size=num_users)
    n = num_users * windows_per_user
    users = np.repeat(np.arange(num_users), windows_per_user)
    items = np.empty((n, window_len), np.int32)
    for g in range(num_genres):
        members = ids[genre == g]
        weights = popularity[: members.size] / popularity[: members.size].sum()
        rows = favourite[users] == g
        items[rows] = rng.choice(members, size=(int(rows.sum()), window_len), p=weights)
    off_genre = rng.random((n, window_len)) > genre_loyalty
    items[off_genre] = rng.choice(ids, size=int(off_genre.sum()))
    stamps = rng.permutation(n).astype(np.int64) * 86400 + 1_500_000_000
    order = np.argsort(stamps)
    seqs = TitleSequences(
        users[order].astype(np.int64),
        items[order],
        np.full(n, window_len, np.int32),
        stamps[order],
    )
    cut_test, cut_valid = n - num_test, n - num_test - num_valid
    if cut_valid <= 0:
        raise ValueError(f"{n} windows leave no training data after {num_valid=} + {num_test=}")
    return TitleWorld(
        "synthetic",
        titles,
        seqs.subset(slice(0, cut_valid)),
        seqs.subset(slice(cut_valid, cut_test)),
        seqs.subset(slice(cut_test, n)),
    )
