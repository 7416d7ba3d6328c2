"""Multi-host path on one machine: two processes x 2 CPU devices (gloo collectives over
loopback) run `jaxrec run --distributed`, each feeding its slice of every global batch, and end
with the same metrics as one process on 4 devices."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

OVERRIDES = [
    "data.synthetic_users=120",
    "data.synthetic_items=90",
    "data.synthetic_per_user=10",
    "model.dim=8",
    "batch_size=64",
    "loss.num_negatives=16",
    "loop.epochs=2",
    "loop.eval_every=1",
    "loop.progress=false",
    "mesh.data=2",
    "mesh.fsdp=2",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(out: Path, *extra: str) -> list[str]:
    sets = [arg for o in OVERRIDES for arg in ("--set", o)]
    return [sys.executable, "-m", "jaxrec.cli", "run", "--out", str(out), *sets, *extra]


def _env(devices: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_", "JAX_"))}
    root = str(Path(__file__).resolve().parents[1])
    env.update(
        JAX_NUM_CPU_DEVICES=str(devices),
        JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
        PYTHONUNBUFFERED="1",
        PYTHONFAULTHANDLER="1",
        PYTHONPATH=os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")])),
    )
    return env


def test_two_processes_match_one_process(tmp_path):
    port = _free_port()
    logs = [(tmp_path / f"process{i}.log").open("w") for i in range(2)]
    procs = [
        subprocess.Popen(
            _command(
                tmp_path / "multi",
                "--distributed",
                "--coordinator",
                f"127.0.0.1:{port}",
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ),
            env=_env(2),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, log in enumerate(logs)
    ]
    try:
        codes = [p.wait(timeout=420) for p in procs]
    finally:
        for p in procs:
            p.kill()
        for log in logs:
            log.close()
    for i, code in enumerate(codes):
        assert code == 0, (tmp_path / f"process{i}.log").read_text()[-3000:]
    single = subprocess.run(
        _command(tmp_path / "single"), env=_env(4), capture_output=True, text=True, timeout=420
    )
    assert single.returncode == 0, single.stderr[-3000:]
    multi = json.loads((tmp_path / "multi" / "results.json").read_text())
    one = json.loads((tmp_path / "single" / "results.json").read_text())
    assert multi["final_step"] == one["final_step"] > 0
    assert multi["test"].keys() == one["test"].keys()
    for name, value in one["test"].items():
        assert multi["test"][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
