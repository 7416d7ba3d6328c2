"""Command line: ``jaxrec run [CONFIG] [--set key=value ...]``, ``jaxrec show``, ``jaxrec list``.

CONFIG names a Python file under a configs folder (``psl/electronic``), optionally with an
argument for its ``get_config(arg)`` after a colon (``psl/electronic:lightgcn-psl_relu``), or a
path to a ``.py`` file. Without CONFIG the embedded default runs (MF + PSL on a synthetic world).
``jaxrec eval RUN_DIR [--checkpoint best|latest] [--split test|valid]`` re-evaluates a run folder.

Config folders, first match wins: ``./configs`` (the working directory: your own or edited
configs), the source checkout's ``configs/`` (when jaxrec runs from a checkout), and the
configs shipped in the wheel as the package ``jaxrec.configs`` (read with importlib.resources).

How a config file is loaded: by its path, as a standalone module (``importlib.util``), with no
change to ``sys.path``. A config file therefore imports only from ``jaxrec`` - never a sibling
helper file; what several configs share lives in the method's config module
(``jaxrec.cf.config``, ``jaxrec.llmrec.config``, ``jaxrec.graph.config``) - so the same file
behaves identically from ``./configs``, the checkout or an installed wheel.

Run name: ``--set`` overrides that change the resolved config (other than ``name``) append an
8-hex digest of the changed fields to the config's name, ``<name>-<digest>``, and, when a data
location (``data.path``/``data.root``/``data.name``/``data.tfds_name``) changed, the new
dataset folder, ``<name>@<dataset>-<digest>``. The run folder (``runs/<name>``) therefore never
resumes a checkpoint trained on other data or settings; ``--set name=...`` names it outright.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import importlib.resources
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from jaxrec import config as config_lib

__all__ = ["config_dirs", "load_config", "main", "resolve_config", "run_name"]

# method name -> module with ``run(cfg, run_dir) -> dict`` (imported lazily).
RUNNERS = {
    "psl": "jaxrec.cf.experiment",
    "gsl": "jaxrec.graph.experiment",
    "msl": "jaxrec.llmrec.experiment",
    "soft": "jaxrec.llmrec.soft_experiment",
    "tbcnet": "jaxrec.vision.tbcnet.experiment",
    "diffusion": "jaxrec.vision.dice.base_experiment",
    "dice": "jaxrec.vision.dice.experiment",
    "llmservice": "jaxrec.llmservice.experiment",
    "ctr": "jaxrec.ctr.experiment",
}

# data fields whose change means "other data": they name the run after the new dataset.
DATA_LOCATION_FIELDS = ("path", "tfds_name", "name", "root")


def _packaged_configs() -> Path | None:
    """The ``jaxrec.configs`` package folder of an installed wheel, if any."""
    try:
        folder = importlib.resources.files("jaxrec.configs")
    except ModuleNotFoundError:
        return None
    return folder if isinstance(folder, Path) else None


def config_dirs() -> list[Path]:
    """Where config names are looked up: ./configs, the source checkout's configs/, then the
    configs shipped in the wheel (``jaxrec.configs``); existing folders only, no duplicates."""
    checkout = Path(__file__).resolve().parents[1]
    dirs = [Path.cwd() / "configs"]
    if (checkout / "pyproject.toml").is_file():
        dirs.append(checkout / "configs")
    packaged = _packaged_configs()
    if packaged is not None:
        dirs.append(packaged)
    found: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [x.resolve() for x in found]:
            found.append(d)
    return found


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
    module_name = "jaxrec_config." + path.with_suffix("").as_posix().replace("/", ".")
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    # Registered so that dataclasses (type hints) defined inside a config file resolve.
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {path} defines no get_config(arg)")
    return module.get_config(arg or None)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _dataset_label(location: Any) -> str:
    """``.../gowalla/proc.zip`` -> ``gowalla``; ``.../planetoid`` -> ``planetoid``."""
    path = Path(str(location))
    return (path.parent.name if path.suffix else path.name) or "data"


def run_name(base: Any, cfg: Any) -> str:
    """Name of the run of ``cfg``, a copy of ``base`` with overrides applied (see the module
    docstring): ``base.name`` when nothing but ``name`` changed, else
    ``<name>[@<dataset>]-<digest of the changed fields>``."""
    before = _flatten(config_lib.to_dict(base))
    after = _flatten(config_lib.to_dict(cfg))
    if after.get("name") != before.get("name"):
        return cfg.name
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    if not changed:
        return cfg.name
    digest = hashlib.sha1(json.dumps(changed, sort_keys=True, default=str).encode()).hexdigest()
    moved = [f"data.{f}" for f in DATA_LOCATION_FIELDS if f"data.{f}" in changed]
    # a new path or root names the data by its folder; a new dataset name by itself.
    label = f"@{_dataset_label(changed[moved[0]])}" if moved else ""
    return f"{cfg.name}{label}-{digest[:8]}"


def resolve_config(spec: str | None, assignments: list[str]) -> Any:
    """``load_config(spec)`` with the ``--set`` assignments applied and the run named after them
    (:func:`run_name`)."""
    base = load_config(spec)
    cfg = config_lib.override(base, assignments)
    name = run_name(base, cfg)
    return dataclasses.replace(cfg, name=name) if name != cfg.name else cfg


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


def _print_config(cfg: Any) -> None:
    print(json.dumps(config_lib.to_dict(cfg), indent=2))


def _run(args: argparse.Namespace) -> int:
    if args.distributed and not args.print_config:
        import jax

        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    cfg = resolve_config(args.config, args.set or [])
    if args.print_config:
        _print_config(cfg)
        return 0
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


def _eval(args: argparse.Namespace) -> int:
    from jaxrec.eval_run import evaluate_run

    result = evaluate_run(
        args.run_dir, checkpoint=args.checkpoint, split=args.split, overrides=args.set or []
    )
    print(result.table())
    return 0


RUN_EXAMPLES = """examples:
  jaxrec run                                         the embedded default (MF + PSL, synthetic)
  jaxrec run psl/electronic:mf-psl_relu              a config file and its get_config argument
  jaxrec run psl/health:lightgcn-sl --set loop.epochs=50 --set loss.num_negatives=256
  jaxrec run psl/synthetic --set loop.epochs=1 --print-config   resolved fields, no training
