"""2-D ResNet (He et al. 2016; torchvision layout) in Flax NNX, optionally truncated and
narrowed, with torchvision-layout weight loading.

Layout: stem ``conv(k, stride s, pad k//2)`` + BN + ReLU (+ ``3x3`` stride-2 max pool), then
stages ``layer1..layerN`` of basic (two ``3x3``) or bottleneck (``1x1 -> 3x3 -> 1x1``,
expansion 4, stride on the ``3x3`` as torchvision's v1.5) blocks, stride 2 in the first block
of every stage but the first, a ``1x1`` conv + BN shortcut where the shape changes; global
average pooling; a linear head. Tensors are NHWC. ``train=True`` normalises with batch
statistics and updates the running ones (``nnx.BatchStat``: non-trainable, the train step
carries them in ``model_state``; as flax, the running variance is updated with the biased batch
variance, torch uses the unbiased one: a factor ``n / (n - 1)``, ``n = B H W``, on the update).

:meth:`ResNetConfig.npr` is the NPR detector's backbone (Tan et al. CVPR'24, authors'
``networks/resnet.py``): ResNet-50 cut after ``layer2`` with a ``3x3`` stride-2 stem and
``fc 512 -> 1``: 1,437,761 parameters (BatchNorm statistics excluded; the full torchvision
ResNet-50: 25,557,032).

Weight names (:func:`torchvision_name_map`): ``conv1.weight``, ``bn1.*``,
``layer{l}.{b}.conv{i}.weight``, ``layer{l}.{b}.bn{i}.*``, ``layer{l}.{b}.downsample.{0,1}.*``,
``{fc_name}.{weight, bias}`` (torchvision ``fc``; the NPR authors call it ``fc1``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.models.torch_conv import NameMap, batch_norm, bn_names, conv, load_torch_weights

__all__ = ["ResNet", "ResNetConfig", "load_torchvision_resnet", "torchvision_name_map"]

_EXPANSION = {"basic": 1, "bottleneck": 4}


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
    """Shape of a (possibly truncated) ResNet; defaults are torchvision's ResNet-50.

    Attributes:
      block: "basic" (ResNet-18/34) or "bottleneck" (ResNet-50 and up).
      layers: blocks per stage (its length = how many stages are kept).
      widths: inner width of each stage (output width x4 for bottlenecks).
      stem_width, stem_kernel, stem_stride: the stem convolution; maxpool: its max pool.
      in_channels: input channels; num_outputs: head outputs (0: no head, features only).
    """

    block: str = "bottleneck"
    layers: tuple[int, ...] = (3, 4, 6, 3)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    stem_width: int = 64
    stem_kernel: int = 7
    stem_stride: int = 2
    maxpool: bool = True
    in_channels: int = 3
    num_outputs: int = 1000

    def __post_init__(self) -> None:
        if self.block not in _EXPANSION:
            raise ValueError(f"block must be one of {sorted(_EXPANSION)}, got {self.block!r}")
        if not self.layers or len(self.layers) != len(self.widths):
            raise ValueError(f"layers {self.layers} and widths {self.widths} must match in length")
        if min(self.layers) < 1 or min(self.widths) < 1 or self.num_outputs < 0:
            raise ValueError(f"layers, widths must be >= 1 and num_outputs >= 0: {self}")

    @property
    def feature_dim(self) -> int:
        return self.widths[-1] * _EXPANSION[self.block]

    @classmethod
    def resnet18(cls, num_outputs: int = 1000) -> ResNetConfig:
        return cls(block="basic", layers=(2, 2, 2, 2), num_outputs=num_outputs)

    @classmethod
    def resnet50(cls, num_outputs: int = 1000) -> ResNetConfig:
        return cls(num_outputs=num_outputs)

    @classmethod
    def npr(cls) -> ResNetConfig:
        """NPR's backbone: ResNet-50 stages 1-2, ``3x3`` stride-2 stem, one logit."""
        return cls(layers=(3, 4), widths=(64, 128), stem_kernel=3, num_outputs=1)

    @classmethod
    def slim(cls, width: int = 16, layers: tuple[int, int] = (2, 2)) -> ResNetConfig:
        """NPR's shape at CPU scale: widths ``(width, 2 width)``, ``layers`` blocks."""
        return cls(layers=layers, widths=(width, 2 * width), stem_width=width, stem_kernel=3,
                   num_outputs=1)  # fmt: skip


