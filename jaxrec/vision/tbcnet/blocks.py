"""TBCNet's trunk blocks: GAM, the local perception unit, the MLP and the MVDA block.

Channels-last throughout. ``GAM`` maps the fused volume ``[B, T, H, V*W, C]`` to the query map
``[B, H, V*W, C]``; ``MVDABlock`` refines it with deformable attention over the per-view volumes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.vision.tbcnet.attention import DeformableAttention

__all__ = ["GAM", "LPU", "MLP", "LayerScale", "MVDABlock"]


class GAM(nnx.Module):
    """Global aggregation module (authors' ``model/MVA.py``).

    Per-frame GAP gives channel descriptors ``d [B, C, T]``; ``q = d W_q``, ``k = d W_k`` are
    linear maps over time (``T -> T``). For frame ``t`` (one head per frame, head dim 1) the
    channel affinity :math:`A^t_{ij} = \\mathrm{softmax}_j(q_{it} k_{jt})` re-mixes that frame's
    channel maps, :math:`y_t = x_t + x_t A^{t\\top}`; then the time mean and a LayerNorm over
    channels. The authors' temporal gate is computed but never used by their code, so it is not
    computed here.
    """

    def __init__(self, dim: int, frames: int, *, rngs: nnx.Rngs):
        self.q = nnx.Linear(frames, frames, rngs=rngs)
        self.k = nnx.Linear(frames, frames, rngs=rngs)
        self.norm = nnx.LayerNorm(dim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        d = jnp.mean(x, axis=(2, 3)).transpose(0, 2, 1)  # [B, C, T]
        q, k = self.q(d), self.k(d)
        affinity = jax.nn.softmax(q[:, :, None, :] * k[:, None, :, :], axis=2)  # [B, Ci, Cj, T]
        mixed = jnp.einsum("bthwj,bijt->bthwi", x, affinity)
        return self.norm(jnp.mean(x + mixed, axis=1))


class LayerScale(nnx.Module):
    """``gamma * x`` with a learnable per-channel ``gamma`` (init 1e-4 in TBCNet)."""

    def __init__(self, dim: int, init: float = 1e-4):
        self.gamma = nnx.Param(jnp.full((dim,), init))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.gamma[...].reshape((1,) * (x.ndim - 1) + (-1,)) * x


class LPU(nnx.Module):
    """Local perception unit: ``x + DWConv3x3(x)`` on ``[B, H, W, C]``."""

    def __init__(self, dim: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(dim, dim, (3, 3), padding=[(1, 1), (1, 1)],
                             feature_group_count=dim, rngs=rngs)  # fmt: skip

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.conv(x)


class MLP(nnx.Module):
    """``Linear(C, r C) -> GELU -> Linear(r C, C)``."""

    def __init__(self, dim: int, ratio: int = 2, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(dim, ratio * dim, rngs=rngs)
        self.fc2 = nnx.Linear(ratio * dim, dim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fc2(jax.nn.gelu(self.fc1(x), approximate=False))


class MVDABlock(nnx.Module):
    """Authors' ``DA_Transformer`` (depth 1) on the fused query map ``[B, H, V*W, C]``:

    ``x = proj(x); x = LPU(x); x = x + LS(DA(LN(x), vol)); x = x + LS(MLP(LN(x)))``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        groups: int,
        views: int,
        volume: tuple[int, int, int],
        *,
        mlp_ratio: int = 2,
        layer_scale: float = 1e-4,
        crpb_after_softmax: bool = False,
        rngs: nnx.Rngs,
    ):
        self.proj = nnx.Linear(dim, dim, rngs=rngs)
        self.lpu = LPU(dim, rngs=rngs)
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = DeformableAttention(
            dim, heads, groups, views, volume, crpb_after_softmax=crpb_after_softmax, rngs=rngs
        )
        self.ls1 = LayerScale(dim, layer_scale)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp = MLP(dim, mlp_ratio, rngs=rngs)
        self.ls2 = LayerScale(dim, layer_scale)

    def __call__(self, x: jax.Array, vol: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        x = self.lpu(self.proj(x))
        a, info = self.attn(self.norm1(x), vol)
        x = x + self.ls1(a)
        return x + self.ls2(self.mlp(self.norm2(x))), info
