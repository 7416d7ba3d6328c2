"""Configuration of a TBCNet experiment (frozen dataclasses; ``configs/tbcnet/*.py``)."""

from __future__ import annotations

import dataclasses

from jaxrec.train import LoopConfig, MeshConfig, OptimizerConfig
from jaxrec.vision.tbcnet.model import TBCNetModelConfig

__all__ = ["DataConfig", "LossConfig", "TBCNetExperiment"]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Attributes:
    source: "synthetic" (:mod:`jaxrec.vision.tbcnet.world`).
    protocol: "cs" (3 views, split by scene) or "cv" (train cameras 0-1, test camera 2 twice).
    num_scenes, clips_per_scene, digits_per_scene: size of the world; world_seed: its seed.
    valid_fraction: share of the training clips held out for model selection.
    """

    source: str = "synthetic"
    protocol: str = "cv"
    num_scenes: int = 12
    clips_per_scene: int = 40
    digits_per_scene: int = 20
    world_seed: int = 0
    valid_fraction: float = 0.15

    def __post_init__(self) -> None:
        if self.source != "synthetic":
            raise ValueError(f"data.source must be 'synthetic', got {self.source!r}")
        if self.protocol not in ("cs", "cv"):
            raise ValueError(f"data.protocol must be 'cs' or 'cv', got {self.protocol!r}")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Attributes (defaults: jaxrec's, see spec §2.6; authors' code quirks are switches):
    mode: "c" (trunk CE in both stages), "cv" (CE + TBC, weights 1), "cvl" (weighted TBC).
    temperature: tau (0.7). view_weight, tbc_weight: the 0.5 and 0.5 of the total loss.
    double_softmax, extra_positive_term, shift_row_max: the authors' code's behaviour.
    """

    mode: str = "cvl"
    temperature: float = 0.7
    view_weight: float = 0.5
    tbc_weight: float = 0.5
    double_softmax: bool = False
    extra_positive_term: bool = False
    shift_row_max: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("c", "cv", "cvl"):
            raise ValueError(f"loss.mode must be c, cv or cvl, got {self.mode!r}")


@dataclasses.dataclass(frozen=True)
class TBCNetExperiment:
    """Two-stage TBCNet run: stage 1 trains the trunk with CE for ``stage1_epochs``; stage 2
    (``loop.epochs``) starts from stage 1's best weights and adds the branches, view classifiers
    and the contrastive loss (mode "c": the trunk alone again). Authors: AdamW lr 1e-5, wd 1e-5,
    batch 16, seed 7."""

    method: str = "tbcnet"
    name: str = "tbcnet-synthetic-cv-cvl"
    seed: int = 7
    batch_size: int = 16
    stage1_epochs: int = 10
    data: DataConfig = DataConfig()
    model: TBCNetModelConfig = TBCNetModelConfig()
    loss: LossConfig = LossConfig()
    optimizer: OptimizerConfig = OptimizerConfig(name="adamw", lr=1e-5, weight_decay=1e-5)
    loop: LoopConfig = LoopConfig(epochs=10, select_metric="top1")
    mesh: MeshConfig = MeshConfig()

    def __post_init__(self) -> None:
        views = 3 if self.data.protocol == "cs" else 2
        if self.model.views != views:
            raise ValueError(
                f"protocol {self.data.protocol!r} needs model.views={views}, got {self.model.views}"
            )
        if self.stage1_epochs < 1:
            raise ValueError(f"stage1_epochs must be >= 1, got {self.stage1_epochs}")
