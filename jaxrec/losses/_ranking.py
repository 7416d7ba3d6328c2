"""Pairwise ranking losses for implicit-feedback recommendation: SL, PSL and BPR.

All three take the score of one positive item per example, ``pos_scores`` of shape
``[...]``, and the scores of ``N`` negatives, ``neg_scores`` of shape ``[..., N]``, and
work with the score gaps :math:`d_j = s_j - s_i`. ``where`` (bool ``[..., N]``) marks the
valid negatives. An example whose negatives are all masked (or ``N = 0``) has value 0, zero
gradient, and is left out of the mean; an empty batch (or one without a valid negative) has
mean 0 with zero gradient, never NaN. NaNs in valid entries propagate. bf16/f16 scores are upcast, so
losses are computed and returned in float32 (or wider).

The softmax losses are computed as ``logsumexp(log σ(d) / τ)`` over the valid negatives,
which equals :math:`\\log \\sum_j \\sigma(d_j)^{1/\\tau}` (the form of the authors' code).
Following that code the positive itself is not in the sum by default;
``include_positive=True`` adds the :math:`j = i` term :math:`\\sigma(0)^{1/\\tau} = 1`
of the paper's eq. 4.1.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jaxrec.losses import psl_loss
    >>> pos = jnp.array([0.5, 0.1])                   # [batch]
    >>> neg = jnp.array([[0.2, -0.3], [0.4, 0.0]])    # [batch, num_negatives]
    >>> print(f"{psl_loss(pos, neg, activation='relu', temperature=0.5):.4f}")
    0.1407
    >>> mask = jnp.array([[True, False], [False, False]])   # 2nd example fully masked
    >>> print(f"{psl_loss(pos, neg, where=mask):.4f}")       # mean over 1st example only
    -0.3443
    >>> grads = jax.grad(psl_loss, argnums=(0, 1))(pos, neg, where=mask)
    >>> print(grads[1])
    [[1.2913126 0.       ]
     [0.        0.       ]]

References:
    Yang et al., "PSL: Rethinking and Improving Softmax Loss from Pairwise Perspective for
    Recommendation", NeurIPS 2024, arXiv:2411.00163, eq. 4.1.
    Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009.
"""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrec.losses._utils import (
    as_float_array,
    as_mask,
    check_temperature,
    masked_reduce,
    safe_mean,
)

ReduceFn = Callable[..., jax.Array] | None


def _log1p_clamped(x: jax.Array) -> jax.Array:
    """``log(1 + x)`` with ``1 + x`` clamped below at the dtype's eps (finite value and grad)."""
    return jnp.log1p(jnp.maximum(x, jnp.finfo(x.dtype).eps - 1.0))


# log σ(d) for each surrogate σ of the Heaviside step, in a stable form.
_LOG_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    # 1 + tanh(d) = 2 sigmoid(2d)
    "tanh": lambda d: math.log(2.0) + jax.nn.log_sigmoid(2.0 * d),
    # 1 + arctan(d) > 0 only for d > tan(-1) ≈ -1.557; clamped below that
    "atan": lambda d: _log1p_clamped(jnp.arctan(d)),
    # max(d + 1, 0), clamped at eps so that d <= -1 stays finite
    "relu": _log1p_clamped,
    # e^d + 1, BPR's activation (paper App. C, ablation)
    "softplus": jax.nn.softplus,
    # e^d: the softmax loss
    "exp": lambda d: d,
}

_PLACEMENTS = ("outside", "inside")


def _gaps(
    pos_scores: ArrayLike, neg_scores: ArrayLike, where: ArrayLike | None
) -> tuple[jax.Array, jax.Array | None]:
    """Validates inputs; returns gaps ``d = neg - pos[..., None]`` (0 where masked) and mask."""
    pos = as_float_array("pos_scores", pos_scores)
    neg = as_float_array("neg_scores", neg_scores)
    if neg.ndim < 1 or neg.shape[:-1] != pos.shape:
        raise ValueError(
            "neg_scores must have shape pos_scores.shape + (num_negatives,); got "
            f"pos_scores.shape={pos.shape}, neg_scores.shape={neg.shape}."
        )
    mask = as_mask("where", where, neg.shape)
    if mask is None and neg.shape[-1] == 0:
        mask = jnp.zeros(neg.shape, bool)  # no negatives: every row is "fully masked"
    d = neg - pos[..., None]
    if mask is not None:
        # Masked gaps become 0 *before* any nonlinearity, so no inf/NaN reaches a gradient.
        d = jnp.where(mask, d, 0.0)
    return d, mask


