"""Baselines of Table 1 (spec §4): AvgTrain, Sample_n and ATC (Garg et al., 2022).

- ``AvgTrain``: the mean F1 of the training settings.
- ``Sample_n``: label ``n`` random examples of the setting and report their mean F1.
- ``ATC`` (average thresholded confidence): on each training task, the threshold ``t_T`` with
  ``mean_i 1[s_i > t_T] = F1_T`` over that task's pooled examples (``s`` = a confidence, here
  ``-NLL``; ``F1_T`` the task's mean F1 in [0, 1]), i.e. the ``(1 - F1_T)`` quantile of its
  scores; ``t`` = the mean of ``t_T`` over training tasks. The estimate of a new setting is
  ``100 * mean_i 1[s_i > t]``. Input rows are per-example scores ``[S, n]``, not profiles.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ATC", "AvgTrain", "sample_n"]


@dataclasses.dataclass
class AvgTrain:
    def fit(self, x, y, tasks=None) -> AvgTrain:
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, x) -> np.ndarray:
        return np.full(len(x), self.mean_)


@dataclasses.dataclass
class ATC:
    """ATC with the threshold fitted per training task and averaged (see the module docstring)."""

    def fit(self, scores, y, tasks) -> ATC:
        scores, y, tasks = np.asarray(scores), np.asarray(y, np.float64), np.asarray(tasks)
        if scores.ndim != 2:
            raise ValueError(f"ATC expects per-example scores [S, n], got shape {scores.shape}")
        thresholds = []
        for t in np.unique(tasks):
            rows = tasks == t
            acc = float(np.clip(np.mean(y[rows]) / 100.0, 0.0, 1.0))
            thresholds.append(np.quantile(scores[rows].ravel(), 1.0 - acc))
        self.threshold_ = float(np.mean(thresholds))
        return self

    def predict(self, scores) -> np.ndarray:
        return 100.0 * np.mean(np.asarray(scores) > self.threshold_, axis=-1)


@jax.jit
def _sample_means(f1: jax.Array, key: jax.Array, n: jax.Array) -> jax.Array:
    order = jax.vmap(lambda k: jax.random.permutation(k, f1.shape[1]))(
        jax.random.split(key, f1.shape[0])
    )
    picked = jnp.take_along_axis(f1, order, axis=1)
    take = jnp.arange(f1.shape[1])[None, :] < n
    return jnp.sum(jnp.where(take, picked, 0.0), 1) / n


def sample_n(f1_examples, n: int, seed: int = 0) -> np.ndarray:
    """``Sample_n``: ``[S, m]`` per-example F1 (points) -> ``[S]`` mean of ``n`` examples drawn
    without replacement per setting."""
    f1 = np.asarray(f1_examples, np.float32)
    if not 1 <= n <= f1.shape[1]:
        raise ValueError(f"Sample_{n} needs 1 <= n <= {f1.shape[1]} examples per setting")
    return np.asarray(
        _sample_means(jnp.asarray(f1), jax.random.key(seed), jnp.asarray(n, jnp.float32)),
        np.float64,
    )
