"""Adaptive Temperature Strategy (ATS; Wang et al., SIGIR 2025, §4.2.3: Lemma 2, eqs. 11-12,
App. B eq. 22) as state in ``TrainState.extra``.

Per step, from the current logits (no gradient):

1. rows: supervised positions with more than one valid token, narrowed by ``rows``:
   ``"first_multi_valid"`` (default) the first such position of each example, i.e. the
   first-title-token rows the authors' code means, selected by position (README.md, "Quirks");
   ``"root_count"`` the code's literal rule (valid count == the first branching fan-out);
   ``"all_multi_valid"`` every multi-valid position (paper preset);
2. ``mu_pos`` = mean gold logit, ``mu_neg`` / ``sigma^2`` = mean / unbiased variance of all valid
   logits (gold included) over those rows of the global batch (plain sums inside the jitted
   step, so a sharded batch is reduced across devices automatically);
3. ``Delta = mu_pos - mu_neg``, ``C = ln(m eta)`` with ``m`` the first branching fan-out
   (``"root_fanout"``, code) or the mean valid count over the rows (``"mean_valid"``, paper);
4. ``tau* = [Delta +- sqrt(max(Delta^2 - 2 C sigma^2, 0))] / (2C)`` (``"larger"`` root: code;
   ``"smaller"``: paper);
5. clamp to ``[lo, hi]`` (code: [1.5, 5]; ``None``: none), then EMA
   ``tau_s = (1 - alpha) tau_{s-1} + alpha tau*`` (code: 0.05; ``None``: ``tau_s = tau*``);
6. warm-up: for the first ``warm_up`` steps (``-1``: none) ``tau_s = tau_0`` and the EMA is reset
   to ``tau_0`` (as the code does).

As a :class:`jaxrec.train.schedules.StatefulSchedule` (:func:`ats_schedule`): ``init()`` is
:func:`ats_init`, ``update(state, stats) -> (tau_s, state)`` with the state advanced by
:func:`ats_advance`, the one transition the train step's ``update_extra`` also applies.

Guards: with an empty row set, ``C <= 0``, or a non-finite or non-positive ``tau*``, the previous
``tau`` is kept. ``tau_s`` is used in the same step's loss (the code's order).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxrec.llmrec.config import ATSConfig
from jaxrec.train.schedules import StatefulSchedule

__all__ = [
    "ats_advance",
    "ats_init",
    "ats_rows",
    "ats_schedule",
    "ats_statistics",
    "ats_step",
    "ats_target",
]


def ats_init(cfg: ATSConfig) -> dict[str, jax.Array]:
    """The ATS state kept in ``TrainState.extra``: the current ``tau`` and the step count."""
    return {"tau": jnp.asarray(cfg.tau0, jnp.float32), "step": jnp.zeros((), jnp.int32)}


def ats_rows(counts: jax.Array, where: jax.Array, rows: str, branch_fanout: int) -> jax.Array:
    """Bool ``[..., T]`` rows feeding the statistics (``counts`` = valid tokens per position)."""
    multi = where & (counts > 1)
    if rows == "first_multi_valid":
        return multi & (jnp.cumsum(multi, axis=-1) == 1)
    if rows == "all_multi_valid":
        return multi
    if rows == "root_count":
        return multi & (counts == branch_fanout)
    raise ValueError(f"unknown ATS rows {rows!r}")


def ats_statistics(
    candidate_logits: jax.Array, valid: jax.Array, target_logits: jax.Array, rows: jax.Array
) -> dict[str, jax.Array]:
    """Gold/valid-logit moments over the selected rows (float32 scalars, no gradient).

    Args:
      candidate_logits: ``[..., T, F]`` logits of the candidate tokens.
      valid: bool ``[..., T, F]`` real candidates.
      target_logits: ``[..., T]`` gold-token logits.
      rows: bool ``[..., T]`` from :func:`ats_rows`.
    """
    x = jax.lax.stop_gradient(candidate_logits.astype(jnp.float32))
    gold = jax.lax.stop_gradient(target_logits.astype(jnp.float32))
    cell = valid & rows[..., None]
    n_rows = jnp.sum(rows, dtype=jnp.float32)
    n_neg = jnp.sum(cell, dtype=jnp.float32)
    mu_pos = jnp.sum(jnp.where(rows, gold, 0.0)) / jnp.maximum(n_rows, 1.0)
    mu_neg = jnp.sum(jnp.where(cell, x, 0.0)) / jnp.maximum(n_neg, 1.0)
    var_neg = jnp.sum(jnp.where(cell, (x - mu_neg) ** 2, 0.0)) / jnp.maximum(n_neg - 1.0, 1.0)
    return {
        "n_rows": n_rows,
        "mu_pos": mu_pos,
        "mu_neg": mu_neg,
        "var_neg": var_neg,
        "mean_valid": n_neg / jnp.maximum(n_rows, 1.0),
    }


def ats_target(
    stats: dict[str, jax.Array], cfg: ATSConfig, branch_fanout: int
) -> tuple[jax.Array, jax.Array]:
    """``(tau*, ok)``: the root of ``C tau^2 - Delta tau + sigma^2 / 2 = 0`` (clamped if
    configured) and whether it may be used (guards: rows found, and ``C = log(m eta) > 0``, else
    there is no positive root)."""
    m = stats["mean_valid"] if cfg.m == "mean_valid" else jnp.asarray(branch_fanout, jnp.float32)
    c = jnp.log(m * cfg.eta)
    delta = stats["mu_pos"] - stats["mu_neg"]
    root = jnp.sqrt(jnp.maximum(delta**2 - 2.0 * c * stats["var_neg"], 0.0))
    safe_c = jnp.where(c > 0, c, 1.0)
    tau = (delta + root if cfg.root == "larger" else delta - root) / (2.0 * safe_c)
    ok = (stats["n_rows"] > 0) & (c > 0) & jnp.isfinite(tau) & (tau > 0)
    if cfg.clamp is not None:
        tau = jnp.clip(tau, cfg.clamp[0], cfg.clamp[1])
    return tau, ok


def ats_step(
    state: dict[str, jax.Array],
    stats: dict[str, jax.Array],
    cfg: ATSConfig,
    branch_fanout: int,
) -> tuple[jax.Array, jax.Array]:
    """``(tau_s, tau*)``: the temperature for this step's loss and the raw target."""
    target, ok = ats_target(stats, cfg, branch_fanout)
    prev = state["tau"]
    new = target if cfg.ema is None else (1.0 - cfg.ema) * prev + cfg.ema * target
    new = jnp.where(ok, new, prev)
    if cfg.warm_up != -1:
        new = jnp.where(state["step"] < cfg.warm_up, jnp.asarray(cfg.tau0, jnp.float32), new)
    return jax.lax.stop_gradient(new), jax.lax.stop_gradient(target)


def ats_advance(state: dict[str, jax.Array], tau: jax.Array) -> dict[str, jax.Array]:
    """The next ATS state after a step that used ``tau``."""
    return {"tau": tau, "step": state["step"] + 1}


def ats_schedule(cfg: ATSConfig, branch_fanout: int) -> StatefulSchedule:
    """ATS as a stateful schedule: ``init()`` and ``update(state, stats) -> (tau_s, state)``
    (``stats`` from :func:`ats_statistics`)."""

    def update(state, stats):
        tau, _ = ats_step(state, stats, cfg, branch_fanout)
        return tau, ats_advance(state, tau)

    return StatefulSchedule(lambda: ats_init(cfg), update)
