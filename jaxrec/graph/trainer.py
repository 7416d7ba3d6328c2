"""The shared full-batch trainer of GSL hosts: one jitted computation per run of many seeds.

``train_host(host, data, seeds=..., epochs=...)`` compiles

    vmap over seeds ( lax.scan over epochs // eval_every blocks (
        lax.scan over eval_every training steps; then one evaluation ) )

so a whole multi-seed run is one XLA program, and an expensive evaluation (SUBLIME trains a
classifier inside ``logits``) runs only every ``eval_every`` epochs.

Why not :mod:`jaxrec.train` (the mini-batch loop of the other methods): these graphs are small
(Cora 2,708 nodes, Citeseer 3,327; a dense [n, n] graph is 29-44 MB in f32), so the whole graph is
one batch and one epoch is one optimiser step. There is nothing to stream: no data iterator, no
host-device transfer per step, and a run is seconds to minutes, so no checkpoints are needed (the
experiment caches each finished stage instead, :mod:`jaxrec.graph.experiment`). What costs time is
per-step dispatch and the 10 seeds the protocol asks for; one compiled program with the epochs in
``lax.scan`` and the seeds in ``vmap`` removes the first and batches the second, with the same
per-seed arithmetic as a loop (the tests check vmap against single runs). The run folder is still
written through :mod:`jaxrec.train.logging` (``metrics.jsonl``, ``results.json``, ``config.json``,
``curves.png``), so it reads like every other jaxrec run.

Model selection follows OpenGSL: after each evaluation the run keeps the first epoch with the
highest validation accuracy (strictly greater replaces), and reports the test accuracy and the
softmax probabilities of all nodes at that epoch (stage 1 of UnGSL needs them). ``patience`` (in
epochs, 0 = off) freezes the selection once that many epochs pass without a new best; the scan
keeps its fixed length (under ``vmap`` the remaining epochs are still computed, their results
ignored).

UnGSL (``ungsl=UnGSLSetup(...)``): the parameters become ``{"host": ..., "tau": [n]}``, ``tau``
starts at ``tau_init`` and is trained by its own Adam (``lr``, no weight decay) beside the host's
optimizer (each on its own subtree); every step builds the hook ``EdgeReweight(confidence, tau,
beta)`` and passes it to ``host.loss``/``host.logits``. The trainer records the fraction of dead
thresholds (``jaxrec/graph/README.md``, "Quirks kept") as the nodes whose ``tau_i`` received
exactly zero gradient in every step of the evaluation block: a node with no learned in-edge
``i <- j`` in the kept branch (``c_j >= tau_i``) is always counted; so is, rarely, a node outside
the loss's receptive field or with a saturated softmax (the trainer does not see the host's
learned graph).

``vectorize_seeds=False`` runs the same jitted per-seed computation in a Python loop over seeds
(for hosts whose per-seed memory is too large to batch).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec.graph.data import GraphData
from jaxrec.graph.host import GSLHost
from jaxrec.graph.hosts._common import accuracy, adam_l2
from jaxrec.graph.ungsl import EdgeReweight

__all__ = ["TrainResult", "UnGSLSetup", "train_host"]


@dataclasses.dataclass(frozen=True)
class UnGSLSetup:
    """Stage-2 settings: fixed confidences [n] and the plug-in's hyperparameters (README,
    "UnGSL")."""

    confidence: np.ndarray
    beta: float
    tau_init: float
    lr: float

    def __post_init__(self) -> None:
        c = np.asarray(self.confidence)
        if c.ndim != 1 or not np.isfinite(c).all():
            raise ValueError(f"confidence must be a finite [n] vector, got shape {c.shape}")
        if self.lr <= 0:
            raise ValueError(f"UnGSL lr must be positive, got {self.lr=}")


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Per-seed results (leading axis = seeds), all numpy.

    Attributes:
      seeds: [S].
      best_val: [S] best validation accuracy.
      test_at_best: [S] test accuracy at the best-validation epoch.
      best_epoch: [S] 1-based epoch of the best validation accuracy.
      probs_at_best: [S, n, C] softmax of all nodes' logits at that epoch.
      val_curve, train_loss_curve: [S, E/eval_every] per evaluation (train loss = block mean).
      eval_epochs: [E/eval_every] 1-based epoch of each evaluation.
      stopped_epoch: [S] epoch at which patience ran out (``epochs`` if it never did).
      dead_fraction: [S, E/eval_every] UnGSL dead-threshold fraction (NaN without UnGSL).
      tau: [S, n] final thresholds (None without UnGSL).
      seconds_per_epoch: wall-clock per epoch of the compiled run (all seeds together).
      compile_seconds: time to compile.
    """

    seeds: np.ndarray
    best_val: np.ndarray
    test_at_best: np.ndarray
    best_epoch: np.ndarray
    probs_at_best: np.ndarray
    val_curve: np.ndarray
    train_loss_curve: np.ndarray
    eval_epochs: np.ndarray
    stopped_epoch: np.ndarray
    dead_fraction: np.ndarray
    tau: np.ndarray | None
    seconds_per_epoch: float
    compile_seconds: float


