"""The CF training objective: sample negatives, score (user, item) pairs, apply SL/PSL/BPR.

Per batch of B (user, positive item) interactions, with N sampled negatives::

    U = user_emb[u]                                  # [B, d]
    V = item_emb[[i, j_1 .. j_N]]                    # [B, 1+N, d]
    s = scale * cos(U, V)   (or the inner product)   # [B, 1+N]
    loss = mean_b  L(s[:, 0], s[:, 1:])              # L in {SL, PSL, BPR}

Scores come from :func:`jaxrec.models.score_pairs` / :func:`jaxrec.models.full_scores`. With
``scoring="full"`` the B x (1+N) scores are read from the B x I score matrix instead of gathering
B x (1+N) x d item rows: the same numbers, and less memory traffic whenever I < (1 + N) d
(``"auto"`` picks it then).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxrec.cf.config import LossConfig
from jaxrec.data import sample_negatives, uniform_negatives
from jaxrec.losses import bpr_loss, psl_loss, softmax_loss
from jaxrec.models import full_scores, gather_rows, score_pairs

__all__ = ["score_setup", "make_loss_fn"]


def score_setup(cfg: LossConfig) -> tuple[bool, float]:
    """``(cosine, scale)`` of the score f(u, i) that the configured loss sees."""
    if cfg.name == "bpr":
        return cfg.bpr_normalize, cfg.score_scale if cfg.bpr_normalize else 1.0
    if cfg.name == "softmax":
        return True, cfg.sl_score_scale
    return True, cfg.score_scale


def _per_example_loss(cfg: LossConfig) -> Callable[..., jax.Array]:
    if cfg.name == "bpr":
        return lambda pos, neg, where: bpr_loss(pos, neg, where=where, reduce_fn=None)
    if cfg.name == "softmax":
        return lambda pos, neg, where: softmax_loss(
            pos,
            neg,
            temperature=cfg.temperature,
            where=where,
            reduce_fn=None,
            include_positive=cfg.include_positive,
        )
    return lambda pos, neg, where: psl_loss(
        pos,
        neg,
        activation=cfg.activation,
        temperature=cfg.temperature,
        where=where,
        reduce_fn=None,
        include_positive=cfg.include_positive,
        temperature_placement=cfg.temperature_placement,
    )


def make_loss_fn(
    cfg: LossConfig, num_items: int, embed_dim: int, max_degree: int | None = None
) -> Callable:
    """``loss_fn(model, batch, *, key, context, extra) -> (loss, aux)`` for the training core.

    ``batch`` holds ``users``, ``items`` (int32 [B]) and ``mask`` (bool [B], False on padding);
    ``context`` holds the training positives as CSR (``pos_indptr``, ``pos_indices``) for the
    sampler and, for LightGCN, the propagation ``graph``. ``max_degree`` (the largest number of
    training positives of one user) bounds the sampler's binary search.
    """
    cosine, scale = score_setup(cfg)
    per_example = _per_example_loss(cfg)
    full = cfg.scoring == "full" or (
        cfg.scoring == "auto" and num_items < (1 + cfg.num_negatives) * embed_dim
    )

    def loss_fn(
        model,
        batch: Mapping[str, jax.Array],
        *,
        key: jax.Array,
        context: Mapping[str, Any],
        extra: Any,
    ):
        del extra
        users, pos, mask = batch["users"], batch["items"], batch["mask"]
        shape = (users.shape[0], cfg.num_negatives)
        if cfg.sampler == "uniform":
            negs = uniform_negatives(key, shape, num_items)
        else:
            negs = sample_negatives(
                key,
                users,
                cfg.num_negatives,
                context["pos_indptr"],
                context["pos_indices"],
                num_items,
                max_degree=max_degree,
            )
        user_emb, item_emb = model.embed(context.get("graph"))
        kind = "cosine" if cosine else "dot"
        u = gather_rows(user_emb, users)  # [B, d]
        ids = jnp.concatenate([pos[:, None], jnp.maximum(negs, 0)], axis=1)  # [B, 1+N]
        if full:
            scores = jnp.take_along_axis(
                full_scores(u, item_emb, kind=kind, scale=scale), ids, axis=1
            )
        else:
            scores = score_pairs(u[:, None], gather_rows(item_emb, ids), kind=kind, scale=scale)
        per = per_example(scores[:, 0], scores[:, 1:], negs >= 0)  # [B]
        weight = mask.astype(per.dtype)
        loss = jnp.sum(per * weight) / jnp.maximum(jnp.sum(weight), 1.0)
        return loss, {
            "pos_score": jnp.sum(scores[:, 0] * weight) / jnp.maximum(jnp.sum(weight), 1.0)
        }

    return loss_fn
