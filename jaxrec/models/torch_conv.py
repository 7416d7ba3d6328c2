"""Convolution / BatchNorm layers in torchvision's conventions and the loader that copies a
torch state dict into them, shared by the 2-D (:mod:`jaxrec.models.resnet`) and 3-D
(:mod:`jaxrec.models.video`) ResNets.

Convolutions have no bias and torchvision's ``kaiming_normal_(mode="fan_out")`` init;
BatchNorm follows torch (eps 1e-5, momentum 0.1, i.e. flax momentum 0.9). Torch conv kernels
``[O, I, *k]`` become channels-last ``[*k, I, O]``; BatchNorm ``weight, bias, running_mean,
running_var`` become ``scale, bias, mean, var``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["NameMap", "batch_norm", "bn_names", "conv", "load_torch_weights"]

# torch state-dict name -> (variable, kind), kind in {"conv", "bn", "linear", "bias"}.
NameMap = dict[str, tuple[nnx.Variable, str]]

_BN = {"weight": "scale", "bias": "bias", "running_mean": "mean", "running_var": "var"}


def conv(
    cin: int,
    cout: int,
    kernel: Sequence[int],
    stride: Sequence[int],
    pad: Sequence[int],
    rngs: nnx.Rngs,
) -> nnx.Conv:
    """A bias-free convolution over ``len(kernel)`` spatial axes, symmetric padding ``pad``."""
    return nnx.Conv(
        cin,
        cout,
        tuple(kernel),
        tuple(stride),
        padding=[(p, p) for p in pad],
        use_bias=False,
        kernel_init=nnx.initializers.variance_scaling(2.0, "fan_out", "normal"),  # torchvision
        rngs=rngs,
    )


def batch_norm(channels: int, rngs: nnx.Rngs) -> nnx.BatchNorm:
    return nnx.BatchNorm(channels, momentum=0.9, epsilon=1e-5, rngs=rngs)


def bn_names(prefix: str, mod: nnx.BatchNorm) -> NameMap:
    """The four torch names of one BatchNorm under ``prefix``."""
    return {f"{prefix}.{t}": (getattr(mod, a), "bn") for t, a in _BN.items()}


def _to_flax(arr: np.ndarray, kind: str) -> np.ndarray:
    if kind == "conv":  # [O, I, *k] -> [*k, I, O]
        return np.moveaxis(arr, (0, 1), (-1, -2))
    if kind == "linear":  # [O, I] -> [I, O]
        return arr.T
    return arr


def load_torch_weights(
    names: NameMap,
    source: str | os.PathLike | Mapping[str, np.ndarray],
    *,
    what: str,
    kept_prefixes: Iterable[str],
    strict: bool = True,
) -> None:
    """Copies the tensors of ``source`` (a ``.safetensors`` file or a name -> array mapping)
    into the variables of ``names`` in place.

    Tensors whose first name component is not in ``kept_prefixes`` (dropped layers) and
    ``num_batches_tracked`` are ignored; with ``strict`` any other unknown tensor is an error.

    Raises:
        KeyError: a tensor the model needs is missing (names it), or an unknown one (strict).
        ValueError: a tensor has the wrong shape (names it, with both shapes).
    """
    if isinstance(source, Mapping):
        tensors = source
    else:
        from jaxrec.models.llm.safetensors_io import read_safetensors

        tensors = read_safetensors(source)
    missing = sorted(set(names) - set(tensors))
    if missing:
        raise KeyError(f"{what} weights: missing tensors {missing[:5]} (of {len(missing)}).")
    kept = set(kept_prefixes)
    unknown = [
        k
        for k in tensors
        if k not in names and not k.endswith("num_batches_tracked") and k.split(".")[0] in kept
    ]
    if strict and unknown:
        raise KeyError(f"{what} weights: unexpected tensors {sorted(unknown)[:5]}.")
    for name, (var, kind) in names.items():
        arr = _to_flax(np.asarray(tensors[name], np.float32), kind)
        if arr.shape != var.get_value().shape:
            raise ValueError(
                f"{what} weights: {name} has shape {np.shape(tensors[name])}, the model needs "
                f"{var.get_value().shape} (after the torch->flax transpose)."
            )
        var.set_value(jnp.asarray(arr, var.get_value().dtype))
