"""benchmarks/accelerator_protocols.py cannot rot: its dry run trains, and its commands name real
scripts with options those scripts accept."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "accelerator_protocols.py"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the reproduce scripts import jaxrec


def _module():
    spec = importlib.util.spec_from_file_location("accelerator_protocols", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_protocol_command_names_options_its_script_accepts(tmp_path):
    module = _module()
    options: dict[str, set[str]] = {}  # script -> options used by its full and dry commands
    for name in module.PROTOCOLS:
        for dry_run in (False, True):
            cmd, _ = module.command(name, tmp_path, tmp_path / "runs", dry_run)
            options.setdefault(cmd[1], set()).update(a for a in cmd[2:] if a.startswith("--"))
    for script, used in options.items():
        help_text = subprocess.run(
            [sys.executable, script, "--help"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=ENV,
            check=True,
        ).stdout
        missing = sorted(o for o in used if o not in help_text)
        assert not missing, f"{script} does not accept {missing}"


@pytest.mark.slow
def test_dry_run_trains_and_records_its_table(tmp_path, shared_data):
    out = tmp_path / "acc.json"
    cmd = [sys.executable, str(SCRIPT), "--dry-run", "--only", "psl-electronic"]
    cmd += ["--out", str(out), "--runs", str(tmp_path / "runs"), "--budget-s", "300"]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    entry = json.loads(out.read_text())["protocols"]["psl-electronic"]
    assert entry["status"] == "ok", entry.get("log_tail")
    recall = entry["table"]["rows"]["psl_tanh"]["recall"][0]
    assert 0.0 < recall <= 1.0  # one epoch of PSL on Health ranks some test items in the top 20
