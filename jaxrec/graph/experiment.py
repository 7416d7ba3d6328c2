"""A GSL experiment end to end: the host without UnGSL, stage-1 confidences, the host with UnGSL.

``run(cfg, run_dir)`` is what ``jaxrec run gsl/<host>`` calls. Stages, each cached in the run
folder so a killed run resumes where it stopped (``resume=False`` recomputes everything):

1. ``stages/baseline-<key>.npz``: the host over seeds 0..seeds-1 (test accuracy at the best
   validation epoch, curves, best-epoch probabilities).
2. ``stages/stage1-<key>.npz``: confidences ``c = exp(-mean_s H_s)`` from the best-validation
   probabilities of seeds 0..stage1_seeds-1 of the plain host (reused from stage 1 when those
   seeds ran there with the same config, which is the same computation).
3. ``stages/ungsl-<key>.npz``: the host with the UnGSL plug-in over the same seeds.

Keys hash the host, dataset, host config, seeds and the UnGSL settings, so a changed config never
reads a stale stage. The run folder looks like every other jaxrec run (:mod:`jaxrec.train.logging`):

- ``config.json``: the experiment config, written first;
- ``metrics.jsonl``: per variant (``without_ungsl``, ``with_ungsl``) and seed, one ``train``
  record (mean training loss of the evaluation block, UnGSL's dead-threshold fraction) and one
  ``valid`` record (accuracy) per evaluation up to the seed's stopping epoch, ``step`` = epoch
  (one full-batch step per epoch); then the final ``test`` records, one per variant and seed, at
  ``step`` = the best-validation epoch (the numbers of ``results.json``). Rewritten from the
  stages on every run, so a resumed run's log is that of an uninterrupted one;
- ``results.json``: mean ± std of test accuracy per variant, per-seed accuracies, paired
  differences, epoch times and the UnGSL overhead ratio, dead-threshold fraction, confidence
  statistics;
- ``curves.png``: seed-mean curves of both variants (:func:`jaxrec.train.plot_curves`).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from jaxrec import config as config_lib
from jaxrec import data as data_lib
from jaxrec.graph.confidence import cached_arrays, confidence_from_probs, stage1_key
from jaxrec.graph.config import GSLExperiment
from jaxrec.graph.data import GraphData
from jaxrec.graph.hosts import get_host
from jaxrec.graph.trainer import TrainResult, UnGSLSetup, train_host
from jaxrec.train.logging import MetricsLog, plot_curves, write_json_atomic

__all__ = ["load_graph", "run", "summarize"]


def load_graph(cfg: GSLExperiment) -> data_lib.NodeGraph:
    """The configured graph, features row-normalised if the config (or host preset) says so."""
    d = cfg.data
    if d.source == "planetoid":
        graph = data_lib.load_planetoid(d.root, d.name)
    else:
        graph = data_lib.synthetic_sbm_graph(
            d.synthetic_nodes, d.synthetic_classes, d.synthetic_features, seed=d.synthetic_seed
        )
    normalize = d.normalize_features
    if normalize is None:
        normalize = cfg.host_config.normalize_features
    if normalize:
        graph = dataclasses.replace(graph, features=data_lib.row_normalize(graph.features))
    return graph


def _protocol(cfg: GSLExperiment, host_cfg: Any) -> dict[str, Any]:
    pick = lambda override, default: default if override is None else override
    return {
        "epochs": pick(cfg.epochs, host_cfg.epochs),
        "eval_every": pick(cfg.eval_every, host_cfg.eval_every),
        "patience": pick(cfg.patience, host_cfg.patience),
        "vectorize_seeds": pick(cfg.vectorize_seeds, get_host(cfg.host).vmappable),
    }


def _result_arrays(result: TrainResult) -> dict[str, np.ndarray]:
    return {
        f.name: np.asarray(getattr(result, f.name))
        for f in dataclasses.fields(result)
        if getattr(result, f.name) is not None
    }


def _result_from_arrays(arrays: dict[str, np.ndarray]) -> TrainResult:
    values = {f.name: arrays.get(f.name) for f in dataclasses.fields(TrainResult)}
    for name in ("seconds_per_epoch", "compile_seconds"):
        values[name] = float(values[name])
    return TrainResult(**values)


def _train_stage(path: Path, train) -> TrainResult:
    return _result_from_arrays(cached_arrays(path, lambda: _result_arrays(train())))


def _ungsl_settings(cfg: GSLExperiment) -> tuple[dict[str, float], Any]:
    """(beta, tau_init, lr) and the host config of the UnGSL run (a host that learns a graph)."""
    defaults = get_host(cfg.host).ungsl_defaults(cfg.data.dataset)
    if defaults is None:
        raise ValueError(f"UnGSL does not apply to host {cfg.host!r} (it learns no graph)")
    u = cfg.ungsl
    settings = {
        "beta": defaults.beta if u.beta is None else u.beta,
        "tau_init": defaults.tau_init if u.tau_init is None else u.tau_init,
        "lr": defaults.lr if u.lr is None else u.lr,
    }
    host_cfg = cfg.host_config
    if u.use_retuned_host and defaults.retuned_host:
        host_cfg = dataclasses.replace(host_cfg, **dict(defaults.retuned_host))
    return settings, host_cfg


def _stats(acc: np.ndarray) -> dict[str, float]:
    return {"mean": float(100 * acc.mean()), "std": float(100 * acc.std())}


def summarize(
    cfg: GSLExperiment,
    base: TrainResult,
    ungsl: TrainResult | None,
    stage1: dict[str, np.ndarray] | None,
) -> dict[str, Any]:
    """The results.json content (accuracies in percent; std is the population std as OpenGSL)."""
    summary: dict[str, Any] = {
        "name": cfg.name,
        "host": cfg.host,
        "dataset": cfg.data.dataset,
        "seeds": base.seeds.tolist(),
        "without_ungsl": {
            "test": _stats(base.test_at_best),
            "best_valid": _stats(base.best_val),
            "test_per_seed": (100 * base.test_at_best).tolist(),
            "best_epoch": base.best_epoch.tolist(),
            "seconds_per_epoch": base.seconds_per_epoch,
        },
        # what `jaxrec run` prints: the variant the run is about
        "best_valid": {"accuracy": float(base.best_val.mean())},
        "test": {"accuracy": float(base.test_at_best.mean())},
        "seconds_per_epoch": base.seconds_per_epoch,
    }
    if ungsl is None:
        return summary
    diff = 100 * (ungsl.test_at_best - base.test_at_best)
    summary["with_ungsl"] = {
        "test": _stats(ungsl.test_at_best),
        "best_valid": _stats(ungsl.best_val),
        "test_per_seed": (100 * ungsl.test_at_best).tolist(),
        "best_epoch": ungsl.best_epoch.tolist(),
        "seconds_per_epoch": ungsl.seconds_per_epoch,
        "dead_threshold_fraction": float(ungsl.dead_fraction[:, -1].mean()),
    }
    summary["paired_difference"] = {
        "per_seed": diff.tolist(),
        "mean": float(diff.mean()),
        "std": float(diff.std()),
        "positive": int((diff > 0).sum()),
        "negative": int((diff < 0).sum()),
    }
    summary["ungsl_overhead_ratio"] = ungsl.seconds_per_epoch / base.seconds_per_epoch
    h = stage1["entropy"]
    summary["stage1"] = {
        "seeds": stage1["seeds"].tolist(),
        "entropy": {"min": float(h.min()), "mean": float(h.mean()), "max": float(h.max())},
        "confidence_mean": float(stage1["confidence"].mean()),
    }
    summary["best_valid"] = {"accuracy": float(ungsl.best_val.mean())}
    summary["test"] = {"accuracy": float(ungsl.test_at_best.mean())}
    return summary


VARIANTS = ("without_ungsl", "with_ungsl")


def _log_curves(log: MetricsLog, result: TrainResult, variant: str) -> None:
    """The ``train``/``valid`` records of every seed of one variant (see the module docstring);
    evaluations after a seed's stopping epoch (computed under ``vmap``, ignored) are left out."""
    for i, seed in enumerate(result.seeds.tolist()):
        for j, epoch in enumerate(result.eval_epochs.tolist()):
            if epoch > result.stopped_epoch[i]:
                break
            train = {"loss": result.train_loss_curve[i, j]}
            if result.tau is not None:
                train["dead_threshold_fraction"] = result.dead_fraction[i, j]
            log.write(epoch, "train", train, variant=variant, seed=seed)
            log.write(
                epoch, "valid", {"accuracy": result.val_curve[i, j]}, variant=variant, seed=seed
            )


