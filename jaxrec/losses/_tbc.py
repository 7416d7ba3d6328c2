"""Weighted trunk-branch contrastive (TBC) loss of TBCNet and its total training objective.

For one camera view ``v`` with batch size ``B``: unit trunk embeddings :math:`z_i` and unit
branch embeddings :math:`z^v_j` (``[B, D]``), labels :math:`y` (``[B]``) and the view-``v``
branch classifier's probabilities :math:`P^v` (``[B, C]``). With :math:`s_{ij} = z_i\\cdot
z^v_j/\\tau` and the weights

.. math::
    w_{ij} = P^v_j[y_i]\\ (\\text{mode } cvl), \\quad w_{ij} = 1\\ (\\text{mode } cv),\\qquad
    M^+_{ij} = [y_i = y_j]\\,w_{ij}, \\quad M^-_{ij} = [y_i \\ne y_j]\\,w_{ij},

each denominator logit is amplified in the exponent, :math:`\\exp(s_{ik}\\,e^{M^-_{ik}})` (factor
1 for same-class pairs, up to e for negatives the branch confuses with the anchor's class), and

.. math::
    \\ell_{ij} = s_{ij} - \\log\\sum_k \\exp(s_{ik} e^{M^-_{ik}}),\\qquad
    L_{TBC} = -\\frac{1}{B^2}\\,\\frac{\\sum_{ij} M^+_{ij}\\ell_{ij}}{\\sum_{ij} M^+_{ij}}.

The denominator is a ``logsumexp`` (exact, no row-max shift); a batch with no positive pair
(:math:`\\sum M^+ = 0`) gives 0 with zero gradient. Gradients flow through :math:`P^v`; wrap it
in ``jax.lax.stop_gradient`` to treat the weights as constants.

Switches for the authors' code (``model/Loss.py``), off by default:

- ``extra_positive_term=True``: the code adds :math:`\\exp(s_{ij})` inside the log as well, i.e.
  :math:`\\ell_{ij} = s_{ij} - \\log(e^{s_{ij}} + \\sum_k \\exp(s_{ik}e^{M^-_{ik}}))`.
- ``shift_row_max=True``: the code subtracts the (non-differentiated) row max of :math:`s`
  *before* the amplification; with amplified negatives this is not a constant shift, so it
  changes the value.
- ``double_softmax=True`` (in :func:`tbcnet_objective`): the code feeds softmax outputs to
  cross-entropy, i.e. CE on :math:`\\mathrm{softmax}(\\mathrm{logits})` used as logits.

References:
    Yang, Liang, Wang, Wu, "TBCNet", Pattern Recognition 169 (2026) 111923, arXiv:2502.16493;
    authors' code ``yy-yang-jpg/TBCNet`` (``model/Loss.py``, ``model/train.py``).
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrec.losses._utils import as_float_array, check_temperature

LOSS_MODES = ("c", "cv", "cvl")


def _check_mode(mode: str) -> None:
    if mode not in LOSS_MODES:
        raise ValueError(f"mode must be one of {LOSS_MODES}, got {mode!r}.")


def _as_labels(labels: ArrayLike, batch: int) -> jax.Array:
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer) or labels.shape != (batch,):
        raise ValueError(
            f"labels must be integers of shape ({batch},), got {labels.dtype} {labels.shape}."
        )
    return labels


def tbc_loss(
    trunk_emb: ArrayLike,
    branch_emb: ArrayLike,
    labels: ArrayLike,
    branch_probs: ArrayLike | None = None,
    *,
    mode: str = "cvl",
    temperature: ArrayLike = 0.7,
    extra_positive_term: bool = False,
    shift_row_max: bool = False,
) -> jax.Array:
    """Weighted trunk-branch contrastive loss :math:`L_{TBC}` for one view (module docstring).

    Args:
        trunk_emb: trunk embeddings :math:`z`, ``[B, D]`` (unit-normalised by the caller).
        branch_emb: the view's branch embeddings :math:`z^v`, ``[B, D]``.
        labels: integer class labels, ``[B]``.
        branch_probs: the view classifier's softmax probabilities, ``[B, C]``; required for
            ``mode="cvl"``, ignored otherwise.
        mode: ``"cvl"`` (weighted, default), ``"cv"`` (all weights 1) or ``"c"`` (no
            contrastive term: returns 0).
        temperature: :math:`\\tau`, default 0.7 (the code's ``temperature_f``).
        extra_positive_term: add the code's extra :math:`e^{s_{ij}}` to each denominator.
        shift_row_max: subtract the row max of :math:`s` before amplification, as the code does.

    Returns:
        Scalar float32 (or wider) loss.

    Raises:
        ValueError: unknown mode, mismatched shapes, non-integer labels, missing
            ``branch_probs`` for ``cvl``, or a non-positive concrete temperature.
    """
    _check_mode(mode)
    check_temperature(temperature)
    z = as_float_array("trunk_emb", trunk_emb)
    zv = as_float_array("branch_emb", branch_emb)
    if z.ndim != 2 or zv.shape != z.shape:
        raise ValueError(
            f"trunk_emb and branch_emb must both be [B, D]; got {z.shape} and {zv.shape}."
        )
    batch = z.shape[0]
    y = _as_labels(labels, batch)
    if mode == "c":
        return jnp.zeros((), z.dtype)
    same = y[:, None] == y[None, :]  # [B, B]
    if mode == "cvl":
        if branch_probs is None:
            raise ValueError("mode='cvl' needs branch_probs ([B, C] branch softmax outputs).")
        p = as_float_array("branch_probs", branch_probs)
        if p.ndim != 2 or p.shape[0] != batch:
            raise ValueError(f"branch_probs must be [B={batch}, C], got {p.shape}.")
        w = p[:, y].T  # w_ij = P_j[y_i]
    else:
        w = jnp.ones((batch, batch), z.dtype)
    m_pos = jnp.where(same, w, 0.0)
    m_neg = jnp.where(same, 0.0, w)
    s = (z @ zv.T) / temperature  # [B, B]
    if shift_row_max:
        s = s - jax.lax.stop_gradient(jnp.max(s, axis=1, keepdims=True))
    log_den = jax.nn.logsumexp(s * jnp.exp(m_neg), axis=1, keepdims=True)  # [B, 1]
    if extra_positive_term:
        log_den = jnp.logaddexp(s, log_den)
    ell = s - log_den
    total_pos = jnp.sum(m_pos)
    mean_pos = jnp.sum(m_pos * ell) / jnp.where(total_pos > 0, total_pos, 1.0)
    return -mean_pos / batch**2


def classification_ce(
    logits: ArrayLike, labels: ArrayLike, *, double_softmax: bool = False
) -> jax.Array:
    """Mean softmax cross-entropy of ``logits [B, C]`` against integer ``labels [B]``.

    ``double_softmax=True`` reproduces the authors' code: the softmax *outputs* are fed to
    ``CrossEntropyLoss`` as if they were logits.
    """
    x = as_float_array("logits", logits)
    if x.ndim != 2:
        raise ValueError(f"logits must be [B, C], got {x.shape}.")
    y = _as_labels(labels, x.shape[0])
    if double_softmax:
        x = jax.nn.softmax(x, axis=-1)
    logp = jax.nn.log_softmax(x, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def tbcnet_objective(
    trunk_logits: ArrayLike,
    labels: ArrayLike,
    view_logits: ArrayLike | None = None,
    trunk_emb: ArrayLike | None = None,
    view_emb: ArrayLike | None = None,
    *,
    mode: str = "cvl",
    temperature: ArrayLike = 0.7,
    view_weight: float = 0.5,
    tbc_weight: float = 0.5,
    double_softmax: bool = False,
    extra_positive_term: bool = False,
    shift_row_max: bool = False,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """TBCNet's total loss (authors' ``train.py``):

    .. math::
        L = CE(\\text{trunk}) + \\frac{0.5}{V}\\sum_v \\big[CE(\\text{view}_v)
            + 0.5\\,L_{TBC}(z, z^v)\\big].

    Stage 1 (trunk only) passes ``view_logits=None``: ``L = CE(trunk)``. Mode ``"c"`` drops the
    :math:`L_{TBC}` term; branch probabilities for ``cvl`` are the softmax of ``view_logits``.

    Args:
        trunk_logits: ``[B, C]``; labels ``[B]``.
        view_logits: ``[V, B, C]`` per-view branch logits, or None (stage 1).
        trunk_emb: ``[B, D]`` unit trunk embeddings (needed with ``view_logits`` unless ``c``).
        view_emb: ``[V, B, D]`` unit branch embeddings.

    Returns:
        ``(loss, metrics)`` with ``ce_trunk``, ``ce_views`` and ``tbc`` (means over views).
    """
    _check_mode(mode)
    ce_trunk = classification_ce(trunk_logits, labels, double_softmax=double_softmax)
    zero = jnp.zeros((), ce_trunk.dtype)
    if view_logits is None:
        return ce_trunk, {"ce_trunk": ce_trunk, "ce_views": zero, "tbc": zero}
    vl = as_float_array("view_logits", view_logits)
    if vl.ndim != 3:
        raise ValueError(f"view_logits must be [V, B, C], got {vl.shape}.")
    ce_views = jax.vmap(lambda x: classification_ce(x, labels, double_softmax=double_softmax))(vl)
    if mode == "c":
        tbc = jnp.zeros_like(ce_views)
    else:
        if trunk_emb is None or view_emb is None:
            raise ValueError(f"mode={mode!r} needs trunk_emb [B, D] and view_emb [V, B, D].")
        ve = as_float_array("view_emb", view_emb)
        if ve.ndim != 3 or ve.shape[0] != vl.shape[0]:
            raise ValueError(f"view_emb must be [V={vl.shape[0]}, B, D], got {ve.shape}.")
        tbc = jax.vmap(
            lambda e, p: tbc_loss(
                trunk_emb,
                e,
                labels,
                p,
                mode=mode,
                temperature=temperature,
                extra_positive_term=extra_positive_term,
                shift_row_max=shift_row_max,
            )
        )(ve, jax.nn.softmax(vl, axis=-1))
    loss = ce_trunk + view_weight * jnp.mean(ce_views + tbc_weight * tbc)
    return loss, {"ce_trunk": ce_trunk, "ce_views": jnp.mean(ce_views), "tbc": jnp.mean(tbc)}
