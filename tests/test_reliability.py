"""Kill-point sweep: a run killed at every checkpoint, at epoch ends, between the best and the
latest save, during a write, and by a real SIGKILL, then resumed, ends bit for bit like an
uninterrupted one (results.json, metrics.jsonl, every checkpoint array); a finished run run
again reproduces it. Also run as a script (``python tests/test_reliability.py RUN_DIR``) by the
SIGKILL case."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
import pytest
from test_train_core import ArrayBatches, TinyRegressor, loss_fn

from jaxrec import train
from jaxrec.train import checkpoint as ckpt_lib

TIMING = {"time_s", "examples_per_s", "seconds_per_epoch", "train_seconds", "epochs_timed"}
STEPS_PER_EPOCH = 4


@dataclasses.dataclass(frozen=True)
class TinyExperiment:
    """The fields fit_experiment needs, plus a few that change the model or the loss."""

    name: str = "tiny"
    seed: int = 5
    batch_size: int = 10
    dim: int = 8  # embedding size: another one changes the checkpoint's shapes
    scale: float = 2.0  # loss target scale: same shapes, other numbers
    lr: float = 0.05
    loop: train.LoopConfig = dataclasses.field(
        default_factory=lambda: train.LoopConfig(
            epochs=3, select_metric="score", progress=False, checkpoint_every_steps=2
        )
    )
    mesh: train.MeshConfig = dataclasses.field(
        default_factory=lambda: train.MeshConfig(data=1, fsdp=1)
    )


_COMPILED: dict = {}


def _setup(cfg: TinyExperiment):
    """The tiny regressor's state, compiled step and a fresh batch source (compiled once per
    shape-relevant config)."""
    key = (cfg.dim, cfg.scale, cfg.lr)
    if key not in _COMPILED:
        mesh = train.make_mesh(cfg.mesh, jax.devices()[:1])
        tx = train.make_optimizer(train.OptimizerConfig(name="adam", lr=cfg.lr), total_steps=12)
        with train.mesh_context(mesh, cfg.mesh.rules):
            graphdef, state = train.init_train_state(
                lambda r: TinyRegressor(rngs=r, dim=cfg.dim), tx, seed=3
            )
            context = {"scale": jax.device_put(jnp.float32(cfg.scale), train.replicated(mesh))}
            step = train.make_train_step(graphdef, tx, loss_fn)
            batch = next(ArrayBatches(40, cfg.batch_size).epoch())
            compiled = train.compile_train_step(step, mesh, state, batch, context)
        _COMPILED[key] = (mesh, state, compiled, context)
    mesh, state, compiled, context = _COMPILED[key]

    @dataclasses.dataclass
    class Setup:
        mesh: jax.sharding.Mesh
        state: train.TrainState
        train_step: object
        batches: ArrayBatches
        context: dict

    fresh = jax.tree.map(lambda x: x.copy(), state)  # the step donates its input state
    return Setup(mesh, fresh, compiled, ArrayBatches(40, cfg.batch_size), context)


def run_tiny(run_dir, cfg: TinyExperiment = TinyExperiment(), resume: bool = True) -> dict:
    """One tiny experiment through fit_experiment (4 steps per epoch)."""
    return train.fit_experiment(
        cfg,
        _setup(cfg),
        run_dir,
        evaluate=lambda s: {"score": -abs(int(s.step) - 8)},  # improves at steps 4, 8, not 12
        test=lambda s: {"test_score": float(jnp.sum(s.params["table"]))},
        describe=lambda result: {"dim": cfg.dim},
        resume=resume,
    )


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


def _read_run(run_dir: Path) -> dict:
    """Everything a run leaves, minus timings: results, log lines, each committed checkpoint."""
    out = {
        "results": _strip(json.loads((run_dir / "results.json").read_text())),
        "metrics": [_strip(json.loads(line)) for line in (run_dir / "metrics.jsonl").open()],
    }
    for kind in ("latest", "best"):
        for step_dir in sorted((run_dir / "ckpt" / kind).iterdir()):
            if not step_dir.name.isdigit():
                continue
            assert ckpt_lib.verify(step_dir) is None, step_dir
            entry = {
                name: ocp.PyTreeCheckpointer().restore(step_dir / name) for name in ("state", "rng")
            }
            for name in ("data", "loop"):
                text = (step_dir / name / "metadata").read_text()
                entry[name] = _strip(json.loads(text)) if text.strip() else None
            out[f"{kind}/{step_dir.name}"] = entry
    return out


def assert_same_run(run_dir: Path, reference: dict) -> None:
    got = _read_run(run_dir)
    assert got.keys() == reference.keys()
    assert got["results"] == reference["results"]
    assert got["metrics"] == reference["metrics"]
    for name in got:
        if "/" in name:
            chex.assert_trees_all_equal(got[name], reference[name])  # bitwise, NaN-safe


class Killed(Exception):
    """Stands in for the process dying at a chosen point."""


def _kill_after(monkeypatch, method: str, step: int, during_write: bool = False) -> None:
    """Makes ``Checkpointer.<method>`` raise :class:`Killed` once ``step`` is saved, or (with
    ``during_write``) instead of saving it, leaving a half-written Orbax temporary folder."""
    original = getattr(train.Checkpointer, method)

    def patched(self, state, *args):
        if int(state.step) == step and during_write:
            manager = self._latest
            partial = manager.directory / f"{step}.orbax-checkpoint-tmp-1234"
            shutil.copytree(manager.directory / str(max(manager.all_steps())), partial)
            (partial / "state" / "manifest.ocdbt").write_bytes(b"")
            raise Killed
        original(self, state, *args)
        if int(state.step) == step:
            raise Killed

    monkeypatch.setattr(train.Checkpointer, method, patched)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reference")
    run_tiny(run_dir)
    return run_dir, _read_run(run_dir)


def test_reference_run_has_the_expected_checkpoints(reference):
    run_dir, ref = reference
    assert ref["results"]["final_step"] == 3 * STEPS_PER_EPOCH
    latest = sorted(int(k.split("/")[1]) for k in ref if k.startswith("latest/"))
    assert latest == [10, 12]  # keep_latest=2
    assert ref["results"]["best_step"] == 8
    assert [k for k in ref if k.startswith("best/")] == ["best/8"]
    assert not (run_dir / ".jaxrec.lock").exists()  # released
    assert [r["split"] for r in ref["metrics"]].count("test") == 1


KILL_POINTS = [
    # every latest save: mid-epoch steps and epoch ends (4, 8, 12)
    *[("save_latest", step, False) for step in (2, 4, 6, 8, 12)],
    # between the best and the latest save of an epoch end
    *[("save_best", step, False) for step in (4, 8)],
    # during the write of a latest checkpoint (a temporary Orbax folder stays behind)
    ("save_latest", 6, True),
    ("save_latest", 8, True),
]


@pytest.mark.parametrize("method,step,during_write", KILL_POINTS)
def test_resume_after_kill_is_bit_exact(
    tmp_path, monkeypatch, reference, method, step, during_write
):
    _, ref = reference
    with monkeypatch.context() as patch:
        _kill_after(patch, method, step, during_write)
        with pytest.raises(Killed):
            run_tiny(tmp_path)
    assert not (tmp_path / "results.json").exists()
    run_tiny(tmp_path)
    assert_same_run(tmp_path, ref)


def test_finished_run_run_again_reproduces_results(tmp_path, reference):
    _, ref = reference
    first = run_tiny(tmp_path)
    results = (tmp_path / "results.json").read_text()
    again = run_tiny(tmp_path)
    assert again == first and (tmp_path / "results.json").read_text() == results
    assert_same_run(tmp_path, ref)  # one test record, same checkpoints


def test_sigkill_while_training_then_resume(tmp_path, reference):
    """A real SIGKILL of a training process (as soon as its step-4 checkpoint is sealed)."""
    _, ref = reference
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": f"{here.parent}{os.pathsep}{here}", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, __file__, str(tmp_path)], env=env)
    sealed = tmp_path / "ckpt" / "latest" / "4" / ckpt_lib.MANIFEST
    deadline = time.monotonic() + 240
    while not sealed.exists():
        assert proc.poll() is None, "training process ended before it could be killed"
        assert time.monotonic() < deadline, "no step-4 checkpoint within 240 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (tmp_path / "results.json").exists()
    assert (tmp_path / ".jaxrec.lock").exists()  # stale: its holder is dead
    run_tiny(tmp_path)
    assert_same_run(tmp_path, ref)


def _slow_training_main(run_dir: str) -> None:
    """The SIGKILL case's victim: the tiny run, pausing after each latest save."""
    original = train.Checkpointer.save_latest

    def slow(self, *args):
        original(self, *args)
        time.sleep(1.0)

    train.Checkpointer.save_latest = slow
    run_tiny(run_dir)


if __name__ == "__main__":
    _slow_training_main(sys.argv[1])
