"""Configuration of a CTR experiment (frozen dataclasses; ``configs/ctr/<model>.py``).

Defaults follow FuxiCTR / the LLaCTR authors' ``model_config.yaml`` (spec §2.6): Adam lr 1e-3,
batch 4096, embedding 32, up to 100 epochs, early stopping on validation AUC with patience 2,
reduce-LR-on-plateau (x0.1, floor 1e-6), gradient clipping at norm 10 (FuxiCTR's
``max_gradient_norm``), seed 2024.
"""

from __future__ import annotations

import dataclasses

from jaxrec.data import shared_root
from jaxrec.train import LoopConfig, MeshConfig, OptimizerConfig

__all__ = [
    "BACKBONES",
    "CTRDataConfig",
    "CTRExperiment",
    "CTRLossConfig",
    "CTRModelConfig",
    "LLaCTRConfig",
    "ctr_config",
]

BACKBONES = ("lr", "fm", "fwfm", "fmfm", "deepfm", "dcnv2", "autoint", "finalmlp", "wukong")
LLACTR_BACKBONES = ("lr", "fm", "fwfm", "fmfm", "deepfm", "finalmlp", "wukong")


@dataclasses.dataclass(frozen=True)
class CTRDataConfig:
    """Attributes:
    source: "synthetic" (planted-interaction world, :func:`jaxrec.data.ctr.synthetic_ctr_world`),
      "movielens" (MovieLens 100K under ``root``) or "h5" (FuxiCTR h5 files under ``root``).
    root: data folder ("movielens", "h5").
    train, valid, test: h5 file names in ``root``; ``valid=""`` with ``holdout_fraction`` holds
      out the *last* rows of ``train`` instead (chronological data).
    holdout_fraction: share of ``train``'s last rows used for validation (needs ``valid=""``).
    synthetic_rows, synthetic_seed: size and seed of the planted world.
    """

    source: str = "synthetic"
    root: str = ""
    train: str = "train.h5"
    valid: str = "valid.h5"
    test: str = "test.h5"
    holdout_fraction: float = 0.0
    synthetic_rows: int = 20_000
    synthetic_seed: int = 0

    def __post_init__(self) -> None:
        if self.source not in ("synthetic", "movielens", "h5"):
            raise ValueError(f"data.source must be synthetic, movielens or h5, got {self.source!r}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(
                f"data.holdout_fraction must be in [0, 1), got {self.holdout_fraction}"
            )
        if self.source == "h5" and (self.holdout_fraction > 0) == bool(self.valid):
            raise ValueError(
                "h5 data needs either a valid file or holdout_fraction > 0 with valid='', got "
                f"{self.valid=}, {self.holdout_fraction=}"
            )


@dataclasses.dataclass(frozen=True)
class CTRModelConfig:
    """Backbone ``name`` (one of :data:`BACKBONES`) and its hyperparameters; each model reads its
    own: ``hidden`` (DeepFM, DCNv2, AutoInt+, FinalMLP stream 1, WuKong's final MLP), ``num_cross``
    (DCNv2), ``attention_*`` / ``num_heads`` / ``use_scale`` (AutoInt+; ``num_heads`` also
    FinalMLP's fusion heads), ``hidden2`` / ``gate_hidden`` (FinalMLP), ``num_layers`` /
    ``n_fmb`` / ``n_lcb`` / ``rank`` / ``fmb_hidden`` (WuKong)."""

    name: str = "deepfm"
    embedding_dim: int = 32
    hidden: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.0
    num_cross: int = 3
    attention_layers: int = 2
    attention_dim: int = 16
    num_heads: int = 1
    use_scale: bool = False
    hidden2: tuple[int, ...] = (800,)
    gate_hidden: tuple[int, ...] = (800,)
    num_layers: int = 3
    n_fmb: int = 16
    n_lcb: int = 16
    rank: int = 8
    fmb_hidden: tuple[int, ...] = (200, 200)

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            raise ValueError(f"model.name must be one of {BACKBONES}, got {self.name!r}")
        if self.dropout != 0.0:
            raise ValueError(
                "model.dropout > 0 is not supported by the CTR runner yet (the zoo's MLP would "
                f"hold its RNG stream in the model state), got {self.dropout=}"
            )


@dataclasses.dataclass(frozen=True)
class CTRLossConfig:
    """Attributes:
    embedding_regularizer: FuxiCTR's L2 ``embedding_regularizer`` lambda: the step loss adds
      ``lambda / 2 * ||table||^2`` over the whole embedding and first-order tables (FuxiCTR
      v2.3.10 ``regularization_loss``, p = 2).
    regularizer_scope: "table" (FuxiCTR v2, above) or "batch" (``lambda * sum(e^2) / B`` over the
      batch's gathered embeddings, :func:`jaxrec.models.ctr.l2_embedding`).
    """

    embedding_regularizer: float = 0.0
    regularizer_scope: str = "table"

    def __post_init__(self) -> None:
        if self.embedding_regularizer < 0 or self.regularizer_scope not in ("table", "batch"):
            raise ValueError(
                f"need embedding_regularizer >= 0 and regularizer_scope table|batch, got "
                f"{self.embedding_regularizer=}, {self.regularizer_scope=}"
            )


