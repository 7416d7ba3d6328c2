"""Helpers every host uses: NNX split/merge into pure-dict params, the masked cross-entropy and
accuracy, the ``torch.optim.Adam``-style optimiser (L2 weight decay added to the gradient), and
the UnGSL defaults record each host's ``ungsl_defaults(dataset)`` returns."""

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
    "UnGSLDefaults",
    "accuracy",
    "adam_l2",
    "masked_cross_entropy",
    "merge",
    "module_graphdef",
    "module_params",
]


@dataclasses.dataclass(frozen=True)
class UnGSLDefaults:
    """UnGSL hyperparameters for one host and dataset (``jaxrec/graph/README.md``, "UnGSL").

    The defaults are the suggested starting point for a host and dataset without shipped values
    (tau_0 0.7, beta 0.5, ungsl_lr 1e-3).

    Attributes:
      beta: down-weighting factor of uncertain sources.
      tau_init: initial threshold.
      lr: Adam learning rate of tau (``ungsl_lr``).
      edge_threshold: an entry of the learned graph counts as an edge when above this.
      form: "dense" or "sparse" (the form of the authors' patch; informational).
      retuned_host: (host config field, value) pairs re-tuned with UnGSL by the authors.
    """

    beta: float = 0.5
    tau_init: float = 0.7
    lr: float = 1e-3
    edge_threshold: float = 0.0
    form: str = "dense"
    retuned_host: tuple[tuple[str, Any], ...] = ()


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
    """``sum_i mask_i CE(logits_i, labels_i) / max(sum_i mask_i, 1)`` in f32: logits [n, C],
    integer labels [n], boolean mask [n]."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
    return jnp.sum(jnp.where(mask, losses, 0.0)) / jnp.maximum(mask.sum(), 1)


def accuracy(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
    """Fraction of the nodes where ``mask`` is true with ``argmax(logits) == labels``."""
    hit = (jnp.argmax(logits, axis=-1) == labels) & mask
    return hit.sum() / jnp.maximum(mask.sum(), 1)


def adam_l2(lr: float, weight_decay: float = 0.0) -> optax.GradientTransformation:
    """``torch.optim.Adam(lr, weight_decay)``: the L2 term is added to the gradient before Adam
    (the OpenGSL hosts' optimiser; not AdamW)."""
    return make_optimizer(OptimizerConfig(name="adam", lr=lr, weight_decay=weight_decay), 1)
