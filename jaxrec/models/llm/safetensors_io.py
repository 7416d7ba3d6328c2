"""Reading and writing ``.safetensors`` files as numpy arrays (never pickle).

The format is an 8-byte little-endian header length N, an N-byte JSON header mapping each tensor
name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the end of the
header, ``end - begin = prod(shape) * itemsize``), and the raw little-endian data.

Reading: :func:`read_header` parses and checks the header here, so that a corrupt file is
reported with the file, the tensor and the field at fault (``safetensors`` itself names neither);
the data is then read through ``safetensors.safe_open(path, framework="np")``, which returns
bfloat16 as ``ml_dtypes.bfloat16`` (safetensors >= 0.8). :class:`SafetensorsFiles` reads one
index range of one tensor at a time (``get_slice``), so a process can read just the shards its
devices hold. Writing goes through ``safetensors.numpy.save_file`` into a temporary file that is
then renamed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import struct
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Self

import ml_dtypes
import numpy as np

__all__ = ["SafetensorsFiles", "TensorInfo", "read_header", "read_safetensors", "write_safetensors"]

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": ml_dtypes.bfloat16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_MAX_HEADER = 100 * 1024 * 1024

Index = tuple[slice, ...]


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One tensor of a file: where it lives, its numpy dtype and shape."""

    file: Path
    dtype: np.dtype
    shape: tuple[int, ...]


def _ints(value, length: int | None = None) -> tuple[int, ...] | None:
    """``value`` as a tuple of non-negative ints (of ``length``), or None if it is not one."""
    if not isinstance(value, list) or (length is not None and len(value) != length):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return None
    return tuple(value)


def read_header(path: str | os.PathLike) -> dict[str, TensorInfo]:
    """The tensors of one file, checked against the file's size; no tensor data is read.

    Raises:
      ValueError: naming the file and, per tensor, the field at fault: header length beyond the
        file, a header that is not a JSON object, an unknown dtype, a bad shape, or data offsets
        that disagree with ``prod(shape) * itemsize`` or run past the end of the file.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ValueError(
                f"{path}: not a safetensors file (shorter than its 8-byte header size)"
            )
        (n,) = struct.unpack("<Q", prefix)
        if n > min(_MAX_HEADER, size - 8):
            raise ValueError(
                f"{path}: safetensors header length {n} exceeds the file ({size} bytes) "
                f"or the {_MAX_HEADER}-byte limit"
            )
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: safetensors header is not valid JSON ({err})") from err
    if not isinstance(header, dict):  # a corrupt file: ValueError like every other field
        kind = type(header).__name__
        raise ValueError(f"{path}: safetensors header is a {kind}, not an object")  # noqa: TRY004
    header.pop("__metadata__", None)
    data_size = size - 8 - n
    out = {}
    for name, entry in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: header entry is {entry!r}, not an object")  # noqa: TRY004
        if entry.get("dtype") not in _DTYPES:
            raise ValueError(
                f"{where}: dtype {entry.get('dtype')!r} is not one of {sorted(_DTYPES)}"
            )
        dtype = np.dtype(_DTYPES[entry["dtype"]])
        shape = _ints(entry.get("shape"))
        if shape is None:
            raise ValueError(f"{where}: shape {entry.get('shape')!r} is not a list of ints >= 0")
        offsets = _ints(entry.get("data_offsets"), 2)
        if offsets is None:
            raise ValueError(
                f"{where}: data_offsets {entry.get('data_offsets')!r} is not [begin, end]"
            )
        begin, end = offsets
        nbytes = math.prod(shape) * dtype.itemsize
        if end - begin != nbytes or end > data_size:
            raise ValueError(
                f"{where}: data_offsets [{begin}, {end}] do not hold {entry['dtype']}"
                f"{list(shape)} ({nbytes} bytes) within the {data_size} data bytes of the file"
            )
        out[name] = TensorInfo(path, dtype, shape)
    return out


class SafetensorsFiles(contextlib.AbstractContextManager):
    """The tensors of several ``.safetensors`` files by name, read one index range at a time.

    Use as ``with SafetensorsFiles(files) as st: st.read(name, index)``.

    Raises:
      ValueError: a corrupt header (see :func:`read_header`) or a tensor in two files.
    """

    def __init__(self, files: Iterable[str | os.PathLike]):
        self.info: dict[str, TensorInfo] = {}
        for file in files:
            for name, info in read_header(file).items():
                if name in self.info:
                    raise ValueError(
                        f"tensor {name!r} appears in both {self.info[name].file} and {file}"
                    )
                self.info[name] = info
        self._stack = contextlib.ExitStack()
        self._handles: dict[Path, object] = {}

    def __enter__(self) -> Self:
        from safetensors import safe_open

        files = sorted({info.file for info in self.info.values()})
        with contextlib.ExitStack() as stack:
            for file in files:
                try:
                    handle = stack.enter_context(safe_open(file, framework="np"))
                except Exception as err:  # safetensors' own checks (e.g. gaps between tensors)
                    raise ValueError(f"{file}: safetensors refused the file ({err})") from err
                self._handles[file] = handle
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self._handles.clear()
        self._stack.close()

    def read(self, name: str, index: Index = ()) -> np.ndarray:
        """``tensor[index]`` as a new numpy array; only that range is read from the file."""
        return self._handles[self.info[name].file].get_slice(name)[tuple(index)]


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All tensors of one file as numpy arrays (bfloat16 as ``ml_dtypes.bfloat16``)."""
    with SafetensorsFiles([path]) as st:
        return {name: st.read(name) for name in st.info}


def write_safetensors(
    tensors: Mapping[str, np.ndarray], path: str | os.PathLike, metadata: Mapping[str, str]
) -> None:
    """Writes ``tensors`` to ``path`` atomically (temporary file in the same folder, renamed)."""
    from safetensors.numpy import save_file

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, tmp, dict(metadata))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
