"""UnGSL stage 1: per-node confidence from the trained host (README, eq. 1), with an on-disk
cache.

Entropy confidence (supervised hosts): for each stage-1 seed s take the softmax probabilities
``p^s`` [n, C] of all nodes at the best-validation epoch, ``H^s_i = -sum_c p^s_ic ln p^s_ic``
(``xlogy``: ``0 ln 0 = 0``), average the entropies over the seeds, then ``c_i = exp(-mean_s H^s_i)``
in (0, 1].

Contrastive-loss confidence (SUBLIME): ``exp(-l_i)`` of the per-node NT-Xent loss, rescaled
because raw values are ~1e-2..1e-3: ``rescale="max"`` (default, jaxrec's choice) divides by the
maximum, i.e. ``c = exp(min l - l)``; ``"minmax"`` maps ``exp(-l)`` linearly onto [0, 1].
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import xlogy

__all__ = [
    "cached_arrays",
    "confidence_from_probs",
    "contrastive_confidence",
    "entropy",
    "stage1_key",
]


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (natural log) of the last axis: [..., C] -> [...]."""
    probs = np.asarray(probs, np.float64)
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise ValueError("probabilities must be finite and non-negative")
    return -xlogy(probs, probs).sum(axis=-1)


def confidence_from_probs(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(c, H)`` from stage-1 probabilities [S, n, C]: ``H`` [n] is the seed-mean entropy and
    ``c = exp(-H)`` [n] (float32)."""
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must be [seeds, n, C], got shape {probs.shape}")
    h = entropy(probs).mean(axis=0)
    return np.exp(-h).astype(np.float32), h.astype(np.float32)


def contrastive_confidence(losses: np.ndarray, rescale: str = "max") -> np.ndarray:
    """SUBLIME-style confidence from per-node contrastive losses [n] (or [S, n], averaged)."""
    losses = np.asarray(losses, np.float64)
    if losses.ndim == 2:
        losses = losses.mean(axis=0)
    if losses.ndim != 1 or not np.isfinite(losses).all():
        raise ValueError(f"losses must be a finite [n] (or [S, n]) array, got {losses.shape}")
    if rescale == "max":
        c = np.exp(losses.min() - losses)
    elif rescale == "minmax":
        raw = np.exp(-losses)
        span = raw.max() - raw.min()
        c = (raw - raw.min()) / span if span > 0 else np.ones_like(raw)
    else:
        raise ValueError(f"rescale must be 'max' or 'minmax', got {rescale=}")
    return c.astype(np.float32)


def stage1_key(host: str, dataset: str, host_config: Any, seeds: Sequence[int]) -> str:
    """Cache key: host name, dataset, a hash of the host config (its dict/repr) and the seeds."""
    blob = json.dumps(host_config, sort_keys=True, default=repr)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return f"{host}-{dataset}-{digest}-seeds{'_'.join(map(str, seeds))}"


def cached_arrays(
    path: str | Path, compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays stored in the npz file ``path``; if it is absent, ``compute()``'s arrays,
    written there atomically (temporary file, then rename) so a killed run leaves no partial
    cache. Stage 1 stores at least ``"confidence"`` [n] under ``stage1-<stage1_key>.npz``."""
    path = Path(path)
    if path.exists():
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    arrays = {name: np.asarray(value) for name, value in compute().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return arrays
