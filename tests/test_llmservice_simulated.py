"""On the simulated world the meta-models beat AvgTrain by a stated margin, selection beats
random, and the runner writes its tables."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from jaxrec.llmservice import evaluate, simulate
from jaxrec.llmservice.config import LLMServiceExperiment
from jaxrec.llmservice.meta_jax import MLPConfig

SIM = simulate.SimConfig(num_tasks=10, num_services=4, num_contexts=8, num_examples=120)
EST = evaluate.EstimationConfig(
    d=20, meta_models=("knn3", "mlp", "rf"), n_iter=1, cv=3, sample_sizes=(8, 32),
    mlp=MLPConfig(hidden=64, max_epochs=60),
)  # fmt: skip


@pytest.fixture(scope="module")
def world():
    return simulate.simulate(SIM, seed=0)


def test_world_shapes_and_truth(world):
    r = SIM.num_tasks * SIM.num_services * SIM.num_contexts
    assert world.f1.shape == (r, SIM.num_examples) and world.task.shape == (r,)
    assert set(world.features) == {"nll", "ppl", "gap", "maxent"}
    np.testing.assert_allclose(world.perf, world.f1.mean(1))
    assert np.isfinite(world.features["ppl"]).all() and (world.features["nll"] >= 0).all()


@pytest.mark.slow
def test_meta_models_beat_avgtrain_and_selection_beats_random(world):
    preds = evaluate.estimate(world, EST, seed=0)
    tab = evaluate.mae_table(world, preds, EST.n_folds)
    avg = tab["avgtrain"]["total"][0]
    for m in ("knn3", "mlp", "rf"):  # margin: at least 40% below AvgTrain
        assert tab[m]["total"][0] < 0.6 * avg, (m, tab[m]["total"], avg)
    assert tab["sample32"]["total"][0] < tab["sample8"]["total"][0]
    sel = evaluate.selection(world, preds["rf"])
    for k in ("service+context", "context"):
        assert sel[f"{k}/random"] < sel[f"{k}/achieved"] <= sel[f"{k}/oracle"]


def test_runner_writes_results(tmp_path):
    from jaxrec.llmservice import experiment

    cfg = LLMServiceExperiment(
        name="t", sim=dataclasses.replace(SIM, num_tasks=6, num_contexts=4, num_examples=60),
        estimation=dataclasses.replace(EST, meta_models=("knn3",), sample_sizes=(8,)),
        sample_study=(30, 60), selection_method="knn3",
    )  # fmt: skip
    summary = experiment.run(cfg, tmp_path)
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["table1"]) == {"sample8", "avgtrain", "atc", "knn3"}
    assert set(res["ablation"]) == {"nll+ppl", "nll", "ppl"}
    assert set(res["sample_study"]["mae_by_n"]) == {"30", "60"}
    assert "mae/knn3" in summary["test"] and (tmp_path / "config.json").is_file()
