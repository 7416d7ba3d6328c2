"""The CLIP text encoder (Radford et al. 2021) in Flax NNX, laid out as transformers'
``CLIPTextModel`` so its checkpoints load by a name map (:mod:`jaxrec.models.diffusers_io`).

``CLIPTextEncoder(cfg, rngs=...)(input_ids [B, L]) -> (last_hidden [B, L, D], pooled [B, D])``:
token + learned position embeddings, pre-LayerNorm transformer layers with causal self-attention
(``x += attn(ln1(x))``, ``x += fc2(act(fc1(ln2(x))))``, ``act`` = quick GELU
``x sigmoid(1.702 x)`` as in CLIP), a final LayerNorm, and the pooled output taken at the EOS
token: the first position holding ``eos_token_id``, or -- as transformers does for the original
configs with ``eos_token_id == 2`` -- the position of the largest token id.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.sharding import take_rows
from jaxrec.models.vision_layers import LayerNorm, Linear, attention, make_param

__all__ = ["CLIPEncoderLayer", "CLIPTextConfig", "CLIPTextEncoder"]

_ACTS = {
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
}
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class CLIPTextConfig:
    """Sizes (defaults: CLIP ViT-L/14's text tower, as in Stable Diffusion 1.5).

    Attributes:
      vocab_size, max_position_embeddings: token and position tables.
      hidden_size, intermediate_size, num_layers, num_heads: transformer sizes.
      layer_norm_eps: LayerNorm epsilon.
      hidden_act: "quick_gelu" or "gelu".
      eos_token_id: the token whose position gives the pooled output (2: legacy argmax).
      dtype: compute dtype "float32" or "bfloat16".
    """

    vocab_size: int = 49408
    max_position_embeddings: int = 77
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    layer_norm_eps: float = 1e-5
    hidden_act: str = "quick_gelu"
    eos_token_id: int = 2
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.hidden_act not in _ACTS:
            raise ValueError(
                f"unknown hidden_act {self.hidden_act!r}; expected one of {list(_ACTS)}"
            )
        if self.hidden_size % self.num_heads:
            raise ValueError(f"{self.hidden_size=} must divide by {self.num_heads=}")

    @property
    def compute_dtype(self):
        return _DTYPES[self.dtype]


class CLIPEncoderLayer(nnx.Module):
    """One pre-LayerNorm block, shared by the text and vision towers: ``x += out(attn(q, k, v of
    ln1(x)))``, ``x += fc2(act(fc1(ln2(x))))``. ``cfg`` needs ``hidden_size``,
    ``intermediate_size``, ``num_heads``, ``layer_norm_eps``, ``hidden_act``, ``compute_dtype``."""

    def __init__(self, cfg: CLIPTextConfig, *, rngs: nnx.Rngs):
        d, f, dt = cfg.hidden_size, cfg.intermediate_size, cfg.compute_dtype
        self.heads, self.act = cfg.num_heads, _ACTS[cfg.hidden_act]
        self.layer_norm1 = LayerNorm(d, cfg.layer_norm_eps, dtype=dt)
        self.self_attn = nnx.Dict(
            {
                n: Linear(d, d, dtype=dt, rngs=rngs)
                for n in ("q_proj", "k_proj", "v_proj", "out_proj")
            }
        )
        self.layer_norm2 = LayerNorm(d, cfg.layer_norm_eps, dtype=dt)
        self.mlp = nnx.Dict(
            fc1=Linear(d, f, dtype=dt, rngs=rngs), fc2=Linear(f, d, dtype=dt, rngs=rngs)
        )

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``x [B, T, D]``, optional ``mask [B, T, T]`` (True = may attend) -> ``[B, T, D]``."""
        a = self.self_attn
        h = self.layer_norm1(x)
        x = x + a["out_proj"](
            attention(a["q_proj"](h), a["k_proj"](h), a["v_proj"](h), self.heads, mask)
        )
        h = self.layer_norm2(x)
        return x + self.mlp["fc2"](self.act(self.mlp["fc1"](h)))


class CLIPTextEncoder(nnx.Module):
    """The text tower; construct under :func:`jaxrec.train.mesh_context`."""

    def __init__(self, cfg: CLIPTextConfig, *, rngs: nnx.Rngs) -> None:
        self.cfg = cfg
        init = nnx.initializers.normal(0.02)
        d = cfg.hidden_size
        self.token_embedding = make_param(
            init, rngs.params(), (cfg.vocab_size, d), ("vocab", "embed")
        )
        self.position_embedding = make_param(
            init, rngs.params(), (cfg.max_position_embeddings, d), (None, "embed")
        )
        self.layers = nnx.List([CLIPEncoderLayer(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
        self.final_layer_norm = LayerNorm(d, cfg.layer_norm_eps, dtype=cfg.compute_dtype)

    def __call__(
        self, input_ids: jax.Array, attention_mask: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """``input_ids [B, L]`` (optional padding ``attention_mask [B, L]``, 1 = token) ->
        ``(last_hidden [B, L, D], pooled [B, D])`` in float32.

        Raises:
          ValueError: a sequence longer than ``max_position_embeddings``.
        """
        cfg = self.cfg
        b, length = input_ids.shape
        if length > cfg.max_position_embeddings:
            raise ValueError(f"{length=} tokens exceed {cfg.max_position_embeddings=}")
        x = take_rows(self.token_embedding[...], input_ids) + self.position_embedding[:length][None]
        x = x.astype(cfg.compute_dtype)
        mask = jnp.tril(jnp.ones((length, length), bool))[None]
        if attention_mask is not None:
            mask = mask & attention_mask.astype(bool)[:, None, :]
        mask = jnp.broadcast_to(mask, (b, length, length))
        for layer in self.layers:
            x = layer(x, mask)
        x = self.final_layer_norm(x).astype(jnp.float32)
        if cfg.eos_token_id == 2:
            eos = jnp.argmax(input_ids, axis=-1)
        else:
            eos = jnp.argmax(input_ids == cfg.eos_token_id, axis=-1)
        return x, x[jnp.arange(b), eos]
