"""Real multi-view video for TBCNet: the authors' per-clip HDF5 + split-CSV layout, a
folder-of-frames layout, and the paper's preprocessing.

**HDF5 layout** (authors' ``data_pre.py``): one file ``<root>/<video_id>.hdf5`` per camera
recording, dataset ``"default"`` of ``uint8 [T, 3, H, W]`` (OpenCV BGR frames). Split CSVs
(``NTU60Train_CS.csv`` ...) have the header ``video_id,subject,action,camera,repetition,setup``;
the recordings of one performance (same action, subject, repetition, setup) are its views,
ordered by camera. ``video_id`` may carry a video extension (``..._rgb.avi``), which is dropped.
Labels are ``action - label_offset`` (NTU's actions are 1-based).

**Folder layout**: ``<root>/<clip>/view<k>/<frame>.png|jpg`` (frames sorted by name) and a CSV
``clip,label``.

A clip whose view or frame count differs from the config, a missing view file or an unreadable
file raises :class:`ClipError` naming the clip. A CV test clip with a single view is duplicated
to fill two slots (the authors' protocol) when ``duplicate_single_view``.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

__all__ = ["ClipError", "center_crop", "load_folder_clip", "load_hdf5_clip", "read_split_csv",
           "short_side_resize"]  # fmt: skip

SPLIT_COLUMNS = ("video_id", "subject", "action", "camera", "repetition", "setup")


class ClipError(ValueError):
    """A clip cannot be used (the message names the clip and what was wrong)."""


def read_split_csv(path: str | Path, label_offset: int = 1) -> list[tuple[list[str], int]]:
    """Split CSV -> ``[(video_ids ordered by camera, label)]``, one entry per performance."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as err:
        raise FileNotFoundError(f"cannot read split CSV {path}: {err}") from err
    if not rows or any(c not in rows[0] for c in SPLIT_COLUMNS):
        have = list(rows[0]) if rows else []
        raise ValueError(f"{path}: expected columns {SPLIT_COLUMNS}, got {have}")
    groups: dict[tuple, list[tuple[int, str]]] = defaultdict(list)
    for r in rows:
        key = (r["action"], r["subject"], r["repetition"], r["setup"])
        groups[key].append((int(r["camera"]), r["video_id"].rsplit(".", 1)[0]))
    return [([v for _, v in sorted(g)], int(k[0]) - label_offset) for k, g in groups.items()]


def _check_views(name: str, views: list[np.ndarray], num_views: int, frames: int,
                 duplicate_single_view: bool) -> np.ndarray:  # fmt: skip
    if len(views) == 1 and duplicate_single_view and num_views == 2:
        views = views * 2
    if len(views) != num_views:
        raise ClipError(f"clip {name}: {len(views)} views, the config needs {num_views}")
    for k, v in enumerate(views):
        if v.shape[0] != frames:
            raise ClipError(
                f"clip {name}: view {k} has {v.shape[0]} frames, the config needs {frames}"
            )
    if len({v.shape for v in views}) != 1:
        raise ClipError(f"clip {name}: views differ in shape {[v.shape for v in views]}")
    return np.stack(views)


def load_hdf5_clip(root: str | Path, video_ids: list[str], *, num_views: int, frames: int,
                   duplicate_single_view: bool = True, bgr_to_rgb: bool = True) -> np.ndarray:  # fmt: skip
    """One performance's views -> ``uint8 [V, T, H, W, 3]``. Needs h5py (``jaxrec[video]``)."""
    import h5py

    name = "+".join(video_ids)
    views = []
    for vid in video_ids:
        path = Path(root) / f"{vid}.hdf5"
        if not path.exists():
            raise ClipError(f"clip {name}: missing view file {path}")
        try:
            with h5py.File(path, "r") as f:
                arr = np.asarray(f["default"][:])
        except (OSError, KeyError) as err:
            raise ClipError(f"clip {name}: cannot read {path} dataset 'default': {err}") from err
        if arr.ndim != 4 or arr.shape[1] != 3:
            raise ClipError(f"clip {name}: {path} holds {arr.shape}, expected [T, 3, H, W]")
        arr = arr.transpose(0, 2, 3, 1)
        views.append(arr[..., ::-1] if bgr_to_rgb else arr)
    return _check_views(name, views, num_views, frames, duplicate_single_view)


def load_folder_clip(root: str | Path, clip: str, *, num_views: int, frames: int,
                     duplicate_single_view: bool = True) -> np.ndarray:  # fmt: skip
    """``<root>/<clip>/view*/`` image frames -> ``uint8 [V, T, H, W, 3]``."""
    from PIL import Image

    folder = Path(root) / clip
    view_dirs = sorted(p for p in folder.glob("view*") if p.is_dir())
    if not view_dirs:
        raise ClipError(f"clip {clip}: no view folders under {folder}")
    views = []
    for d in view_dirs:
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        try:
            views.append(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files]))
        except (OSError, ValueError) as err:
            raise ClipError(f"clip {clip}: cannot read the frames of {d}: {err}") from err
    return _check_views(clip, views, num_views, frames, duplicate_single_view)


def short_side_resize(clip: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``[V, T, H, W, 3]`` so that ``min(H, W) = size`` (float32)."""
    import jax

    h, w = clip.shape[2:4]
    nh, nw = (size, int(w * size / h)) if h <= w else (int(h * size / w), size)
    out = jax.image.resize(clip.astype(np.float32), (*clip.shape[:2], nh, nw, 3), "bilinear")
    return np.asarray(out)


def center_crop(clip: np.ndarray, size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """``size x size`` crop of ``[V, T, H, W, 3]``: centred, or random (one offset for every
    view and frame) with a random horizontal flip when ``rng`` is given (training)."""
    h, w = clip.shape[2:4]
    if rng is None:
        top, left = (h - size) // 2, (w - size) // 2
    else:
        top, left = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    out = clip[:, :, top : top + size, left : left + size]
    return out[:, :, :, ::-1] if rng is not None and rng.random() < 0.5 else out
