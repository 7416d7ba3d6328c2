"""Decoder configuration and its translation to and from a Hugging Face ``config.json`` dict.

Supported families (``model_type``): ``llama``, ``mistral``, ``qwen2``. They share one
architecture (pre-norm RMSNorm blocks, rotary attention with grouped KV heads, SwiGLU MLP) and
differ only in flags this config carries: Qwen2 has biases on q/k/v, Llama 3 rescales rotary
frequencies (``rope_scaling``), Mistral may use a sliding attention window. Anything else a config
asks for (other rope types, per-layer sliding windows, MLP or output biases, other activations)
is rejected with an error naming the field, rather than silently computed differently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp

__all__ = ["SUPPORTED_MODEL_TYPES", "LLMConfig", "Llama3RopeScaling"]

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2")
_ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
}
_DTYPES = ("float32", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class Llama3RopeScaling:
    """Llama 3.1 rotary frequency rescaling (``rope_type="llama3"``).

    With ``L = original_max_position_embeddings`` and wavelength ``w = 2 pi / f`` of a frequency
    ``f``: ``w < L / high_freq_factor`` keeps ``f``; ``w > L / low_freq_factor`` uses
    ``f / factor``; in between ``f`` is interpolated, ``(1 - s) f / factor + s f`` with
    ``s = (L / w - low_freq_factor) / (high_freq_factor - low_freq_factor)``.
    """

    factor: float = 8.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192

    def __post_init__(self) -> None:
        if not self.factor > 0:
            raise ValueError(f"rope_scaling.factor must be > 0, got {self.factor=}")
        if not self.high_freq_factor > self.low_freq_factor > 0:
            raise ValueError(
                "rope_scaling needs high_freq_factor > low_freq_factor > 0, got "
                f"{self.low_freq_factor=}, {self.high_freq_factor=}"
            )
        if self.original_max_position_embeddings < 1:
            raise ValueError(f"{self.original_max_position_embeddings=} must be >= 1")


@dataclasses.dataclass(frozen=True)
class LLMConfig:
    """Shape and numerics of a decoder-only transformer.

    Attributes:
      vocab_size: rows of the token embedding V.
      hidden_size: model width D.
      intermediate_size: SwiGLU hidden width F.
      num_layers: number of decoder blocks L.
      num_heads: query heads H.
      num_kv_heads: key/value heads Hkv (H % Hkv == 0; Hkv < H is grouped-query attention).
      head_dim: per-head width Dh (None: D // H).
      rope_theta: rotary base.
      rope_scaling: None or Llama 3 frequency rescaling.
      rms_norm_eps: epsilon inside RMSNorm.
      tie_embeddings: output projection is the transposed token embedding.
      qkv_bias: q/k/v projections carry a bias (Qwen2).
      sliding_window: None, or attend only to the last ``sliding_window`` tokens (Mistral).
      max_position_embeddings: longest sequence the checkpoint was trained for (metadata).
      dtype: compute dtype of activations and matmuls ("float32", "bfloat16", "float16");
        norms, softmax and logits are computed in float32.
      param_dtype: storage dtype of parameters.
      remat: rematerialise each block's activations in the backward pass.
      scan_layers: run the blocks with ``lax.scan`` (True) or an unrolled Python loop (False);
        both read the same stacked ``[L, ...]`` parameters and give identical results.
      init_std: standard deviation of the normal initialiser for fresh weights.
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int | None = None
    rope_theta: float = 10000.0
    rope_scaling: Llama3RopeScaling | None = None
    rms_norm_eps: float = 1e-6
    tie_embeddings: bool = False
    qkv_bias: bool = False
    sliding_window: int | None = None
    max_position_embeddings: int = 2048
    dtype: str = "float32"
    param_dtype: str = "float32"
    remat: bool = False
    scan_layers: bool = True
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"LLMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_heads < 1 or self.num_kv_heads < 1 or self.num_heads % self.num_kv_heads:
            raise ValueError(
                "LLMConfig needs num_heads to be a positive multiple of num_kv_heads, got "
                f"{self.num_heads=}, {self.num_kv_heads=}"
            )
        if self.head_dim is None and self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}; "
                "set head_dim explicitly"
            )
        if self.dim_per_head % 2:
            raise ValueError(f"rotary embeddings need an even head_dim, got {self.dim_per_head}")
        if self.sliding_window is not None and self.sliding_window < 1:
            raise ValueError(
                f"LLMConfig.sliding_window must be None or >= 1, got {self.sliding_window}"
            )
        for name in ("dtype", "param_dtype"):
            if getattr(self, name) not in _DTYPES:
                raise ValueError(
                    f"LLMConfig.{name} must be one of {_DTYPES}, got {getattr(self, name)!r}"
                )
        if not (self.rope_theta > 0 and self.rms_norm_eps > 0 and self.init_std > 0):
            raise ValueError(
                f"LLMConfig needs positive {self.rope_theta=}, {self.rms_norm_eps=}, {self.init_std=}"
            )

    @property
    def dim_per_head(self) -> int:
        """Dh: ``head_dim`` or ``hidden_size // num_heads``."""
        return self.head_dim if self.head_dim is not None else self.hidden_size // self.num_heads

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.dtype)

    @property
    def weight_dtype(self) -> jnp.dtype:
        return jnp.dtype(self.param_dtype)

    @classmethod
    def from_hf(cls, hf: Mapping[str, Any], **overrides: Any) -> LLMConfig:
        """Builds the config from a Hugging Face ``config.json`` dict (transformers 4.x keys
        ``rope_theta``/``rope_scaling`` or 5.x ``rope_parameters``).

        ``overrides`` sets the fields a checkpoint does not define (dtype, param_dtype, remat,
        scan_layers).

        Raises:
          ValueError: an unsupported ``model_type`` or a feature this decoder does not compute.
        """
        model_type = hf.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"config.json model_type={model_type!r} is not supported; "
                f"supported: {SUPPORTED_MODEL_TYPES}"
            )
        act = hf.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise ValueError(f"config.json hidden_act={act!r} is not supported (only silu)")
        for flag in ("attention_bias", "mlp_bias"):
            if hf.get(flag, False):
                raise ValueError(f"config.json {flag}=true is not supported for {model_type}")
        if hf.get("pretraining_tp", 1) not in (1, None):
            raise ValueError(f"config.json pretraining_tp={hf['pretraining_tp']} is not supported")
        max_pos = int(hf.get("max_position_embeddings", 2048))
        theta, scaling = _parse_rope(hf)
        window = _parse_sliding_window(hf, model_type)
        num_heads = int(hf["num_attention_heads"])
        return cls(
            vocab_size=int(hf["vocab_size"]),
            hidden_size=int(hf["hidden_size"]),
            intermediate_size=int(hf["intermediate_size"]),
            num_layers=int(hf["num_hidden_layers"]),
            num_heads=num_heads,
            num_kv_heads=int(hf.get("num_key_value_heads") or num_heads),
            head_dim=hf.get("head_dim"),
            rope_theta=theta,
            rope_scaling=scaling,
            rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
            tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
            qkv_bias=model_type == "qwen2",
            sliding_window=window,
            max_position_embeddings=max_pos,
            **overrides,
        )

    def to_hf(self, model_type: str) -> dict[str, Any]:
        """The ``config.json`` dict (transformers 5 keys) of this architecture as ``model_type``.

        Raises:
          ValueError: the family cannot express this config (e.g. q/k/v biases as llama).
        """
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"{model_type=} is not supported; supported: {SUPPORTED_MODEL_TYPES}")
        if self.qkv_bias != (model_type == "qwen2"):
            raise ValueError(f"{model_type} checkpoints have qkv_bias={model_type == 'qwen2'}")
        if self.sliding_window is not None and model_type != "mistral":
            raise ValueError(f"sliding_window is only expressible as mistral, not {model_type}")
        rope: dict[str, Any] = {"rope_type": "default", "rope_theta": self.rope_theta}
        if self.rope_scaling is not None:
            rope = {"rope_type": "llama3", "rope_theta": self.rope_theta}
            rope.update(dataclasses.asdict(self.rope_scaling))
        out: dict[str, Any] = {
            "architectures": [_ARCHITECTURES[model_type]],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.dim_per_head,
            "hidden_act": "silu",
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "tie_word_embeddings": self.tie_embeddings,
            "rope_parameters": rope,
            "dtype": self.param_dtype,
        }
        if model_type == "mistral":
            out["sliding_window"] = self.sliding_window
        if model_type == "qwen2":
            out["use_sliding_window"] = False
        return out


