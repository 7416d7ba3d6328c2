"""Masked softmax loss (MSL) and the temperature-scaled language-model loss (LML).

MSL (Wang et al., SIGIR 2025, eq. 9) normalises each target token over the tokens that can
continue a valid item title at that position, ``Z_valid(y_<t)``, with a temperature ``tau``:

.. math::
    \\ell_t = c(\\tau) \\Big[ -\\frac{f(y_t)}{\\tau}
        + \\log \\sum_{z \\in Z_\\mathrm{valid}(y_{<t})} e^{f(z)/\\tau} \\Big],
    \\qquad c(\\tau) = \\tau \\text{ (paper, ``tau_factor=True``) or } 1 \\text{ (authors'
    fixed-tau code)}.

At ``tau = 1`` the loss is ``-log P_valid(y_t)``. LML is the same expression over the full
vocabulary (the authors' ``train_lml.py``, no ``tau`` factor). Positions are reduced with a
token-level mean over all supervised positions of all leading dims (the authors' reduction).

Two equivalent input forms:

* dense: ``valid_mask`` bool ``[..., T, V]`` (simple; a ``T x V`` mask per example);
* gather: ``candidates`` int ``[..., T, F]``, the valid token ids per position padded with -1
  (``F`` = the trie's largest fan-out), which never builds a ``[T, V]`` mask.

NaN safety: invalid logits enter through ``where(valid, ., -inf)``, so their gradient is exactly
zero; rows with a single valid token have loss 0 and zero gradient; positions with no valid
token (padding, or ``F = 0`` candidates) or excluded by ``where`` contribute 0 with zero
gradient, and a reduction over no kept position (an empty batch) is 0, never NaN.

Checks: ``temperature`` must be a positive, finite scalar and every target that enters the loss
(``where`` True and, for MSL, a non-empty valid set; with ``where=None`` every such position,
so a -100 there is an error) must be a token id in ``[0, V)``. Both are checked eagerly when
the values are concrete (ValueError); under ``jit`` they are traced and cannot be, and an
out-of-range kept target then makes its position, hence the loss, NaN (never a clipped real
token). The target should be in the valid set (the trie walk that builds ``candidates`` checks
this on the host); otherwise the value is not a negative log-probability.

Example:
    >>> import jax, jax.numpy as jnp
    >>> logits = jnp.array([[2.0, 1.0, 0.0, -1.0]])        # [T=1, V=4]
    >>> valid = jnp.array([[True, True, False, False]])    # Z_valid = {0, 1}
    >>> targets = jnp.array([1])
    >>> print(f"{masked_softmax_loss(logits, targets, valid):.4f}")   # log(1 + e)
    1.3133
    >>> print(f"{lm_loss(logits, targets):.4f}")                      # full vocabulary
    1.4402
    >>> g = jax.grad(masked_softmax_loss)(logits, targets, valid)
    >>> print(g)                                  # exactly 0 at the invalid tokens
    [[ 0.7310586 -0.7310586  0.         0.       ]]
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrec.losses._utils import (
    as_float_array,
    as_mask,
    check_temperature,
    is_concrete,
    masked_reduce,
)

__all__ = ["lm_loss", "masked_softmax_loss", "masked_softmax_loss_gather"]


def _target_logits(logits: jax.Array, targets: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``logits[..., t, targets[..., t]]`` (an arbitrary finite value where the id is out of
    range) and bool ``[..., T]``: whether ``targets[..., t]`` is in ``[0, V)``."""
    targets = jnp.asarray(targets)
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise ValueError(f"targets must be integer token ids, got dtype {targets.dtype}.")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {logits.shape[:-1]}, got {targets.shape}.")
    in_range = (targets >= 0) & (targets < logits.shape[-1])
    safe = jnp.where(in_range, targets, 0)
    return jnp.take_along_axis(logits, safe[..., None], axis=-1)[..., 0], in_range


def _check_targets(targets: ArrayLike, in_range: jax.Array, keep: jax.Array | None) -> None:
    """Raises if a concrete kept target is out of range (module docstring, "Checks")."""
    if not is_concrete(in_range, keep):
        return
    bad = np.asarray(~in_range if keep is None else keep & ~in_range)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"targets must be token ids in [0, vocab size) at every position that enters the "
            f"loss; {int(bad.sum())} are not, the first at index {first}: "
            f"{np.asarray(targets)[first]} (mark ignored positions, e.g. -100, False in `where`)."
        )


