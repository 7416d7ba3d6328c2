"""A collaborative-filtering run end to end: data -> model -> sharded training -> evaluation.

``run(cfg, run_dir)`` is what ``jaxrec run`` calls for ``method="psl"`` configs.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from jaxrec import data as data_lib
from jaxrec import train
from jaxrec.cf.config import CFExperiment
from jaxrec.cf.objective import make_loss_fn, score_setup
from jaxrec.metrics import evaluate_full_ranking
from jaxrec.models import MF, CFModelConfig, LightGCN, build_bipartite_graph, full_scores

__all__ = ["CFSetup", "build", "evaluators", "load_dataset", "run"]


def load_dataset(cfg: CFExperiment) -> data_lib.CFDataset:
    """The configured dataset, with the per-user validation split carved from train."""
    d = cfg.data
    if d.source == "synthetic":
        dataset = data_lib.synthetic_interactions(
            num_users=d.synthetic_users,
            num_items=d.synthetic_items,
            dim=d.synthetic_dim,
            interactions_per_user=d.synthetic_per_user,
            seed=d.split_seed,
        ).dataset
    elif d.source == "ir_benchmark":
        dataset = data_lib.load_ir_benchmark(d.path)
    elif d.source == "tfds":
        train_split, test_split = (
            data_lib.Interactions(
                *data_lib.tfds_interactions(d.tfds_name, data_dir=d.path, split=split)
            )
            for split in ("train", "test")
        )
        dataset = data_lib.CFDataset(
            name=d.tfds_name,
            num_users=int(max(train_split.users.max(), test_split.users.max())) + 1,
            num_items=int(max(train_split.items.max(), test_split.items.max())) + 1,
            train=train_split,
            valid=None,
            test=test_split,
        )
    else:
        dataset = data_lib.load_lightgcn(d.path)
    if d.valid_fraction > 0:
        dataset = data_lib.split_validation(dataset, fraction=d.valid_fraction, seed=d.split_seed)
    return dataset


def _model_fn(cfg: CFExperiment, dataset: data_lib.CFDataset):
    model_cfg = CFModelConfig(
        num_users=dataset.num_users,
        num_items=dataset.num_items,
        dim=cfg.model.dim,
        init_std=cfg.model.init_std,
        num_layers=cfg.model.num_layers,
    )
    cls = MF if cfg.model.backbone == "mf" else LightGCN
    return lambda rngs: cls(model_cfg, rngs=rngs)


def _union(*parts: data_lib.Interactions) -> data_lib.Interactions:
    return data_lib.Interactions(
        np.concatenate([p.users for p in parts]), np.concatenate([p.items for p in parts])
    )


def _batches(cfg: CFExperiment, dataset: data_lib.CFDataset) -> train.BatchSource:
    """In-memory shuffled batches, or for "tfds" the grain stream (each process its shard)."""
    if cfg.data.source != "tfds":
        return data_lib.InteractionBatches(
            dataset.train.users,
            dataset.train.items,
            cfg.batch_size,
            seed=cfg.seed,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )
    stream = data_lib.tfds_interaction_dataset(
        cfg.data.tfds_name,
        data_dir=cfg.data.path,
        split="train",
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        num_epochs=None,
    )
    local = cfg.batch_size // jax.process_count()
    return data_lib.GrainBatches(stream, len(dataset.train.users) // jax.process_count() // local)


@dataclasses.dataclass
class CFSetup:
    """Everything a CF run (or a benchmark) needs, built under the mesh."""

    cfg: CFExperiment
    dataset: data_lib.CFDataset
    mesh: jax.sharding.Mesh
    state: train.TrainState
    train_step: Any
    batches: train.BatchSource
    context: dict[str, Any]
    evaluate_valid: Any
    evaluate_test: Any


def build(
    cfg: CFExperiment,
    dataset: data_lib.CFDataset | None = None,
    devices: list[jax.Device] | None = None,
) -> CFSetup:
    """Loads data (unless given), initialises the sharded state and compiles the step on a mesh
    over ``devices`` (default: all).

    Call the returned step and evaluators inside ``train.mesh_context(setup.mesh, cfg.mesh.rules)``.
    """
    dataset = load_dataset(cfg) if dataset is None else dataset
    mesh = train.make_mesh(cfg.mesh, devices)
    batches = _batches(cfg, dataset)
    total_steps = cfg.loop.epochs * batches.steps_per_epoch
    tx = train.make_optimizer(cfg.optimizer, total_steps)
    cosine, _ = score_setup(cfg.loss)

    with train.mesh_context(mesh, cfg.mesh.rules):
        graphdef, state = train.init_train_state(_model_fn(cfg, dataset), tx, seed=cfg.seed)
        put = functools.partial(jax.device_put, device=train.replicated(mesh))
        indptr, indices = data_lib.csr(dataset.train, dataset.num_users)
        max_degree = int(np.diff(indptr).max())
        context: dict[str, Any] = {
            "pos_indptr": put(indptr.astype(np.int32)),
            "pos_indices": put(indices),
        }
        if cfg.model.backbone == "lightgcn":
            context["graph"] = jax.tree.map(
                put,
                build_bipartite_graph(
                    dataset.train.users, dataset.train.items, dataset.num_users, dataset.num_items
                ),
            )
        step = train.make_train_step(
            graphdef,
            tx,
            make_loss_fn(cfg.loss, dataset.num_items, cfg.model.dim, max_degree),
            schedule=train.make_schedule(cfg.optimizer, total_steps),
        )
        example = batches.batch(0, 0)
        compiled = train.compile_train_step(step, mesh, state, example, context)

    @jax.jit
    def embed(state: train.TrainState, graph: Any):
        model = nnx.merge(graphdef, state.params, state.model_state)
        return model.embed(graph)

    @jax.jit
    def scores(user_emb: jax.Array, item_emb: jax.Array, user_ids: jax.Array) -> jax.Array:
        return full_scores(user_emb[user_ids], item_emb, kind="cosine" if cosine else "dot")

    def evaluator(target: data_lib.Interactions | None, exclude: data_lib.Interactions):
        if target is None or len(target.users) == 0:
            return None
        test_csr = data_lib.csr(target, dataset.num_users)
        exclude_csr = data_lib.csr(exclude, dataset.num_users)
        users = np.flatnonzero(np.diff(test_csr[0]) > 0).astype(np.int32)

        def evaluate(state: train.TrainState) -> dict[str, float]:
            user_emb, item_emb = embed(state, context.get("graph"))
            return evaluate_full_ranking(
                functools.partial(scores, user_emb, item_emb),
                users,
                exclude_csr,
                test_csr,
                dataset.num_items,
                ks=cfg.eval.ks,
                batch_size=cfg.eval.batch_size,
            )

        return evaluate

    has_valid = dataset.valid is not None and len(dataset.valid.users) > 0
    test_exclude = (
        _union(dataset.train, dataset.valid)
        if (has_valid and cfg.eval.mask_valid_items_at_test)
        else dataset.train
    )
    return CFSetup(
        cfg,
        dataset,
        mesh,
        state,
        compiled,
        batches,
        context,
        evaluator(dataset.valid, dataset.train),
        evaluator(dataset.test, test_exclude),
    )


def evaluators(setup: CFSetup) -> dict[str, Any]:
    """``{"valid", "test"}`` -> ``evaluate(state) -> metrics`` as :func:`run` uses them (None
    for a split the dataset lacks); ``jaxrec eval`` re-evaluates a checkpoint with them."""
    return {"valid": setup.evaluate_valid, "test": setup.evaluate_test}


def run(cfg: CFExperiment, run_dir: str | Path, *, resume: bool = True) -> dict[str, Any]:
    """Trains and evaluates ``cfg`` in ``run_dir``; returns the results dict (also results.json)."""
    setup = build(cfg)
    dataset = setup.dataset

    def describe(result: train.FitResult) -> dict[str, Any]:
        del result
        return {
            "dataset": {
                "source": cfg.data.source,
                "path": cfg.data.path,
                "users": dataset.num_users,
                "items": dataset.num_items,
                "train": len(dataset.train.users),
                "valid": 0 if dataset.valid is None else len(dataset.valid.users),
                "test": len(dataset.test.users),
            },
        }

    split_evaluators = evaluators(setup)
    return train.fit_experiment(
        cfg,
        setup,
        run_dir,
        evaluate=split_evaluators["valid"],
        test=split_evaluators["test"],
        describe=describe,
        resume=resume,
    )
