"""Reading and writing ``.safetensors`` files as numpy arrays (never pickle).

The format is an 8-byte little-endian header length N, an N-byte JSON header mapping each tensor
name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the end of the
header), and the raw little-endian data. Reading parses that header directly and maps the data
with ``np.memmap``: ``safetensors.numpy`` cannot return bfloat16 tensors (numpy has no such
dtype; most released checkpoints are bfloat16), whereas ``ml_dtypes.bfloat16`` (a jax
dependency) can. Writing goes through ``safetensors.numpy.save_file``, which accepts
``ml_dtypes`` arrays, into a temporary file that is then renamed.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path

import ml_dtypes
import numpy as np

__all__ = ["read_safetensors", "write_safetensors"]

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


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All tensors of one file as read-only, memory-mapped numpy arrays.

    Raises:
      ValueError: a corrupt or truncated file, or a dtype numpy cannot hold (named with the
        file and the tensor).
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
            raise ValueError(f"{path}: corrupt safetensors header size {n} (file has {size} bytes)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: corrupt safetensors header ({err})") from err
    header.pop("__metadata__", None)
    data_start = 8 + n
    out = {}
    for name, info in header.items():
        try:
            dtype = np.dtype(_DTYPES[info["dtype"]])
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except KeyError as err:
            raise ValueError(
                f"{path}: tensor {name!r} has an unsupported or missing {err}"
            ) from err
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * dtype.itemsize or begin < 0 or data_start + end > size:
            raise ValueError(
                f"{path}: tensor {name!r} ({info['dtype']}{list(shape)}) has data offsets "
                f"[{begin}, {end}] that do not fit its shape or the file ({size} bytes)"
            )
        if count == 0:
            out[name] = np.zeros(shape, dtype)
            continue
        out[name] = np.memmap(path, dtype=dtype.newbyteorder("<"), mode="r",
                              offset=data_start + begin, shape=shape)  # fmt: skip
    return out


def write_safetensors(
    tensors: Mapping[str, np.ndarray], path: str | os.PathLike, metadata: Mapping[str, str]
) -> None:
    """Writes ``tensors`` to ``path`` atomically (temporary file in the same folder, renamed)."""
    from safetensors.numpy import save_file  # optional dependency: only needed to write

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, tmp, dict(metadata))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
