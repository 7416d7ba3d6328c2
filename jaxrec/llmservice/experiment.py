"""An ``llmservice`` run end to end: the world -> Table 1 (MAE +- SD per service and total of
every baseline and meta-model) -> feature ablation -> sample-size study -> service/context
selection -> measured feature correlations -> ``results.json`` in the run folder.

``run(cfg, run_dir)`` is what ``jaxrec run`` calls for ``method="llmservice"`` configs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from jaxrec import config as config_lib
from jaxrec.llmservice import evaluate, profiles
from jaxrec.llmservice.config import LLMServiceExperiment
from jaxrec.llmservice.features import FEATURES
from jaxrec.llmservice.simulate import simulate
from jaxrec.train import RunLock, write_json_atomic

__all__ = ["make_world", "run", "run_study"]


def run_study(cfg: LLMServiceExperiment, world) -> dict[str, Any]:
    """Every table of the run on ``world`` (see the module docstring)."""
    est = cfg.estimation
    preds = evaluate.estimate(world, est, cfg.seed)
    out: dict[str, Any] = {"table1": evaluate.mae_table(world, preds, est.n_folds, cfg.seed)}
    out["paper_totals"] = evaluate.PAPER_TOTALS
    if cfg.ablation and len(est.features) > 1:
        models = tuple(m for m in cfg.ablation_models if m in est.meta_models)
        ablation = {"+".join(est.features): {m: out["table1"][m]["total"] for m in models}}
        for f in est.features:
            one = dataclasses.replace(est, features=(f,), sample_sizes=())
            p = evaluate.estimate(world, one, cfg.seed, methods=models)
            tab = evaluate.mae_table(world, p, est.n_folds, cfg.seed)
            ablation[f] = {m: tab[m]["total"] for m in models}
        out["ablation"] = ablation
    study = {}
    for n in cfg.sample_study:
        if n <= world.f1.shape[1]:
            sub = dataclasses.replace(world, features=world.subset_examples(n).features)
            p = evaluate.estimate(world=sub, cfg=dataclasses.replace(est, sample_sizes=()),
                                  seed=cfg.seed, methods=(cfg.selection_method,))  # fmt: skip
            study[str(n)] = evaluate.mae_table(sub, p, est.n_folds, cfg.seed)[cfg.selection_method][
                "total"
            ]
    out["sample_study"] = {"method": cfg.selection_method, "mae_by_n": study}
    out["selection"] = {
        "method": cfg.selection_method,
        **evaluate.selection(world, preds[cfg.selection_method]),
    }
    names = list(FEATURES)
    corr = profiles.task_correlations(world.f1, world.features, world.task, names)
    out["correlations"] = {
        "names": ["f1", *names],
        "matrix": corr.tolist(),
        "selected_difference": profiles.select_features(corr, names, profiles.difference_score),
        "selected_cfs": profiles.select_features(corr, names, profiles.cfs_merit),
        "used": list(est.features),
    }
    return out


def make_world(cfg: LLMServiceExperiment):
    """The configured world: simulated, or real generations of local HF folders."""
    if cfg.world == "simulated":
        return simulate(cfg.sim, cfg.seed)
    from jaxrec.llmservice.hf_world import hf_world

    return hf_world(
        cfg.services, cfg.task_folder, num_contexts=cfg.num_contexts,
        num_examples=cfg.num_examples, shots=cfg.shots, demo_pool=cfg.demo_pool,
        max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
    )  # fmt: skip


def run(cfg: LLMServiceExperiment, run_dir: str | Path, *, resume: bool = True) -> dict[str, Any]:
    """Builds the world, runs :func:`run_study` and writes ``config.json`` / ``results.json``.
    (The simulated study has no training state to resume; ``resume`` is accepted for the CLI.)"""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir):
        write_json_atomic(run_dir / "config.json", config_lib.to_dict(cfg))
        start = time.perf_counter()
        world = make_world(cfg)
        results = run_study(cfg, world)
        results["seconds"] = time.perf_counter() - start
        write_json_atomic(run_dir / "results.json", results)
    total = {f"mae/{m}": v["total"][0] for m, v in results["table1"].items()}
    sel = {
        k: v
        for k, v in results["selection"].items()
        if k.endswith(("achieved", "oracle", "random"))
    }
    return {"name": cfg.name, "test": total | sel, "seconds_per_epoch": results["seconds"]}