class _Block(nnx.Module):
    """``relu(branch(x) + shortcut(x))``; branch = basic or bottleneck convs, each + BN."""

    def __init__(self, kind: str, cin: int, width: int, stride: int, *, rngs: nnx.Rngs):
        cout = width * _EXPANSION[kind]
        if kind == "basic":
            shapes = [(cin, width, 3, stride), (width, width, 3, 1)]
        else:
            shapes = [(cin, width, 1, 1), (width, width, 3, stride), (width, cout, 1, 1)]
        self.convs = nnx.List(
            [conv(i, o, (k, k), (s, s), (k // 2,) * 2, rngs) for i, o, k, s in shapes]
        )
        self.bns = nnx.List([batch_norm(o, rngs) for _, o, _, _ in shapes])
        self.down_conv = self.down_bn = nnx.data(None)
        if stride != 1 or cin != cout:
            self.down_conv = conv(cin, cout, (1, 1), (stride, stride), (0, 0), rngs)
            self.down_bn = batch_norm(cout, rngs)

    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        h = x
        for i, (c, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            h = bn(c(h), use_running_average=not train)
            if i + 1 < len(self.convs):
                h = jax.nn.relu(h)
        if self.down_conv is not None:
            x = self.down_bn(self.down_conv(x), use_running_average=not train)
        return jax.nn.relu(h + x)


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    """torch ``MaxPool2d(3, stride=2, padding=1)`` (padding never wins: it is -inf)."""
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), pad)


class ResNet(nnx.Module):
    """``x [B, H, W, in_channels] -> logits [B, num_outputs]`` (or features if 0 outputs)."""

    def __init__(self, cfg: ResNetConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        k, s = cfg.stem_kernel, cfg.stem_stride
        self.stem_conv = conv(cfg.in_channels, cfg.stem_width, (k, k), (s, s), (k // 2,) * 2, rngs)
        self.stem_bn = batch_norm(cfg.stem_width, rngs)
        blocks, cin = [], cfg.stem_width
        for stage, (n, width) in enumerate(zip(cfg.layers, cfg.widths, strict=True)):
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(_Block(cfg.block, cin, width, stride, rngs=rngs))
                cin = width * _EXPANSION[cfg.block]
        self.blocks = nnx.List(blocks)
        self.fc = nnx.data(None)
        if cfg.num_outputs:
            bound = 1.0 / math.sqrt(cin)  # torch nn.Linear's default init
            init = nnx.initializers.uniform(2 * bound)
            self.fc = nnx.Linear(cin, cfg.num_outputs, rngs=rngs,
                                 kernel_init=lambda *a: init(*a) - bound,
                                 bias_init=lambda *a: init(*a) - bound)  # fmt: skip

    def features(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        """Globally average-pooled last-stage features ``[B, feature_dim]``."""
        if x.ndim != 4 or x.shape[-1] != self.cfg.in_channels:
            raise ValueError(
                f"ResNet expects [B, H, W, {self.cfg.in_channels}] images, got shape {x.shape}"
            )
        h = jax.nn.relu(self.stem_bn(self.stem_conv(x), use_running_average=not train))
        if self.cfg.maxpool:
            h = _max_pool_3x3_s2(h)
        for block in self.blocks:
            h = block(h, train)
        return h.mean(axis=(1, 2))

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        f = self.features(x, train=train)
        return f if self.fc is None else self.fc(f)


def torchvision_name_map(model: ResNet, fc_name: str = "fc") -> NameMap:
    """Torch state-dict name -> ``(variable, kind)`` for every tensor of ``model``."""
    out: NameMap = {
        "conv1.weight": (model.stem_conv.kernel, "conv"),
        **bn_names("bn1", model.stem_bn),
    }
    index = [(s, b) for s, n in enumerate(model.cfg.layers) for b in range(n)]
    for (stage, b), block in zip(index, model.blocks, strict=True):
        p = f"layer{stage + 1}.{b}"
        for i, (c, bn) in enumerate(zip(block.convs, block.bns, strict=True), start=1):
            out[f"{p}.conv{i}.weight"] = (c.kernel, "conv")
            out.update(bn_names(f"{p}.bn{i}", bn))
        if block.down_conv is not None:
            out[f"{p}.downsample.0.weight"] = (block.down_conv.kernel, "conv")
            out.update(bn_names(f"{p}.downsample.1", block.down_bn))
    if model.fc is not None:
        out[f"{fc_name}.weight"] = (model.fc.kernel, "linear")
        out[f"{fc_name}.bias"] = (model.fc.bias, "bias")
    return out


def load_torchvision_resnet(
    model: ResNet,
    source: str | os.PathLike | Mapping[str, np.ndarray],
    *,
    fc_name: str = "fc",
    strict: bool = True,
) -> ResNet:
    """Copies torchvision-layout ResNet weights (a ``.safetensors`` file or a name -> array
    mapping) into ``model`` in place and returns it. Tensors of dropped stages (and of ``fc``
    when the model has no head) are ignored; see :func:`load_torch_weights` for the errors."""
    kept = ["conv1", "bn1", *(f"layer{i + 1}" for i in range(len(model.cfg.layers)))]
    if model.fc is not None:
        kept.append(fc_name)
    names = torchvision_name_map(model, fc_name)
    load_torch_weights(names, source, what="resnet", kept_prefixes=kept, strict=strict)
    return model
