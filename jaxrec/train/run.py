"""One training run of a method's experiment: fit under the mesh, then the run folder's
``results.json`` (the loop's outcome plus the method's description) and ``config.json``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import jax

from jaxrec import config as config_lib
from jaxrec.train.logging import write_json_atomic
from jaxrec.train.loop import BatchSource, FitResult, LoopConfig, fit
from jaxrec.train.mesh import mesh_context
from jaxrec.train.state import TrainState

__all__ = ["ExperimentConfig", "ExperimentSetup", "fit_experiment"]


class ExperimentConfig(Protocol):
    """The fields of a method's experiment config that a run needs."""

    name: str
    seed: int
    batch_size: int
    loop: LoopConfig
    mesh: Any  # MeshConfig: its ``rules`` map logical axes to mesh axes


class ExperimentSetup(Protocol):
    """What a method's ``build`` returns: the sharded state, compiled step and data source."""

    mesh: jax.sharding.Mesh
    state: TrainState
    train_step: Callable
    batches: BatchSource
    context: Any


def fit_experiment(
    cfg: ExperimentConfig,
    setup: ExperimentSetup,
    run_dir: str | Path,
    *,
    evaluate: Callable[[TrainState], dict[str, float]],
    test: Callable[[TrainState], dict[str, float]],
    describe: Callable[[FitResult], Mapping[str, Any]],
    resume: bool = True,
) -> dict[str, Any]:
    """Trains ``setup`` with :func:`jaxrec.train.fit` and writes the summary ``{"name", **describe
    (result), best_valid, best_step, test, seconds_per_epoch, stopped_early, final_step}`` to
    ``run_dir/results.json`` (replacing the loop's own) and the config to ``config.json``."""
    run_dir = Path(run_dir)
    with mesh_context(setup.mesh, cfg.mesh.rules):
        result = fit(
            run_dir=run_dir,
            cfg=cfg.loop,
            mesh=setup.mesh,
            state=setup.state,
            train_step=setup.train_step,
            batches=setup.batches,
            context=setup.context,
            seed=cfg.seed,
            evaluate=evaluate,
            test=test,
            resume=resume,
            examples_per_step=cfg.batch_size,
        )
    summary = {
        "name": cfg.name,
        **describe(result),
        "best_valid": result.best_valid,
        "best_step": result.best_step,
        "test": result.test,
        "seconds_per_epoch": result.seconds_per_epoch,
        "stopped_early": result.stopped_early,
        "final_step": int(result.state.step),
    }
    if jax.process_index() == 0:
        write_json_atomic(run_dir / "results.json", summary)
        write_json_atomic(run_dir / "config.json", config_lib.to_dict(cfg))
    return summary