def _pairwise_softmax(
    d: jax.Array,
    mask: jax.Array | None,
    log_sigma: Callable[[jax.Array], jax.Array],
    temperature: ArrayLike,
    temperature_placement: str,
    include_positive: bool,
    reduce_fn: ReduceFn,
) -> jax.Array:
    """``log Σ_j σ(d_j)^{1/τ}`` per example (NaN-safe under ``mask``), then reduced."""
    check_temperature(temperature)
    if temperature_placement == "outside":
        logits = log_sigma(d) / temperature
    else:
        logits = log_sigma(d / temperature)
    if mask is None:
        valid = None
        per_example = jax.nn.logsumexp(logits, axis=-1)
    else:
        valid = jnp.any(mask, axis=-1)
        # A fully masked row takes the logsumexp of its (finite) placeholders; it is zeroed below.
        keep = mask | ~valid[..., None]
        per_example = jax.nn.logsumexp(jnp.where(keep, logits, -jnp.inf), axis=-1)
    if include_positive:
        per_example = jnp.logaddexp(per_example, 0.0)
    return masked_reduce(per_example, valid, reduce_fn)


def softmax_loss(
    pos_scores: ArrayLike,
    neg_scores: ArrayLike,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    reduce_fn: ReduceFn = jnp.mean,
    include_positive: bool = False,
) -> jax.Array:
    """Sampled softmax loss (SL) in pairwise form.

    .. math::
        \\ell = \\log \\sum_{j} \\exp\\big((s_j - s_i) / \\tau\\big)

    over the valid negatives ``j`` (plus the term 1 for ``j = i`` if ``include_positive``).
    This is ``psl_loss(..., activation="exp")``.

    Args:
        pos_scores: positive scores :math:`s_i`, shape ``[...]``.
        neg_scores: negative scores :math:`s_j`, shape ``[..., N]``.
        temperature: :math:`\\tau > 0`, a scalar; a concrete one (Python, numpy or jax) is
            checked to be positive and finite, a traced one (under ``jit``) cannot be.
        where: optional bool ``[..., N]``; False marks a negative to ignore.
        reduce_fn: reduction over examples, e.g. ``jnp.mean`` (over examples with a valid
            negative) or ``jnp.sum``; with ``where`` it is called as
            ``reduce_fn(values, where=rows_with_a_valid_negative)``. ``None`` returns the
            per-example values ``[...]`` (0 for fully masked rows).
        include_positive: add the ``j = i`` term, i.e. :math:`\\log(1 + \\sum_j \\cdots)`.

    Returns:
        Scalar loss, or per-example losses of shape ``[...]`` if ``reduce_fn`` is ``None``.

    Raises:
        ValueError: a concrete ``temperature`` (Python, numpy or jax scalar) that is not
            positive and finite (a traced one is not checked), non-floating scores, or
            mismatched shapes.

    Example:
        >>> import jax.numpy as jnp
        >>> print(f"{softmax_loss(jnp.array(0.0), jnp.array([0.0, 0.0])):.4f}")   # log 2
        0.6931
    """
    d, mask = _gaps(pos_scores, neg_scores, where)
    return _pairwise_softmax(
        d, mask, _LOG_ACTIVATIONS["exp"], temperature, "outside", include_positive, reduce_fn
    )