def _set_softmax_loss(
    values: jax.Array,
    logits: jax.Array,
    targets: ArrayLike,
    valid: jax.Array | None,
    temperature: ArrayLike,
    where: jax.Array | None,
    reduce_fn: Callable[..., jax.Array] | None,
    tau_factor: bool,
    drop_single_valid: bool,
) -> jax.Array:
    """``c(tau) [logsumexp_{valid}(values / tau) - target / tau]`` per position, reduced.

    ``values`` ``[..., K]`` are the logits of the candidate set (``K = V`` dense, ``F`` gather);
    the targets' logits are taken from ``logits`` ``[..., V]``.
    """
    target_values, in_range = _target_logits(logits, targets)
    check_temperature(temperature)
    tau = jnp.asarray(temperature, values.dtype)
    scaled = values / tau
    if valid is None:
        lse = jax.nn.logsumexp(scaled, axis=-1)
        keep = where
    else:
        count = jnp.sum(valid, axis=-1)
        has_valid = count > 0
        masked = jnp.where(valid, scaled, -jnp.inf)
        # An all-invalid row would give logsumexp = -inf and NaN gradients: use zeros there.
        masked = jnp.where(has_valid[..., None], masked, 0.0)
        lse = jax.nn.logsumexp(masked, axis=-1)
        keep = has_valid & (count > 1) if drop_single_valid else has_valid
        keep = keep if where is None else keep & where
    _check_targets(targets, in_range, keep)
    per_position = lse - target_values / tau
    if tau_factor:
        per_position = tau * per_position
    # An out-of-range target (traced, so not checked above) is NaN, not a clipped real token.
    per_position = jnp.where(in_range, per_position, jnp.nan)
    return masked_reduce(per_position, keep, reduce_fn)


def masked_softmax_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    valid_mask: ArrayLike,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    reduce_fn: Callable[..., jax.Array] | None = jnp.mean,
    tau_factor: bool = True,
    drop_single_valid: bool = False,
) -> jax.Array:
    """MSL with a dense valid-token mask (Wang et al., SIGIR 2025, eq. 9).

    .. math::
        \\ell_t = c(\\tau) \\Big[ \\log \\sum_{z \\in Z_\\mathrm{valid}(y_{<t})} e^{f(z)/\\tau}
            - \\frac{f(y_t)}{\\tau} \\Big], \\qquad
        L = \\frac{1}{|S|} \\sum_{t \\in S} \\ell_t

    with ``Z_valid`` the True entries of ``valid_mask[..., t, :]``, :math:`c(\\tau) = \\tau`
    (``tau_factor``) or 1, and :math:`S` the kept positions (``where`` and a non-empty valid
    set; minus :math:`|Z_\\mathrm{valid}| \\le 1` with ``drop_single_valid``).

    Args:
      logits: float ``[..., T, V]`` next-token logits.
      targets: int ``[..., T]`` gold token ids (any value where ``where`` is False).
      valid_mask: bool ``[..., T, V]``, ``Z_valid`` of each position (must contain the target).
      temperature: ``tau > 0``, a finite scalar (may be traced, e.g. ATS's adaptive value; a
        concrete one is checked).
      where: bool ``[..., T]`` supervised positions; ``None`` = all positions with a valid token.
      reduce_fn: ``jnp.mean`` (token-level mean over kept positions), ``jnp.sum``, or ``None``
        for per-position values (0 where not kept).
      tau_factor: multiply by ``tau`` (paper eq. 9, default); ``False`` is the authors' fixed-tau
        code.
      drop_single_valid: exclude positions with ``|Z_valid| <= 1`` from the reduction (authors'
        ATS code); by default they stay in (paper; they contribute 0).

    Returns:
      The reduced loss, or ``[..., T]`` per-position values when ``reduce_fn`` is ``None``.

    Raises:
      ValueError: non-floating logits, a bad mask dtype/shape, non-integer targets, a concrete
        kept target outside ``[0, V)`` or a concrete temperature that is not positive and finite.

    Example:
        >>> import jax.numpy as jnp
        >>> logits = jnp.array([[0.0, 0.0, 5.0], [1.0, 3.0, 0.0]])       # [T=2, V=3]
        >>> valid = jnp.array([[True, True, False], [False, True, False]])
        >>> per_t = masked_softmax_loss(logits, jnp.array([0, 1]), valid, reduce_fn=None)
        >>> print(per_t)          # log 2, and 0 for the single valid token
        [0.6931472 0.       ]
        >>> print(f"{masked_softmax_loss(logits, jnp.array([0, 1]), valid, temperature=2.0):.4f}")
        0.6931
    """
    logits = as_float_array("logits", logits)
    valid = as_mask("valid_mask", valid_mask, logits.shape)
    where = as_mask("where", where, logits.shape[:-1])
    return _set_softmax_loss(
        logits,
        logits,
        targets,
        valid,
        temperature,
        where,
        reduce_fn,
        tau_factor,
        drop_single_valid,
    )


