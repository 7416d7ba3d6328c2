"""The CTR runner: a DeepFM + LLaCTR step on 1 device equals the step on 8 (data x fsdp) with the
embedding table row-sharded; a run killed after a plateau-reduced checkpoint resumes to the
uninterrupted result; DeepFM recovers the planted interactions (near the oracle, far above LR);
the Gift Cards config reads the shared files and the authors' field embeddings."""

from __future__ import annotations

import dataclasses
import json

import chex
import jax
import numpy as np
import pytest
import scipy.optimize

from jaxrec import train
from jaxrec.ctr import (
    CTRDataConfig,
    CTRModelConfig,
    LLaCTRConfig,
    ctr_config,
    load_field_embeddings,
)
from jaxrec.ctr.experiment import CTRBatches, build, field_names, load_splits, run
from jaxrec.data.ctr import synthetic_ctr_world
from jaxrec.metrics import auc

TINY_MODEL = CTRModelConfig(name="deepfm", embedding_dim=8, hidden=(16, 8))
# the default world's vocab sum is 158 rows; 8 fields' worth padded to a multiple of 8 devices
VOCAB = (50, 40, 30, 20, 10, 10)


def tiny(**kw) -> object:
    base = ctr_config(TINY_MODEL, "synthetic-llactr")
    return dataclasses.replace(
        base,
        name="tiny",
        batch_size=64,
        eval_batch_size=512,
        data=CTRDataConfig(source="synthetic", synthetic_rows=800),
        llactr=LLaCTRConfig(
            field_embeddings="random", random_dim=12, lambda_loss=0.3, lambda_llm=0.3
        ),  # fmt: skip
        **kw,
    )


def _world(rows: int) -> tuple[dict, dict]:
    w = synthetic_ctr_world(num_rows=rows, vocab_sizes=VOCAB)
    return {"train": w.train, "valid": w.valid, "test": w.test}, {}


def test_one_vs_eight_devices_step_with_sharded_table():
    cfg = tiny(optimizer=train.OptimizerConfig(name="sgd", lr=0.5))  # SGD: see tbcnet's test
    splits = _world(800)
    results = []
    for devices, mesh in ((jax.devices()[:1], train.MeshConfig()),
                          (jax.devices(), train.MeshConfig(data=2, fsdp=4))):  # fmt: skip
        setup = build(dataclasses.replace(cfg, mesh=mesh), splits, devices=devices)
        table = setup.state.params["backbone"]["embedding"]["table"]
        if len(devices) == 8:
            assert "fsdp" in str(table.sharding.spec[0])  # rows over fsdp (x tensor)
            assert {s.data.shape for s in table.addressable_shards} == {(40, 8)}
        with train.mesh_context(setup.mesh, mesh.rules):
            state = setup.state
            for step in range(2):
                batch = train.place_batch(setup.mesh, setup.batches.batch(0, step))
                state, metrics = setup.train_step(state, batch, jax.random.key(0), setup.context)
        results.append(jax.device_get((metrics, state.params)))
    (m1, p1), (m8, p8) = results
    assert m1["fre_kl"] > 0 and np.isfinite(m1["loss"])
    for k in ("loss", "bce", "fre_kl", "grad_norm"):
        np.testing.assert_allclose(m1[k], m8[k], rtol=1e-4, atol=1e-6)
    chex.assert_trees_all_close(p1, p8, rtol=1e-4, atol=1e-6)


class Killed(Exception):
    pass


def _logistic_regression_auc(world) -> float:
    """Test AUC of an L2-light logistic regression on the one-hot fields (scipy L-BFGS)."""
    offsets = np.concatenate([[0], np.cumsum(world.train.vocab_sizes)[:-1]])
    width = int(np.sum(world.train.vocab_sizes))

    def onehot(table):
        out = np.zeros((len(table), width))
        np.put_along_axis(out, table.x + offsets[None, :], 1.0, axis=1)
        return out

    xs, y = onehot(world.train), world.train.label

    def nll(w):
        z = xs @ w[1:] + w[0]
        grad_z = 1.0 / (1.0 + np.exp(-z)) - y
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + 1e-3 * np.sum(w[1:] ** 2)
        return loss, np.concatenate([[grad_z.sum()], xs.T @ grad_z + 2e-3 * w[1:]])

    w = scipy.optimize.minimize(nll, np.zeros(width + 1), jac=True, method="L-BFGS-B").x
    return float(auc(world.test.label, onehot(world.test) @ w[1:] + w[0]))


