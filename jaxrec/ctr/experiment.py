"""A CTR run end to end: data -> backbone (+ LLaCTR) -> sharded training -> AUC / LogLoss.

``run(cfg, run_dir)`` is what ``jaxrec run`` calls for ``method="ctr"`` configs. Training goes
through :func:`jaxrec.train.fit_experiment`: the jitted, sharded step (the embedding table's rows
on the mesh's ``vocab`` axes), early stopping on validation AUC, reduce-LR-on-plateau as FuxiCTR
(:mod:`jaxrec.train.plateau`), exact resume. Step loss, with ``m`` the batch's real rows:

    ``mean_m BCE(logit + lambda_llm * FIE, y) + reg + lambda_loss * mean_m FRE``

(``reg``: :class:`jaxrec.ctr.config.CTRLossConfig`; FRE / FIE: :mod:`jaxrec.ctr.llactr`).
Evaluation is batched and jitted; ``results.json`` holds AUC and LogLoss on valid and test.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxrec import train
from jaxrec.ctr.config import CTRExperiment, CTRModelConfig
from jaxrec.ctr.llactr import (
    LLaCTRHead,
    fie_logit,
    fre_kl,
    load_field_embeddings,
    random_field_embeddings,
)
from jaxrec.data import CTRTable, load_fuxictr_h5, load_movielens_ctr, synthetic_ctr_world
from jaxrec.data.batches import GatheredBatches
from jaxrec.metrics import auc, log_loss
from jaxrec.models import ctr as zoo

__all__ = [
    "CTRBatches",
    "CTRNet",
    "CTRSetup",
    "build",
    "evaluator",
    "field_names",
    "load_splits",
    "make_loss_fn",
    "run",
]


def field_names(table: CTRTable) -> tuple[str, ...]:
    """The F fields a model embeds: the categorical fields, then the sequence fields."""
    return table.fields + tuple(table.sequences)


def _rows(table: CTRTable, lo: int, hi: int) -> CTRTable:
    seqs = {k: (v[lo:hi], size) for k, (v, size) in table.sequences.items()}
    return CTRTable(table.x[lo:hi], table.label[lo:hi], table.fields, table.vocab_sizes, seqs)


def load_splits(cfg: CTRExperiment) -> tuple[dict[str, CTRTable], dict[str, Any]]:
    """``{"train", "valid", "test"} -> CTRTable`` and extras (``oracle_test_auc`` for the
    synthetic world)."""
    d = cfg.data
    if d.source == "synthetic":
        world = synthetic_ctr_world(num_rows=d.synthetic_rows, seed=d.synthetic_seed)
        oracle = float(auc(world.test.label, world.test_logit))
        return {"train": world.train, "valid": world.valid, "test": world.test}, {
            "oracle_test_auc": oracle
        }
    if d.source == "movielens":
        tr, va, te = load_movielens_ctr(d.root)
        return {"train": tr, "valid": va, "test": te}, {}
    root = Path(d.root)
    tr = load_fuxictr_h5(root / d.train)
    if d.valid:
        va = load_fuxictr_h5(root / d.valid)
    else:  # hold out the last rows (the files are chronological)
        cut = len(tr) - int(round(d.holdout_fraction * len(tr)))
        tr, va = _rows(tr, 0, cut), _rows(tr, cut, len(tr))
    return {"train": tr, "valid": va, "test": load_fuxictr_h5(root / d.test)}, {}


def _arrays(table: CTRTable, rows: np.ndarray) -> dict[str, np.ndarray]:
    out = {"x": table.x[rows], "label": table.label[rows]}
    for name, (ids, _) in table.sequences.items():
        out[f"seq_{name}"] = ids[rows]
    return out


class CTRBatches(GatheredBatches):
    """Shuffled, resumable batches ``{"x": int32 [b, K], "label": [b], "mask": bool [b],
    "seq_<name>": int32 [b, L]}`` (a :class:`jaxrec.train.BatchSource`). Every row is seen each
    epoch, as in FuxiCTR: the last batch is padded (``mask`` False) to keep shapes static."""

    def __init__(self, table: CTRTable, batch_size: int, seed: int):
        super().__init__(
            len(table), batch_size, seed,
            lambda part: {**_arrays(table, part["index"]), "mask": part["mask"]},
            drop_remainder=False,
        )  # fmt: skip


def _backbone(m: CTRModelConfig, vocab: Sequence[int], num_seq: int, rngs: nnx.Rngs) -> nnx.Module:
    """The zoo model named by ``m.name`` with the hyperparameters it reads."""
    d = m.embedding_dim
    kw: dict[str, Any] = {
        "lr": {}, "fm": {}, "fwfm": {}, "fmfm": {},
        "deepfm": {"hidden": m.hidden},
        "dcnv2": {"hidden": m.hidden, "num_cross": m.num_cross},
        "autoint": {"hidden": m.hidden, "attention_layers": m.attention_layers,
                    "attention_dim": m.attention_dim, "num_heads": m.num_heads,
                    "use_scale": m.use_scale},
        "finalmlp": {"hidden1": m.hidden, "hidden2": m.hidden2, "gate_hidden": m.gate_hidden,
                     "num_heads": m.num_heads},
        "wukong": {"hidden": m.hidden, "num_layers": m.num_layers, "n_fmb": m.n_fmb,
                   "n_lcb": m.n_lcb, "rank": m.rank, "fmb_hidden": m.fmb_hidden},
    }[m.name]  # fmt: skip
    cls = {
        "lr": zoo.LR, "fm": zoo.FM, "fwfm": zoo.FwFM, "fmfm": zoo.FmFM, "deepfm": zoo.DeepFM,
        "dcnv2": zoo.DCNv2, "autoint": zoo.AutoIntPlus, "finalmlp": zoo.FinalMLP,
        "wukong": zoo.WuKong,
    }[m.name]  # fmt: skip
    return cls(vocab, num_seq, d, rngs=rngs, **kw)


class CTRNet(nnx.Module):
    """A zoo backbone plus, when LLaCTR is on, its :class:`LLaCTRHead`.

    ``__call__(x, seqs, h)`` -> ``(logit [B], e [B, F, D], fre [B])``: the logit includes
    ``lambda_llm * FIE``; ``fre`` is the per-sample KL (zeros without LLaCTR)."""

    def __init__(
        self, cfg: CTRExperiment, vocab: Sequence[int], num_seq: int, llm_dim: int, *, rngs
    ):
        self.backbone = _backbone(cfg.model, vocab, num_seq, rngs)
        lc = cfg.llactr
        self.lambda_llm, self.detach = lc.lambda_llm, lc.fre_detach_target
        self.input_independent = lc.fie_input_independent
        self.head = (
            LLaCTRHead(len(vocab), llm_dim, cfg.model.embedding_dim, rngs=rngs)
            if lc.enabled
            else None
        )

    def __call__(
        self, x: jax.Array, seqs: Sequence[jax.Array], h: jax.Array | None
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        logit, emb = self.backbone(x, seqs)
        if self.head is None:
            return logit, emb, jnp.zeros_like(logit)
        if self.lambda_llm:
            fie = fie_logit(
                emb, self.head.pair_weights(h), input_independent=self.input_independent
            )
            logit = logit + self.lambda_llm * fie
        return logit, emb, fre_kl(emb, self.head.project(h), detach_target=self.detach)


def _seqs(batch: dict[str, jax.Array]) -> list[jax.Array]:
    return [batch[k] for k in sorted(batch) if k.startswith("seq_")]


def make_loss_fn(cfg: CTRExperiment) -> train.LossFn:
    """Masked BCE + embedding L2 + ``lambda_loss`` * FRE (module docstring)."""
    reg, scope = cfg.loss.embedding_regularizer, cfg.loss.regularizer_scope
    lambda_loss = cfg.llactr.lambda_loss

    def loss_fn(model: CTRNet, batch, *, key, context, extra):
        del key, extra
        mask = batch["mask"]
        logit, emb, kl = model(batch["x"], _seqs(batch), context.get("field_emb"))
        bce = log_loss(batch["label"], logit, where=mask)
        if scope == "table":
            tables = model.backbone.embedding
            l2 = 0.5 * reg * (jnp.sum(jnp.square(tables.table[...])) + jnp.sum(
                jnp.square(tables.linear[...])))  # fmt: skip
        else:
            l2 = zoo.l2_embedding(jnp.where(mask[:, None, None], emb, 0.0), reg)
        fre = jnp.sum(jnp.where(mask, kl, 0.0)) / jnp.maximum(jnp.sum(mask), 1)
        loss = bce + l2 + lambda_loss * fre
        return loss, {"bce": bce, "emb_l2": l2, "fre_kl": fre}

    return loss_fn


@functools.partial(jax.jit, static_argnums=0)
def _predict(graphdef: nnx.GraphDef, state: train.TrainState, batch, ctx) -> jax.Array:
    model = nnx.merge(graphdef, state.params, state.model_state)
    return model(batch["x"], _seqs(batch), ctx.get("field_emb"))[0]


@jax.jit
def _metrics(labels: jax.Array, logits: jax.Array) -> dict[str, jax.Array]:
    return {"auc": auc(labels, logits), "logloss": log_loss(labels, logits)}


def evaluator(
    graphdef: nnx.GraphDef,
    table: CTRTable,
    mesh: jax.sharding.Mesh,
    batch_size: int,
    context: dict[str, jax.Array],
) -> Callable[[train.TrainState], dict[str, float]]:
    """``evaluate(state) -> {"auc", "logloss"}`` over ``table``: fixed-size jitted batches
    (the tail padded with copies of the last row, then dropped), AUC / LogLoss (from logits) over
    all rows. Single-host."""
    n = len(table)
    padded = -(-n // batch_size) * batch_size
    rows = np.minimum(np.arange(padded), n - 1)

    def evaluate(state: train.TrainState) -> dict[str, float]:
        logits = []
        for lo in range(0, padded, batch_size):
            host = _arrays(table, rows[lo : lo + batch_size])
            placed = {
                k: jax.device_put(v, train.batch_sharding(mesh, v.ndim)) for k, v in host.items()
            }
            logits.append(_predict(graphdef, state, placed, context))
        scores = np.concatenate(jax.device_get(logits))[:n]
        return {k: float(v) for k, v in _metrics(table.label, scores).items()}

    return evaluate


@dataclasses.dataclass
class CTRSetup:
    """The sharded state, compiled step and data of one run (a :class:`train.ExperimentSetup`)."""

    mesh: jax.sharding.Mesh
    state: train.TrainState
    train_step: Any
    batches: CTRBatches
    context: dict[str, jax.Array]
    graphdef: nnx.GraphDef
    splits: dict[str, CTRTable]
    extras: dict[str, Any]


def _field_embeddings(cfg: CTRExperiment, fields: tuple[str, ...]) -> np.ndarray | None:
    lc = cfg.llactr
    if not lc.enabled:
        return None
    if lc.field_embeddings == "random":
        return random_field_embeddings(len(fields), lc.random_dim, lc.random_seed)
    return load_field_embeddings(lc.field_embeddings, fields)


def build(
    cfg: CTRExperiment,
    splits: tuple[dict[str, CTRTable], dict[str, Any]] | None = None,
    devices: list[jax.Device] | None = None,
) -> CTRSetup:
    """Mesh, model, optimizer (``optax.chain(tx, scale_by_plateau())``), compiled step."""
    tables, extras = splits if splits is not None else load_splits(cfg)
    tr = tables["train"]
    fields = field_names(tr)
    h = _field_embeddings(cfg, fields)
    vocab = tr.vocab_sizes + tuple(size for _, size in tr.sequences.values())
    mesh = train.make_mesh(cfg.mesh, devices)
    batches = CTRBatches(tr, cfg.batch_size, cfg.seed)
    total = cfg.loop.epochs * batches.steps_per_epoch
    tx = optax.chain(train.make_optimizer(cfg.optimizer, total), train.scale_by_plateau())
    llm_dim = 0 if h is None else h.shape[1]
    with train.mesh_context(mesh, cfg.mesh.rules):
        graphdef, state = train.init_train_state(
            lambda rngs: CTRNet(cfg, vocab, len(tr.sequences), llm_dim, rngs=rngs), tx, cfg.seed
        )
        context = {} if h is None else {"field_emb": jax.device_put(h, train.replicated(mesh))}
        step = train.make_train_step(graphdef, tx, make_loss_fn(cfg))
        compiled = train.compile_train_step(step, mesh, state, batches.batch(0, 0), context)
    return CTRSetup(mesh, state, compiled, batches, context, graphdef, tables, extras)


def run(
    cfg: CTRExperiment,
    run_dir: str | Path,
    *,
    resume: bool = True,
    devices: list[jax.Device] | None = None,
    setup: CTRSetup | None = None,
) -> dict[str, Any]:
    """Trains, selects by validation AUC, tests; returns (and writes ``results.json``) the
    summary with ``best_valid`` / ``test`` = ``{"auc", "logloss"}``. ``setup``: a
    :func:`build` result of ``cfg`` to reuse (its state is donated to the first step)."""
    setup = build(cfg, devices=devices) if setup is None else setup
    n_dev = setup.mesh.size
    if cfg.eval_batch_size % n_dev:
        raise ValueError(f"eval_batch_size {cfg.eval_batch_size} is not a multiple of {n_dev}")
    hook = None
    if cfg.plateau_factor < 1.0:
        hook = train.reduce_lr_on_plateau(
            factor=cfg.plateau_factor, min_scale=cfg.min_lr / cfg.optimizer.lr
        )

    def make_eval(split: str):
        return evaluator(
            setup.graphdef, setup.splits[split], setup.mesh, cfg.eval_batch_size, setup.context
        )

    def describe(result: train.FitResult) -> dict[str, Any]:
        return {
            "rows": {k: len(v) for k, v in setup.splits.items()},
            "fields": list(field_names(setup.splits["train"])),
            "final_lr": cfg.optimizer.lr * train.lr_scale(result.state),
            **setup.extras,
        }

    with train.mesh_context(setup.mesh, cfg.mesh.rules):
        return train.fit_experiment(
            cfg, setup, run_dir, evaluate=make_eval("valid"), test=make_eval("test"),
            describe=describe, after_validation=hook, resume=resume,
        )  # fmt: skip
