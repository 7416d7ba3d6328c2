"""Real-vs-fake image folders in the layouts of the generated-image detection benchmarks.

Two layouts, relative to ``root``:

- ``forensynths`` (ForenSynths / CNNDetection, AIGCDetectBenchmark):
  ``<generator>/<source>/{0_real,1_fake}/*`` or, without source classes,
  ``<generator>/{0_real,1_fake}/*``;
- ``genimage`` (GenImage): ``<generator>/<split>/{nature,ai}/*`` with ``split`` in
  ``{train, val}``.

``layout="auto"`` picks the one whose class-folder names occur under ``root``. A class folder
may hold ``captions.json`` (``{file name: caption}``) for detectors that read a caption
(DE-FAKE); images without one get ``""``.

:func:`load_images` reads PNG/JPEG (Pillow) into ``float32 [N, size, size, 3]`` in
``[-1, 1]`` with the *same* preprocessing for real and fake (the field's pitfall: a resize
applied to one class only is a shortcut a detector learns): a ``size x size`` crop (centre, or
random with a seed), never a resize; grayscale and palette images are converted to RGB by
replicating the luminance, alpha is dropped; an image smaller than ``size`` is reflect-padded
(``pad_small=True``) or rejected.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from jaxrec.data.loaders import DataFormatError

__all__ = ["IMAGE_SUFFIXES", "LAYOUTS", "ImageRecord", "load_images", "scan_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
LAYOUTS = ("auto", "forensynths", "genimage")
_CLASS_DIRS = {"forensynths": {"0_real": 0, "1_fake": 1}, "genimage": {"nature": 0, "ai": 1}}


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One image: ``label`` 1 = fake, 0 = real; ``source`` the ForenSynths class (``""`` when
    the layout has none); ``split`` the GenImage split (``""`` for ForenSynths)."""

    path: Path
    label: int
    generator: str
    source: str = ""
    split: str = ""
    caption: str = ""


def _class_folders(root: Path, layout: str) -> list[Path]:
    names = _CLASS_DIRS[layout]
    return sorted(p for p in root.rglob("*") if p.is_dir() and p.name in names)


def _detect_layout(root: Path) -> str:
    found = [lay for lay in _CLASS_DIRS if _class_folders(root, lay)]
    if len(found) != 1:
        what = "both" if found else "neither"
        raise DataFormatError(
            f"{root}: cannot tell the layout ({what} of 0_real/1_fake and nature/ai class "
            "folders found); pass layout='forensynths' or 'genimage'"
        )
    return found[0]


def _captions(folder: Path) -> dict[str, str]:
    path = folder / "captions.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise DataFormatError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataFormatError(f"{path} must map file names to caption strings")
    return data


def _names(folder: Path, root: Path, layout: str) -> tuple[str, str, str]:
    """``(generator, source, split)`` of a class folder from its parents below ``root``."""
    parts = folder.relative_to(root).parts[:-1]
    if layout == "genimage":
        if len(parts) < 2:
            raise DataFormatError(f"{folder}: expected <generator>/<split>/{folder.name}")
        return parts[-2], "", parts[-1]
    if not parts:
        raise DataFormatError(f"{folder}: expected <generator>[/<source>]/{folder.name}")
    return (parts[-2], parts[-1], "") if len(parts) >= 2 else (parts[-1], "", "")


def scan_image_folder(root: str | os.PathLike, layout: str = "auto") -> list[ImageRecord]:
    """Every image under ``root`` as an :class:`ImageRecord`, sorted by path.

    Raises:
      FileNotFoundError: ``root`` is not a folder.
      DataFormatError: unknown or ambiguous layout, no class folders, an empty class folder
        (named), or a malformed ``captions.json``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if layout not in LAYOUTS:
        raise DataFormatError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    layout = _detect_layout(root) if layout == "auto" else layout
    folders = _class_folders(root, layout)
    if not folders:
        raise DataFormatError(f"{root}: no {sorted(_CLASS_DIRS[layout])} class folders")
    records = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataFormatError(f"class folder {folder} holds no images ({IMAGE_SUFFIXES})")
        generator, source, split = _names(folder, root, layout)
        label = _CLASS_DIRS[layout][folder.name]
        captions = _captions(folder)
        records += [ImageRecord(p, label, generator, source, split, captions.get(p.name, ""))
                    for p in files]  # fmt: skip
    return records


def _read_rgb(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - the detect extra installs it
        raise ImportError("reading images needs Pillow: pip install 'jaxrec[detect]'") from err
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), np.uint8)
    except OSError as err:
        raise DataFormatError(f"cannot read image {path}: {err}") from err


def _crop(image: np.ndarray, size: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    if mode == "center":
        top, left = (h - size) // 2, (w - size) // 2
    else:
        top, left = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    return image[top : top + size, left : left + size]


def load_images(
    records: list[ImageRecord],
    size: int,
    *,
    crop: str = "center",
    seed: int = 0,
    pad_small: bool = True,
) -> np.ndarray:
    """The records' images as ``float32 [N, size, size, 3]`` in ``[-1, 1]`` (``x / 127.5 - 1``).

    Args:
      crop: ``"center"`` or ``"random"`` (one generator seeded by ``seed``, drawn in order).
      pad_small: reflect-pad an image smaller than ``size`` in a dimension to ``size``
        (else a :class:`DataFormatError` naming it).

    Raises:
      DataFormatError: an unreadable image or, without ``pad_small``, a too-small one.
    """
    if crop not in ("center", "random"):
        raise ValueError(f"crop must be 'center' or 'random', got {crop!r}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    rng = np.random.default_rng(seed)
    out = np.empty((len(records), size, size, 3), np.float32)
    for i, record in enumerate(records):
        image = _read_rgb(record.path)
        short = max(size - image.shape[0], 0), max(size - image.shape[1], 0)
        if any(short):
            if not pad_small:
                raise DataFormatError(f"image {record.path} {image.shape[:2]} is below {size}")
            image = np.pad(image, ((0, short[0]), (0, short[1]), (0, 0)), mode="reflect")
        out[i] = _crop(image, size, crop, rng)
    return out / np.float32(127.5) - np.float32(1.0)
