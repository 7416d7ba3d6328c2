"""One training run of a method's experiment in its run folder: the folder (checked name,
created, locked), ``config.json`` (written before training; a resume must match it), fit under
the mesh, then ``results.json`` (the loop's outcome plus the method's description), written
once, here."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
from etils import epath

from jaxrec import config as config_lib
from jaxrec.train.lock import RunLock
from jaxrec.train.logging import write_json_atomic
from jaxrec.train.loop import BatchSource, FitResult, LoopConfig, fit
from jaxrec.train.mesh import mesh_context
from jaxrec.train.state import TrainState

__all__ = [
    "RESUME_MAY_CHANGE",
    "ConfigMismatchError",
    "ExperimentConfig",
    "ExperimentSetup",
    "RunFolderError",
    "fit_experiment",
    "run_folder",
]

# Config keys a resume may change: they steer logging and NaN handling, not the numbers of a
# run that stays finite. Everything else (loop.epochs too: it sets the LR schedule's length)
# must match the folder's config.json.
RESUME_MAY_CHANGE = ("loop.progress", "loop.log_every_steps", "loop.nan_policy", "loop.tensorboard")


class RunFolderError(OSError):
    """The run folder cannot be used (bad name, not creatable, not writable)."""


class ConfigMismatchError(ValueError):
    """Resuming a run folder whose ``config.json`` differs from the config (keys named)."""


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


def _usable_folder(folder: epath.Path) -> epath.Path:
    """Creates ``folder`` (and parents); raises :class:`RunFolderError` naming it if that fails
    or a local folder is read-only."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunFolderError(f"cannot create run folder {folder}: {err.strerror or err}") from err
    if "://" not in str(folder) and not os.access(os.fspath(folder), os.W_OK | os.X_OK):
        raise RunFolderError(f"run folder {folder} is not writable")
    return folder


def run_folder(out: str | None, name: str) -> epath.Path:
    """The run folder ``out``, else ``runs/<name>``, created and writable.

    Raises:
      RunFolderError: ``name`` is empty, ``.``/``..`` or holds a path separator (it would
        escape ``runs/``), or the folder cannot be created or written (named).
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise RunFolderError(
            f"config name {name!r} is not a plain folder name (no path separator, not '..')"
        )
    return _usable_folder(epath.Path(out) if out else epath.Path("runs") / name)


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted key -> JSON text of the leaf (so NaN equals NaN and tuples equal lists)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = json.dumps(value, sort_keys=True)
    return out


def _check_config(run_dir: epath.Path, config: dict[str, Any]) -> None:
    """Raises :class:`ConfigMismatchError` if ``run_dir/config.json`` differs from ``config``
    outside :data:`RESUME_MAY_CHANGE`."""
    path = run_dir / "config.json"
    if not path.exists():
        return
    try:
        old = _flat(json.loads(path.read_text()))
    except ValueError as err:
        raise ConfigMismatchError(f"{path} is not valid JSON ({err}); use --restart") from err
    new = _flat(json.loads(json.dumps(config, default=float)))
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    keys = [k for k in keys if k not in RESUME_MAY_CHANGE]
    if keys:
        shown = ", ".join(
            f"{k}: {old.get(k, '<absent>')} -> {new.get(k, '<absent>')}" for k in keys
        )
        raise ConfigMismatchError(
            f"{run_dir} holds a run of another config ({shown}); use another --out, "
            "or --restart to replace it"
        )


def fit_experiment(
    cfg: ExperimentConfig,
    setup: ExperimentSetup,
    run_dir: str | os.PathLike,
    *,
    evaluate: Callable[[TrainState], dict[str, float]],
    test: Callable[[TrainState], dict[str, float]],
    describe: Callable[[FitResult], Mapping[str, Any]],
    refresh: Callable[[TrainState], TrainState] | None = None,
    refresh_every_steps: int = 0,
    after_validation: Callable[[TrainState, dict[str, float], bool], TrainState] | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Trains ``setup`` with :func:`jaxrec.train.fit` in ``run_dir`` and returns the summary
    ``{"name", **describe(result), **result.summary()}``, also written to ``results.json``.

    The lead process holds the folder's :class:`~jaxrec.train.lock.RunLock` throughout and
    writes ``config.json`` before training (``refresh`` / ``refresh_every_steps`` /
    ``after_validation``: as for
    :func:`jaxrec.train.fit`); with ``resume`` an existing ``config.json`` must
    match ``cfg`` (every process checks, so all fail together), ``resume=False`` replaces it.

    Raises:
      RunFolderError, RunFolderLocked: the folder is unusable or another run holds it.
      ConfigMismatchError: resuming a folder of another config (differing keys named).
    """
    run_dir = _usable_folder(epath.Path(run_dir))
    lead = jax.process_index() == 0
    config = config_lib.to_dict(cfg)
    with RunLock(run_dir) if lead else contextlib.nullcontext():
        if resume:
            _check_config(run_dir, config)
        if lead:
            write_json_atomic(run_dir / "config.json", config)
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
                refresh=refresh,
                refresh_every_steps=refresh_every_steps,
                after_validation=after_validation,
                resume=resume,
                examples_per_step=cfg.batch_size,
            )
        summary = {"name": cfg.name, **describe(result), **result.summary()}
        if lead:
            write_json_atomic(run_dir / "results.json", summary)
    return summary
