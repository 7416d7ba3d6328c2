"""Readers (and a writer) for the public collaborative-filtering split formats.

Two families, whose numbers must never be compared with each other (different splits):

- IR-Benchmark (the PSL paper's data): ``proc.zip`` or a directory with ``train.tsv``/``test.tsv``,
  header ``user_procid<TAB>item_procid``, one interaction per line, plus ``summary.txt``.
- LightGCN: a directory with ``train.txt``/``test.txt``, one line per user ``uid item item ...``
  (a user may have no items).

Id ranges. IR-Benchmark with ``summary.txt``: ``num_users``/``num_items`` are the declared
"Number of users/items"; an id at or above them is an error, as is a train/test row count that
differs from the declared one. Without ``summary.txt`` (and for LightGCN) the counts are
``max id + 1`` over train and test together: a test id beyond the largest train id is accepted (that
item or user just has no training signal). Such an inferred count may not exceed the number of
rows (IR-Benchmark), user lines or item tokens (LightGCN) that could name an id: ids may skip
values, but a handful of lines with an id of 2e9 is refused before anything is sized by it. Blank
lines are skipped; line numbers in errors are 1-based lines of the file.

Zip members are read only if their declared size is consistent with their compressed size
(deflate expands at most ~1032:1, a stored member not at all), so an archive cannot announce
more text than it can hold.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from jaxrec.data.interactions import CFDataset, Interactions, csr

_TSV_HEADER = ("user_procid", "item_procid")
_INT32_LIMIT = int(np.iinfo(np.int32).max) + 1
_INT = re.compile(r"\s*[+-]?\d+\s*\Z")
_MAX_EXPANSION = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1032}  # bytes out per byte in


class DataFormatError(ValueError):
    """A data file is missing a field, malformed, or holds ids out of range."""


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _data_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, line) for every non-blank line."""
    return [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]


