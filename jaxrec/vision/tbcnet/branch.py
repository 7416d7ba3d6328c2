"""TBCNet's per-view branch (training only): two Swin-style window-attention blocks (plain, then
shifted), GAP, a unit-normalised embedding and a view classifier.

Window attention on ``x [B, H, W, C]`` with ``w x w`` windows: per window,
:math:`\\mathrm{softmax}(q k^\\top/\\sqrt{d_h} + B_{rel})\\,v` with a learnable relative position
bias table ``[(2w-1)^2, heads]`` indexed by the row/column displacement of the two tokens. The
shifted block rolls the map by ``-shift`` first and masks pairs of tokens that came from different
regions of the unrolled map (Liu et al., Swin Transformer, ICCV 2021), then rolls back.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.vision.tbcnet.blocks import LPU, MLP, LayerScale

__all__ = ["Branch", "SwinBlock", "relative_index", "shift_mask"]


def relative_index(w: int) -> np.ndarray:
    """``[w*w, w*w]`` index into the ``(2w-1)^2`` bias table for each token pair."""
    coords = np.stack(np.meshgrid(np.arange(w), np.arange(w), indexing="ij")).reshape(2, -1)
    d = coords[:, :, None] - coords[:, None, :] + (w - 1)
    return d[0] * (2 * w - 1) + d[1]


def shift_mask(h: int, w_img: int, w: int, shift: int) -> np.ndarray:
    """``[nW, w*w, w*w]`` boolean mask (True: may attend) of the shifted-window partition."""
    label = np.zeros((h, w_img), np.int32)
    cuts = lambda n: (slice(0, n - w), slice(n - w, n - shift), slice(n - shift, n))  # noqa: E731
    for i, (rs, cs) in enumerate((r, c) for r in cuts(h) for c in cuts(w_img)):
        label[rs, cs] = i
    win = label.reshape(h // w, w, w_img // w, w).transpose(0, 2, 1, 3).reshape(-1, w * w)
    return win[:, :, None] == win[:, None, :]


def _windows(x: jax.Array, w: int) -> jax.Array:
    b, h, wd, c = x.shape
    return (
        x.reshape(b, h // w, w, wd // w, w, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, -1, w * w, c)
    )


def _unwindows(x: jax.Array, w: int, h: int, wd: int) -> jax.Array:
    b, _, _, c = x.shape
    return x.reshape(b, h // w, wd // w, w, w, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h, wd, c)


class SwinBlock(nnx.Module):
    """``x = LPU(x); x = x + LS(WA(LN(x))); x = x + LS(MLP(LN(x)))`` on ``[B, H, W, C]``.

    Args:
        dim, heads: channels and heads; window: ``w`` (TBCNet 7); shift: 0 or ``w // 2`` (3).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int,
        shift: int,
        *,
        mlp_ratio: int = 2,
        layer_scale: float = 1e-4,
        rngs: nnx.Rngs,
    ):
        if dim % heads or not 0 <= shift < window:
            raise ValueError(f"need dim % heads == 0 and 0 <= shift < window; got {dim}, {heads}, "
                             f"{shift}, {window}.")  # fmt: skip
        self.heads, self.window, self.shift = heads, window, shift
        self.lpu = LPU(dim, rngs=rngs)
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.proj = nnx.Linear(dim, dim, rngs=rngs)
        init = nnx.initializers.truncated_normal(0.02)
        self.rel_bias = nnx.Param(init(rngs.params(), ((2 * window - 1) ** 2, heads)))
        self.ls1 = LayerScale(dim, layer_scale)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp = MLP(dim, mlp_ratio, rngs=rngs)
        self.ls2 = LayerScale(dim, layer_scale)

    def attention(self, x: jax.Array) -> jax.Array:
        b, h, wd, c = x.shape
        w, s, nh = self.window, self.shift, self.heads
        if h % w or wd % w:
            raise ValueError(f"map {h}x{wd} is not a multiple of the window {w}.")
        if s:
            x = jnp.roll(x, (-s, -s), axis=(1, 2))
        win = _windows(x, w)  # [B, nW, w*w, C]
        qkv = self.qkv(win).reshape(b, win.shape[1], w * w, 3, nh, c // nh)
        q, k, v = (qkv[:, :, :, i].transpose(0, 1, 3, 2, 4) for i in range(3))  # [B,nW,h,N,d]
        logits = jnp.einsum("bwhnd,bwhmd->bwhnm", q, k) / math.sqrt(c // nh)
        bias = self.rel_bias[...][relative_index(w)].transpose(2, 0, 1)  # [heads, N, N]
        logits = logits + bias[None, None]
        if s:
            mask = jnp.asarray(shift_mask(h, wd, w, s))[None, :, None]
            logits = jnp.where(mask, logits, -1e9)
        out = jnp.einsum("bwhnm,bwhmd->bwhnd", jax.nn.softmax(logits, axis=-1), v)
        out = self.proj(out.transpose(0, 1, 3, 2, 4).reshape(b, -1, w * w, c))
        out = _unwindows(out, w, h, wd)
        return jnp.roll(out, (s, s), axis=(1, 2)) if s else out

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.lpu(x)
        x = x + self.ls1(self.attention(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class Branch(nnx.Module):
    """One view's branch: ``vol [B, T, H, W, C]`` -> time mean -> plain and shifted
    :class:`SwinBlock` -> GAP -> ``Linear(C, D)`` -> L2 norm (the embedding ``z^v``) -> view
    classifier logits. Returns ``(emb [B, D], logits [B, classes])``."""

    def __init__(self, dim: int, emb_dim: int, classes: int, heads: int, window: int, shift: int,
                 *, layer_scale: float = 1e-4, rngs: nnx.Rngs):  # fmt: skip
        self.block1 = SwinBlock(dim, heads, window, 0, layer_scale=layer_scale, rngs=rngs)
        self.block2 = SwinBlock(dim, heads, window, shift, layer_scale=layer_scale, rngs=rngs)
        self.embed = nnx.Linear(dim, emb_dim, rngs=rngs)
        self.classifier = nnx.Linear(emb_dim, classes, rngs=rngs)

    def __call__(self, vol: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = self.block2(self.block1(jnp.mean(vol, axis=1)))
        z = self.embed(jnp.mean(x, axis=(1, 2)))
        z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
        return z, self.classifier(z)
