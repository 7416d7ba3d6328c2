"""MSL+ATS fine-tuning of a local Hugging Face decoder checkpoint with LoRA (paper scale).

Paper setup (spec §2.7): LLaMA3-8B base, LoRA r = 8, alpha = 16 on q_proj/v_proj, global batch
128, AdamW lr 1e-4 with 20 warm-up steps then linear decay, 10 epochs, Alpaca prompt, CBS with
10 beams. jaxrec runs it in bf16 (no 8-bit base; expect small differences, pitfall 6.9).

Run on a GPU/TPU host (the mesh shards the batch over data and parameters over fsdp):
  jaxrec run msl/hf_lora:/path/to/Meta-Llama-3-8B --set mesh.fsdp=8
(data: the Amazon Books folder of configs/msl/amazon_books.py; --set data.path=... for another).
The argument is the checkpoint folder (config.json, *.safetensors, tokenizer files); it is loaded
with jaxrec.models.llm.load_pretrained and its own tokenizer (no hub access). Titles whose
response tokenises differently inside the prompt are reported (set data.drop_mismatched=true to
drop them with a warning).
"""

from jaxrec.data import shared_root
from jaxrec.llmrec.config import (
    CBSConfig,
    DataConfig,
    LossConfig,
    ModelConfig,
    MSLExperiment,
    ats_preset,
)
from jaxrec.train import LoopConfig, MeshConfig, OptimizerConfig


def get_config(arg: str | None = None) -> MSLExperiment:
    # Without an argument the placeholder path fails at run time with "tokenizer folder not found".
    arg = arg or "/path/to/Meta-Llama-3-8B"
    return MSLExperiment(
        name="hf_lora-msl_ats",
        batch_size=128,
        data=DataConfig(
            source="llmrec_csv",
            path=str(shared_root() / "llmrec" / "amazon_books"),
            dataset="book",
            prompt_style="alpaca",
            max_prompt_len=512,
            max_history=10,
            tokenizer=arg,
        ),
        model=ModelConfig(
            pretrained=arg,
            lora_rank=8,
            lora_alpha=16.0,
            lora_targets=("q_proj", "v_proj"),
            dtype="bfloat16",
        ),
        loss=LossConfig(name="msl", temperature=1.5, ats=ats_preset("code")),
        cbs=CBSConfig(num_beams=10, num_return=10, batch_size=16),
        optimizer=OptimizerConfig(name="adamw", lr=1e-4, schedule="linear", warmup_steps=20),
        loop=LoopConfig(epochs=10, eval_every=1, select_metric="ndcg@5"),
        mesh=MeshConfig(data=-1, fsdp=1),
    )
