"""SOFT on Amazon Books (MSL's copy of the data, spec §3.2) with a small decoder trained from
scratch: a plain-LM pre-trained base (it also provides the embeddings), then SFT (LoRA) ->
y_hat -> SOFT (LoRA), grounding HR/NDCG@{1,5,10,20,50}.

Run:  jaxrec run soft/amazon_books                (SOFT, alpha 1)
      jaxrec run soft/amazon_books:soft_wo_sa
      jaxrec run soft/amazon_books:sft
      jaxrec run soft/amazon_books:soft@10        (alpha 10; the grid is 100, 10, 1, 0.1)
      jaxrec run soft/amazon_books:soft-cpu       (the 2-core budget, any variant + "-cpu")
Sampling mirrors SOFT: train 4,096 windows of train_10000.csv and test 1,000 of test_5000.csv
(seed 42), validation 512 chronologically last windows of train.csv not in train_10000.csv.
Data: ../shared/data/llmrec/amazon_books (--set data.path=... for another folder).
"""

import dataclasses

from jaxrec.data import shared_root
from jaxrec.llmrec.config import DataConfig, ModelConfig
from jaxrec.llmrec.soft_config import GenerationConfig, SOFTExperiment
from jaxrec.train import LoopConfig, OptimizerConfig


def get_config(arg: str | None = None) -> SOFTExperiment:
    spec = (arg or "soft").removesuffix("-cpu")
    variant, _, alpha = spec.partition("@")
    cfg = SOFTExperiment(
        name=f"amazon_books-{variant}" + (f"-a{alpha}" if alpha else ""),
        batch_size=64,
        variant=variant,
        alpha=float(alpha or 1.0),
        sample_train=4096,
        sample_test=1000,
        num_probes=256,
        base_epochs=6,
        base_lr=1e-3,
        data=DataConfig(
            source="llmrec_csv",
            path=str(shared_root() / "llmrec" / "amazon_books"),
            dataset="book",
            prompt_style="compact",
            max_prompt_len=160,
            max_history=5,
            history_title_words=16,
            num_valid=512,
            bpe_vocab_size=6000,
        ),  # fmt: skip
        model=ModelConfig(
            num_layers=4,
            dim=256,
            num_heads=8,
            num_kv_heads=4,
            mlp_dim=768,
            lora_rank=8,
            lora_alpha=16.0,
            lora_targets=("q_proj", "v_proj", "down_proj"),
        ),  # fmt: skip
        generation=GenerationConfig(num_beams=4, max_new_tokens=64, batch_size=64),
        optimizer=OptimizerConfig(name="adamw", lr=1e-3, schedule="constant", warmup_steps=20),
        sft_loop=LoopConfig(epochs=7, patience=2, select_metric="hr@10"),
        loop=LoopConfig(epochs=7, patience=0, select_metric="hr@10"),
    )
    if arg and "-cpu" in arg:
        cfg = dataclasses.replace(
            cfg, name=cfg.name + "-cpu", base_epochs=3, num_probes=128,
            data=dataclasses.replace(cfg.data, max_prompt_len=80, max_history=3,
                                     history_title_words=8, bpe_vocab_size=4000),
            model=dataclasses.replace(cfg.model, num_layers=2, dim=128, mlp_dim=384),
            generation=dataclasses.replace(cfg.generation, max_new_tokens=32),
            sft_loop=dataclasses.replace(cfg.sft_loop, epochs=4),
            loop=dataclasses.replace(cfg.loop, epochs=4),
        )  # fmt: skip
    return cfg
