"""LoRA adapters: add them to a decoder's projections, and merge them back.

A target projection ``y = x W`` becomes ``y = x W + (alpha / r) * dropout(x) A B`` with
``A [in, r]`` and ``B [r, out]`` (Hu et al., "LoRA", ICLR 2022, eq. 3). ``B = 0`` at creation,
so the adapted model starts equal to the base; ``A`` is uniform in ``+-1/sqrt(in)`` (the bound
of PEFT's default ``kaiming_uniform(a=sqrt(5))``). Adapter matrices are
:class:`nnx.LoRAParam`, so ``jaxrec.train.init_train_state(..., trainable=nnx.LoRAParam)``
trains them while the base weights stay frozen. Dropout is applied only when the model is
called with a ``dropout_key``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.llm.decoder import Decoder, sharding_scope
from jaxrec.models.llm.layers import Dense, make_param

__all__ = ["LORA_TARGETS", "LoRAConfig", "add_lora", "has_lora", "merge_lora"]

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclasses.dataclass(frozen=True)
class LoRAConfig:
    """Attributes:
    rank: r, the adapter's inner dimension.
    alpha: the update is scaled by ``alpha / rank``.
    dropout: dropout rate on the adapter's input (training only).
    targets: projection names to adapt (from :data:`LORA_TARGETS`).
    """

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    targets: tuple[str, ...] = ("q_proj", "v_proj")

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"LoRAConfig.rank must be >= 1, got {self.rank}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRAConfig.dropout must lie in [0, 1), got {self.dropout}")
        unknown = sorted(set(self.targets) - set(LORA_TARGETS))
        if unknown or not self.targets:
            raise ValueError(
                f"LoRAConfig.targets {unknown or '()'} invalid; choose from {LORA_TARGETS}"
            )

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


def _symmetric_uniform(bound: float) -> nnx.initializers.Initializer:
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _target_denses(model: Decoder, targets: tuple[str, ...]) -> list[Dense]:
    return [
        m for path, m in nnx.iter_modules(model) if isinstance(m, Dense) and path[-1] in targets
    ]


def has_lora(model: Decoder) -> bool:
    """True if any projection carries an adapter."""
    return any(m.lora_a is not None for _, m in nnx.iter_modules(model) if isinstance(m, Dense))


def add_lora(model: Decoder, lora: LoRAConfig, *, rngs: nnx.Rngs) -> Decoder:
    """Attaches fresh adapters (``B = 0``) to the ``lora.targets`` projections, in place.

    Build under the same ``mesh_context`` as the model to shard the adapters (A follows the
    kernel's input axis, B its output axis).

    Returns:
      ``model`` itself, now adapted.

    Raises:
      ValueError: if the model already has adapters.
    """
    if has_lora(model):
        raise ValueError("the model already has LoRA adapters; merge_lora it first")
    with sharding_scope():
        for dense in _target_denses(model, lora.targets):
            in_axis, out_axis = dense.names
            dtype = dense.kernel[...].dtype
            dense.lora_a = make_param(
                nnx.LoRAParam, _symmetric_uniform(1.0 / math.sqrt(dense.in_features)),
                rngs.params(), (dense.in_features, lora.rank), (in_axis, None), dtype, dense.stack,
            )  # fmt: skip
            dense.lora_b = make_param(
                nnx.LoRAParam, nnx.initializers.zeros, rngs.params(),
                (lora.rank, dense.out_features), (None, out_axis), dtype, dense.stack,
            )  # fmt: skip
            dense.lora_scale = lora.scale
            dense.lora_dropout = lora.dropout
    return model


def merge_lora(model: Decoder) -> Decoder:
    """A copy of ``model`` with every adapter folded into its kernel,
    ``W <- W + (alpha / r) A B``, and no :class:`nnx.LoRAParam` left.

    The merged model computes the same logits as the adapted one in deterministic mode (up to
    rounding in ``param_dtype``).
    """
    merged = nnx.clone(model)
    for _, dense in nnx.iter_modules(merged):
        if not isinstance(dense, Dense) or dense.lora_a is None:
            continue
        kernel = dense.kernel[...]
        delta = jnp.einsum(
            "...ir,...ro->...io",
            dense.lora_a[...].astype(jnp.float32),
            dense.lora_b[...].astype(jnp.float32),
            precision=jax.lax.Precision.HIGHEST,
        )
        dense.kernel[...] = (kernel.astype(jnp.float32) + dense.lora_scale * delta).astype(
            kernel.dtype
        )
        dense.lora_a = None
        dense.lora_b = None
        dense.lora_scale = 0.0
        dense.lora_dropout = 0.0
    return merged
