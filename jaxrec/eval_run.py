"""Re-evaluation of a run from its folder: ``jaxrec eval RUN_DIR [--checkpoint best|latest]
[--split test|valid]``.

The folder's ``config.json`` names the method (``"psl"``: collaborative filtering, ``"msl"``: LLM
recommendation); the method's setup is rebuilt from it (the same data, model and evaluators as
training), the chosen Orbax checkpoint is restored into it and the split is evaluated with the
method's own evaluators, so ``--checkpoint best --split test`` reproduces ``results.json``'s
``test`` exactly. Nothing is written into the run folder. GSL runs (``"gsl"``) keep no Orbax
checkpoints and cannot be re-evaluated.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from collections.abc import Sequence
from typing import Any

import jax
from etils import epath

from jaxrec import config as config_lib
from jaxrec.train.checkpoint import Checkpointer
from jaxrec.train.mesh import mesh_context

__all__ = ["CONFIG_CLASSES", "RunEvaluation", "evaluate_run", "load_run_config"]

# method -> (config module, experiment config class, runner module with build/evaluators).
CONFIG_CLASSES = {
    "psl": ("jaxrec.cf.config", "CFExperiment", "jaxrec.cf.experiment"),
    "msl": ("jaxrec.llmrec.config", "MSLExperiment", "jaxrec.llmrec.experiment"),
}


@dataclasses.dataclass(frozen=True)
class RunEvaluation:
    """Metrics of one split for one checkpoint of a run."""

    name: str
    checkpoint: str
    step: int
    split: str
    metrics: dict[str, float]

    def table(self) -> str:
        """The metrics as a two-column text table under a title line."""
        width = max((len(k) for k in self.metrics), default=6) + 2
        title = f"{self.name}: {self.split} metrics of the {self.checkpoint} checkpoint"
        lines = [f"{title} (step {self.step})", f"{'metric':<{width}}{self.split:>10}"]
        lines += [f"{k:<{width}}{v:>10.4f}" for k, v in sorted(self.metrics.items())]
        return "\n".join(lines)


def load_run_config(run_dir: str | os.PathLike) -> Any:
    """The experiment config saved in ``run_dir/config.json``, as its method's config class."""
    run_dir = epath.Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    path = run_dir / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {run_dir} holds no run config")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    method = data.get("method") if isinstance(data, dict) else None
    if method == "gsl":
        raise ValueError(
            f"{path}: method 'gsl' runs keep no Orbax checkpoints, so they cannot be re-evaluated"
        )
    if method not in CONFIG_CLASSES:
        raise ValueError(f"{path}: field 'method' is {method!r}; known: {sorted(CONFIG_CLASSES)}")
    module, cls, _ = CONFIG_CLASSES[method]
    try:
        return config_lib.from_dict(getattr(importlib.import_module(module), cls), data)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a valid {cls} config: {err}") from err


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    checkpoint: str = "best",
    split: str = "test",
    overrides: Sequence[str] = (),
) -> RunEvaluation:
    """Evaluates ``split`` ("test" or "valid") of the run in ``run_dir`` at its ``checkpoint``
    ("best": by ``cfg.loop.select_metric``; "latest": the newest, e.g. of a killed run).

    ``overrides`` (``"key=value"``, as ``jaxrec run --set``) change the saved config before the
    setup is rebuilt, e.g. ``mesh.data=1`` on a machine with fewer devices or a moved
    ``data.path``; they must not change the parameters' shapes.
    """
    if checkpoint not in ("best", "latest"):
        raise ValueError(f"checkpoint must be 'best' or 'latest', got {checkpoint!r}")
    if split not in ("test", "valid"):
        raise ValueError(f"split must be 'test' or 'valid', got {split!r}")
    run_dir = epath.Path(run_dir)
    cfg = config_lib.override(load_run_config(run_dir), overrides)
    if not (run_dir / "ckpt" / checkpoint).is_dir():
        raise FileNotFoundError(f"{run_dir / 'ckpt' / checkpoint} does not exist: no checkpoint")
    runner = importlib.import_module(CONFIG_CLASSES[cfg.method][2])
    setup = runner.build(cfg)
    evaluate = runner.evaluators(setup)[split]
    if evaluate is None:
        raise ValueError(f"run {run_dir} has no {split} split to evaluate (see its config.json)")
    rng = jax.random.key_data(jax.random.key(cfg.seed))
    with mesh_context(setup.mesh, cfg.mesh.rules):
        with Checkpointer(
            os.fspath(run_dir), metric=cfg.loop.select_metric, mode=cfg.loop.select_mode
        ) as ckpt:
            restore = ckpt.restore_best if checkpoint == "best" else ckpt.restore_latest
            restored = restore(setup.state, rng)
        if restored is None:
            raise FileNotFoundError(f"{run_dir / 'ckpt' / checkpoint} holds no checkpoint")
        metrics = evaluate(restored.state)
    return RunEvaluation(cfg.name, checkpoint, int(restored.state.step), split, metrics)
