"""Configuration of a SOFT experiment (SOFT spec §2.3-2.4): base -> SFT -> self-distillation ->
SOFT (or an ablation), decoded with unconstrained beam search and evaluated by BIGRec grounding.

Defaults follow the authors' code (the paper's body is not public); every difference is a named
switch documented on its field. Data and decoder reuse MSL's :class:`DataConfig` /
:class:`ModelConfig`.
"""

from __future__ import annotations

import dataclasses

from jaxrec.llmrec.config import DataConfig, ModelConfig
from jaxrec.llmrec.soft_objective import VARIANTS
from jaxrec.train import LoopConfig, MeshConfig, OptimizerConfig

__all__ = ["GenerationConfig", "SOFTExperiment", "SD_TARGETS"]

SD_TARGETS = ("top1", "nearest_beam", "grounded")


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """Unconstrained beam search for y_hat, the scheduler's probes and evaluation.

    Attributes:
      num_beams: beams (code: 4); the top-1 is used.
      max_new_tokens: generation budget (code: 64); a hypothesis without EOS stops there and is
        counted (``never_eos`` in the stage summaries), its text used as it is.
      batch_size: prompts per jitted call.
    """

    num_beams: int = 4
    max_new_tokens: int = 64
    batch_size: int = 64


@dataclasses.dataclass(frozen=True)
class SOFTExperiment:
    """One SOFT run.

    Attributes:
      variant: ``"soft"`` (curriculum), ``"soft_wo_sa"`` (y_hat only) or ``"sft"`` (y only).
      alpha: curriculum sharpness (> 0; code default 1, grid {100, 10, 1, 0.1}).
      sd_target: ``"top1"`` the top-1 beam's raw text (code); ``"nearest_beam"`` the beam nearest
        to y in embedding space; ``"grounded"`` the nearest catalogue title of the top-1 beam.
      init_from: ``"base"`` fresh LoRA on the base (code) or ``"sft"`` (start from the SFT model).
      lambda_every_steps: also update lambda every this many steps (0: once per epoch, code).
      num_probes: the scheduler's fixed probe prompts (code: 256; must not exceed train).
      sample_train, sample_test: draw this many training / test windows at random with
        ``sample_seed`` (SOFT samples train 4,096 and test 1,000 with seed 42); 0 keeps all.
      sample_seed: the sampling seed (42 in the authors' code).
      base_epochs: from-scratch models only: epochs of plain-LM pre-training of the base on all
        titles and training sequences (it then provides the embeddings); 0 for a pretrained base.
      base_lr: that pre-training's learning rate.
      sft_loop: the SFT stage (early stopping on validation HR@10, patience 2).
      loop: the SOFT stage (same epochs for every variant).
    """

    method: str = "soft"
    name: str = "synthetic-soft"
    seed: int = 0
    batch_size: int = 32
    variant: str = "soft"
    alpha: float = 1.0
    sd_target: str = "top1"
    init_from: str = "base"
    lambda_every_steps: int = 0
    num_probes: int = 256
    sample_train: int = 0
    sample_test: int = 0
    sample_seed: int = 42
    base_epochs: int = 0
    base_lr: float = 3e-3
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    generation: GenerationConfig = GenerationConfig()
    optimizer: OptimizerConfig = OptimizerConfig(
        name="adamw", lr=1e-4, schedule="constant", warmup_steps=20
    )
    sft_loop: LoopConfig = LoopConfig(epochs=7, patience=2, select_metric="hr@10")
    loop: LoopConfig = LoopConfig(epochs=7, patience=2, select_metric="hr@10")
    mesh: MeshConfig = MeshConfig()

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; expected one of {VARIANTS}")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if self.sd_target not in SD_TARGETS:
            raise ValueError(f"unknown sd_target {self.sd_target!r}; expected one of {SD_TARGETS}")
        if self.init_from not in ("base", "sft"):
            raise ValueError(f"init_from must be 'base' or 'sft', got {self.init_from!r}")
        if self.num_probes < 1 or self.lambda_every_steps < 0 or self.base_epochs < 0:
            raise ValueError("need num_probes >= 1, lambda_every_steps >= 0, base_epochs >= 0")