@dataclasses.dataclass(frozen=True)
class LLaCTRConfig:
    """LLaCTR (:mod:`jaxrec.ctr.llactr`); off unless ``lambda_loss > 0`` or ``lambda_llm > 0``.

    Attributes:
    field_embeddings: ``.npy`` [F, d] field-name embeddings (rows in the data's field order), or
      "random" for the control (standard normal [F, random_dim], seed ``random_seed``).
    lambda_loss: FRE's KL weight (0: no FRE).
    lambda_llm: FIE's logit weight (0: no FIE).
    fre_detach_target: stop the gradient through ``softmax(W h)`` (authors' code: False).
    fie_input_independent: the authors' FinalMLP/WuKong trick ``lambda_llm * sum s'`` instead of
      the paper's ``lambda_llm * sum s'_kl <e_k, e_l>`` (default False: the paper's form).
    """

    field_embeddings: str = ""
    random_dim: int = 4096
    random_seed: int = 0
    lambda_loss: float = 0.0
    lambda_llm: float = 0.0
    fre_detach_target: bool = False
    fie_input_independent: bool = False

    @property
    def enabled(self) -> bool:
        return self.lambda_loss > 0 or self.lambda_llm > 0

    def __post_init__(self) -> None:
        if self.lambda_loss < 0 or self.lambda_llm < 0:
            raise ValueError(f"need lambdas >= 0, got {self.lambda_loss=}, {self.lambda_llm=}")
        if self.enabled and not self.field_embeddings:
            raise ValueError("llactr needs field_embeddings (a .npy path or 'random')")


@dataclasses.dataclass(frozen=True)
class CTRExperiment:
    """One CTR training run (``jaxrec run ctr/<model>:<dataset>[-fre|-fie|-llactr]``).

    ``plateau_factor``: learning-rate factor after a validation without improvement (FuxiCTR's
    ``reduce_lr_on_plateau``; 1.0 disables it), floored at ``min_lr``. ``eval_batch_size``: rows
    per jitted evaluation call (a multiple of the device count)."""

    method: str = "ctr"
    name: str = "ctr-deepfm-synthetic"
    seed: int = 2024
    batch_size: int = 4096
    eval_batch_size: int = 8192
    plateau_factor: float = 0.1
    min_lr: float = 1e-6
    data: CTRDataConfig = CTRDataConfig()
    model: CTRModelConfig = CTRModelConfig()
    loss: CTRLossConfig = CTRLossConfig()
    llactr: LLaCTRConfig = LLaCTRConfig()
    optimizer: OptimizerConfig = OptimizerConfig(name="adam", lr=1e-3, clip_norm=10.0)
    loop: LoopConfig = LoopConfig(
        epochs=100, patience=2, select_metric="auc", select_mode="max", log_every_steps=0
    )
    mesh: MeshConfig = MeshConfig()

    def __post_init__(self) -> None:
        if self.optimizer.schedule != "constant":
            raise ValueError(
                "CTR runs use a constant lr reduced on plateau; got "
                f"optimizer.schedule={self.optimizer.schedule!r}"
            )
        if not 0.0 < self.plateau_factor <= 1.0 or self.min_lr < 0:
            raise ValueError(f"need 0 < plateau_factor <= 1, min_lr >= 0: {self.plateau_factor=}")


# dataset name -> (data, batch size, lr): the embedded synthetic default is small (16k rows)
# and learns its planted pairs at lr 1e-2 before patience 2 stops it.
_DATASETS = {
    "synthetic": (CTRDataConfig(source="synthetic"), 512, 1e-2),
    "movielens": (CTRDataConfig(source="movielens", root="ctr/movielens-100k"), 4096, 1e-3),
    "gift_cards": (
        CTRDataConfig(
            source="h5",
            root="ctr/amazon_gift_cards",
            train="valid.h5",
            valid="",
            test="test.h5",
            holdout_fraction=0.1,
        ),  # fmt: skip
        4096,
        1e-3,
    ),
}
# variant suffix -> (lambda_loss, lambda_llm): the grid of spec §2.6 holds both 0.1.
_VARIANTS = {"": (0.0, 0.0), "fre": (0.1, 0.0), "fie": (0.0, 0.1), "llactr": (0.1, 0.1)}


def ctr_config(model: CTRModelConfig, arg: str | None) -> CTRExperiment:
    """The experiment for ``arg = <dataset>[-fre|-fie|-llactr]`` (dataset: synthetic, movielens,
    gift_cards; default synthetic). Gift Cards trains on ``valid.h5`` (its last 10% held out
    for early stopping) and tests on ``test.h5`` (the train split is not shipped); its LLaCTR
    variants read the authors' SSFT epoch-1 field embeddings, MovieLens and synthetic random ones
    (``--set llactr.field_embeddings=PATH.npy`` for your own)."""
    dataset, _, variant = (arg or "synthetic").partition("-")
    if dataset not in _DATASETS or variant not in _VARIANTS:
        raise ValueError(f"variant must be <{'|'.join(_DATASETS)}>[-fre|-fie|-llactr], got {arg!r}")
    data, batch, lr = _DATASETS[dataset]
    if data.root:
        data = dataclasses.replace(data, root=str(shared_root() / data.root))
    lambda_loss, lambda_llm = _VARIANTS[variant]
    emb = ""
    if variant:
        emb = (
            str(shared_root() / "ctr" / "amazon_gift_cards" / "field_embeddings_epoch1.npy")
            if dataset == "gift_cards"
            else "random"
        )
    if variant and model.name not in LLACTR_BACKBONES:
        raise ValueError(f"LLaCTR variants are defined for {LLACTR_BACKBONES}, not {model.name}")
    return CTRExperiment(
        name=f"ctr-{model.name}-{dataset}" + (f"-{variant}" if variant else ""),
        batch_size=batch,
        data=data,
        optimizer=OptimizerConfig(name="adam", lr=lr, clip_norm=10.0),
        model=model,
        llactr=LLaCTRConfig(field_embeddings=emb, lambda_loss=lambda_loss, lambda_llm=lambda_llm),
    )