def _per_key(transforms: dict[str, optax.GradientTransformation]) -> optax.GradientTransformation:
    """Applies ``transforms[k]`` to the subtree ``params[k]`` (like ``optax.multi_transform``,
    but each transform sees only its own subtree, so a host optimizer that is itself a
    ``multi_transform`` over its own parameter structure keeps working)."""

    def init(params):
        return {k: tx.init(params[k]) for k, tx in transforms.items()}

    def update(updates, state, params=None):
        out, new_state = {}, {}
        for k, tx in transforms.items():
            out[k], new_state[k] = tx.update(
                updates[k], state[k], None if params is None else params[k]
            )
        return out, new_state

    return optax.GradientTransformation(init, update)


def _run_fn(host: GSLHost, epochs: int, eval_every: int, patience: int, ungsl: UnGSLSetup | None):
    """The per-seed run ``(seed, data, confidence) -> dict of arrays``."""
    num_blocks = epochs // eval_every
    beta = None if ungsl is None else float(ungsl.beta)

    def split_params(params: Any, confidence: jax.Array | None) -> tuple[Any, EdgeReweight]:
        if ungsl is None:
            return params, EdgeReweight()
        return params["host"], EdgeReweight(confidence, params["tau"], beta)

    def run(seed: jax.Array, data: GraphData, confidence: jax.Array | None) -> dict[str, Any]:
        init_key, train_key, eval_base = jax.random.split(jax.random.key(seed), 3)
        variables = host.init(init_key, data)
        tx = host.optimizer()
        params = variables.params
        if ungsl is not None:
            tau = jnp.full((data.num_nodes,), ungsl.tau_init, jnp.float32)
            params = {"host": params, "tau": tau}
            tx = _per_key({"host": tx, "tau": adam_l2(ungsl.lr)})
        opt_state = tx.init(params)

        def objective(params, state, key):
            host_params, reweight = split_params(params, confidence)
            return host.loss(host_params, state, data, key, reweight)

        def train_step(carry, epoch):
            params, state, opt_state, tau_grad_abs = carry
            key = jax.random.fold_in(train_key, epoch)
            (loss, (state, _)), grads = jax.value_and_grad(objective, has_aux=True)(
                params, state, key
            )
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            if ungsl is not None:
                tau_grad_abs = tau_grad_abs + jnp.abs(grads["tau"])
            return (params, state, opt_state, tau_grad_abs), loss

        def block(carry, block_index):
            params, state, opt_state, best, stopped = carry
            epochs_in_block = block_index * eval_every + jnp.arange(eval_every)
            zero = jnp.zeros((data.num_nodes,), jnp.float32)
            (params, state, opt_state, tau_grad_abs), losses = jax.lax.scan(
                train_step, (params, state, opt_state, zero), epochs_in_block
            )
            eval_key = jax.random.fold_in(eval_base, block_index)
            host_params, reweight = split_params(params, confidence)
            logits = host.logits(host_params, state, data, eval_key, reweight)
            val_acc = accuracy(logits, data.labels, data.val_mask)
            test_acc = accuracy(logits, data.labels, data.test_mask)
            epoch = (block_index + 1) * eval_every
            improved = (val_acc > best["val"]) & ~stopped
            probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
            best = {
                "val": jnp.where(improved, val_acc, best["val"]),
                "test": jnp.where(improved, test_acc, best["test"]),
                "epoch": jnp.where(improved, epoch, best["epoch"]),
                "probs": jnp.where(improved, probs, best["probs"]),
                "stopped_epoch": best["stopped_epoch"],
            }
            if patience > 0:
                newly = ~stopped & (epoch - best["epoch"] >= patience)
                best["stopped_epoch"] = jnp.where(newly, epoch, best["stopped_epoch"])
                stopped = stopped | newly
            dead = jnp.mean(tau_grad_abs == 0) if ungsl is not None else jnp.asarray(jnp.nan)
            record = {"val": val_acc, "loss": losses.mean(), "dead": dead}
            return (params, state, opt_state, best, stopped), record

        best = {
            "val": jnp.asarray(-1.0),
            "test": jnp.asarray(0.0),
            "epoch": jnp.asarray(0),
            "probs": jnp.zeros((data.num_nodes, data.num_classes), jnp.float32),
            "stopped_epoch": jnp.asarray(epochs),
        }
        carry = (params, variables.state, opt_state, best, jnp.asarray(False))
        (params, _, _, best, _), records = jax.lax.scan(block, carry, jnp.arange(num_blocks))
        out = {**best, "curve": records}
        if ungsl is not None:
            out["tau"] = params["tau"]
        return out

    return run