"""


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config", nargs="?", help="config name[:arg] or .py path (default: embedded)"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field (repeatable; parsed by the field's type)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxrec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="train and evaluate one config",
        description="Train and evaluate one config; the run folder holds config.json, "
        "metrics.jsonl, results.json, curves.png and checkpoints (a rerun resumes).",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_arguments(run)
    run.add_argument("--out", help="run folder (default: runs/<run name>)")
    run.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    run.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (after --set) as JSON and exit without training",
    )
    run.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() first (auto-detected on TPU pods, "
        "SLURM, Kubernetes, MPI; else give the three options below)",
    )
    run.add_argument("--coordinator", help="with --distributed: coordinator host:port")
    run.add_argument("--num-processes", type=int, help="with --distributed: number of processes")
    run.add_argument("--process-id", type=int, help="with --distributed: this process's index")
    show = sub.add_parser("show", help="print a config's resolved fields (after --set) as JSON")
    _add_config_arguments(show)
    sub.add_parser("list", help="list the available configs")
    ev = sub.add_parser("eval", help="re-evaluate a run folder's checkpoint (writes nothing)")
    ev.add_argument("run_dir", help="the run folder (holds config.json and ckpt/)")
    ev.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    ev.add_argument("--split", choices=("test", "valid"), default="test")
    ev.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name, doc in list_configs():
                print(f"{name:<28} {doc}")
            return 0
        if args.command == "eval":
            return _eval(args)
        if args.command == "show":
            _print_config(resolve_config(args.config, args.set or []))
            return 0
        return _run(args)
    except (ValueError, OSError, KeyError) as err:
        print(f"jaxrec: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
