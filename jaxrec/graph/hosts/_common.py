"""Helpers every host uses: NNX split/merge into pure-dict params, masked cross-entropy, and
``torch.optim.Adam``-style optimisers (L2 weight decay added to the gradient)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxrec.train import OptimizerConfig, make_optimizer

__all__ = [
    "adam_l2",
    "masked_cross_entropy",
    "merge",
    "module_graphdef",
    "module_params",
    "with_budget",
]


def module_graphdef(factory: Callable[[nnx.Rngs], nnx.Module]) -> Any:
    """The static graph definition of ``factory(rngs)`` (built abstractly, no arrays)."""
    return nnx.split(nnx.eval_shape(lambda: factory(nnx.Rngs(0))), nnx.Param)[0]


def module_params(factory: Callable[[nnx.Rngs], nnx.Module], key: jax.Array) -> dict:
    """Freshly initialised parameters of ``factory`` as a pure dict (jit/vmap-safe)."""
    return nnx.to_pure_dict(nnx.split(factory(nnx.Rngs(params=key)), nnx.Param)[1])


def merge(graphdef: Any, params: dict) -> nnx.Module:
    """The module with ``params`` (a pure dict from :func:`module_params`)."""
    return nnx.merge(graphdef, params)


def masked_cross_entropy(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy over the nodes where ``mask`` is true (f32)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
    return jnp.sum(jnp.where(mask, losses, 0.0)) / jnp.maximum(mask.sum(), 1)


def adam_l2(lr: float, weight_decay: float = 0.0) -> optax.GradientTransformation:
    """``torch.optim.Adam(lr, weight_decay)``: the L2 term is added to the gradient before Adam
    (the OpenGSL hosts' optimiser; not AdamW)."""
    return make_optimizer(OptimizerConfig(name="adam", lr=lr, weight_decay=weight_decay), 1)


def with_budget(cfg: Any, budget: str, **cpu_changes: Any) -> Any:
    """``cfg`` for the "full" protocol, or ``cfg`` with ``cpu_changes`` for the "cpu" budget (the
    host's documented reduced training for 2-core reproductions)."""
    if budget not in ("full", "cpu"):
        raise ValueError(f"budget must be 'full' or 'cpu', got {budget=}")
    return dataclasses.replace(cfg, **cpu_changes) if budget == "cpu" else cfg
