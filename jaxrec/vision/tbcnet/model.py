"""The TBCNet model: shared r3d backbone per view, fused trunk, per-view branches.

``clips [B, V, T, H, W, 3]`` -> backbone (shared, :class:`jaxrec.models.video.R3D`) ->
``vol [B, V, T', H', W', C]``. Trunk (``fusion="tbcnet"``): width concatenation
``[B, T', H', V*W', C]`` -> :class:`GAM` -> :class:`MVDABlock` over the per-view volumes -> head.
Late-fusion baseline (``fusion="late"``): per-view GAP features averaged over views -> head.
Head: GAP -> ``Linear(C, D)`` -> L2 norm (the trunk embedding ``z``) -> BatchNorm -> Dropout ->
classifier. Branches (:class:`Branch`, one per view, training only) give ``z^v`` and view logits.
Inference (``branches=False``) runs the trunk alone and returns the same trunk outputs.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from jaxrec.models.video import R3D
from jaxrec.vision.tbcnet.blocks import GAM, MVDABlock
from jaxrec.vision.tbcnet.branch import Branch

__all__ = ["TBCNet", "TBCNetModelConfig", "feature_volume"]


@dataclasses.dataclass(frozen=True)
class TBCNetModelConfig:
    """Attributes (defaults: the authors' model; CPU configs narrow them):
    classes: action classes; views: ``V``; frames, size: input ``T`` and square ``H = W``.
    backbone_layers, widths: r3d_18 kept layers (3) and channel widths (torchvision's).
    heads, groups: deformable attention (8 heads in 4 groups).
    emb_dim: trunk and branch embedding size (128); dropout: head dropout (0.1).
    branch_heads, window, shift: Swin branch (8 heads, 7x7 windows, shift 3).
    layer_scale: LayerScale init (1e-4); mlp_ratio: MLP hidden ratio (2: 256 -> 512).
    crpb_after_softmax: the authors' bias placement (default off: before the softmax).
    fusion: "tbcnet" (trunk) or "late" (late-fusion baseline: per-view features averaged).
    """

    classes: int = 60
    views: int = 3
    frames: int = 16
    size: int = 224
    backbone_layers: int = 3
    widths: tuple[int, ...] = (64, 128, 256, 512)
    heads: int = 8
    groups: int = 4
    emb_dim: int = 128
    dropout: float = 0.1
    branch_heads: int = 8
    window: int = 7
    shift: int = 3
    layer_scale: float = 1e-4
    mlp_ratio: int = 2
    crpb_after_softmax: bool = False
    fusion: str = "tbcnet"

    def __post_init__(self) -> None:
        if self.fusion not in ("tbcnet", "late"):
            raise ValueError(f"model.fusion must be 'tbcnet' or 'late', got {self.fusion!r}")


def feature_volume(cfg: TBCNetModelConfig) -> tuple[int, int, int]:
    """``(T', H', W')`` of the backbone output: the stem halves H, W; each later layer halves
    T, H, W (ceil, as torch's padded stride-2 convs)."""
    t, s = cfg.frames, -(-cfg.size // 2)
    for _ in range(cfg.backbone_layers - 1):
        t, s = -(-t // 2), -(-s // 2)
    return t, s, s


class TBCNet(nnx.Module):
    """TBCNet (module docstring). Call ``model(clips, train=..., branches=..., key=...)``."""

    def __init__(self, cfg: TBCNetModelConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.backbone = R3D(cfg.backbone_layers, cfg.widths, rngs=rngs)
        c = self.backbone.out_channels
        volume = feature_volume(cfg)
        if cfg.fusion == "tbcnet":
            self.gam = GAM(c, volume[0], rngs=rngs)
            self.mvda = MVDABlock(c, cfg.heads, cfg.groups, cfg.views, volume,
                                  mlp_ratio=cfg.mlp_ratio, layer_scale=cfg.layer_scale,
                                  crpb_after_softmax=cfg.crpb_after_softmax, rngs=rngs)  # fmt: skip
        else:
            self.gam = self.mvda = None
        self.embed = nnx.Linear(c, cfg.emb_dim, rngs=rngs)
        self.bn = nnx.BatchNorm(cfg.emb_dim, momentum=0.9, epsilon=1e-5, rngs=rngs)
        self.drop = nnx.Dropout(cfg.dropout)
        self.classifier = nnx.Linear(cfg.emb_dim, cfg.classes, rngs=rngs)
        self.branches = nnx.List([
            Branch(c, cfg.emb_dim, cfg.classes, cfg.branch_heads, cfg.window, cfg.shift,
                   layer_scale=cfg.layer_scale, rngs=rngs)
            for _ in range(cfg.views)
        ])  # fmt: skip

    def features(self, clips: jax.Array, train: bool) -> jax.Array:
        """``clips [B, V, T, H, W, 3]`` -> per-view volumes ``[B, V, T', H', W', C]``."""
        cfg = self.cfg
        if clips.ndim != 6 or clips.shape[1:] != (cfg.views, cfg.frames, cfg.size, cfg.size, 3):
            raise ValueError(
                f"TBCNet expects clips [B, V={cfg.views}, T={cfg.frames}, {cfg.size}, "
                f"{cfg.size}, 3], got {clips.shape}."
            )
        b = clips.shape[0]
        vol = self.backbone(clips.reshape(b * cfg.views, *clips.shape[2:]), train)
        return vol.reshape(b, cfg.views, *vol.shape[1:])

    def trunk(
        self, vol: jax.Array, *, train: bool, key: jax.Array | None = None
    ) -> dict[str, jax.Array]:
        """Trunk head on the per-view volumes: ``{"logits", "emb", ...attention info}``."""
        info: dict[str, jax.Array] = {}
        if self.mvda is not None:
            b, v, t, h, w, c = vol.shape
            fused = vol.transpose(0, 2, 3, 1, 4, 5).reshape(b, t, h, v * w, c)
            x, info = self.mvda(self.gam(fused), vol)
            pooled = jnp.mean(x, axis=(1, 2))
        else:
            pooled = jnp.mean(vol, axis=(1, 2, 3, 4))
        z = self.embed(pooled)
        z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
        h = self.bn(z, use_running_average=not train)
        h = self.drop(h, deterministic=not train or key is None, rngs=key)
        return {"logits": self.classifier(h), "emb": z, **info}

    def __call__(
        self, clips: jax.Array, *, train: bool = False, branches: bool = False,
        key: jax.Array | None = None,
    ) -> dict[str, jax.Array]:  # fmt: skip
        """Trunk outputs, plus ``view_emb [V, B, D]`` and ``view_logits [V, B, classes]`` when
        ``branches`` (training stage 2). ``key`` drives the head's dropout in training."""
        vol = self.features(clips, train)
        out = self.trunk(vol, train=train, key=key)
        if branches:
            embs, logits = zip(*(br(vol[:, i]) for i, br in enumerate(self.branches)))
            out["view_emb"], out["view_logits"] = jnp.stack(embs), jnp.stack(logits)
        return out
