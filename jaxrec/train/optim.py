"""Optimizer factory: optax optimizer + learning-rate schedule + weight decay + clipping."""

from __future__ import annotations

import dataclasses

import optax

__all__ = ["OptimizerConfig", "make_schedule", "make_optimizer"]


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Attributes:
    name: "adam" (L2 weight decay added to the gradient, as torch.optim.Adam does), "adamw"
      (decoupled decay) or "sgd".
    lr: peak learning rate.
    schedule: "constant", "cosine" (decay to ``lr * final_lr_ratio``) or "linear".
    warmup_steps: linear warm-up from 0 before the schedule.
    weight_decay: L2 coefficient (adam, sgd) or decoupled decay (adamw).
    clip_norm: global-norm gradient clipping; 0 disables it.
    b1, b2, eps: Adam moments.
    final_lr_ratio: end value of cosine/linear decay relative to ``lr``.
    """

    name: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    clip_norm: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    final_lr_ratio: float = 0.0


def make_schedule(cfg: OptimizerConfig, total_steps: int) -> optax.Schedule:
    """Learning-rate schedule over ``total_steps`` optimizer steps (warm-up included)."""
    if cfg.lr <= 0:
        raise ValueError(f"optimizer lr must be positive, got {cfg.lr=}")
    if cfg.warmup_steps < 0 or cfg.warmup_steps > total_steps:
        raise ValueError(
            f"need 0 <= warmup_steps <= total_steps, got {cfg.warmup_steps=}, {total_steps=}"
        )
    decay_steps = max(total_steps - cfg.warmup_steps, 1)
    end = cfg.lr * cfg.final_lr_ratio
    if cfg.schedule == "constant":
        main = optax.constant_schedule(cfg.lr)
    elif cfg.schedule == "cosine":
        main = optax.cosine_decay_schedule(cfg.lr, decay_steps, alpha=cfg.final_lr_ratio)
    elif cfg.schedule == "linear":
        main = optax.linear_schedule(cfg.lr, end, decay_steps)
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; expected constant, cosine or linear")
    if cfg.warmup_steps == 0:
        return main
    warmup = optax.linear_schedule(0.0, cfg.lr, cfg.warmup_steps)
    return optax.join_schedules([warmup, main], boundaries=[cfg.warmup_steps])


def make_optimizer(cfg: OptimizerConfig, total_steps: int) -> optax.GradientTransformation:
    """Builds the gradient transformation; the learning rate is exposed as a hyperparameter."""
    schedule = make_schedule(cfg, total_steps)
    if cfg.weight_decay < 0 or cfg.clip_norm < 0:
        raise ValueError(
            f"weight_decay and clip_norm must be >= 0, got {cfg.weight_decay=}, {cfg.clip_norm=}"
        )
    if cfg.name == "adam":
        base = optax.chain(
            optax.add_decayed_weights(cfg.weight_decay) if cfg.weight_decay else optax.identity(),
            optax.adam(schedule, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps),
        )
    elif cfg.name == "adamw":
        base = optax.adamw(
            schedule, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay
        )
    elif cfg.name == "sgd":
        base = optax.chain(
            optax.add_decayed_weights(cfg.weight_decay) if cfg.weight_decay else optax.identity(),
            optax.sgd(schedule),
        )
    else:
        raise ValueError(f"unknown optimizer {cfg.name!r}; expected adam, adamw or sgd")
    if cfg.clip_norm:
        return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), base)
    return base
