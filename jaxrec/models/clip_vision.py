"""The CLIP vision tower (Radford et al. 2021) in Flax NNX, laid out as transformers'
``CLIPVisionModelWithProjection`` so its state dict loads by a name map (:func:`load_clip_vision`).

``CLIPVisionEncoder(cfg, rngs=...)(pixels [B, H, W, 3]) -> (last_hidden [B, 1+P, D], pooled [B, D])``
with ``H = W = image_size``, ``P = (image_size / patch_size)^2``:

- patch embedding: a bias-free convolution with kernel = stride = ``patch_size``, i.e. each
  non-overlapping ``p x p x C`` patch (row-major over the patch grid) times ``W [p, p, C, D]``;
- ``x = [class_embedding; patches] + position_embedding`` (learned, ``[1+P, D]``);
- ``pre_layrnorm`` (transformers' spelling), then the text tower's pre-LayerNorm blocks
  (:class:`jaxrec.models.clip_text.CLIPEncoderLayer`) without a mask;
- ``last_hidden`` is the encoder output; ``pooled = post_layernorm(last_hidden[:, 0])`` (CLS).

``embed(pixels) = pooled W_proj`` (``visual_projection``, no bias; ``pooled`` when
``projection_dim`` is None). Pixels must already be CLIP-normalised: per channel
``(x01 - mean) / std`` of ``[0, 1]`` RGB, see :func:`clip_normalize`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.models.clip_text import _ACTS, _DTYPES, CLIPEncoderLayer
from jaxrec.models.diffusers_io import load_torch_params, torch_name
from jaxrec.models.vision_layers import LayerNorm, Linear, make_param

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "CLIPVisionConfig",
    "CLIPVisionEncoder",
    "clip_normalize",
    "load_clip_vision",
]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclasses.dataclass(frozen=True)
class CLIPVisionConfig:
    """Sizes (defaults: CLIP ViT-L/14 at 224 px).

    Attributes:
      image_size, patch_size, num_channels: input ``[image_size, image_size, num_channels]``,
        cut into ``(image_size / patch_size)^2`` patches.
      hidden_size, intermediate_size, num_layers, num_heads: transformer sizes.
      layer_norm_eps: LayerNorm epsilon.
      hidden_act: "quick_gelu" or "gelu".
      projection_dim: width of ``visual_projection`` (None: no projection).
      dtype: compute dtype "float32" or "bfloat16".
    """

    image_size: int = 224
    patch_size: int = 14
    num_channels: int = 3
    hidden_size: int = 1024
    intermediate_size: int = 4096
    num_layers: int = 24
    num_heads: int = 16
    layer_norm_eps: float = 1e-5
    hidden_act: str = "quick_gelu"
    projection_dim: int | None = 768
    dtype: str = "float32"

    def __post_init__(self) -> None:
        sizes = ("image_size", "patch_size", "num_channels", "hidden_size", "intermediate_size",
                 "num_layers", "num_heads")  # fmt: skip
        bad = {n: getattr(self, n) for n in sizes if getattr(self, n) < 1}
        if self.projection_dim is not None and self.projection_dim < 1:
            bad["projection_dim"] = self.projection_dim
        if bad:
            raise ValueError(f"CLIPVisionConfig sizes must be positive, got {bad}")
        if self.hidden_act not in _ACTS:
            raise ValueError(
                f"unknown hidden_act {self.hidden_act!r}; expected one of {list(_ACTS)}"
            )
        if self.dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {list(_DTYPES)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"{self.hidden_size=} must divide by {self.num_heads=}")
        if self.image_size % self.patch_size:
            raise ValueError(f"{self.image_size=} must divide by {self.patch_size=}")

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def compute_dtype(self):
        return _DTYPES[self.dtype]


def clip_normalize(images: jax.Array) -> jax.Array:
    """CLIP's input normalisation of ``[..., 3]`` RGB in ``[-1, 1]``:
    ``((x + 1) / 2 - mean) / std`` per channel (:data:`CLIP_MEAN`, :data:`CLIP_STD`).

    Raises:
      ValueError: the last axis is not 3 channels.
    """
    if images.shape[-1] != 3:
        raise ValueError(f"clip_normalize needs RGB [..., 3], got shape {images.shape}")
    mean = jnp.broadcast_to(jnp.asarray(CLIP_MEAN, jnp.float32), images.shape)
    std = jnp.broadcast_to(jnp.asarray(CLIP_STD, jnp.float32), images.shape)
    return ((images.astype(jnp.float32) + 1.0) / 2.0 - mean) / std


class _PatchEmbedding(nnx.Module):
    """``[B, H, W, C] -> [B, (H/p)(W/p), D]``: bias-free conv, kernel = stride = ``p``."""

    def __init__(self, cfg: CLIPVisionConfig, *, rngs: nnx.Rngs) -> None:
        p, c, self.dtype = cfg.patch_size, cfg.num_channels, cfg.compute_dtype
        init = nnx.initializers.normal(1.0 / math.sqrt(c * p * p))
        shape = (p, p, c, cfg.hidden_size)
        self.kernel = make_param(init, rngs.params(), shape, (None, None, None, "embed"))

    def __call__(self, x: jax.Array) -> jax.Array:
        p = self.kernel.shape[0]
        y = jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            self.kernel[...].astype(self.dtype),
            window_strides=(p, p),
            padding="VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return y.reshape(y.shape[0], -1, y.shape[-1])


class CLIPVisionEncoder(nnx.Module):
    """The vision tower; construct under :func:`jaxrec.train.mesh_context`."""

    def __init__(self, cfg: CLIPVisionConfig, *, rngs: nnx.Rngs) -> None:
        self.cfg = cfg
        d, dt = cfg.hidden_size, cfg.compute_dtype
        init = nnx.initializers.normal(0.02)
        self.patch_embedding = _PatchEmbedding(cfg, rngs=rngs)
        self.class_embedding = make_param(init, rngs.params(), (d,), ("embed",))
        self.position_embedding = make_param(
            init, rngs.params(), (1 + cfg.num_patches, d), (None, "embed")
        )
        self.pre_layrnorm = LayerNorm(d, cfg.layer_norm_eps, dtype=dt)
        self.layers = nnx.List([CLIPEncoderLayer(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
        self.post_layernorm = LayerNorm(d, cfg.layer_norm_eps, dtype=dt)
        self.visual_projection = nnx.data(None)
        if cfg.projection_dim is not None:
            self.visual_projection = Linear(d, cfg.projection_dim, bias=False, dtype=dt, rngs=rngs)

    def __call__(self, pixels: jax.Array) -> tuple[jax.Array, jax.Array]:
        """CLIP-normalised ``pixels [B, H, W, C]`` -> ``(last_hidden [B, 1+P, D], pooled [B, D])``
        in float32.

        Raises:
          ValueError: ``pixels`` is not ``[B, image_size, image_size, num_channels]``.
        """
        cfg = self.cfg
        want = (cfg.image_size, cfg.image_size, cfg.num_channels)
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != want:
            raise ValueError(f"pixels must be [B, {', '.join(map(str, want))}], got {pixels.shape}")
        patches = self.patch_embedding(pixels)
        b, _, d = patches.shape
        cls = jnp.broadcast_to(self.class_embedding[...].astype(patches.dtype), (b, 1, d))
        x = jnp.concatenate([cls, patches], axis=1)
        x = x + jnp.broadcast_to(self.position_embedding[...].astype(x.dtype), x.shape)
        x = self.pre_layrnorm(x)
        for layer in self.layers:
            x = layer(x)
        pooled = self.post_layernorm(x[:, 0])
        return x.astype(jnp.float32), pooled.astype(jnp.float32)

    def embed(self, pixels: jax.Array) -> jax.Array:
        """``[B, projection_dim]`` image embeddings (``[B, D]`` pooled if no projection)."""
        pooled = self(pixels)[1]
        if self.visual_projection is None:
            return pooled
        return self.visual_projection(pooled).astype(jnp.float32)


def _torch_name(path: tuple) -> str:
    name = torch_name(path, clip=True)
    return name if path[0] == "visual_projection" else f"vision_model.{name}"


def _owned(name: str) -> bool:
    return name.startswith(("vision_model.", "visual_projection."))


def load_clip_vision(tensors: Mapping[str, np.ndarray], cfg: CLIPVisionConfig) -> CLIPVisionEncoder:
    """A :class:`CLIPVisionEncoder` from a transformers state dict (numpy) of
    ``CLIPVisionModel``, ``CLIPVisionModelWithProjection`` or a full ``CLIPModel``: names
    ``vision_model.{embeddings.*, pre_layrnorm.*, encoder.layers.{i}.*, post_layernorm.*}`` and
    ``visual_projection.weight``; tensors outside these (the text tower) are ignored. Build
    under :func:`jaxrec.train.mesh_context` to place the parameters sharded.

    Raises:
      ValueError: naming a missing or mis-shaped tensor, or a vision tensor the model does not
        use (e.g. more layers, or a projection when ``projection_dim`` is None).
    """
    return load_torch_params(
        lambda: CLIPVisionEncoder(cfg, rngs=nnx.Rngs(0)),
        tensors,
        _torch_name,
        "CLIP vision state dict",
        owns=_owned,
    )