def _log_test(log: MetricsLog, result: TrainResult, variant: str) -> None:
    for i, seed in enumerate(result.seeds.tolist()):
        test = {"accuracy": result.test_at_best[i]}
        log.write(int(result.best_epoch[i]), "test", test, variant=variant, seed=seed)


def _curve_records(results: dict[str, TrainResult]) -> list[dict[str, Any]]:
    """Seed-mean curves, one series per split and variant, for :func:`plot_curves`."""
    records = []
    for variant, result in results.items():
        label = variant.replace("_", " ")
        for j, epoch in enumerate(result.eval_epochs.tolist()):
            train = {"loss": float(result.train_loss_curve[:, j].mean())}
            if result.tau is not None:
                train["dead_threshold_fraction"] = float(result.dead_fraction[:, j].mean())
            records.append({"step": epoch, "split": f"train {label}", **train})
            accuracy = float(result.val_curve[:, j].mean())
            records.append({"step": epoch, "split": f"valid {label}", "accuracy": accuracy})
    return records


def run(cfg: GSLExperiment, run_dir: str | Path, *, resume: bool = True) -> dict[str, Any]:
    """Runs the experiment in ``run_dir`` (resuming from cached stages unless ``resume=False``)
    and returns the summary also written to ``results.json``."""
    run_dir = Path(run_dir)
    stages = run_dir / "stages"
    if not resume and stages.exists():
        shutil.rmtree(stages)
    spec = get_host(cfg.host)
    graph = load_graph(cfg)
    data = GraphData.from_dataset(graph)
    seeds = list(range(cfg.seeds))
    dataset = cfg.data.dataset
    write_json_atomic(run_dir / "config.json", config_lib.to_dict(cfg))

    def stage(host_cfg: Any, seeds: list[int], setup: UnGSLSetup | None = None) -> TrainResult:
        protocol = _protocol(cfg, host_cfg)
        extra = {"protocol": protocol, "data": config_lib.to_dict(cfg.data)}
        if setup is not None:
            extra["ungsl"] = {
                "beta": setup.beta,
                "tau_init": setup.tau_init,
                "lr": setup.lr,
                "confidence": float(np.asarray(setup.confidence, np.float64).sum()),
            }
        name = "ungsl" if setup is not None else "baseline"
        key = stage1_key(cfg.host, dataset, {"host": dataclasses.asdict(host_cfg), **extra}, seeds)
        return _train_stage(
            stages / f"{name}-{key}.npz",
            lambda: train_host(
                spec.build(host_cfg, data), data, seeds=seeds, ungsl=setup, **protocol
            ),
        )

    base = stage(cfg.host_config, seeds)
    ungsl_result, stage1 = None, None
    if cfg.ungsl.enabled and spec.ungsl_defaults(dataset) is not None:
        s1_seeds = list(range(cfg.ungsl.stage1_seeds))

        def compute_stage1() -> dict[str, np.ndarray]:
            source = (
                base if cfg.ungsl.stage1_seeds <= cfg.seeds else stage(cfg.host_config, s1_seeds)
            )
            probs = source.probs_at_best[: len(s1_seeds)]
            confidence, entropy = confidence_from_probs(probs)
            return {"confidence": confidence, "entropy": entropy, "seeds": np.asarray(s1_seeds)}

        key = stage1_key(
            cfg.host,
            dataset,
            {"host": dataclasses.asdict(cfg.host_config), **_protocol(cfg, cfg.host_config)},
            s1_seeds,
        )
        stage1 = cached_arrays(stages / f"stage1-{key}.npz", compute_stage1)
        settings, ungsl_host_cfg = _ungsl_settings(cfg)
        setup = UnGSLSetup(confidence=stage1["confidence"], **settings)
        ungsl_result = stage(ungsl_host_cfg, seeds, setup)

    summary = summarize(cfg, base, ungsl_result, stage1)
    summary["ungsl_settings"] = _ungsl_settings(cfg)[0] if ungsl_result is not None else None
    results = dict(zip(VARIANTS, (base, ungsl_result)))
    results = {variant: result for variant, result in results.items() if result is not None}
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    log = MetricsLog(run_dir / "metrics.jsonl")
    for variant, result in results.items():
        _log_curves(log, result, variant)
    for variant, result in results.items():
        _log_test(log, result, variant)
    write_json_atomic(run_dir / "results.json", summary)
    plot_curves(_curve_records(results), run_dir / "curves.png", title=f"{cfg.name} ({dataset})")
    return summary
