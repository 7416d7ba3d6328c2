"""Collaborative filtering with the PSL loss family (Yang et al., NeurIPS 2024) and its
baselines (SL, BPR) on MF and LightGCN backbones."""

from jaxrec.cf.config import (
    CFExperiment,
    DataConfig,
    EvalConfig,
    LossConfig,
    ModelConfig,
    default_config,
)

__all__ = [
    "CFExperiment",
    "DataConfig",
    "EvalConfig",
    "LossConfig",
    "ModelConfig",
    "default_config",
]
