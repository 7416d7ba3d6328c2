"""The SOFT training objective (SOFT spec §2.1 step 3) for ``jaxrec.train.make_train_step``:

``L = (1 - lambda) CE(x, y) + lambda CE(x, y_hat)``

with ``y`` the true next title and ``y_hat`` the SFT model's self-distilled text for the same
prompt ``x``. Each CE is the full-vocabulary token cross-entropy averaged over *its own*
response tokens in the global batch (``sum nll / max(count, 1)``), so an empty or EOS-only
response (count 0 or 1) gives a finite loss and finite gradients (pitfall 10).

A batch holds, for each target ``t`` in ``("y", "hat")``, ``{t}_ids`` / ``{t}_mask`` ``[B, S_t]``
(prompt + response, left-padded) and ``{t}_targets`` ``[B, R_t]`` (the response right-aligned in
the last ``R_t`` inputs, -1 = not supervised). ``lambda`` is
``TrainState.extra["curriculum"]["value"]`` (:func:`jaxrec.train.schedules.distance_curriculum`);
the variants:

- ``"soft"``: the curriculum's lambda;
- ``"soft_wo_sa"``: lambda = 1 (self-distilled data only, no scheduler);
- ``"sft"``: lambda = 0 (BIGRec SFT; the ``hat`` arrays are not read).

A term whose weight is identically 0 is not computed (one forward pass instead of two).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrec.losses import lm_loss

__all__ = ["VARIANTS", "make_soft_loss_fn", "response_ce"]

VARIANTS = ("soft", "soft_wo_sa", "sft")


def response_ce(model: Any, ids: jax.Array, mask: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean token CE over the supervised response tokens (``targets >= 0``), 0 if there are none.

    Args:
      ids, mask: ``[B, S]`` prompt + response, left-padded.
      targets: int ``[B, R]``, the last ``R`` inputs where supervised, -1 elsewhere.
    """
    resp = targets.shape[-1]
    logits = model(ids, mask)[:, -resp - 1 : -1]
    where = targets >= 0
    nll = lm_loss(logits, jnp.maximum(targets, 0), where=where, reduce_fn=None)
    return jnp.sum(nll) / jnp.maximum(jnp.sum(where), 1).astype(jnp.float32)


def make_soft_loss_fn(variant: str = "soft"):
    """``loss_fn(model, batch, *, key, context, extra) -> (loss, aux)``; ``aux`` has ``lambda``
    (and for ``"soft"`` the curriculum's last distance ``curriculum_d``) and, where computed,
    ``ce_y`` and ``ce_hat``.

    Raises:
      ValueError: an unknown ``variant``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown SOFT variant {variant!r}; expected one of {VARIANTS}")

    def loss_fn(model, batch, *, key, context, extra):
        del key, context
        if variant == "soft":
            cur = jax.lax.stop_gradient(extra["curriculum"])
            lam = cur["value"].astype(jnp.float32)
            aux = {"lambda": lam, "curriculum_d": cur["last_d"].astype(jnp.float32)}
        else:
            lam = jnp.asarray(1.0 if variant == "soft_wo_sa" else 0.0, jnp.float32)
            aux = {"lambda": lam}
        loss = jnp.zeros((), jnp.float32)
        if variant != "soft_wo_sa":
            aux["ce_y"] = response_ce(model, batch["y_ids"], batch["y_mask"], batch["y_targets"])
            loss = loss + (1.0 - lam) * aux["ce_y"]
        if variant != "sft":
            aux["ce_hat"] = response_ce(
                model, batch["hat_ids"], batch["hat_mask"], batch["hat_targets"]
            )
            loss = loss + lam * aux["ce_hat"]
        return loss, aux

    return loss_fn
