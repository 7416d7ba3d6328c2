"""Binary classification metrics: ROC-AUC (Mann–Whitney) and log loss.

Example:
    >>> import jax.numpy as jnp
    >>> labels = jnp.array([1, 0, 1, 0])
    >>> print(auc(labels, jnp.array([0.9, 0.1, 0.4, 0.4])))       # tie counts 1/2
    0.875
    >>> print(f"{log_loss(labels, jnp.array([2.0, -2.0, 0.0, 0.0])):.4f}")
    0.4100
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _auc_1d(positive: jax.Array, negative: jax.Array, scores: jax.Array) -> jax.Array:
    """AUC of one list: sort the negatives' scores and count, for each positive, the
    negatives below it (ties ½) with two binary searches. Non-finite scores lose: a positive's
    becomes ``-inf`` and a negative's ``+inf``, above every positive."""
    n_neg = jnp.sum(negative)
    n_pos = jnp.sum(positive, dtype=jnp.float32)
    finite = jnp.isfinite(scores)
    # non-negatives and non-finite negatives sort last (above every positive)
    neg_sorted = jnp.sort(jnp.where(negative & finite, scores, jnp.inf))
    scores = jnp.where(finite, scores, -jnp.inf)
    below = jnp.minimum(jnp.searchsorted(neg_sorted, scores, side="left"), n_neg)
    below_or_tied = jnp.minimum(jnp.searchsorted(neg_sorted, scores, side="right"), n_neg)
    wins = jnp.sum(jnp.where(positive, below + below_or_tied, 0), dtype=jnp.float32) / 2.0
    return wins / (n_pos * n_neg.astype(jnp.float32))


def auc(labels: ArrayLike, scores: ArrayLike, *, where: ArrayLike | None = None) -> jax.Array:
    """Area under the ROC curve, by the Mann–Whitney statistic, over the last axis.

    .. math::
        \\mathrm{AUC} = \\frac{1}{|P|\\,|N|} \\sum_{i \\in P} \\sum_{j \\in N}
            \\Big(1[s_i > s_j] + \\tfrac12\\, 1[s_i = s_j]\\Big)

    computed in :math:`O(n \\log n)` with a sort and binary searches (jit-able). A pair with a
    non-finite score (NaN, ``±inf``, e.g. a diverged model) counts as a loss for the positive,
    so such scores can only lower the AUC (all-NaN scores give 0, not 0.5 or 1).

    Args:
        labels: ``[..., n]``, nonzero marks a positive.
        scores: ``[..., n]`` real scores (higher = more likely positive).
        where: optional bool ``[..., n]``; False drops an entry.

    Returns:
        float32 ``[...]``; NaN for a list without both a positive and a negative.
    """
    labels = jnp.asarray(labels)
    scores = jnp.asarray(scores)
    where = jnp.ones(scores.shape, bool) if where is None else jnp.asarray(where, bool)
    if labels.shape != scores.shape or where.shape != scores.shape or scores.ndim == 0:
        raise ValueError(
            f"labels, scores and where must share a shape [..., n]; got {labels.shape=}, "
            f"{scores.shape=}, {where.shape=}."
        )
    positive = (labels != 0) & where
    negative = (labels == 0) & where
    batch = scores.shape[:-1]
    flat = [x.reshape((-1, scores.shape[-1])) for x in (positive, negative, scores)]
    return jax.vmap(_auc_1d)(*flat).reshape(batch)


def log_loss(labels: ArrayLike, logits: ArrayLike, *, where: ArrayLike | None = None) -> jax.Array:
    """Mean binary cross-entropy from logits (stable for any logit).

    .. math::
        \\mathrm{LogLoss} = \\frac{1}{n} \\sum_i \\Big(\\log(1 + e^{x_i}) - y_i x_i\\Big)
        = -\\frac{1}{n} \\sum_i \\Big(y_i \\log p_i + (1 - y_i) \\log(1 - p_i)\\Big),
        \\quad p_i = \\mathrm{sigmoid}(x_i)

    Args:
        labels: ``[...]`` targets in ``[0, 1]``.
        logits: ``[...]`` floating logits :math:`x` (pass ``logit(p)`` for probabilities).
        where: optional bool ``[...]``; the mean runs over True entries only.

    Returns:
        float scalar, the mean over all (valid) entries; NaN if no entry is valid or a valid
        logit is NaN (a loss is never hidden by NaN).
    """
    logits = jnp.asarray(logits)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise ValueError(f"logits must have a floating dtype, got {logits.dtype}.")
    labels = jnp.asarray(labels, logits.dtype)
    where = None if where is None else jnp.asarray(where, bool)
    if labels.shape != logits.shape or (where is not None and where.shape != logits.shape):
        raise ValueError(
            "labels, logits and where must share a shape; got "
            f"{labels.shape=}, {logits.shape=}, {None if where is None else where.shape}."
        )
    return jnp.mean(jax.nn.softplus(logits) - labels * logits, where=where)
