"""3-D ResNet-18 (torchvision ``r3d_18`` layout) in Flax NNX, optionally truncated, with
torchvision-layout weight loading from a local ``.safetensors`` file.

Layout (Tran et al., "A Closer Look at Spatiotemporal Convolutions", CVPR 2018; torchvision
``r3d_18``): stem ``Conv3d(3, 64, (3,7,7), stride (1,2,2), pad (1,3,3))`` + BN + ReLU, then
``layer1..layer4`` of two basic blocks each (``3x3x3`` convs, widths 64/128/256/512, stride 2 in
the first block of layers 2-4 with a ``1x1x1`` conv + BN shortcut). TBCNet truncates after
``layer3`` (``num_layers=3``): a ``[B, 16, 224, 224, 3]`` clip gives ``[B, 4, 28, 28, 256]``.

Tensors are channels-last, ``[B, T, H, W, C]``. BatchNorm follows torch (eps 1e-5, momentum 0.1,
i.e. flax momentum 0.9); ``train=True`` normalises with batch statistics and updates the running
ones. ``widths`` may be narrowed for CPU-scale experiments (the loader then needs a checkpoint of
the same widths). Parameters carry no sharding annotations: the backbone runs replicated and the
batch is sharded.

Weight names (:func:`torchvision_name_map`): ``stem.0.weight`` (conv), ``stem.1.{weight, bias,
running_mean, running_var}`` (BN), ``layer{l}.{b}.conv{1,2}.{0,1}.*`` and
``layer{l}.0.downsample.{0,1}.*``. Torch conv kernels ``[O, I, kT, kH, kW]`` become
``[kT, kH, kW, I, O]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import numpy as np
from flax import nnx

from jaxrec.models.torch_conv import NameMap, batch_norm, bn_names, conv, load_torch_weights

__all__ = ["R3D", "load_torchvision_r3d", "torchvision_name_map"]


class BasicBlock3D(nnx.Module):
    """``relu(BN(conv(relu(BN(conv(x))))) + shortcut(x))`` with ``3x3x3`` convs."""

    def __init__(self, cin: int, cout: int, stride: int, *, rngs: nnx.Rngs):
        self.conv1 = conv(cin, cout, (3, 3, 3), (stride,) * 3, (1, 1, 1), rngs)
        self.bn1 = batch_norm(cout, rngs)
        self.conv2 = conv(cout, cout, (3, 3, 3), (1, 1, 1), (1, 1, 1), rngs)
        self.bn2 = batch_norm(cout, rngs)
        if stride != 1 or cin != cout:
            self.down_conv = conv(cin, cout, (1, 1, 1), (stride,) * 3, (0, 0, 0), rngs)
            self.down_bn = batch_norm(cout, rngs)
        else:
            self.down_conv = self.down_bn = None

    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        ura = not train
        h = jax.nn.relu(self.bn1(self.conv1(x), use_running_average=ura))
        h = self.bn2(self.conv2(h), use_running_average=ura)
        if self.down_conv is not None:
            x = self.down_bn(self.down_conv(x), use_running_average=ura)
        return jax.nn.relu(h + x)


class R3D(nnx.Module):
    """r3d_18 (two blocks per layer) up to ``layer{num_layers}``.

    Args:
        num_layers: how many of ``layer1..layer4`` to keep (TBCNet: 3).
        widths: channel widths of the stem/layer1 and each later layer (torchvision:
            ``(64, 128, 256, 512)``).
        in_channels: input channels (3 for RGB).

    Call: ``x [B, T, H, W, C_in] -> [B, T', H', W', widths[num_layers - 1]]``.
    """

    def __init__(
        self,
        num_layers: int = 3,
        widths: Sequence[int] = (64, 128, 256, 512),
        in_channels: int = 3,
        *,
        rngs: nnx.Rngs,
    ):
        if not 1 <= num_layers <= len(widths):
            raise ValueError(f"num_layers must be in [1, {len(widths)}], got {num_layers}.")
        self.num_layers = num_layers
        self.widths = tuple(widths)
        self.stem_conv = conv(in_channels, widths[0], (3, 7, 7), (1, 2, 2), (1, 3, 3), rngs)
        self.stem_bn = batch_norm(widths[0], rngs)
        blocks = []
        cin = widths[0]
        for layer in range(num_layers):
            cout, stride = widths[layer], 1 if layer == 0 else 2
            blocks.append(BasicBlock3D(cin, cout, stride, rngs=rngs))
            blocks.append(BasicBlock3D(cout, cout, 1, rngs=rngs))
            cin = cout
        self.blocks = nnx.List(blocks)

    @property
    def out_channels(self) -> int:
        return self.widths[self.num_layers - 1]

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 5:
            raise ValueError(f"R3D expects [B, T, H, W, C] clips, got shape {x.shape}.")
        h = jax.nn.relu(self.stem_bn(self.stem_conv(x), use_running_average=not train))
        for block in self.blocks:
            h = block(h, train)
        return h


def torchvision_name_map(model: R3D) -> NameMap:
    """Torch state-dict name -> ``(variable, kind)``, ``kind`` in ``{"conv", "bn"}``.

    Covers every tensor of the kept layers (``num_batches_tracked`` is not a weight and is
    skipped by the loader).
    """
    out: NameMap = {"stem.0.weight": (model.stem_conv.kernel, "conv")}

    def bn(prefix: str, mod: nnx.BatchNorm) -> None:
        out.update(bn_names(prefix, mod))

    bn("stem.1", model.stem_bn)
    for i, block in enumerate(model.blocks):
        p = f"layer{i // 2 + 1}.{i % 2}"
        out[f"{p}.conv1.0.weight"] = (block.conv1.kernel, "conv")
        bn(f"{p}.conv1.1", block.bn1)
        out[f"{p}.conv2.0.weight"] = (block.conv2.kernel, "conv")
        bn(f"{p}.conv2.1", block.bn2)
        if block.down_conv is not None:
            out[f"{p}.downsample.0.weight"] = (block.down_conv.kernel, "conv")
            bn(f"{p}.downsample.1", block.down_bn)
    return out


def load_torchvision_r3d(
    model: R3D, source: str | os.PathLike | dict[str, np.ndarray], *, strict: bool = True
) -> R3D:
    """Copies torchvision ``r3d_18`` weights (a ``.safetensors`` file or a name -> array dict)
    into ``model`` in place and returns it.

    Tensors of dropped layers (``layer4``, ``fc`` when truncated) and ``num_batches_tracked``
    are ignored. With ``strict``, any other unknown tensor is an error.

    Raises:
        KeyError: a tensor the model needs is missing (names it), or an unknown one (strict).
        ValueError: a tensor has the wrong shape (names it, with both shapes).
    """
    kept = [f"layer{i}" for i in range(1, model.num_layers + 1)] + ["stem"]
    load_torch_weights(torchvision_name_map(model), source, what="r3d", kept_prefixes=kept,
                       strict=strict)  # fmt: skip
    return model
