"""Real-vs-fake detection metrics: average precision and the field's report row.

Example:
    >>> import jax.numpy as jnp
    >>> print(average_precision(jnp.array([1, 0, 1, 0]), jnp.array([0.9, 0.8, 0.4, 0.1])))
    0.8333334
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrec.metrics._classification import auc

__all__ = ["average_precision", "detection_metrics"]


def average_precision(
    labels: ArrayLike, scores: ArrayLike, *, where: ArrayLike | None = None
) -> jax.Array:
    """Average precision of a ranking by ``scores`` ``[n]`` (scikit-learn's definition).

    .. math::
        \\mathrm{AP} = \\sum_k (R_k - R_{k-1})\\, P_k = \\frac{1}{|P|} \\sum_{i \\in P}
            \\mathrm{precision}(s_i)

    over the distinct score thresholds ``k``: each positive adds ``1/|P|`` recall at the
    threshold of its own score, so tied scores share the precision at the end of their tie
    group. ``where`` (bool ``[n]``) drops entries. NaN without a positive. Jit-able.
    """
    labels, scores = jnp.asarray(labels), jnp.asarray(scores, jnp.float32)
    where = jnp.ones(scores.shape, bool) if where is None else jnp.asarray(where, bool)
    if labels.shape != scores.shape or where.shape != scores.shape or scores.ndim != 1:
        raise ValueError(
            f"labels, scores and where must share a shape [n]; got {labels.shape=}, "
            f"{scores.shape=}, {where.shape=}"
        )
    positive = (labels != 0) & where
    order = jnp.argsort(-scores)
    desc = -scores[order]  # ascending
    tp = jnp.cumsum(positive[order], dtype=jnp.float32)
    counted = jnp.cumsum(where[order], dtype=jnp.float32)
    end = jnp.searchsorted(desc, -scores, side="right") - 1  # last index of each tie group
    precision = tp[end] / jnp.maximum(counted[end], 1.0)
    return jnp.sum(jnp.where(positive, precision, 0.0)) / jnp.sum(positive, dtype=jnp.float32)


def detection_metrics(
    labels: ArrayLike, scores: ArrayLike, threshold: float = 0.5
) -> dict[str, float]:
    """``{"acc", "real_acc", "fake_acc", "ap", "auroc"}`` of fake-probabilities ``scores [n]``
    against ``labels [n]`` (1 = fake), accuracies at ``threshold`` (real and fake reported
    separately: a single accuracy hides a calibration shift between generators)."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float32)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be [n]; got {labels.shape}, {scores.shape}")
    fake = labels != 0
    correct = (scores >= threshold) == fake
    return {
        "acc": float(correct.mean()),
        "real_acc": float(correct[~fake].mean()) if (~fake).any() else float("nan"),
        "fake_acc": float(correct[fake].mean()) if fake.any() else float("nan"),
        "ap": float(average_precision(labels, scores)),
        "auroc": float(auc(labels, scores)),
    }
