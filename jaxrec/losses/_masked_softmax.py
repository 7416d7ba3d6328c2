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
token (padding) or excluded by ``where`` contribute 0 with zero gradient. The target must be in
the valid set (the trie walk that builds ``candidates`` checks this on the host); otherwise the
value is not a negative log-probability.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrec.losses._utils import as_float_array, as_mask, masked_reduce

__all__ = ["lm_loss", "masked_softmax_loss", "masked_softmax_loss_gather"]


def _target_logits(logits: jax.Array, targets: ArrayLike) -> jax.Array:
    """``logits[..., t, targets[..., t]]`` with out-of-range (ignored, e.g. -100) ids clipped."""
    targets = jnp.asarray(targets)
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise ValueError(f"targets must be integer token ids, got dtype {targets.dtype}.")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {logits.shape[:-1]}, got {targets.shape}.")
    safe = jnp.clip(targets, 0, logits.shape[-1] - 1)
    return jnp.take_along_axis(logits, safe[..., None], axis=-1)[..., 0]


def _set_softmax_loss(
    values: jax.Array,
    target_values: jax.Array,
    valid: jax.Array | None,
    temperature: ArrayLike,
    where: jax.Array | None,
    reduce_fn: Callable[..., jax.Array] | None,
    tau_factor: bool,
    drop_single_valid: bool,
) -> jax.Array:
    """``c(tau) [logsumexp_{valid}(values / tau) - target / tau]`` per position, reduced.

    ``values`` ``[..., K]`` are the logits of the candidate set (``K = V`` dense, ``F`` gather).
    """
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
    per_position = lse - target_values / tau
    if tau_factor:
        per_position = tau * per_position
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
    """MSL with a dense valid-token mask.

    Args:
      logits: float ``[..., T, V]`` next-token logits.
      targets: int ``[..., T]`` gold token ids (any value where ``where`` is False).
      valid_mask: bool ``[..., T, V]``, ``Z_valid`` of each position (must contain the target).
      temperature: ``tau > 0``, a scalar (may be traced, e.g. ATS's adaptive value).
      where: bool ``[..., T]`` supervised positions; ``None`` = all positions with a valid token.
      reduce_fn: ``jnp.mean`` (token-level mean over kept positions), ``jnp.sum``, or ``None``
        for per-position values (0 where not kept).
      tau_factor: multiply by ``tau`` (paper eq. 9, default); ``False`` is the authors' fixed-tau
        code.
      drop_single_valid: exclude positions with ``|Z_valid| <= 1`` from the reduction (authors'
        ATS code); by default they stay in (paper; they contribute 0).

    Returns:
      The reduced loss, or ``[..., T]`` per-position values when ``reduce_fn`` is ``None``.
    """
    logits = as_float_array("logits", logits)
    valid = as_mask("valid_mask", valid_mask, logits.shape)
    where = as_mask("where", where, logits.shape[:-1])
    return _set_softmax_loss(
        logits,
        _target_logits(logits, targets),
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
    ``valid_mask[..., t, z] = z in candidates[..., t, :]``.

    Args:
      candidates: int ``[..., T, F]`` distinct valid token ids per position, padded with -1.
      Others: as in :func:`masked_softmax_loss`.
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
        _target_logits(logits, targets),
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
    """Temperature-scaled token cross-entropy over the full vocabulary (the LML baseline):
    ``c(tau) [logsumexp_z f(z)/tau - f(y_t)/tau]``; at ``tau = 1`` the usual LM loss.

    Args: as in :func:`masked_softmax_loss`; ``tau_factor`` defaults to ``False`` (authors'
    ``train_lml.py``).
    """
    logits = as_float_array("logits", logits)
    where = as_mask("where", where, logits.shape[:-1])
    return _set_softmax_loss(
        logits,
        _target_logits(logits, targets),
        None,
        temperature,
        where,
        reduce_fn,
        tau_factor,
        False,
    )
