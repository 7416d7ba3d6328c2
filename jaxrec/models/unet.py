"""The Stable Diffusion conditional UNet (Rombach et al. 2022) in Flax NNX, NHWC.

``UNet2DCondition(cfg, rngs=...)(x [B, H, W, C], t [B], context [B, L, D]) -> eps [B, H, W, C]``.
The layout follows diffusers' ``UNet2DConditionModel`` (so its checkpoints load by a name map,
:mod:`jaxrec.models.diffusers_io`):

- a sinusoidal timestep embedding (``cos | sin`` halves, frequencies ``10000^(-i / (C0/2))``)
  through ``Linear -> SiLU -> Linear`` to ``4 C0`` channels;
- ``conv_in``; down blocks of ``layers_per_block`` ResNet blocks (GroupNorm, SiLU, conv, plus the
  projected time embedding; a 1x1 shortcut when the width changes), each followed by a spatial
  transformer in cross-attention blocks, and a stride-2 conv except in the last block;
- a mid block ResNet -> transformer -> ResNet;
- up blocks of ``layers_per_block + 1`` ResNets that each concatenate one skip (popped from the
  down path, last first), transformers as mirrored, nearest x2 upsampling + conv except last;
- GroupNorm, SiLU, ``conv_out``.

The spatial transformer is GroupNorm (eps 1e-6) -> 1x1 conv (or linear) -> [LayerNorm ->
self-attention, LayerNorm -> cross-attention to ``context``, LayerNorm -> GEGLU feed-forward
``W2 (a * gelu(g))`` with ``[a | g] = W1 x`` of width ``4 C``] with residuals -> projection back,
plus the input. Attention has no q/k/v bias; heads per block come from ``attention_heads``
(diffusers' ``attention_head_dim`` in SD1.x configs, which is really the head count).
``cfg.remat`` recomputes every ResNet/transformer block in the backward pass.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.vision_layers import Conv2d, GroupNorm, LayerNorm, Linear, attention

__all__ = ["UNet2DCondition", "UNetConfig", "timestep_embedding"]

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """UNet sizes (defaults: Stable Diffusion 1.5).

    Attributes:
      in_channels, out_channels: latent channels.
      block_out_channels: width of each resolution level.
      cross_attn: per down block, whether it has spatial transformers (up blocks mirror it).
      layers_per_block: ResNet blocks per down block (up blocks have one more).
      attention_heads: heads per level (an int applies to all).
      cross_attention_dim: width of the text context.
      norm_num_groups, norm_eps: group norm of ResNets and the output.
      use_linear_projection: transformer in/out projections linear (SD2) instead of 1x1 conv.
      flip_sin_to_cos, freq_shift: timestep embedding layout (SD: True, 0).
      dtype: compute dtype, "float32" or "bfloat16" (parameters stay float32).
      remat: recompute blocks in the backward pass.
    """

    in_channels: int = 4
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    cross_attn: tuple[bool, ...] = (True, True, True, False)
    layers_per_block: int = 2
    attention_heads: int | tuple[int, ...] = 8
    cross_attention_dim: int = 768
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    use_linear_projection: bool = False
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    dtype: str = "float32"
    remat: bool = False

    def __post_init__(self) -> None:
        n = len(self.block_out_channels)
        if n < 1 or len(self.cross_attn) != n:
            raise ValueError(f"need one cross_attn flag per block: {self.block_out_channels=}, "
                             f"{self.cross_attn=}")  # fmt: skip
        if len(self.heads) != n:
            raise ValueError(
                f"attention_heads needs one entry per block, got {self.attention_heads=}"
            )
        for c, h in zip(self.block_out_channels, self.heads, strict=True):
            if c % h or c % self.norm_num_groups:
                raise ValueError(f"block width {c} must divide by its heads {h} and by "
                                 f"norm_num_groups {self.norm_num_groups}")  # fmt: skip
        if self.dtype not in _DTYPES:
            raise ValueError(f"unknown UNet dtype {self.dtype!r}; expected one of {list(_DTYPES)}")

    @property
    def heads(self) -> tuple[int, ...]:
        h = self.attention_heads
        return (h,) * len(self.block_out_channels) if isinstance(h, int) else tuple(h)

    @property
    def compute_dtype(self):
        return _DTYPES[self.dtype]

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    @classmethod
    def tiny(cls, **overrides) -> UNetConfig:
        """A CPU-sized UNet (two levels, 16/32 channels, cross-attention in the first)."""
        base = dict(in_channels=4, out_channels=4, block_out_channels=(16, 32),
                    cross_attn=(True, False), layers_per_block=1, attention_heads=2,
                    cross_attention_dim=16, norm_num_groups=4)  # fmt: skip
        return cls(**{**base, **overrides})


def timestep_embedding(
    t: jax.Array, dim: int, *, flip_sin_to_cos: bool = True, freq_shift: float = 0.0
) -> jax.Array:
    """``[B] -> [B, dim]`` float32 sinusoidal embedding ``[cos(t w) | sin(t w)]`` (or sin first),
    ``w_i = exp(-log(10000) i / (dim/2 - freq_shift))``."""
    half = dim // 2
    freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / (half - freq_shift))
    angles = t.astype(jnp.float32)[:, None] * freqs[None]
    sin, cos = jnp.sin(angles), jnp.cos(angles)
    return jnp.concatenate([cos, sin] if flip_sin_to_cos else [sin, cos], axis=-1)


def _call(module: nnx.Module, remat: bool, *args):
    """``module(*args)``, recomputed in the backward pass when ``remat``."""
    if not remat:
        return module(*args)
    graphdef, state = nnx.split(module)
    return jax.checkpoint(lambda s, *a: nnx.merge(graphdef, s)(*a))(state, *args)


class ResnetBlock(nnx.Module):
    def __init__(self, c_in: int, c_out: int, temb: int, cfg: UNetConfig, *, rngs: nnx.Rngs):
        dt, g, eps = cfg.compute_dtype, cfg.norm_num_groups, cfg.norm_eps
        self.norm1 = GroupNorm(c_in, g, eps, dtype=dt)
        self.conv1 = Conv2d(c_in, c_out, 3, dtype=dt, rngs=rngs)
        self.time_emb_proj = Linear(temb, c_out, dtype=dt, rngs=rngs)
        self.norm2 = GroupNorm(c_out, g, eps, dtype=dt)
        self.conv2 = Conv2d(c_out, c_out, 3, dtype=dt, rngs=rngs)
        self.conv_shortcut = nnx.data(None)
        if c_in != c_out:
            self.conv_shortcut = Conv2d(c_in, c_out, 1, dtype=dt, rngs=rngs)

    def __call__(self, x: jax.Array, temb: jax.Array) -> jax.Array:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = h + self.time_emb_proj(jax.nn.silu(temb))[:, None, None, :]
        h = self.conv2(jax.nn.silu(self.norm2(h)))
        skip = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return skip.astype(h.dtype) + h


class Attention(nnx.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, dtype, *, rngs: nnx.Rngs):
        self.heads = heads
        self.to_q = Linear(dim, dim, bias=False, dtype=dtype, rngs=rngs)
        self.to_k = Linear(context_dim, dim, bias=False, dtype=dtype, rngs=rngs)
        self.to_v = Linear(context_dim, dim, bias=False, dtype=dtype, rngs=rngs)
        self.to_out = nnx.List([Linear(dim, dim, dtype=dtype, rngs=rngs)])

    def __call__(self, x: jax.Array, context: jax.Array) -> jax.Array:
        out = attention(self.to_q(x), self.to_k(context), self.to_v(context), self.heads)
        return self.to_out[0](out)


class GEGLU(nnx.Module):
    def __init__(self, d_in: int, d_out: int, dtype, *, rngs: nnx.Rngs):
        self.proj = Linear(d_in, 2 * d_out, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        a, gate = jnp.split(self.proj(x), 2, axis=-1)
        return a * jax.nn.gelu(gate, approximate=False)


class FeedForward(nnx.Module):
    def __init__(self, dim: int, dtype, *, rngs: nnx.Rngs):
        # ``net`` mirrors torch's [GEGLU, Dropout, Linear]; the dropout slot holds nothing.
        self.net = nnx.List(
            [
                GEGLU(dim, 4 * dim, dtype, rngs=rngs),
                None,
                Linear(4 * dim, dim, dtype=dtype, rngs=rngs),
            ]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.net[2](self.net[0](x))


class TransformerBlock(nnx.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, dtype, *, rngs: nnx.Rngs):
        self.norm1 = LayerNorm(dim, dtype=dtype)
        self.attn1 = Attention(dim, dim, heads, dtype, rngs=rngs)
        self.norm2 = LayerNorm(dim, dtype=dtype)
        self.attn2 = Attention(dim, context_dim, heads, dtype, rngs=rngs)
        self.norm3 = LayerNorm(dim, dtype=dtype)
        self.ff = FeedForward(dim, dtype, rngs=rngs)

    def __call__(self, x: jax.Array, context: jax.Array) -> jax.Array:
        h = self.norm1(x)
        x = x + self.attn1(h, h)
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nnx.Module):
    """diffusers' ``Transformer2DModel`` with one transformer block."""

    def __init__(self, dim: int, heads: int, cfg: UNetConfig, *, rngs: nnx.Rngs):
        dt = cfg.compute_dtype
        self.linear = cfg.use_linear_projection
        self.norm = GroupNorm(dim, cfg.norm_num_groups, 1e-6, dtype=dt)
        proj = (lambda: Linear(dim, dim, dtype=dt, rngs=rngs)) if self.linear else (
            lambda: Conv2d(dim, dim, 1, dtype=dt, rngs=rngs))  # fmt: skip
        self.proj_in = proj()
        self.transformer_blocks = nnx.List(
            [TransformerBlock(dim, cfg.cross_attention_dim, heads, dt, rngs=rngs)]
        )
        self.proj_out = proj()

    def __call__(self, x: jax.Array, context: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        y = self.norm(x)
        if self.linear:
            y = self.proj_in(y.reshape(b, h * w, c))
        else:
            y = self.proj_in(y).reshape(b, h * w, c)
        for block in self.transformer_blocks:
            y = block(y, context)
        if self.linear:
            y = self.proj_out(y).reshape(b, h, w, c)
        else:
            y = self.proj_out(y.reshape(b, h, w, c))
        return y + x.astype(y.dtype)


class Resample(nnx.Module):
    """``Downsample2D`` (stride-2 conv) or ``Upsample2D`` (nearest x2, conv)."""

    def __init__(self, c: int, up: bool, dtype, *, rngs: nnx.Rngs):
        self.up = up
        self.conv = Conv2d(c, c, 3, stride=1 if up else 2, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.up:
            x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        return self.conv(x)


class Block(nnx.Module):
    """A down or up block: ResNets (each followed by a transformer if any), then resampling."""

    def __init__(self, resnets, attentions, resample, key: str):
        self.resnets = nnx.List(resnets)
        self.attentions = nnx.List(attentions) if attentions else nnx.data(None)
        self.resample = nnx.List([resample]) if resample is not None else nnx.data(None)
        self.resample_key = key


class UNet2DCondition(nnx.Module):
    """The conditional UNet; construct under :func:`jaxrec.train.mesh_context`."""

    def __init__(self, cfg: UNetConfig, *, rngs: nnx.Rngs) -> None:
        self.cfg = cfg
        dt = cfg.compute_dtype
        chans = cfg.block_out_channels
        c0, temb = chans[0], 4 * chans[0]
        self.conv_in = Conv2d(cfg.in_channels, c0, 3, dtype=dt, rngs=rngs)
        self.time_embedding = nnx.Dict(
            linear_1=Linear(c0, temb, dtype=dt, rngs=rngs),
            linear_2=Linear(temb, temb, dtype=dt, rngs=rngs),
        )
        n = len(chans)
        skips = [c0]
        down = []
        for i, c in enumerate(chans):
            c_prev = chans[max(i - 1, 0)]
            resnets, attns = [], []
            for j in range(cfg.layers_per_block):
                resnets.append(ResnetBlock(c_prev if j == 0 else c, c, temb, cfg, rngs=rngs))
                if cfg.cross_attn[i]:
                    attns.append(SpatialTransformer(c, cfg.heads[i], cfg, rngs=rngs))
                skips.append(c)
            resample = None if i == n - 1 else Resample(c, False, dt, rngs=rngs)
            if resample is not None:
                skips.append(c)
            down.append(Block(resnets, attns, resample, "downsamplers"))
        self.down_blocks = nnx.List(down)
        self.mid_block = Block(
            [ResnetBlock(chans[-1], chans[-1], temb, cfg, rngs=rngs) for _ in range(2)],
            [SpatialTransformer(chans[-1], cfg.heads[-1], cfg, rngs=rngs)],
            None,
            "",
        )
        up = []
        c_prev = chans[-1]
        for i, c in reversed(list(enumerate(chans))):
            resnets, attns = [], []
            for j in range(cfg.layers_per_block + 1):
                c_in = c_prev if j == 0 else c
                resnets.append(ResnetBlock(c_in + skips.pop(), c, temb, cfg, rngs=rngs))
                if cfg.cross_attn[i]:
                    attns.append(SpatialTransformer(c, cfg.heads[i], cfg, rngs=rngs))
            resample = None if i == 0 else Resample(c, True, dt, rngs=rngs)
            up.append(Block(resnets, attns, resample, "upsamplers"))
            c_prev = c
        self.up_blocks = nnx.List(up)
        self.conv_norm_out = GroupNorm(c0, cfg.norm_num_groups, cfg.norm_eps, dtype=dt)
        self.conv_out = Conv2d(c0, cfg.out_channels, 3, dtype=dt, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array, context: jax.Array) -> jax.Array:
        """Predicts the noise (or v) for ``x [B, H, W, C]`` at timesteps ``t [B]`` given the text
        ``context [B, L, D]``; returns ``[B, H, W, out_channels]`` in float32.

        Raises:
          ValueError: a canvas not divisible by the UNet's downsampling, or wrong channels.
        """
        cfg = self.cfg
        f = cfg.downsample_factor
        if x.ndim != 4 or x.shape[1] % f or x.shape[2] % f or x.shape[3] != cfg.in_channels:
            raise ValueError(
                f"UNet input must be [B, H, W, {cfg.in_channels}] with H and W divisible by its "
                f"downsampling factor {f}; got {x.shape}"
            )
        if context.ndim != 3 or context.shape[-1] != cfg.cross_attention_dim:
            raise ValueError(
                f"context must be [B, L, {cfg.cross_attention_dim}], got {context.shape}"
            )
        dt = cfg.compute_dtype
        t = jnp.broadcast_to(jnp.asarray(t), (x.shape[0],))
        emb = timestep_embedding(t, cfg.block_out_channels[0], flip_sin_to_cos=cfg.flip_sin_to_cos,
                                 freq_shift=cfg.freq_shift)  # fmt: skip
        temb = self.time_embedding["linear_2"](
            jax.nn.silu(self.time_embedding["linear_1"](emb.astype(dt)))
        )
        context = context.astype(dt)
        h = self.conv_in(x)
        skips = [h]
        for block in self.down_blocks:
            for j, resnet in enumerate(block.resnets):
                h = _call(resnet, cfg.remat, h, temb)
                if block.attentions is not None:
                    h = _call(block.attentions[j], cfg.remat, h, context)
                skips.append(h)
            if block.resample is not None:
                h = block.resample[0](h)
                skips.append(h)
        mid = self.mid_block
        h = _call(mid.resnets[0], cfg.remat, h, temb)
        h = _call(mid.attentions[0], cfg.remat, h, context)
        h = _call(mid.resnets[1], cfg.remat, h, temb)
        for block in self.up_blocks:
            for j, resnet in enumerate(block.resnets):
                h = jnp.concatenate([h, skips.pop().astype(h.dtype)], axis=-1)
                h = _call(resnet, cfg.remat, h, temb)
                if block.attentions is not None:
                    h = _call(block.attentions[j], cfg.remat, h, context)
            if block.resample is not None:
                h = block.resample[0](h)
        h = self.conv_out(jax.nn.silu(self.conv_norm_out(h)))
        return h.astype(jnp.float32)
