"""Multi-view deformable attention with the composite relative position bias (CRPB).

Authors' ``DAttention`` (``model/blocks.py``) generalised to a traced batch size. Shapes:
queries ``x [B, H, V*W, C]`` (the fused, time-averaged map); per-view volumes
``vol [B, V, T, H, W, C]``. ``C = heads * head_dim`` channels, ``G`` groups of ``heads / G`` heads.

1. ``vol_v += pos_v`` (learnable per-view absolute 3-D embedding ``[T, H, W, C]``, zero init).
2. Offsets, per view and group (weights shared by groups): depthwise Conv3d (2,5,5) stride
   (1,2,2) pad (0,2,2) -> GroupNorm -> GELU -> 1x1x1 conv to ``(dt, dy, dx)``, then
   ``tanh(.) * (1/(T-1), 1/(H-1), 1/(W-1))`` (normalised units; under one feature cell, 2/n).
3. Reference grid of the offset map ``Tk x Hk x Wk = (T-1) x H/2 x W/2`` at cell centres,
   ``g_k = (2k + 1)/n_k - 1``; ``p = clip(ref + offset, -1, 1)``; each group's channels of
   view ``v`` are trilinearly sampled at ``p`` (``align_corners=False``, :mod:`.sampling`).
4. Keys/values: the ``N_s = V Tk Hk Wk`` samples through linear maps; queries: all
   ``N_q = H V W`` positions. Logits :math:`q\\cdot k/\\sqrt{d_h}`.
5. CRPB: two tables ``[heads, 2T-1, 2H-1, 2W-1]`` (intra-view, cross-view). A query at row
   ``h``, column ``w`` of segment ``j`` sits at ``(0, (2h+1)/H - 1, (2w+1)/W - 1)`` in its view's
   normalised frame (time 0: the query map is a time average). For a key sampled at ``p`` in
   view ``i``, the table is read at ``(q - p)/2 in [-1, 1]`` (``align_corners=True``, DAT's
   convention): the intra table scaled by ``w_i`` when ``j = i``, else the cross table scaled by
   ``w^c_i``. Heads of group ``g`` use group ``g``'s sample positions.
6. ``attn = softmax(logits + B)`` (default, DAT) or ``softmax(logits) + B``
   (``crpb_after_softmax=True``, the authors' code).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.vision.tbcnet.sampling import sample_batched

__all__ = ["DeformableAttention", "crpb_bias", "reference_grid"]


def reference_grid(sizes: tuple[int, int, int]) -> jax.Array:
    """Cell-centre normalised grid ``[n0, n1, n2, 3]``, ``g_k = (2k + 1)/n - 1``."""
    axes = [(2.0 * jnp.arange(n) + 1.0) / n - 1.0 for n in sizes]
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1)


def query_positions(h: int, w: int, views: int) -> tuple[jax.Array, jax.Array]:
    """Query positions ``[H*V*W, 3]`` in their own view's frame, and their view ``[H*V*W]``."""
    ys = (2.0 * jnp.arange(h) + 1.0) / h - 1.0
    xs = (2.0 * jnp.arange(w) + 1.0) / w - 1.0
    cols = jnp.arange(views * w)
    pos = jnp.stack(
        [
            jnp.zeros((h, views * w)),
            jnp.broadcast_to(ys[:, None], (h, views * w)),
            jnp.broadcast_to(xs[cols % w][None, :], (h, views * w)),
        ],
        axis=-1,
    )
    seg = jnp.broadcast_to((cols // w)[None, :], (h, views * w))
    return pos.reshape(-1, 3), seg.reshape(-1)


def crpb_bias(
    intra: jax.Array,
    cross: jax.Array,
    w_intra: jax.Array,
    w_cross: jax.Array,
    q_pos: jax.Array,
    q_view: jax.Array,
    k_pos: jax.Array,
    k_view: jax.Array,
) -> jax.Array:
    """The CRPB ``[B, heads, N_q, N_s]``.

    Args:
        intra, cross: tables ``[heads, 2T-1, 2H-1, 2W-1]``.
        w_intra, w_cross: per-view scalars ``[V]``.
        q_pos: ``[N_q, 3]``; q_view ``[N_q]`` (int).
        k_pos: ``[B, G, N_s, 3]`` sample positions (per group); k_view ``[N_s]`` (int).
    """
    heads = intra.shape[0]
    groups = k_pos.shape[1]
    disp = 0.5 * (q_pos[None, None, :, None, :] - k_pos[:, :, None, :, :])  # [B, G, Nq, Ns, 3]

    def lookup(table: jax.Array) -> jax.Array:
        vol = table.reshape(groups, heads // groups, *table.shape[1:]).transpose(0, 2, 3, 4, 1)
        # vol [G, 2T-1, 2H-1, 2W-1, heads/G]; each group reads its own heads
        per_group = jax.vmap(
            lambda d: jax.vmap(lambda v, dg: sample_batched(v[None], dg[None], True)[0])(vol, d)
        )(disp)  # [B, G, Nq, Ns, heads/G]
        b, _, nq, ns, _ = per_group.shape
        return per_group.transpose(0, 1, 4, 2, 3).reshape(b, heads, nq, ns)

    same = (q_view[:, None] == k_view[None, :])[None, None]  # [1, 1, Nq, Ns]
    scale_intra = w_intra[k_view][None, None, None, :]
    scale_cross = w_cross[k_view][None, None, None, :]
    return jnp.where(same, scale_intra * lookup(intra), scale_cross * lookup(cross))


class DeformableAttention(nnx.Module):
    """Multi-view deformable attention (module docstring).

    Args:
        dim: channels ``C``; heads: attention heads (8); groups: offset groups (4).
        views: ``V``; volume: ``(T, H, W)`` of each view's feature volume.
        crpb_after_softmax: add the CRPB after the softmax (authors' code) instead of before.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        groups: int,
        views: int,
        volume: tuple[int, int, int],
        *,
        crpb_after_softmax: bool = False,
        rngs: nnx.Rngs,
    ):
        t, h, w = volume
        if dim % heads or heads % groups or t < 2 or h % 2 or w % 2:
            raise ValueError(
                f"need dim % heads == 0, heads % groups == 0, T >= 2 and even H, W; got "
                f"dim={dim}, heads={heads}, groups={groups}, volume={volume}."
            )
        self.dim, self.heads, self.groups, self.views = dim, heads, groups, views
        self.volume = (t, h, w)
        self.crpb_after_softmax = crpb_after_softmax
        gc = dim // groups
        self.pos_emb = nnx.Param(jnp.zeros((views, t, h, w, dim)))
        self.off_dw = nnx.Conv(
            gc, gc, (2, 5, 5), (1, 2, 2), padding=[(0, 0), (2, 2), (2, 2)],
            feature_group_count=gc, rngs=rngs,
        )  # fmt: skip
        self.off_norm = nnx.GroupNorm(gc, num_groups=1, rngs=rngs)
        self.off_out = nnx.Conv(gc, 3, (1, 1, 1), use_bias=False, rngs=rngs)
        self.q = nnx.Linear(dim, dim, rngs=rngs)
        self.k = nnx.Linear(dim, dim, rngs=rngs)
        self.v = nnx.Linear(dim, dim, rngs=rngs)
        self.out = nnx.Linear(dim, dim, rngs=rngs)
        table = (heads, 2 * t - 1, 2 * h - 1, 2 * w - 1)
        init = nnx.initializers.truncated_normal(0.01)
        self.crpb_intra = nnx.Param(init(rngs.params(), table))
        self.crpb_cross = nnx.Param(init(rngs.params(), table))
        self.w_intra = nnx.Param(jnp.ones((views,)))
        self.w_cross = nnx.Param(jnp.ones((views,)))

    @property
    def key_grid(self) -> tuple[int, int, int]:
        t, h, w = self.volume
        return (t - 1, h // 2, w // 2)

    def offsets(self, vol: jax.Array) -> jax.Array:
        """``vol [N, T, H, W, C/G] -> tanh-bounded offsets [N, Tk, Hk, Wk, 3]``."""
        o = jax.nn.gelu(self.off_norm(self.off_dw(vol)), approximate=False)
        scale = jnp.asarray([1.0 / (n - 1) for n in self.volume], vol.dtype).reshape(1, 1, 1, 1, 3)
        return jnp.tanh(self.off_out(o)) * scale

    def __call__(self, x: jax.Array, vol: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """``x [B, H, V*W, C]``, ``vol [B, V, T, H, W, C]`` -> ``(out [B, H, V*W, C], info)``;
        ``info`` holds ``grid [B, V, G, Tk, Hk, Wk, 3]`` (sample positions) and ``attn``
        ``[B, heads, N_q, N_s]``."""
        b, v, t, h, w, c = vol.shape
        if (v, t, h, w, c) != (self.views, *self.volume, self.dim) or x.shape[1:] != (
            h,
            v * w,
            c,
        ):
            raise ValueError(
                f"DeformableAttention built for V={self.views}, volume={self.volume}, "
                f"dim={self.dim}; got vol {vol.shape} and x {x.shape}."
            )
        g, gc, nh = self.groups, c // self.groups, self.heads
        vol = vol + self.pos_emb[...][None]
        grouped = vol.reshape(b, v, t, h, w, g, gc).transpose(0, 1, 5, 2, 3, 4, 6)
        grouped = grouped.reshape(b * v * g, t, h, w, gc)
        ref = reference_grid(self.key_grid)
        grid = jnp.clip(ref[None] + self.offsets(grouped), -1.0, 1.0)  # [BVG, Tk, Hk, Wk, 3]
        ns_v = math.prod(self.key_grid)
        samples = sample_batched(grouped, grid.reshape(b * v * g, ns_v, 3))  # [BVG, ns_v, gc]
        samples = samples.reshape(b, v, g, ns_v, gc).transpose(0, 1, 3, 2, 4)
        samples = samples.reshape(b, v * ns_v, c)

        def split(a: jax.Array) -> jax.Array:
            return a.reshape(b, a.shape[1], nh, c // nh).transpose(0, 2, 1, 3)

        q = split(self.q(x.reshape(b, h * v * w, c)))
        k, val = split(self.k(samples)), split(self.v(samples))
        logits = jnp.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(c // nh)
        q_pos, q_view = query_positions(h, w, v)
        k_pos = grid.reshape(b, v, g, ns_v, 3).transpose(0, 2, 1, 3, 4).reshape(b, g, v * ns_v, 3)
        k_view = jnp.repeat(jnp.arange(v), ns_v)
        bias = crpb_bias(
            self.crpb_intra[...], self.crpb_cross[...], self.w_intra[...], self.w_cross[...],
            q_pos, q_view, k_pos, k_view,
        )  # fmt: skip
        if self.crpb_after_softmax:
            attn = jax.nn.softmax(logits, axis=-1) + bias
        else:
            attn = jax.nn.softmax(logits + bias, axis=-1)
        out = jnp.einsum("bhqk,bhkd->bhqd", attn, val).transpose(0, 2, 1, 3).reshape(b, -1, c)
        out = self.out(out).reshape(b, h, v * w, c)
        return out, {"grid": grid.reshape(b, v, g, *self.key_grid, 3), "attn": attn}
