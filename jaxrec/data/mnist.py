"""MNIST's IDX files (``<shared>/vision/mnist/t10k-{images-idx3,labels-idx1}-ubyte.gz``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "load_mnist_images", "load_mnist_labels"]


def _read(path: Path, what: str) -> bytes:
    try:
        return gzip.open(path, "rb").read()
    except OSError as err:
        raise FileNotFoundError(f"cannot read MNIST {what} {path}: {err}") from err


def load_mnist_images(path: str | Path) -> np.ndarray:
    """IDX ``*-images-idx3-ubyte.gz`` -> ``uint8 [N, 28, 28]``; errors name the file."""
    path = Path(path)
    raw = _read(path, "images")
    magic, n, h, w = np.frombuffer(raw[:16], ">i4")
    if magic != 2051 or len(raw) != 16 + n * h * w:
        raise ValueError(f"{path} is not an IDX3 image file (magic {magic}, {len(raw)} bytes)")
    return np.frombuffer(raw[16:], np.uint8).reshape(n, h, w)


def load_mnist_labels(path: str | Path) -> np.ndarray:
    """IDX ``*-labels-idx1-ubyte.gz`` -> ``uint8 [N]``; errors name the file."""
    path = Path(path)
    raw = _read(path, "labels")
    magic, n = np.frombuffer(raw[:8], ">i4")
    if magic != 2049 or len(raw) != 8 + n:
        raise ValueError(f"{path} is not an IDX1 label file (magic {magic}, {len(raw)} bytes)")
    return np.frombuffer(raw[8:], np.uint8)


def load_mnist(folder: str | Path, split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 28, 28], labels uint8 [N])`` of ``folder/<split>-*-ubyte.gz``."""
    folder = Path(folder)
    images = load_mnist_images(folder / f"{split}-images-idx3-ubyte.gz")
    labels = load_mnist_labels(folder / f"{split}-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
    return images, labels
