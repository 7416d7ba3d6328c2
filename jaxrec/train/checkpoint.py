"""Checkpoints through one module (Orbax ``CheckpointManager``, V0 API with ``args=``).

A checkpoint holds the :class:`TrainState` (params, optimizer state, step, adaptive-schedule state),
the run's RNG key data, the data-iterator position and the loop's bookkeeping (best metric,
patience). Two managers live under the run folder: ``ckpt/latest`` (resume) and ``ckpt/best``
(keep-best by a named validation metric). Orbax writes to a temporary folder and renames it when
complete, so a killed run never leaves a half-written checkpoint that restore would pick up.

Integrity: after Orbax commits a step, the lead process seals it with ``jaxrec_sha256.json``, the
sha256 of every file in the step folder. Restore trusts only a sealed step whose files all match;
``restore_latest`` skips damaged or unsealed steps with a warning naming them and falls back to
the newest intact one (hence ``keep_latest >= 2``), and raises :class:`CheckpointError` naming
the file when none is usable. Paths go through ``etils.epath`` (local folders are tested; a
``gs://`` folder only needs Orbax's own support plus the file reads done here).

Saves are synchronous: with several processes, orbax's background finalisation can interleave
its cross-process synchronisation with the training step's collectives differently on each
process, which we saw hang 2-process CPU runs at shutdown; the checkpoints here are small next to
an epoch, so blocking costs little.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Any, Self

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from jaxrec.train.state import TrainState

__all__ = ["MANIFEST", "Checkpoint", "CheckpointError", "Checkpointer"]

MANIFEST = "jaxrec_sha256.json"
_log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """No usable checkpoint: the message names the step folder and the damaged file."""


@dataclasses.dataclass
class Checkpoint:
    """A restored checkpoint: state (placed with the target's shardings) and JSON metadata."""

    state: TrainState
    rng: jax.Array
    data: dict[str, Any]
    loop: dict[str, Any]


def _abstract(tree: Any) -> Any:
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def _files(folder: epath.Path, prefix: str = "") -> dict[str, epath.Path]:
    """Every file below ``folder`` by its relative path (``epath`` has no recursive glob)."""
    out = {}
    for child in sorted(folder.iterdir()):
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            out.update(_files(child, rel + "/"))
        elif rel != MANIFEST:
            out[rel] = child
    return out


def _sha256(path: epath.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def seal(step_dir: epath.Path) -> None:
    """Writes the step folder's sha256 manifest (temporary file, then rename)."""
    manifest = {rel: _sha256(path) for rel, path in _files(step_dir).items()}
    tmp = step_dir / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    tmp.rename(step_dir / MANIFEST)


def verify(step_dir: epath.Path) -> str | None:
    """None if ``step_dir`` is sealed and every file matches its manifest, else what is wrong
    (naming the file)."""
    manifest_path = step_dir / MANIFEST
    if not manifest_path.exists():
        return f"{manifest_path} is missing (checkpoint never sealed)"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError):
        return f"{manifest_path} is not valid JSON"
    present = _files(step_dir)
    for rel, expected in sorted(manifest.items()):
        if rel not in present:
            return f"{step_dir / rel} is missing"
        if _sha256(present[rel]) != expected:
            return f"{step_dir / rel} fails its sha256 check (damaged)"
    extra = sorted(set(present) - set(manifest))
    if extra:
        return f"{step_dir / extra[0]} is not in the manifest"
    return None


def _agree(step: int | None) -> int | None:
    """Process 0's choice of step, on every process."""
    if jax.process_count() == 1:
        return step
    chosen = int(multihost_utils.broadcast_one_to_all(np.int32(-1 if step is None else step)))
    return None if chosen < 0 else chosen


class Checkpointer:
    """Latest + best checkpoint managers for one run folder.

    Args:
      directory: the run folder; checkpoints go to ``directory/ckpt/{latest,best}``.
      metric: name of the validation metric that defines "best".
      mode: "max" or "min" for ``metric``.
      keep_latest: how many latest checkpoints to keep (>= 2, so a damaged newest one has an
        intact predecessor to fall back to).
    """

    def __init__(
        self, directory: str | os.PathLike, *, metric: str, mode: str = "max", keep_latest: int = 2
    ):
        if mode not in ("max", "min"):
            raise ValueError(f"checkpoint mode must be 'max' or 'min', got {mode=}")
        if keep_latest < 2:
            raise ValueError(f"keep_latest must be >= 2 (fall back on damage), got {keep_latest}")
        root = epath.Path(directory).absolute() / "ckpt"
        self.metric = metric
        self._lead = jax.process_index() == 0
        self._latest = ocp.CheckpointManager(
            root / "latest",
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep_latest, create=True, enable_async_checkpointing=False
            ),
        )
        self._best = ocp.CheckpointManager(
            root / "best",
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1,
                create=True,
                best_fn=lambda m: float(m[metric]),
                best_mode=mode,
                enable_async_checkpointing=False,
            ),
        )

    @staticmethod
    def _args(state: TrainState, rng: jax.Array, data: dict, loop: dict) -> ocp.args.Composite:
        return ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            rng=ocp.args.StandardSave({"key": rng}),
            data=ocp.args.JsonSave(data),
            loop=ocp.args.JsonSave(loop),
        )

    def _save(self, manager: ocp.CheckpointManager, step: int, args: Any, **kw: Any) -> None:
        """Saves ``step`` (replacing an existing one) and seals it before anyone reads it."""
        if step in manager.all_steps():
            manager.delete(step)
        manager.save(step, args=args, force=True, **kw)
        if self._lead:
            seal(manager.directory / str(step))
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices(f"jaxrec-ckpt-sealed-{step}")

    def save_latest(self, state: TrainState, rng: jax.Array, data: dict, loop: dict) -> None:
        self._save(self._latest, int(state.step), self._args(state, rng, data, loop))

    def save_best(self, state: TrainState, rng: jax.Array, metrics: dict[str, float]) -> None:
        if self.metric not in metrics:
            raise KeyError(f"best-checkpoint metric {self.metric!r} not in {sorted(metrics)}")
        self._save(
            self._best, int(state.step), self._args(state, rng, {}, {}), metrics=dict(metrics)
        )

    def _restore(
        self, manager: ocp.CheckpointManager, step: int, target: TrainState, rng: jax.Array
    ) -> Checkpoint:
        try:
            restored = manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_abstract(target)),
                    rng=ocp.args.StandardRestore(_abstract({"key": rng})),
                    data=ocp.args.JsonRestore(),
                    loop=ocp.args.JsonRestore(),
                ),
            )
        except Exception as err:  # an intact checkpoint of another model: name it in one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise CheckpointError(
                f"cannot restore {manager.directory / str(step)} into this model: "
                f"{type(err).__name__}: {first}"
            ) from err
        return Checkpoint(
            restored.state, restored.rng["key"], restored.data or {}, restored.loop or {}
        )

    def _usable(self, manager: ocp.CheckpointManager, steps: list[int]) -> int | None:
        """The newest intact step of ``steps``; warns about each skipped one, raises if all are
        damaged."""
        problems = []
        chosen = None
        if self._lead:
            for step in sorted(steps, reverse=True):
                problem = verify(manager.directory / str(step))
                if problem is None:
                    chosen = step
                    break
                problems.append(problem)
                _log.warning("skipping damaged checkpoint step %d: %s", step, problem)
        chosen = _agree(chosen)
        if chosen is None and steps:
            detail = "; ".join(problems) or "damaged (see process 0's log)"
            raise CheckpointError(f"no usable checkpoint in {manager.directory}: {detail}")
        return chosen

    def restore_latest(self, target: TrainState, rng: jax.Array) -> Checkpoint | None:
        """The newest intact checkpoint restored into ``target``'s shapes and shardings (None in
        an empty folder)."""
        step = self._usable(self._latest, list(self._latest.all_steps()))
        return None if step is None else self._restore(self._latest, step, target, rng)

    def restore_best(self, target: TrainState, rng: jax.Array) -> Checkpoint | None:
        """The best checkpoint, verified (raises :class:`CheckpointError` if it is damaged)."""
        step = self._best.best_step()
        step = None if step is None else self._usable(self._best, [step])
        return None if step is None else self._restore(self._best, step, target, rng)

    def rollback(self, step: int) -> None:
        """Deletes the latest checkpoints newer than ``step`` (damaged ones skipped on resume)
        and the temporary folders of interrupted saves (Orbax's garbage collection would later
        delete such a folder in place of the committed step of the same number).

        Best checkpoints stay: a resumed run re-saves the same ones, replacing them, so a kill
        between a best and a latest save never blocks a resume.
        """
        for newer in [s for s in self._latest.all_steps() if s > step]:
            self._latest.delete(newer)
        if self._lead:
            for manager in (self._latest, self._best):
                for partial in manager.directory.glob("*.orbax-checkpoint-tmp-*"):
                    partial.rmtree()
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("jaxrec-ckpt-rollback")

    def wait(self) -> None:
        self._latest.wait_until_finished()
        self._best.wait_until_finished()

    def close(self) -> None:
        self._latest.close()
        self._best.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
