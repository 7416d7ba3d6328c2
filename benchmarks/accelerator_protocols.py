"""Run the full protocols that do not fit 2 CPU cores, in one call, on whatever accelerator JAX sees.

Protocols, in priority order (each is one of the reproduce scripts with its published settings):

- ``gsl-cora``: every GSL host x {without, with UnGSL} on Cora, full OpenGSL epochs, 10 seeds;
- ``psl-electronic`` / ``psl-gowalla``: MF with BPR, SL and PSL-tanh/atan/relu, 200 epochs,
  N = 1000 negatives (Table B.2), one seed;
- ``msl-books``: LML, MSL and MSL+ATS at the full Books budget of ``configs/msl/amazon_books.py``.

The whole call has one wall-clock budget (``--budget-s``, default 600 s): each protocol runs as a
subprocess with the time still left, and one that runs out is recorded as ``timed_out``. Every
reproduce script resumes its run folders, so calling this again continues where the last call
stopped. ``--dry-run`` runs each protocol's smallest case (one seed, one or two epochs, the
smallest dataset) so that the script and the command lines it builds are exercised on CPU in CI.

Run:  PYTHONPATH=. python3 benchmarks/accelerator_protocols.py --out docs/results_accelerator.json
      PYTHONPATH=. python3 benchmarks/accelerator_protocols.py --dry-run --out /tmp/acc.json
Writes ``--out`` (JSON: device, per protocol its command, return code, wall seconds and the table
its script wrote) and each protocol's own table beside it (``<out stem>_<protocol>.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Protocol:
    """One reproduce script with its full and its dry-run arguments; ``table`` is the option that
    names the file it writes (its JSON is read back into the summary)."""

    script: str
    full: tuple[str, ...]
    dry: tuple[str, ...]
    table: str = "--out"
    table_suffix: str = ".json"


PSL_FULL = ("--losses", "bpr,sl,psl_tanh,psl_atan,psl_relu", "--seeds", "0")
PSL_DRY = ("--losses", "psl_tanh", "--seeds", "0", "--set", "loop.epochs=1", "--set")
PROTOCOLS: dict[str, Protocol] = {
    "gsl-cora": Protocol(
        "gsl_reproduce.py",
        full=("--budget", "full", "--seeds", "10"),
        dry=("--hosts", "gcn", "grcn", "--budget", "cpu", "--seeds", "1", "--set", "epochs=2"),
    ),
    "psl-electronic": Protocol(
        "psl_reproduce.py",
        full=("--dataset", "amazon2014-electronic", "--backbone", "mf", *PSL_FULL),
        dry=("--dataset", "amazon2014-health", "--backbone", "mf", *PSL_DRY, "loss.num_negatives=8"),
        table_suffix=".md",
    ),
    "psl-gowalla": Protocol(
        "psl_reproduce.py",
        full=("--dataset", "gowalla", "--backbone", "mf", *PSL_FULL),
        dry=("--dataset", "amazon2014-health", "--backbone", "lightgcn", *PSL_DRY, "loss.num_negatives=8"),
        table_suffix=".md",
    ),
    "msl-books": Protocol(
        "msl_reproduce.py",
        full=("--variants", "lml,msl,msl_ats", "--seeds", "0", "--budget", "full"),
        dry=(
            "--variants", "msl_ats", "--seeds", "0", "--budget", "cpu", "--epochs", "1",
            "--max-train-rows", "32", "--max-test-rows", "16", "--set", "optimizer.warmup_steps=1",
        ),
        table_suffix=".md",
    ),
}  # fmt: skip


def command(name: str, out_dir: Path, runs: Path, dry_run: bool) -> tuple[list[str], Path]:
    """The subprocess command of protocol ``name`` and the table file it writes."""
    p = PROTOCOLS[name]
    table = out_dir / f"{name}{p.table_suffix}"
    args = [*(p.dry if dry_run else p.full), p.table, str(table), "--runs", str(runs / name)]
    return [sys.executable, str(ROOT / "benchmarks" / p.script), *args], table


def _device() -> dict:
    import jax

    devices = jax.devices()
    return {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices)}


def run_protocols(names: list[str], out: Path, runs: Path, budget_s: float, dry_run: bool) -> dict:
    """Run ``names`` in order within ``budget_s`` seconds in all; the summary is written to
    ``out`` after every protocol, so a killed call keeps what finished."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tables = out.parent / f"{out.stem}_tables"
    tables.mkdir(exist_ok=True)
    summary = {"device": _device(), "dry_run": dry_run, "budget_s": budget_s, "protocols": {}}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    deadline = time.monotonic() + budget_s
    for name in names:
        cmd, table = command(name, tables, runs, dry_run)
        left = deadline - time.monotonic()
        entry: dict = {"command": " ".join(cmd[1:]), "status": "skipped", "wall_s": 0.0}
        if left > 1:
            start = time.monotonic()
            try:
                proc = subprocess.run(
                    cmd, env=env, cwd=ROOT, timeout=left, capture_output=True, text=True
                )
                entry["status"] = "ok" if proc.returncode == 0 else f"failed (rc {proc.returncode})"
                entry["log_tail"] = (proc.stdout + proc.stderr)[-2000:]
            except subprocess.TimeoutExpired:
                entry["status"] = "timed_out"
            entry["wall_s"] = round(time.monotonic() - start, 1)
        json_table = table.with_suffix(".json")
        if json_table.is_file():
            entry["table"] = json.loads(json_table.read_text())
        summary["protocols"][name] = entry
        out.write_text(json.dumps(summary, indent=2))
        print(f"{name}: {entry['status']} in {entry['wall_s']} s", flush=True)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(PROTOCOLS), choices=list(PROTOCOLS))
    parser.add_argument("--budget-s", type=float, default=600.0, help="wall-clock budget in all")
    parser.add_argument("--dry-run", action="store_true", help="smallest case of each, for CPU/CI")
    parser.add_argument("--out", default=str(ROOT / "docs/results_accelerator.json"))
    parser.add_argument("--runs", default=str(ROOT / "runs/accelerator"))
    args = parser.parse_args()
    summary = run_protocols(args.only, Path(args.out), Path(args.runs), args.budget_s, args.dry_run)
    failed = [n for n, e in summary["protocols"].items() if e["status"].startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
