"""TBCNet stage-2 train step: one step on 1 device equals one step on 8 (data x fsdp).

SGD, so that parameter differences are learning rate x gradient differences (Adam's first step
normalises round-off-sized gradients of near-invariant parameters to +-lr)."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxrec import train
from jaxrec.vision.tbcnet.config import DataConfig, LossConfig, TBCNetExperiment
from jaxrec.vision.tbcnet.experiment import build_stage
from jaxrec.vision.tbcnet.model import TBCNetModelConfig

MODEL = TBCNetModelConfig(classes=4, views=2, frames=4, size=16, backbone_layers=2,
                          widths=(4, 8), heads=2, groups=2, emb_dim=8, branch_heads=2,
                          window=2, shift=1, dropout=0.0)  # fmt: skip


@pytest.mark.slow
def test_one_vs_eight_devices_stage2_step():
    cfg = TBCNetExperiment(
        name="t", seed=0, batch_size=8, stage1_epochs=1, data=DataConfig(protocol="cv"),
        model=MODEL, loss=LossConfig(mode="cvl"),
        optimizer=train.OptimizerConfig(name="sgd", lr=1e-1),  # Adam would amplify ~0 grads
        loop=train.LoopConfig(epochs=1, select_metric="top1"),
    )  # fmt: skip
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 255, (8, 2, 4, 16, 16, 3), dtype=np.uint8)
    splits = {"train": (clips, rng.integers(0, 4, 8).astype(np.int32))}
    results = []
    for devices, mesh_cfg in ((jax.devices()[:1], train.MeshConfig()),
                              (jax.devices(), train.MeshConfig(data=4, fsdp=2))):  # fmt: skip
        c = dataclasses.replace(cfg, mesh=mesh_cfg)
        setup = build_stage(c, splits, 2, devices=devices)
        with train.mesh_context(setup.mesh, c.mesh.rules):
            batch = train.place_batch(setup.mesh, setup.batches.batch(0, 0))
            state, metrics = setup.train_step(setup.state, batch, jax.random.key(0), {})
            results.append(jax.device_get((metrics, state.params)))
    (m1, p1), (m8, p8) = results
    assert np.isfinite(m1["loss"]) and m1["tbc"] != 0.0
    for k in ("loss", "ce_trunk", "ce_views", "tbc", "grad_norm"):
        np.testing.assert_allclose(m1[k], m8[k], rtol=2e-4, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-5), p1, p8)
