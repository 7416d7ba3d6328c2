"""SOFT with LoRA on a local Hugging Face decoder checkpoint (paper scale, spec §2.4):
Llama-3.2-3B-shaped base, LoRA r 8 / alpha 16 / dropout 0.05 on q_proj and v_proj, global batch
256, AdamW lr 1e-4 constant with 20 warm-up steps, 7 epochs with early stopping (patience 2 on
validation HR@10), 4-beam top-1 generation with 64 new tokens, Alpaca prompt, alpha 1.

Run on a GPU/TPU host (the mesh shards the batch over data and the parameters over fsdp):
  jaxrec run soft/hf_lora:/path/to/Llama-3.2-3B --set mesh.fsdp=8
The argument is the checkpoint folder (config.json, *.safetensors, tokenizer files), loaded with
jaxrec.models.llm.load_pretrained and its own tokenizer; that base (LoRA disabled) is the encoder.
Data: the Amazon Books folder of configs/soft/amazon_books.py (--set data.path=...).
"""

import dataclasses

from jaxrec.llmrec.config import ModelConfig
from jaxrec.train import OptimizerConfig


def get_config(arg: str | None = None):
    import importlib.util
    from pathlib import Path

    # Without an argument the placeholder path fails at run time with "tokenizer folder not found".
    arg = arg or "/path/to/Llama-3.2-3B"
    path = Path(__file__).resolve().parent / "amazon_books.py"
    spec = importlib.util.spec_from_file_location("soft_amazon_books", path)
    books = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(books)
    cfg = books.get_config("soft")
    return dataclasses.replace(
        cfg, name="hf_lora-soft", batch_size=256, base_epochs=0,
        data=dataclasses.replace(cfg.data, prompt_style="alpaca", tokenizer=arg,
                                 max_prompt_len=640),
        model=ModelConfig(pretrained=arg, lora_rank=8, lora_alpha=16.0,
                          lora_targets=("q_proj", "v_proj"), dtype="bfloat16"),
        optimizer=OptimizerConfig(name="adamw", lr=1e-4, schedule="constant", warmup_steps=20),
    )  # fmt: skip
