"""The MSL / LML training objective for ``jaxrec.train.make_train_step``.

A batch (from :func:`jaxrec.llmrec.prompts.encode_windows`) holds ``input_ids``/``attention_mask``
``[B, S]``, the response ``targets`` ``[B, R]`` (the last ``R`` inputs; -1 = not supervised) and
the trie ``nodes`` ``[B, R]`` before each target. The logits at positions ``S-R-1 .. S-2``
predict them. MSL reads ``Z_valid`` as the children of each node, looked up inside the step from
the trie arrays in ``context["trie"]`` (no dense ``[R, V]`` masks).

ATS is a :class:`jaxrec.train.schedules.StatefulSchedule` (:func:`jaxrec.llmrec.ats.ats_schedule`)
whose state ``{"tau", "step"}`` is ``TrainState.extra["ats"]``; the loss computes ``tau_s`` from
the current logits (sums over the global batch), uses it, and returns it as ``aux["ats_tau"]``;
:func:`update_extra` advances the state with it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrec.llmrec.ats import ats_advance, ats_rows, ats_schedule, ats_statistics, ats_target
from jaxrec.llmrec.config import LossConfig
from jaxrec.llmrec.trie import children
from jaxrec.losses import lm_loss, masked_softmax_loss_gather

__all__ = ["initial_extra", "make_loss_fn", "update_extra"]


def initial_extra(cfg: LossConfig) -> dict[str, Any]:
    return {"ats": ats_schedule(cfg.ats, 1).init()} if cfg.ats.enabled else {}


def update_extra(extra: dict[str, Any], aux: dict[str, jax.Array]) -> dict[str, Any]:
    """Stores this step's ATS temperature (no-op without ATS)."""
    if "ats" not in extra:
        return extra
    return {"ats": ats_advance(extra["ats"], aux["ats_tau"])}


def make_loss_fn(cfg: LossConfig, max_fanout: int, branch_fanout: int):
    """``loss_fn(model, batch, *, key, context, extra) -> (loss, aux)``.

    ``aux`` has ``low_weight_share``: the share of supervised tokens whose gradient weight
    ``w = 1 - P_valid(y_t)`` (at the loss temperature) is below 0.1 (the paper's gradient-vanishing
    diagnostic, §4.2), and for ATS ``ats_tau``, ``ats_tau_target`` and ``ats_rows``.
    """

    ats = ats_schedule(cfg.ats, branch_fanout)

    def loss_fn(model, batch, *, key, context, extra):
        del key
        targets = batch["targets"]
        resp = targets.shape[-1]
        logits = model(batch["input_ids"], batch["attention_mask"])[:, -resp - 1 : -1]
        where = targets >= 0
        if cfg.name == "lml":
            loss = lm_loss(
                logits, targets, temperature=cfg.temperature, where=where, tau_factor=cfg.tau_factor
            )
            return loss, {}
        candidates, _ = children(context["trie"], batch["nodes"], max_fanout)
        tau = jnp.asarray(cfg.temperature, jnp.float32)
        aux: dict[str, jax.Array] = {}
        if cfg.ats.enabled:
            valid = candidates >= 0
            cand_logits = jnp.take_along_axis(logits, jnp.maximum(candidates, 0), axis=-1)
            gold = jnp.take_along_axis(logits, jnp.maximum(targets, 0)[..., None], axis=-1)[..., 0]
            rows = ats_rows(jnp.sum(valid, axis=-1), where, cfg.ats.rows, branch_fanout)
            stats = ats_statistics(cand_logits, valid, gold, rows)
            tau, _ = ats.update(extra["ats"], stats)
            target, _ = ats_target(stats, cfg.ats, branch_fanout)
            aux = {"ats_tau": tau, "ats_tau_target": target, "ats_rows": stats["n_rows"]}
        neg_log_p = masked_softmax_loss_gather(
            logits, targets, candidates, temperature=tau, where=where, reduce_fn=None,
            tau_factor=False,
        )  # fmt: skip
        loss = masked_softmax_loss_gather(
            logits, targets, candidates, temperature=tau, where=where,
            tau_factor=cfg.tau_factor, drop_single_valid=cfg.drop_single_valid,
        )  # fmt: skip
        weight = 1.0 - jnp.exp(-jax.lax.stop_gradient(neg_log_p))
        low = jnp.sum(where & (weight < 0.1)) / jnp.maximum(jnp.sum(where), 1)
        return loss, {**aux, "low_weight_share": low.astype(jnp.float32)}

    return loss_fn