def psl_loss(
    pos_scores: ArrayLike,
    neg_scores: ArrayLike,
    *,
    activation: str = "tanh",
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    reduce_fn: ReduceFn = jnp.mean,
    include_positive: bool = False,
    temperature_placement: str = "outside",
) -> jax.Array:
    """Pairwise softmax loss (PSL), Yang et al., NeurIPS 2024, eq. 4.1.

    .. math::
        \\ell = \\log \\sum_{j} \\sigma(s_j - s_i)^{1/\\tau}

    over the valid negatives ``j``, computed as ``logsumexp(log σ(d) / τ)`` with a stable
    :math:`\\log\\sigma`. Surrogates of the Heaviside step:

    - ``"tanh"``: :math:`1 + \\tanh d` (:math:`\\log 2 + \\log\\mathrm{sigmoid}(2d)`);
    - ``"atan"``: :math:`1 + \\arctan d`;
    - ``"relu"``: :math:`\\max(d + 1, 0)`;
    - ``"softplus"``: :math:`e^d + 1` (the paper's rejected ablation);
    - ``"exp"``: :math:`e^d`, which gives exactly :func:`softmax_loss`.

    For ``"relu"`` and ``"atan"`` :math:`\\sigma` is clamped below at the dtype's machine
    epsilon, so :math:`d \\le -1` (relu) or :math:`d \\le \\tan(-1)` (atan) gives a finite
    value and zero gradient. The paper's gaps lie in :math:`[-1, 1]` (scores
    :math:`\\tfrac12\\cos`); scaling scores is the caller's job.

    Args:
        pos_scores: positive scores :math:`s_i`, shape ``[...]``.
        neg_scores: negative scores :math:`s_j`, shape ``[..., N]``.
        activation: one of ``"tanh"``, ``"atan"``, ``"relu"``, ``"softplus"``, ``"exp"``.
        temperature: :math:`\\tau > 0`, a scalar; a concrete one (Python, numpy or jax) is
            checked to be positive and finite, a traced one (under ``jit``) cannot be.
        where: optional bool ``[..., N]``; False marks a negative to ignore.
        reduce_fn: reduction over examples, e.g. ``jnp.mean`` (over examples with a valid
            negative) or ``jnp.sum``; with ``where`` it is called as
            ``reduce_fn(values, where=rows_with_a_valid_negative)``. ``None`` returns the
            per-example values ``[...]`` (0 for fully masked rows).
        include_positive: add the ``j = i`` term :math:`\\sigma(0)^{1/\\tau} = 1`, i.e.
            :math:`\\log(1 + \\sum_j \\cdots)` as in eq. 4.1's sum over all items. The
            authors' code (default here) sums over the sampled negatives only.
        temperature_placement: ``"outside"`` (the paper's :math:`\\sigma(d)^{1/\\tau}`) or
            ``"inside"``, the rejected ablation :math:`\\sigma(d/\\tau)` (App. C.6).

    Returns:
        Scalar loss, or per-example losses of shape ``[...]`` if ``reduce_fn`` is ``None``.

    Raises:
        ValueError: unknown ``activation`` / ``temperature_placement``, a concrete
            ``temperature`` (Python, numpy or jax scalar) that is not positive and finite (a
            traced one is not checked), non-floating scores, or mismatched shapes.

    Example:
        >>> import jax.numpy as jnp
        >>> pos, neg = jnp.array([0.3]), jnp.array([[0.1, -0.2, 0.4]])
        >>> print(f"{psl_loss(pos, neg, activation='tanh', temperature=0.1):.4f}")
        0.9928
    """
    if activation not in _LOG_ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {tuple(_LOG_ACTIVATIONS)}, got {activation!r}."
        )
    if temperature_placement not in _PLACEMENTS:
        raise ValueError(
            f"temperature_placement must be one of {_PLACEMENTS}, got {temperature_placement!r}."
        )
    d, mask = _gaps(pos_scores, neg_scores, where)
    return _pairwise_softmax(
        d,
        mask,
        _LOG_ACTIVATIONS[activation],
        temperature,
        temperature_placement,
        include_positive,
        reduce_fn,
    )


def bpr_loss(
    pos_scores: ArrayLike,
    neg_scores: ArrayLike,
    *,
    where: ArrayLike | None = None,
    reduce_fn: ReduceFn = jnp.mean,
) -> jax.Array:
    """Bayesian personalised ranking loss, averaged over the valid negatives.

    .. math::
        \\ell = \\frac{1}{|J|} \\sum_{j \\in J} \\log\\big(1 + e^{s_j - s_i}\\big)
        = -\\frac{1}{|J|} \\sum_{j \\in J} \\log \\mathrm{sigmoid}(s_i - s_j)

    Args:
        pos_scores: positive scores :math:`s_i`, shape ``[...]``.
        neg_scores: negative scores :math:`s_j`, shape ``[..., N]`` (``N = 1`` is classic BPR).
        where: optional bool ``[..., N]``; False marks a negative to ignore.
        reduce_fn: reduction over examples, e.g. ``jnp.mean`` (over examples with a valid
            negative) or ``jnp.sum``; with ``where`` it is called as
            ``reduce_fn(values, where=rows_with_a_valid_negative)``. ``None`` returns the
            per-example values ``[...]`` (0 for fully masked rows).

    Returns:
        Scalar loss, or per-example losses of shape ``[...]`` if ``reduce_fn`` is ``None``.

    Raises:
        ValueError: non-floating scores or mismatched shapes.

    Example:
        >>> import jax.numpy as jnp
        >>> print(f"{bpr_loss(jnp.array([1.0]), jnp.array([[1.0]])):.4f}")   # log 2
        0.6931
    """
    d, mask = _gaps(pos_scores, neg_scores, where)
    per_example = safe_mean(jax.nn.softplus(d), mask, axis=-1)
    valid = None if mask is None else jnp.any(mask, axis=-1)
    return masked_reduce(per_example, valid, reduce_fn)
