"""Configuration of an ``llmservice`` run (``jaxrec run llmservice/<name>``)."""

from __future__ import annotations

import dataclasses

from jaxrec.llmservice.evaluate import EstimationConfig
from jaxrec.llmservice.simulate import SimConfig

__all__ = ["LLMServiceExperiment"]


@dataclasses.dataclass(frozen=True)
class LLMServiceExperiment:
    """Attributes:
    name: run name; method: ``"llmservice"`` (the CLI runner key).
    world: ``"simulated"`` (:mod:`jaxrec.llmservice.simulate`) or ``"hf"``
      (:mod:`jaxrec.llmservice.hf_world`: ``services`` local HF folders on ``task_folder``).
    services, task_folder, num_contexts, num_examples, shots, demo_pool, max_new_tokens: the HF
      world's inputs (see :func:`jaxrec.llmservice.hf_world.hf_world`).
    sim: the simulated world's sizes and planted effects.
    estimation: features, profile size, folds, meta-models and their search.
    ablation: also run each single feature of ``estimation.features`` alone (paper Table 3)
      with the meta-models ``ablation_models``.
    sample_study: numbers of unlabelled examples per setting for the sample-size study (RF);
      empty: skip.
    selection_method: whose estimates pick services and contexts (the paper: RF).
    seed: world draw, folds, searches and Sample_n draws.
    """

    name: str = "llmservice-simulated"
    method: str = "llmservice"
    world: str = "simulated"
    sim: SimConfig = SimConfig()
    services: tuple[str, ...] = ()
    task_folder: str = ""
    num_contexts: int = 10
    num_examples: int = 200
    shots: int = 3
    demo_pool: int = 20
    max_new_tokens: int = 16
    estimation: EstimationConfig = EstimationConfig()
    ablation: bool = True
    ablation_models: tuple[str, ...] = ("knn3", "mlp", "rf", "xgb")
    sample_study: tuple[int, ...] = (50, 100, 200, 400)
    selection_method: str = "rf"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.world not in ("simulated", "hf"):
            raise ValueError(f"world must be 'simulated' or 'hf', got {self.world!r}")
        if self.world == "hf" and not (self.services and self.task_folder):
            raise ValueError("world='hf' needs services (HF folders) and a task_folder")
        if self.selection_method not in self.estimation.meta_models:
            raise ValueError(
                f"selection_method {self.selection_method!r} is not among the meta-models "
                f"{self.estimation.meta_models}"
            )
