"""Damaged and foreign run folders: checksummed checkpoints with fallback, config mismatch,
non-finite training, the run-folder lock and run-folder names/paths."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_reliability import TinyExperiment, assert_same_run, run_tiny

from jaxrec import cli, train


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run (latest 10 and 12, best 8) and its contents."""
    from test_reliability import _read_run

    run_dir = tmp_path_factory.mktemp("finished")
    run_tiny(run_dir)
    return run_dir, _read_run(run_dir)


@pytest.fixture
def copy(finished, tmp_path):
    shutil.copytree(finished[0], tmp_path / "run")
    return tmp_path / "run"


def _param_file(step_dir: Path) -> Path:
    """The largest file of the state item (the parameter and optimizer arrays)."""
    return max((p for p in (step_dir / "state").rglob("*") if p.is_file()), key=os.path.getsize)


def _truncate(step_dir: Path) -> Path:
    path = _param_file(step_dir)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _flip64(step_dir: Path) -> Path:
    path = _param_file(step_dir)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    return path


def _drop_manifest(step_dir: Path) -> Path:
    path = step_dir / "state" / "manifest.ocdbt"
    path.unlink()
    return path


def _truncate_loop(step_dir: Path) -> Path:
    path = step_dir / "loop" / "metadata"
    path.write_text(path.read_text()[:10])
    return path


DAMAGES = [_truncate, _flip64, _drop_manifest, _truncate_loop]


@pytest.mark.parametrize("damage", [_truncate, _flip64])
def test_damaged_latest_falls_back_to_the_older_one(copy, finished, damage, caplog):
    damage(copy / "ckpt" / "latest" / "12")
    with caplog.at_level(logging.WARNING):
        run_tiny(copy)
    assert "skipping damaged checkpoint step 12" in caplog.text
    assert_same_run(copy, finished[1])  # retrained 11..12 from step 10, bit for bit


@pytest.mark.parametrize("damage", DAMAGES)
def test_no_intact_checkpoint_names_the_file(copy, damage):
    paths = [damage(copy / "ckpt" / "latest" / step) for step in ("10", "12")]
    with pytest.raises(train.CheckpointError) as err:
        run_tiny(copy)
    assert all(str(p) in str(err.value) for p in paths), err.value
    assert "\n" not in str(err.value)


def test_damaged_best_checkpoint_is_refused(copy):
    path = _flip64(copy / "ckpt" / "best" / "8")
    with pytest.raises(train.CheckpointError, match=str(path)):
        run_tiny(copy)


def _refused(run_dir: Path, cfg: TinyExperiment) -> None:
    """fit_experiment on ``cfg``; the check runs before the setup is touched (none needed)."""
    train.fit_experiment(cfg, None, run_dir, evaluate=None, test=None, describe=None)


def test_resume_with_another_config_is_refused_naming_the_keys(copy, finished):
    before = (copy / "config.json").read_text()
    with pytest.raises(train.ConfigMismatchError, match=r"scale: 2\.0 -> 3\.0, seed: 5 -> 6\)"):
        _refused(copy, TinyExperiment(scale=3.0, seed=6))  # same shapes, other numbers
    with pytest.raises(train.ConfigMismatchError, match=r"\(dim: 8 -> 16\)"):
        _refused(copy, TinyExperiment(dim=16))  # other shapes
    assert (copy / "config.json").read_text() == before
    quiet = dataclasses.replace(TinyExperiment().loop, log_every_steps=7)
    run_tiny(copy, TinyExperiment(loop=quiet))  # logging keys may change
    assert_same_run(copy, finished[1])
    run_tiny(copy, TinyExperiment(seed=6), resume=False)  # --restart replaces the run
    assert json.loads((copy / "config.json").read_text())["seed"] == 6


def test_nan_loss_stops_naming_the_step(tmp_path):
    with pytest.raises(train.NonFiniteError, match="loss is nan at step 2"):
        run_tiny(tmp_path, TinyExperiment(lr=float("nan")))  # step 1 makes the params NaN
    assert not (tmp_path / "results.json").exists()
    assert not (tmp_path / "ckpt" / "latest" / "2").exists()  # nothing non-finite is saved


def test_nan_ignored_then_refused_on_resume(tmp_path):
    loop = dataclasses.replace(TinyExperiment().loop, nan_policy="ignore")
    summary = run_tiny(tmp_path, TinyExperiment(lr=float("nan"), loop=loop))
    assert summary["final_step"] == 12
    with pytest.raises(train.NonFiniteError, match="not finite at step 12 .in the resumed"):
        run_tiny(tmp_path, TinyExperiment(lr=float("nan")))  # nan_policy back to "raise"


def test_a_live_lock_holder_is_named_and_a_dead_one_replaced(tmp_path):
    lock = tmp_path / train.lock.LOCK_NAME
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    with pytest.raises(train.RunFolderLocked, match=f"pid {os.getppid()} on"):
        run_tiny(tmp_path)
    assert not (tmp_path / "config.json").exists()
    (tmp_path / "other").mkdir()
    with (
        train.RunLock(tmp_path / "other") as held,  # one holder at a time, released on exit
        pytest.raises(train.RunFolderLocked),
    ):
        train.RunLock(tmp_path / "other").acquire()
    assert not held.path.exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    assert run_tiny(tmp_path)["final_step"] == 12
    assert not lock.exists()


def test_run_folder_rejects_escaping_names_and_unusable_paths(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert os.fspath(train.run_folder(None, "tiny")) == "runs/tiny" and Path("runs/tiny").is_dir()
    for name in ("../../x", "a/b", "..", ""):
        with pytest.raises(train.RunFolderError, match="not a plain folder name"):
            train.run_folder(None, name)
    (tmp_path / "file").write_text("")
    with pytest.raises(train.RunFolderError, match=str(tmp_path / "file" / "run")):
        train.run_folder(str(tmp_path / "file" / "run"), "tiny")
    with pytest.raises(train.RunFolderError, match="/proc/jaxrec-run"):
        train.run_folder("/proc/jaxrec-run", "tiny")  # a read-only mount
    assert cli.main(["run", "--set", "name=../../x"]) == 2
    assert cli.main(["run", "--out", str(tmp_path / "file" / "run")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "'../../x'" in err[0] and str(tmp_path / "file") in err[1]


def test_loop_state_json_round_trip_rejects_unknown_keys():
    state = train.LoopState(epoch=2, best=0.5, best_step=8, epoch_sums={"loss": 1.0})
    assert train.LoopState.from_json(json.loads(json.dumps(state.to_json()))) == state
    with pytest.raises(ValueError, match=r"unknown \['bogus'\]"):
        train.LoopState.from_json({**state.to_json(), "bogus": 1})