def train_host(
    host: GSLHost,
    data: GraphData,
    *,
    seeds: Sequence[int],
    epochs: int,
    eval_every: int = 1,
    patience: int = 0,
    ungsl: UnGSLSetup | None = None,
    vectorize_seeds: bool = True,
) -> TrainResult:
    """Trains ``host`` on ``data`` once per seed (see the module docstring) and returns the
    per-seed selection results."""
    seeds = np.asarray(list(seeds), np.int32)
    if seeds.ndim != 1 or seeds.size == 0:
        raise ValueError(f"seeds must be a non-empty list of ints, got {seeds!r}")
    if epochs < 1 or eval_every < 1 or epochs % eval_every:
        raise ValueError(
            f"need epochs >= 1 and eval_every dividing epochs, got {epochs=}, {eval_every=}"
        )
    if patience < 0:
        raise ValueError(f"patience must be >= 0 (0 = off), got {patience=}")
    confidence = None
    if ungsl is not None:
        confidence = jnp.asarray(ungsl.confidence, jnp.float32)
        if confidence.shape != (data.num_nodes,):
            raise ValueError(
                f"UnGSL confidence has shape {confidence.shape}, expected ({data.num_nodes},)"
            )
    run = _run_fn(host, epochs, eval_every, patience, ungsl)
    if vectorize_seeds:
        fn = jax.jit(jax.vmap(run, in_axes=(0, None, None)))
        start = time.perf_counter()
        compiled = fn.lower(seeds, data, confidence).compile()
        compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(seeds, data, confidence))
        wall = time.perf_counter() - start
    else:
        fn = jax.jit(run)
        start = time.perf_counter()
        compiled = fn.lower(seeds[0], data, confidence).compile()
        compile_seconds = time.perf_counter() - start
        start = time.perf_counter()
        outs = [jax.block_until_ready(compiled(s, data, confidence)) for s in seeds]
        wall = time.perf_counter() - start
        out = jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
    out = jax.tree.map(np.asarray, out)
    return TrainResult(
        seeds=seeds,
        best_val=out["val"],
        test_at_best=out["test"],
        best_epoch=out["epoch"],
        probs_at_best=out["probs"],
        val_curve=out["curve"]["val"],
        train_loss_curve=out["curve"]["loss"],
        eval_epochs=np.arange(1, epochs // eval_every + 1) * eval_every,
        stopped_epoch=out["stopped_epoch"],
        dead_fraction=out["curve"]["dead"],
        tau=out.get("tau"),
        seconds_per_epoch=wall / epochs,
        compile_seconds=compile_seconds,
    )
