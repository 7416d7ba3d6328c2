"""Configuration of a collaborative-filtering experiment (PSL and its baselines).

Defaults follow the PSL paper (Yang et al., NeurIPS 2024) and, where the authors' code
(IR-Benchmark) differs, the code's behaviour that produced the paper's tables; every such
choice has a named switch (see ``LossConfig``).
"""

from __future__ import annotations

import dataclasses

from jaxrec.train import LoopConfig, MeshConfig, OptimizerConfig

__all__ = [
    "DataConfig",
    "ModelConfig",
    "LossConfig",
    "EvalConfig",
    "CFExperiment",
    "VARIANT_LOSSES",
    "default_config",
    "parse_variant",
    "table_b2",
]

LOSSES = ("softmax", "psl", "bpr")
ACTIVATIONS = ("tanh", "atan", "relu", "softplus", "exp")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Attributes:
    source: "synthetic" (planted latent factors), "ir_benchmark" (``proc.zip`` or a folder with
      train.tsv/test.tsv), "lightgcn" (folder with train.txt/test.txt) or "tfds" (a dataset
      prepared by tensorflow-datasets as ArrayRecord with "train" and "test" splits of
      ``{"user", "item"}`` records; training batches stream through grain, sharded by process).
    path: file or folder for the real sources (for "tfds": the TFDS ``data_dir``).
    tfds_name: registered TFDS dataset name (source "tfds").
    valid_fraction: share of each user's training items held out for validation (paper: 10%).
    split_seed: seed of the validation split.
    synthetic_*: size of the synthetic world.
    """

    source: str = "synthetic"
    path: str = ""
    tfds_name: str = ""
    valid_fraction: float = 0.1
    split_seed: int = 0
    synthetic_users: int = 1500
    synthetic_items: int = 800
    synthetic_dim: int = 16
    synthetic_per_user: int = 40

    def __post_init__(self) -> None:
        if self.source not in ("synthetic", "ir_benchmark", "lightgcn", "tfds"):
            raise ValueError(
                f"data.source must be synthetic, ir_benchmark, lightgcn or tfds, got {self.source=}"
            )
        if self.source == "tfds" and (not self.tfds_name or self.valid_fraction):
            raise ValueError(
                "data.source='tfds' needs data.tfds_name and data.valid_fraction=0 "
                "(the streamed train split cannot be re-split in memory)"
            )
        if self.source != "synthetic" and not self.path:
            raise ValueError(f"data.path is required for data.source={self.source!r}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ValueError(f"data.valid_fraction must be in [0, 1), got {self.valid_fraction=}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Attributes:
    backbone: "mf" or "lightgcn".
    dim: embedding size (paper: 64).
    num_layers: LightGCN propagation layers (paper: 2).
    init_std: N(0, std^2) initialisation (paper code: torch nn.Embedding default, std 1).
    """

    backbone: str = "mf"
    dim: int = 64
    num_layers: int = 2
    init_std: float = 1.0

    def __post_init__(self) -> None:
        if self.backbone not in ("mf", "lightgcn"):
            raise ValueError(f"model.backbone must be mf or lightgcn, got {self.backbone=}")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Attributes:
    name: "softmax" (SL), "psl" or "bpr".
    activation: PSL surrogate sigma: tanh, atan, relu (paper) or softplus, exp (ablations).
    temperature: the paper's tau (the authors' ``--tau_star``).
    score_scale: PSL/BPR-normalised score ``score_scale * cos`` (paper and code: 1/2).
    sl_score_scale: SL score scale. Default 1.0 = the authors' code (raw cosine), which produced
      every reported SL number; 0.5 = the paper's notation (README.md, "PSL").
    include_positive: add the j = i term (paper eq. 4.1) to the sum; the code excludes it.
    temperature_placement: "outside" (paper, sigma(d)^(1/tau)) or "inside" (ablation sigma(d/tau)).
    num_negatives: uniformly sampled negatives per positive (paper: 1000; BPR: 1).
    sampler: "exclude_positives" (uniform over items the user has not interacted with, as the
      authors' sampler) or "uniform" (all items, cheaper ablation).
    bpr_normalize: BPR on cosine scores instead of the paper's plain inner product.
    scoring: how the B x (1+N) scores are computed (same values): "gather" item rows, "full"
      B x I score matrix then pick columns, or "auto" (full when I < d (1 + N)).
    """

    name: str = "psl"
    activation: str = "tanh"
    temperature: float = 0.1
    score_scale: float = 0.5
    sl_score_scale: float = 1.0
    include_positive: bool = False
    temperature_placement: str = "outside"
    num_negatives: int = 1000
    sampler: str = "exclude_positives"
    bpr_normalize: bool = False
    scoring: str = "auto"

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ValueError(f"loss.name must be one of {LOSSES}, got {self.name=}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"loss.activation must be one of {ACTIVATIONS}, got {self.activation=}"
            )
        if self.temperature <= 0 or self.num_negatives < 1:
            raise ValueError(
                f"need temperature > 0 and num_negatives >= 1, got {self.temperature=}, {self.num_negatives=}"
            )
        if self.sampler not in ("exclude_positives", "uniform"):
            raise ValueError(
                f"loss.sampler must be exclude_positives or uniform, got {self.sampler=}"
            )
        if self.scoring not in ("auto", "gather", "full"):
            raise ValueError(f"loss.scoring must be auto, gather or full, got {self.scoring=}")
        if self.temperature_placement not in ("outside", "inside"):
            raise ValueError(
                f"loss.temperature_placement must be outside or inside, got {self.temperature_placement=}"
            )


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Attributes:
    ks: cut-offs for Recall/NDCG/Precision/HitRate/MRR@K.
    batch_size: users per evaluation batch (bounds memory at batch_size x num_items scores).
    mask_valid_items_at_test: also exclude validation items when ranking for test (cleaner
      protocol); the authors' code leaves them in the candidate list (default, comparable).
    """

    ks: tuple[int, ...] = (20,)
    batch_size: int = 1024
    mask_valid_items_at_test: bool = False


@dataclasses.dataclass(frozen=True)
class CFExperiment:
    """One collaborative-filtering run: data, backbone, loss, optimisation, loop, mesh.

    The defaults are the PSL paper's protocol: d = 64, batch 1024, N = 1000 uniform negatives,
    Adam, 200 epochs, validation every 5 epochs on a 10% per-user split, selection by NDCG@20.
    """

    method: str = "psl"
    name: str = "synthetic-mf-psl_tanh"
    seed: int = 0
    batch_size: int = 1024
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    eval: EvalConfig = EvalConfig()
    optimizer: OptimizerConfig = OptimizerConfig(name="adam", lr=0.01)
    loop: LoopConfig = LoopConfig(epochs=200, eval_every=5, select_metric="ndcg@20")
    mesh: MeshConfig = MeshConfig()


def default_config() -> CFExperiment:
    """The embedded default: MF + PSL-tanh on a planted-factor synthetic world (about a minute
    on a 2-core CPU)."""
    return CFExperiment(
        name="synthetic-mf-psl_tanh",
        batch_size=512,
        model=ModelConfig(dim=32),
        loss=LossConfig(name="psl", activation="tanh", temperature=0.1, num_negatives=128),
        optimizer=OptimizerConfig(name="adam", lr=0.05),
        loop=LoopConfig(epochs=20, eval_every=2, select_metric="ndcg@20"),
    )


# The PSL paper's grid (configs/psl/*.py): variant "<backbone>-<loss>".
VARIANT_LOSSES = {
    "bpr": LossConfig(name="bpr", num_negatives=1),
    "sl": LossConfig(name="softmax"),
    "psl_tanh": LossConfig(name="psl", activation="tanh"),
    "psl_atan": LossConfig(name="psl", activation="atan"),
    "psl_relu": LossConfig(name="psl", activation="relu"),
    "psl_softplus": LossConfig(name="psl", activation="softplus"),
}


def parse_variant(variant: str | None) -> tuple[str, str]:
    """``"<mf|lightgcn>-<loss>"`` (default ``mf-psl_tanh``) -> (backbone, loss key of
    ``VARIANT_LOSSES``)."""
    backbone, _, loss_name = (variant or "mf-psl_tanh").partition("-")
    if backbone not in ("mf", "lightgcn") or loss_name not in VARIANT_LOSSES:
        raise ValueError(
            f"variant {variant!r} must be '<mf|lightgcn>-<{'|'.join(VARIANT_LOSSES)}>'"
        )
    return backbone, loss_name


def table_b2(
    loss_name: str, *, sl: tuple[float, float], bpr: tuple[float, float]
) -> tuple[LossConfig, OptimizerConfig]:
    """Loss and Adam settings of one row of the PSL paper's Table B.2: ``sl = (lr, tau)`` for SL
    and every PSL activation, ``bpr = (lr, weight_decay)`` for BPR."""
    loss = VARIANT_LOSSES[loss_name]
    if loss.name == "bpr":
        lr, weight_decay = bpr
        return loss, OptimizerConfig(name="adam", lr=lr, weight_decay=weight_decay)
    lr, tau = sl
    return dataclasses.replace(loss, temperature=tau), OptimizerConfig(name="adam", lr=lr)