def masked_softmax_loss_gather(
    logits: ArrayLike,
    targets: ArrayLike,
    candidates: ArrayLike,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    reduce_fn: Callable[..., jax.Array] | None = jnp.mean,
    tau_factor: bool = True,
    drop_single_valid: bool = False,
) -> jax.Array:
    """MSL from per-position candidate token ids; equal to :func:`masked_softmax_loss` with
    ``valid_mask[..., t, z] = z in candidates[..., t, :]``:

    .. math::
        \\ell_t = c(\\tau) \\Big[ \\log \\sum_{k:\\, c_{tk} \\ge 0} e^{f(c_{tk})/\\tau}
            - \\frac{f(y_t)}{\\tau} \\Big]

    with :math:`c_{tk}` = ``candidates[..., t, k]``. Costs ``O(T F)`` gathers, never a
    ``[T, V]`` mask.

    Args:
      candidates: int ``[..., T, F]`` distinct valid token ids per position, padded with -1.
      Others: as in :func:`masked_softmax_loss` (same checks).

    Example:
        >>> import jax.numpy as jnp
        >>> logits = jnp.array([[0.0, 0.0, 5.0], [1.0, 3.0, 0.0]])       # [T=2, V=3]
        >>> candidates = jnp.array([[0, 1], [1, -1]])                    # [T=2, F=2]
        >>> print(masked_softmax_loss_gather(logits, jnp.array([0, 1]), candidates, reduce_fn=None))
        [0.6931472 0.       ]
    """
    logits = as_float_array("logits", logits)
    candidates = jnp.asarray(candidates)
    if not jnp.issubdtype(candidates.dtype, jnp.integer):
        raise ValueError(f"candidates must be integer token ids, got dtype {candidates.dtype}.")
    if candidates.ndim != logits.ndim or candidates.shape[:-1] != logits.shape[:-1]:
        raise ValueError(
            f"candidates must have shape {logits.shape[:-1]} + (F,), got {candidates.shape}."
        )
    where = as_mask("where", where, logits.shape[:-1])
    candidate_logits = jnp.take_along_axis(logits, jnp.maximum(candidates, 0), axis=-1)
    return _set_softmax_loss(
        candidate_logits,
        logits,
        targets,
        candidates >= 0,
        temperature,
        where,
        reduce_fn,
        tau_factor,
        drop_single_valid,
    )


def lm_loss(
    logits: ArrayLike,
    targets: ArrayLike,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    reduce_fn: Callable[..., jax.Array] | None = jnp.mean,
    tau_factor: bool = False,
) -> jax.Array:
    """Temperature-scaled token cross-entropy over the full vocabulary (the LML baseline, the
    paper's :math:`L_\\mathrm{LML}`; at ``tau = 1`` the usual LM loss):

    .. math::
        \\ell_t = c(\\tau) \\Big[ \\log \\sum_{z \\in Z} e^{f(z)/\\tau} - \\frac{f(y_t)}{\\tau} \\Big]

    averaged over the ``where`` positions (all positions when ``None``).

    Args: as in :func:`masked_softmax_loss`; ``tau_factor`` defaults to ``False`` (authors'
    ``train_lml.py``).

    Example:
        >>> import jax.numpy as jnp
        >>> logits = jnp.zeros((2, 4))                                   # uniform over V=4
        >>> print(f"{lm_loss(logits, jnp.array([3, -100]), where=jnp.array([True, False])):.4f}")
        1.3863
    """
    logits = as_float_array("logits", logits)
    where = as_mask("where", where, logits.shape[:-1])
    return _set_softmax_loss(
        logits,
        logits,
        targets,
        None,
        temperature,
        where,
        reduce_fn,
        tau_factor,
        False,
    )
