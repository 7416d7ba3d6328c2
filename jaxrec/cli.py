"""Command line: ``jaxrec run [CONFIG] [--set key=value ...]`` and ``jaxrec list``.

CONFIG names a Python file under ``configs/`` (``psl/electronic``), optionally with an argument
for its ``get_config(arg)`` after a colon (``psl/electronic:lightgcn-psl_relu``), or a path to a
``.py`` file. Without CONFIG the embedded default runs (MF + PSL on a synthetic world).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from jaxrec import config as config_lib

__all__ = ["main", "load_config", "config_dirs"]

# method name -> module with ``run(cfg, run_dir) -> dict`` (imported lazily).
RUNNERS = {
    "psl": "jaxrec.cf.experiment",
    "gsl": "jaxrec.graph.experiment",
    "msl": "jaxrec.llmrec.experiment",
}


def config_dirs() -> list[Path]:
    """Where config names are looked up: ./configs, then the source checkout's configs/."""
    here = Path(__file__).resolve().parents[1] / "configs"
    dirs = [Path.cwd() / "configs", here]
    return [
        d
        for i, d in enumerate(dirs)
        if d.is_dir() and d.resolve() not in [x.resolve() for x in dirs[:i]]
    ]


def _resolve_config_file(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".py":
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        return path
    for folder in config_dirs():
        candidate = folder / f"{name}.py"
        if candidate.is_file():
            return candidate
    known = ", ".join(n for n, _ in list_configs()) or "none found"
    raise FileNotFoundError(
        f"no config named {name!r} in {[str(d) for d in config_dirs()]}; known: {known}"
    )


def load_config(spec: str | None) -> Any:
    """Config object for ``name[:arg]`` (or the embedded default when ``spec`` is None)."""
    if spec is None:
        from jaxrec.cf.config import default_config

        return default_config()
    name, _, arg = spec.partition(":")
    path = _resolve_config_file(name)
    module_spec = importlib.util.spec_from_file_location(f"jaxrec_config_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {path} defines no get_config(arg)")
    return module.get_config(arg or None)


def list_configs() -> list[tuple[str, str]]:
    """(name, first docstring line) of every config file."""
    found = {}
    for folder in config_dirs():
        for path in sorted(folder.rglob("*.py")):
            name = path.relative_to(folder).with_suffix("").as_posix()
            if name.startswith("_") or "/_" in name or name in found:
                continue
            text = path.read_text()
            doc = text.split('"""')[1].strip().splitlines()[0] if text.startswith('"""') else ""
            found[name] = doc
    return sorted(found.items())


def _print_table(summary: dict[str, Any]) -> None:
    rows = [("valid", summary.get("best_valid", {})), ("test", summary.get("test", {}))]
    names = sorted({k for _, values in rows for k in values})
    if not names:
        return
    width = max(len(n) for n in names) + 2
    print(f"\n{summary.get('name', 'run')}")
    print(f"{'metric':<{width}}" + "".join(f"{split:>10}" for split, _ in rows))
    for name in names:
        cells = "".join(
            f"{values[name]:>10.4f}" if name in values else f"{'-':>10}" for _, values in rows
        )
        print(f"{name:<{width}}{cells}")
    print(f"seconds/epoch: {summary.get('seconds_per_epoch', float('nan')):.2f}")


def _run(args: argparse.Namespace) -> int:
    if args.distributed:
        import jax

        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    cfg = config_lib.override(load_config(args.config), args.set or [])
    method = getattr(cfg, "method", None)
    if method not in RUNNERS:
        raise ValueError(f"config method {method!r} has no runner; known: {sorted(RUNNERS)}")
    from jaxrec.train.run import run_folder

    run_dir = run_folder(args.out, cfg.name)
    runner = importlib.import_module(RUNNERS[method])
    summary = runner.run(cfg, run_dir, resume=not args.restart)
    _print_table(summary)
    print(f"run folder: {run_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxrec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train and evaluate one config")
    run.add_argument("config", nargs="?", help="config name[:arg] or .py path (default: embedded)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    run.add_argument("--out", help="run folder (default: runs/<config name>)")
    run.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    run.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() first (auto-detected on TPU pods, "
        "SLURM, Kubernetes, MPI; else give the three options below)",
    )
    run.add_argument("--coordinator", help="with --distributed: coordinator host:port")
    run.add_argument("--num-processes", type=int, help="with --distributed: number of processes")
    run.add_argument("--process-id", type=int, help="with --distributed: this process's index")
    sub.add_parser("list", help="list the available configs")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name, doc in list_configs():
                print(f"{name:<28} {doc}")
            return 0
        return _run(args)
    except (ValueError, OSError, KeyError) as err:
        print(f"jaxrec: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