def _decode(source: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{source}: not UTF-8 text ({err})") from None


def _check_range(source: str, kind: str, ids: np.ndarray, lines: np.ndarray, limit: int | None):
    """Raises on the first id outside [0, limit) (limit None: the int32 range), naming its line."""
    limit = _INT32_LIMIT if limit is None else limit
    bad = (ids < 0) | (ids >= limit)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(
            f"{source}:{int(lines[k])}: {kind} id {int(ids[k])} out of range, expected in "
            f"[0, {limit})"
        )


def _inferred_count(source: str, kind: str, ids: np.ndarray, slots: int, what: str) -> int:
    """``max id + 1``, refused when it exceeds the ``slots`` ``what`` that could name an id."""
    count = int(ids.max()) + 1 if ids.size else 0
    if count > slots:
        raise DataFormatError(
            f"{source}: largest {kind} id {count - 1} implies {count} {kind}s, more than the "
            f"{slots} {what} that name them (declare the counts in summary.txt if ids are sparse)"
        )
    return count


# ---------------------------------------------------------------------------------------------
# IR-Benchmark


def _parse_tsv(source: str, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parses an IR-Benchmark interaction table.

    Returns:
        ``(rows, line_numbers)``: int64 [n, 2] (user, item) and int64 [n] file line of each row.
    """
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataFormatError(f"{source}: empty file, expected header {_TSV_HEADER}")
    header = tuple(field.strip() for field in lines[0].split("\t"))
    if header != _TSV_HEADER:
        raise DataFormatError(f"{source}:1: header {header}, expected {_TSV_HEADER}")
    body = text[len(lines[0]) :].lstrip("\r\n")
    if not body.strip():
        raise DataFormatError(f"{source}: no interactions after the header")
    try:
        rows = np.loadtxt(io.StringIO(body), dtype=np.int64, delimiter="\t", comments=None, ndmin=2)
    except ValueError:
        rows = None
    if rows is None or rows.shape[1] != 2:
        for number, line in _data_lines(text)[1:]:
            fields = line.split("\t")
            if len(fields) != 2:
                raise DataFormatError(
                    f"{source}:{number}: {len(fields)} tab-separated fields, expected 2 "
                    f"(user_procid, item_procid): {line!r}"
                )
            for name, value in zip(_TSV_HEADER, fields, strict=True):
                if not _INT.match(value):
                    raise DataFormatError(f"{source}:{number}: {name} {value!r} is not an integer")
        raise DataFormatError(f"{source}: ids do not fit in int64")
    if len(rows) == len(lines) - 1:  # no blank lines: row k sits on line k + 2
        numbers = np.arange(2, len(rows) + 2)
    else:
        numbers = np.array([number for number, _ in _data_lines(text)[1:]])
    return rows, numbers


def _parse_summary(source: str, text: str) -> dict[str, int]:
    """The integer ``Key: value`` lines of summary.txt, e.g. ``{"Number of users": 1974}``."""
    summary = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and _INT.match(value):
            summary[key.strip()] = int(value)
    for key in ("Number of users", "Number of items"):
        if key not in summary:
            raise DataFormatError(f"{source}: missing field {key!r}")
    return summary


def _read_ir_files(path: Path) -> dict[str, tuple[str, str]]:
    """{file name: (source label, text)} for train.tsv, test.tsv and, if present, summary.txt."""
    wanted = ("train.tsv", "test.tsv", "summary.txt")
    if path.is_dir():
        found = {name: path / name for name in wanted if (path / name).is_file()}
        missing = [name for name in wanted[:2] if name not in found]
        if missing:
            raise FileNotFoundError(f"{path}: missing {', '.join(missing)}")
        return {name: (str(p), _decode(str(p), p.read_bytes())) for name, p in found.items()}
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file or directory (expected proc.zip or a folder)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = {Path(m).name: m for m in archive.namelist() if not m.endswith("/")}
            missing = [name for name in wanted[:2] if name not in members]
            if missing:
                raise FileNotFoundError(f"{path}: zip holds no {', '.join(missing)}")
            files = {}
            for name in wanted:
                if name in members:
                    label = f"{path}!{members[name]}"
                    info = archive.getinfo(members[name])
                    ratio = _MAX_EXPANSION.get(info.compress_type)
                    if ratio is not None and info.file_size > ratio * info.compress_size + 64:
                        raise DataFormatError(
                            f"{label}: declared size {info.file_size} bytes cannot come from "
                            f"{info.compress_size} compressed bytes"
                        )
                    files[name] = (label, _decode(label, archive.read(members[name])))
            return files
    except zipfile.BadZipFile as err:
        raise DataFormatError(f"{path}: not a valid zip file ({err})") from None


def load_ir_benchmark(path: str | os.PathLike[str], name: str | None = None) -> CFDataset:
    """Loads an IR-Benchmark split (``proc.zip`` or a folder holding its files).

    Args:
        path: the zip, or a directory with ``train.tsv``, ``test.tsv`` and optionally
            ``summary.txt``.
        name: dataset name; defaults to the folder holding the zip (``.../gowalla/proc.zip`` ->
            ``gowalla``) or the directory's own name.

    Returns:
        The dataset, ``valid=None`` (carve one with ``split_validation``).

    Raises:
        FileNotFoundError: the path or a required member is missing.
        DataFormatError: bad zip, bad header, malformed row, negative or out-of-range id, or a
            row count that contradicts summary.txt.
    """
    path = Path(path)
    files = _read_ir_files(path)
    tables = {split: _parse_tsv(*files[f"{split}.tsv"]) for split in ("train", "test")}
    if "summary.txt" in files:
        source, text = files["summary.txt"]
        summary = _parse_summary(source, text)
        num_users, num_items = summary["Number of users"], summary["Number of items"]
        for split, (rows, _) in tables.items():
            declared = summary.get(f"Number of {split} interactions")
            if declared is not None and declared != len(rows):
                raise DataFormatError(
                    f"{files[f'{split}.tsv'][0]}: {len(rows)} interactions, but {source} declares "
                    f"{declared}"
                )
    else:
        both = np.concatenate([rows for rows, _ in tables.values()])
        source = f"{files['train.tsv'][0]} + test.tsv"
        num_users = _inferred_count(source, "user_procid", both[:, 0], len(both), "rows")
        num_items = _inferred_count(source, "item_procid", both[:, 1], len(both), "rows")
    splits = {}
    for split, (rows, numbers) in tables.items():
        source = files[f"{split}.tsv"][0]
        _check_range(source, "user_procid", rows[:, 0], numbers, num_users)
        _check_range(source, "item_procid", rows[:, 1], numbers, num_items)
        splits[split] = Interactions(rows[:, 0], rows[:, 1])
    if name is None:
        name = path.parent.name if path.is_file() else path.name
    return CFDataset(name, num_users, num_items, splits["train"], None, splits["test"])


# ---------------------------------------------------------------------------------------------
# LightGCN


def _parse_adjacency(source: str, text: str) -> tuple[Interactions, np.ndarray]:
    """Parses ``uid item item ...`` lines; returns the interactions and the line uids."""
    lines = _data_lines(text)
    if not lines:
        raise DataFormatError(f"{source}: empty file, expected lines 'uid item item ...'")
    tokens = [line.split() for _, line in lines]
    lengths = np.array([len(t) for t in tokens])
    try:
        flat = np.array([value for t in tokens for value in t], dtype=np.int64)
    except (ValueError, OverflowError):
        for (number, _), fields in zip(lines, tokens, strict=True):
            for value in fields:
                if not _INT.match(value):
                    raise DataFormatError(
                        f"{source}:{number}: {value!r} is not an integer id"
                    ) from None
        raise DataFormatError(f"{source}: ids do not fit in int64") from None
    starts = np.cumsum(lengths) - lengths
    numbers = np.array([number for number, _ in lines])
    uids = flat[starts]
    _check_range(source, "user", uids, numbers, None)
    is_item = np.ones(flat.shape[0], dtype=bool)
    is_item[starts] = False
    item_lines = np.repeat(numbers, lengths - 1)
    _check_range(source, "item", flat[is_item], item_lines, None)
    users = np.repeat(uids, lengths - 1)
    return Interactions(users, flat[is_item]), uids


def load_lightgcn(directory: str | os.PathLike[str], name: str | None = None) -> CFDataset:
    """Loads a LightGCN-format split: ``train.txt`` and ``test.txt`` in ``directory``.

    Args:
        directory: folder holding the two files.
        name: dataset name; defaults to the folder name.

    Returns:
        The dataset with counts ``max id + 1`` over both files, ``valid=None``.

    Raises:
        FileNotFoundError: a file is missing.
        DataFormatError: empty file, non-integer token, or id negative or beyond int32.
    """
    directory = Path(directory)
    splits, uids = {}, []
    for split in ("train", "test"):
        file = directory / f"{split}.txt"
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file (LightGCN format needs {split}.txt)")
        splits[split], line_uids = _parse_adjacency(
            str(file), _decode(str(file), file.read_bytes())
        )
        uids.append(line_uids)
    source = f"{directory / 'train.txt'} + test.txt"
    all_uids = np.concatenate(uids)
    num_users = _inferred_count(source, "user", all_uids, len(all_uids), "lines")
    items = np.concatenate([s.items for s in splits.values()])
    num_items = _inferred_count(source, "item", items, len(items), "item tokens")
    return CFDataset(
        name or directory.name, num_users, num_items, splits["train"], None, splits["test"]
    )


def _write_atomic(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_lightgcn(dataset: CFDataset, directory: str | os.PathLike[str]) -> None:
    """Writes ``train.txt`` and ``test.txt`` in LightGCN format (each file atomically).

    Every user in ``[0, num_users)`` gets a line, with its items in ascending order, so that
    :func:`load_lightgcn` recovers ``num_users`` (``num_items`` is recovered when the largest item
    id occurs). Duplicate rows are written once.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        indptr, indices = csr(getattr(dataset, split), dataset.num_users)
        lines = (
            " ".join(map(str, [user, *indices[indptr[user] : indptr[user + 1]].tolist()]))
            for user in range(dataset.num_users)
        )
        _write_atomic(directory / f"{split}.txt", "\n".join(lines) + "\n")