PLANTED_CFG = dataclasses.replace(
    ctr_config(dataclasses.replace(TINY_MODEL, embedding_dim=16, hidden=(32,)), "synthetic"),
    mesh=train.MeshConfig(data=1),
    optimizer=train.OptimizerConfig(name="adam", lr=2e-2, clip_norm=10.0),  # plateau at epoch 7
    loop=train.LoopConfig(
        epochs=10, patience=2, select_metric="auc", progress=False, log_every_steps=0
    ),  # fmt: skip
)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """``go(run_dir)``: DeepFM on the embedded default world (lr 2e-2, 1 device), compiled once;
    and the reference run's summary and folder."""
    built = build(PLANTED_CFG, devices=jax.devices()[:1])
    initial = jax.tree.map(lambda x: x.copy(), built.state)

    def go(run_dir):
        fresh = dataclasses.replace(
            built,
            state=jax.tree.map(lambda x: x.copy(), initial),
            batches=CTRBatches(built.splits["train"], PLANTED_CFG.batch_size, PLANTED_CFG.seed),
        )
        return run(PLANTED_CFG, run_dir, setup=fresh)

    ref_dir = tmp_path_factory.mktemp("ctr_ref")
    return go, go(ref_dir), ref_dir


@pytest.mark.slow
def test_deepfm_recovers_planted_interactions(planted):
    """Margins: on the 20k-row default world (oracle test AUC 0.910) DeepFM reaches 0.855 and a
    logistic regression ~0.71; the test asserts DeepFM >= oracle - 0.07 and >= LR + 0.08."""
    _, ref, _ = planted
    d = PLANTED_CFG.data
    lr = _logistic_regression_auc(
        synthetic_ctr_world(num_rows=d.synthetic_rows, seed=d.synthetic_seed)
    )
    oracle, deep = ref["oracle_test_auc"], ref["test"]["auc"]
    assert 0.68 < lr < 0.75, lr
    assert deep >= oracle - 0.07, (deep, oracle)
    assert deep >= lr + 0.08, (deep, lr)


def _strip(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "seconds_per_epoch"}


def test_results_and_kill_resume_identical(planted, tmp_path, monkeypatch):
    go, ref, ref_dir = planted
    saved = json.loads((ref_dir / "results.json").read_text())
    assert set(saved["best_valid"]) == set(saved["test"]) == {"auc", "logloss"}
    assert saved["final_lr"] == pytest.approx(PLANTED_CFG.optimizer.lr * 0.1)  # one plateau
    original = train.Checkpointer.save_latest

    def patched(self, state, *args):
        original(self, state, *args)
        if float(train.lr_scale(state)) < 1.0:  # killed right after the first reduced save
            raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(train.Checkpointer, "save_latest", patched)
        with pytest.raises(Killed):
            go(tmp_path)
    steps = [int(p.name) for p in (tmp_path / "ckpt" / "latest").iterdir() if p.name.isdigit()]
    assert max(steps) < ref["final_step"]
    assert _strip(go(tmp_path)) == _strip(ref)


def test_gift_cards_config_reads_files_and_field_embeddings(shared_data):
    cfg = ctr_config(CTRModelConfig(name="fm"), "gift_cards-llactr")
    tables, _ = load_splits(cfg)
    assert {k: len(v) for k, v in tables.items()} == {"train": 13717, "valid": 1524, "test": 15241}
    fields = field_names(tables["train"])
    assert fields == tuple(
        (shared_data / "ctr" / "amazon_gift_cards" / "field.txt").read_text().split()
    )
    assert load_field_embeddings(cfg.llactr.field_embeddings, fields).shape == (13, 4096)
