"""Decoder-only LLMs (Llama / Qwen2 / Mistral) in Flax NNX: KV-cache decoding, LoRA, and
Hugging Face checkpoint interop. See README.md in this folder."""

from jaxrec.models.llm.cache import KVCache
from jaxrec.models.llm.config import SUPPORTED_MODEL_TYPES, Llama3RopeScaling, LLMConfig
from jaxrec.models.llm.decoder import Decoder
from jaxrec.models.llm.generate import Generation, greedy_generate
from jaxrec.models.llm.hf import hf_name_map, load_config, load_pretrained, save_pretrained
from jaxrec.models.llm.lora import LORA_TARGETS, LoRAConfig, add_lora, has_lora, merge_lora

__all__ = [
    "LORA_TARGETS",
    "SUPPORTED_MODEL_TYPES",
    "Decoder",
    "Generation",
    "KVCache",
    "LLMConfig",
    "Llama3RopeScaling",
    "LoRAConfig",
    "add_lora",
    "greedy_generate",
    "has_lora",
    "hf_name_map",
    "load_config",
    "load_pretrained",
    "merge_lora",
    "save_pretrained",
]
