"""Label-free LLM-service performance estimation on the simulated world (13 tasks x 5 services
x 50 contexts, 400 unlabelled examples per setting): Table 1, the NLL/PPL ablation, the
sample-size study and service/context selection in a few minutes on CPU.

Run:  jaxrec run llmservice/simulated          (RF / XGB searched with n_iter 20, cv 5)
      jaxrec run llmservice/simulated:paper    (the paper's n_iter 300: hours on 2 cores)
      jaxrec run llmservice/simulated:quick    (a smaller world, n_iter 3: under a minute)
"""

import dataclasses

from jaxrec.llmservice.config import LLMServiceExperiment
from jaxrec.llmservice.evaluate import EstimationConfig
from jaxrec.llmservice.simulate import SimConfig

VARIANTS = ("default", "paper", "quick")


def get_config(arg: str | None = None) -> LLMServiceExperiment:
    variant = arg or "default"
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {list(VARIANTS)}")
    est = EstimationConfig(n_iter={"default": 20, "paper": 300, "quick": 3}[variant], n_jobs=2)
    cfg = LLMServiceExperiment(name=f"llmservice-simulated-{variant}", estimation=est)
    if variant == "quick":
        cfg = dataclasses.replace(
            cfg,
            sim=SimConfig(num_contexts=10, num_examples=200),
            estimation=dataclasses.replace(est, cv=3),
            sample_study=(50, 200),
        )
    return cfg