def _parse_rope(hf: Mapping[str, Any]) -> tuple[float, Llama3RopeScaling | None]:
    """``(rope_theta, scaling)`` from ``rope_parameters`` (5.x) or ``rope_theta``/``rope_scaling``."""
    params = dict(hf.get("rope_parameters") or {})
    legacy = hf.get("rope_scaling") or {}
    if not params:
        params = dict(legacy)
        params.setdefault("rope_theta", hf.get("rope_theta", 10000.0))
    rope_type = params.get("rope_type", params.get("type", "default"))
    theta = float(params.get("rope_theta", hf.get("rope_theta", 10000.0)))
    if rope_type == "default":
        return theta, None
    if rope_type != "llama3":
        raise ValueError(
            f"config.json rope type {rope_type!r} is not supported (only 'default' and 'llama3')"
        )
    try:
        scaling = Llama3RopeScaling(
            factor=float(params["factor"]),
            low_freq_factor=float(params["low_freq_factor"]),
            high_freq_factor=float(params["high_freq_factor"]),
            original_max_position_embeddings=int(params["original_max_position_embeddings"]),
        )
    except KeyError as err:
        raise ValueError(f"config.json llama3 rope parameters lack {err.args[0]!r}") from err
    return theta, scaling


def _parse_sliding_window(hf: Mapping[str, Any], model_type: str) -> int | None:
    """The attention window (Mistral), None when every layer attends to the full prefix."""
    window = hf.get("sliding_window")
    if model_type == "qwen2":
        if hf.get("use_sliding_window", False):
            raise ValueError(
                "config.json use_sliding_window=true (per-layer windows) is not supported for qwen2"
            )
        return None
    if model_type == "llama" or window is None:
        return None
    layer_types = set(hf.get("layer_types") or ["sliding_attention"])
    if layer_types == {"full_attention"}:
        return None
    if layer_types != {"sliding_attention"}:
        raise ValueError(f"config.json mixes attention layer types {sorted(layer_types)}")
    return int(window)
