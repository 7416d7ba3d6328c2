"""SOFT on the synthetic genre-title world (planted signal; minutes on a CPU).

Run:  jaxrec run soft/synthetic               (SOFT, alpha 1)
      jaxrec run soft/synthetic:soft_wo_sa    (y_hat only, no scheduler)
      jaxrec run soft/synthetic:sft           (y only, same epochs)
      jaxrec run soft/synthetic:soft@10       (alpha 10; any of 100, 10, 1, 0.1)
A from-scratch decoder is first pre-trained as a plain LM on the titles and training sequences
(the base; it also provides the embeddings), then SFT (LoRA) -> y_hat -> SOFT (LoRA).
"""

from jaxrec.llmrec.config import DataConfig, ModelConfig
from jaxrec.llmrec.soft_config import GenerationConfig, SOFTExperiment
from jaxrec.train import LoopConfig, OptimizerConfig


def get_config(arg: str | None = None) -> SOFTExperiment:
    variant, _, alpha = (arg or "soft").partition("@")
    return SOFTExperiment(
        name=f"synthetic-{variant}" + (f"-a{alpha}" if alpha else ""),
        batch_size=32,
        variant=variant,
        alpha=float(alpha or 1.0),
        num_probes=64,
        base_epochs=4,
        base_lr=3e-3,
        data=DataConfig(num_valid=100, max_test_rows=200, synthetic_users=400),
        model=ModelConfig(
            lora_rank=8, lora_alpha=16.0, lora_targets=("q_proj", "v_proj", "down_proj")
        ),
        generation=GenerationConfig(num_beams=4, max_new_tokens=24, batch_size=64),
        optimizer=OptimizerConfig(name="adamw", lr=3e-3, schedule="constant", warmup_steps=10),
        sft_loop=LoopConfig(epochs=4, patience=2, select_metric="hr@10"),
        loop=LoopConfig(epochs=4, patience=0, select_metric="hr@10"),
    )
