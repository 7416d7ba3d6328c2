"""The PSL paper's experiment grid as configs: backbone x loss x dataset, Table B.2's settings.

Variant strings are ``"<backbone>-<loss>"`` with backbone in {mf, lightgcn} and loss in
{bpr, sl, psl_tanh, psl_atan, psl_relu, psl_softplus}.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxrec.cf.config import CFExperiment, DataConfig, LossConfig, ModelConfig
from jaxrec.train import LoopConfig, OptimizerConfig

__all__ = ["PAPER_HPARAMS", "VARIANT_LOSSES", "paper_config", "shared_data_path"]

# Paper Table B.2 (IID, tuned on MF): (lr, tau) for SL and PSL; (lr, weight decay) for BPR.
# amazon2014-health is not in the paper: it takes Electronic's settings (same Amazon 2014 family).
PAPER_HPARAMS = {
    "amazon2014-electronic": {"sl": (0.01, 0.1), "bpr": (1e-3, 1e-5)},
    "gowalla": {"sl": (0.1, 0.05), "bpr": (1e-3, 1e-6)},
    "amazon2014-health": {"sl": (0.01, 0.1), "bpr": (1e-3, 1e-5)},
}

VARIANT_LOSSES = {
    "bpr": LossConfig(name="bpr", num_negatives=1),
    "sl": LossConfig(name="softmax"),
    "psl_tanh": LossConfig(name="psl", activation="tanh"),
    "psl_atan": LossConfig(name="psl", activation="atan"),
    "psl_relu": LossConfig(name="psl", activation="relu"),
    "psl_softplus": LossConfig(name="psl", activation="softplus"),
}


def shared_data_path(dataset: str) -> str:
    """``../shared/data/cf/<dataset>/proc.zip`` relative to the source checkout."""
    return str(
        Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cf" / dataset / "proc.zip"
    )


def paper_config(dataset: str, variant: str | None, *, path: str | None = None) -> CFExperiment:
    """The paper's protocol for ``dataset`` and ``variant`` (default ``mf-psl_tanh``): d = 64,
    batch 1024, N = 1000 uniform negatives (BPR: 1), Adam, 200 epochs, validation every 5 epochs
    on a 10% per-user split, model selection by NDCG@20."""
    if dataset not in PAPER_HPARAMS:
        raise ValueError(f"no paper settings for {dataset=}; known: {sorted(PAPER_HPARAMS)}")
    backbone, _, loss_name = (variant or "mf-psl_tanh").partition("-")
    if backbone not in ("mf", "lightgcn") or loss_name not in VARIANT_LOSSES:
        raise ValueError(
            f"variant {variant!r} must be '<mf|lightgcn>-<{'|'.join(VARIANT_LOSSES)}>'"
        )
    loss = VARIANT_LOSSES[loss_name]
    if loss.name == "bpr":
        lr, wd = PAPER_HPARAMS[dataset]["bpr"]
    else:
        (lr, tau), wd = PAPER_HPARAMS[dataset]["sl"], 0.0
        loss = dataclasses.replace(loss, temperature=tau)
    return CFExperiment(
        name=f"{dataset}-{backbone}-{loss_name}",
        batch_size=1024,
        data=DataConfig(
            source="ir_benchmark", path=path or shared_data_path(dataset), valid_fraction=0.1
        ),
        model=ModelConfig(backbone=backbone, dim=64, num_layers=2),
        loss=loss,
        optimizer=OptimizerConfig(name="adam", lr=lr, weight_decay=wd),
        loop=LoopConfig(epochs=200, eval_every=5, select_metric="ndcg@20"),
    )
