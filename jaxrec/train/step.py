"""The pure, sharded train step: ``train_step(state, batch, key, context) -> (state, metrics)``.

The NNX model is split once into ``graphdef`` and pure dicts; the step merges it inside the
objective, differentiates with respect to ``params`` only, applies optax and returns scalar
metrics. ``context`` holds per-run device arrays that every step reads but nobody trains (a
propagation graph, the users' positive lists for negative sampling); passing them as an argument
rather than closing over them keeps them out of the compiled program's constants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxrec.train.mesh import batch_sharding, replicated
from jaxrec.train.state import TrainState

__all__ = [
    "LossFn",
    "compile_train_step",
    "init_train_state",
    "make_train_step",
    "split_model",
    "train_state_from_model",
]


class LossFn(Protocol):
    def __call__(
        self,
        model: nnx.Module,
        batch: Mapping[str, jax.Array],
        *,
        key: jax.Array,
        context: Any,
        extra: Any,
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Returns the scalar loss and a dict of scalar auxiliary metrics."""


def split_model(
    model: nnx.Module, trainable: nnx.filterlib.Filter = nnx.Param
) -> tuple[nnx.GraphDef, dict, dict]:
    """``(graphdef, params, model_state)`` with pure-dict states.

    ``params`` holds the variables selected by ``trainable`` (all ``nnx.Param`` by default;
    ``nnx.LoRAParam`` to train adapters while the base weights ride along frozen in
    ``model_state``).
    """
    graphdef, params, rest = nnx.split(model, trainable, ...)
    return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(rest)


def init_train_state(
    model_fn: Callable[[nnx.Rngs], nnx.Module],
    tx: optax.GradientTransformation,
    seed: int,
    extra: Any = None,
    trainable: nnx.filterlib.Filter = nnx.Param,
) -> tuple[nnx.GraphDef, TrainState]:
    """Creates the model and optimizer state inside one jit, sharded as the model annotates.

    Only the ``trainable`` variables get optimizer state. Call inside
    :func:`jaxrec.train.mesh.mesh_context` so that logical axes map to the mesh. Weakly typed
    leaves (a parameter made as ``jnp.full(n, 0.5)``) are made strong, as the step's outputs
    are, so that the compiled step sees one state signature and compiles once.
    """

    def init() -> TrainState:
        _, params, rest = split_model(model_fn(nnx.Rngs(seed)), trainable)
        state = TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            model_state=rest,
            opt_state=tx.init(params),
            extra={} if extra is None else extra,
        )
        return jax.tree.map(_strongly_typed, state)

    graphdef = split_model(nnx.eval_shape(lambda: model_fn(nnx.Rngs(seed))), trainable)[0]
    return graphdef, jax.jit(init)()


def _strongly_typed(x: Any) -> Any:
    if isinstance(x, jax.Array) and not jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return x.astype(x.dtype)
    return x


def train_state_from_model(
    model: nnx.Module,
    tx: optax.GradientTransformation,
    *,
    trainable: nnx.filterlib.Filter = nnx.Param,
    extra: Any = None,
) -> tuple[nnx.GraphDef, TrainState]:
    """:func:`init_train_state` for a model that already exists (a loaded checkpoint, placed by
    its own shardings): the optimizer state is created under jit with the parameters as
    *arguments*, so large weights never become compile-time constants."""
    graphdef, params, rest = split_model(model, trainable)
    return graphdef, TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        model_state=rest,
        opt_state=jax.jit(tx.init)(params),
        extra={} if extra is None else extra,
    )


def make_train_step(
    graphdef: nnx.GraphDef,
    tx: optax.GradientTransformation,
    loss_fn: LossFn,
    *,
    update_extra: Callable[[Any, dict[str, jax.Array]], Any] | None = None,
    schedule: optax.Schedule | None = None,
    trainable: nnx.filterlib.Filter = nnx.Param,
) -> Callable[..., tuple[TrainState, dict[str, jax.Array]]]:
    """Builds the pure train step.

    Args:
      graphdef: the model's static structure from :func:`init_train_state`.
      tx: the optax transformation that created ``state.opt_state``.
      loss_fn: ``loss_fn(model, batch, *, key, context, extra) -> (loss, aux)``.
      update_extra: ``(extra, aux) -> extra`` for adaptive schedules (e.g. a temperature EMA);
        its inputs are already outside the gradient.
      schedule: the learning-rate schedule, only to log ``lr``.
      trainable: the filter ``init_train_state`` split the parameters with.
    """

    def train_step(state: TrainState, batch: Mapping[str, jax.Array], key: jax.Array, context: Any):
        step_key = jax.random.fold_in(key, state.step)

        def objective(params):
            model = nnx.merge(graphdef, params, state.model_state)
            loss, aux = loss_fn(model, batch, key=step_key, context=context, extra=state.extra)
            return loss, (aux, nnx.to_pure_dict(nnx.state(model, nnx.Not(trainable))))

        (loss, (aux, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(
            state.params
        )
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        extra = state.extra if update_extra is None else update_extra(state.extra, aux)
        metrics = {
            "loss": loss,
            "grad_norm": optax.tree.norm(grads),
            "update_norm": optax.tree.norm(updates),
            "param_norm": optax.tree.norm(params),
            **aux,
        }
        if schedule is not None:
            metrics["lr"] = jnp.asarray(schedule(state.step), jnp.float32)
        new_state = TrainState(state.step + 1, params, model_state, opt_state, extra)
        return new_state, metrics

    return train_step


def compile_train_step(
    train_step: Callable,
    mesh: jax.sharding.Mesh,
    state: TrainState,
    batch_example: Mapping,
    context: Any,
) -> Callable:
    """``jax.jit`` with in/out shardings taken from the placed state, batch-sharded inputs,
    replicated key and metrics, and the state donated."""
    state_sh = jax.tree.map(lambda a: a.sharding, state)
    batch_sh = jax.tree.map(lambda a: batch_sharding(mesh, a.ndim), batch_example)
    context_sh = jax.tree.map(lambda a: a.sharding, context)
    return jax.jit(
        train_step,
        in_shardings=(state_sh, batch_sh, replicated(mesh), context_sh),
        out_shardings=(state_sh, replicated(mesh)),
        donate_argnums=(0,),
    )
