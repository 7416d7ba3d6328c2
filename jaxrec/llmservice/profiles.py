"""Fixed-size confidence profiles and feature selection (spec §2.3-2.4).

A setting (service S, task T, context C) has ``n`` per-example values of each feature; its
profile is the values at the percentiles ``linspace(0, 100, d)`` with linear interpolation
(numpy's default ``percentile``), so tasks of any size map to ``d`` numbers (Fu et al.'s
"confidence profile"). The meta-model input is the concatenation ``[NLL-profile || PPL-profile]``
(``2d = 200`` values by default; the order of ``names`` is the concatenation order).

Feature selection is pluggable: a ``score(corr, subset) -> float`` over the task-averaged Pearson
matrix of ``[F1, features...]``. The paper's eq. 5 is not available; the published choice
{NLL, PPL} is the default (:data:`PUBLISHED_FEATURES`) and the measured matrix is reported.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "PUBLISHED_FEATURES",
    "cfs_merit",
    "difference_score",
    "profile",
    "profile_inputs",
    "select_features",
    "task_correlations",
]

PUBLISHED_FEATURES = ("nll", "ppl")

SelectionScore = Callable[[np.ndarray, Sequence[int]], float]


@jax.jit
def _percentiles(values: jax.Array, q: jax.Array) -> jax.Array:
    return jnp.moveaxis(jnp.percentile(values, q, axis=-1, method="linear"), 0, -1)


def profile(values, d: int = 100, *, min_examples: int = 2, name: str = "setting") -> np.ndarray:
    """``[..., n] -> [..., d]``: values at percentiles ``linspace(0, 100, d)`` (linear).

    Raises ValueError naming ``name`` when ``n < min_examples`` or a value is not finite.
    """
    values = np.asarray(values, np.float32)
    if d < 2:
        raise ValueError(f"profile size d must be >= 2, got {d}")
    if values.ndim == 0 or values.shape[-1] < min_examples:
        n = 0 if values.ndim == 0 else values.shape[-1]
        raise ValueError(f"{name}: {n} examples, but a profile needs at least {min_examples}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: non-finite feature values")
    q = jnp.linspace(0.0, 100.0, d, dtype=jnp.float32)
    return np.asarray(_percentiles(jnp.asarray(values), q))


def profile_inputs(
    features: Mapping[str, np.ndarray],
    names: Sequence[str] = PUBLISHED_FEATURES,
    d: int = 100,
    *,
    min_examples: int = 2,
) -> np.ndarray:
    """``{name: [S, n]} -> [S, len(names) * d]``, the profiles concatenated in ``names`` order."""
    missing = [n for n in names if n not in features]
    if missing:
        raise ValueError(f"features {missing} not computed; available: {sorted(features)}")
    return np.concatenate(
        [profile(features[n], d, min_examples=min_examples, name=n) for n in names], axis=-1
    )


def task_correlations(
    f1: np.ndarray, features: Mapping[str, np.ndarray], task: np.ndarray, names: Sequence[str]
) -> np.ndarray:
    """Pearson matrix of ``[F1, names...]`` over each task's examples, averaged over tasks.

    Args:
      f1: ``[S, n]`` per-example F1; features: ``{name: [S, n]}``; task: ``[S]`` task ids.

    Returns:
      ``[1 + k, 1 + k]``; a constant column within a task contributes nothing (NaN-skipped).
    """
    mats = []
    for t in np.unique(task):
        rows = task == t
        cols = [np.asarray(f1)[rows].ravel()] + [
            np.asarray(features[n])[rows].ravel() for n in names
        ]
        with np.errstate(invalid="ignore", divide="ignore"):
            mats.append(np.corrcoef(np.stack(cols)))
    return np.nanmean(np.stack(mats), axis=0)


def difference_score(corr: np.ndarray, subset: Sequence[int]) -> float:
    """``sum_i |r(F1, f_i)| - sum_{i<j} |r(f_i, f_j)|`` (indices into ``corr``'s features, 1-based
    rows of ``corr``; row 0 is F1)."""
    rel = sum(abs(corr[0, i]) for i in subset)
    red = sum(abs(corr[i, j]) for i, j in itertools.combinations(subset, 2))
    return float(rel - red)


def cfs_merit(corr: np.ndarray, subset: Sequence[int]) -> float:
    """Correlation-based feature selection merit ``k r_cf / sqrt(k + k(k-1) r_ff)``."""
    k = len(subset)
    r_cf = np.mean([abs(corr[0, i]) for i in subset])
    pairs = list(itertools.combinations(subset, 2))
    r_ff = np.mean([abs(corr[i, j]) for i, j in pairs]) if pairs else 0.0
    return float(k * r_cf / np.sqrt(k + k * (k - 1) * r_ff))


def select_features(
    corr: np.ndarray, names: Sequence[str], score: SelectionScore, max_size: int = 2
) -> tuple[str, ...]:
    """The non-empty subset of ``names`` (at most ``max_size``) with the highest ``score``."""
    idx = range(1, len(names) + 1)
    subsets = [s for k in range(1, max_size + 1) for s in itertools.combinations(idx, k)]
    best = max(subsets, key=lambda s: score(corr, s))
    return tuple(names[i - 1] for i in best)
