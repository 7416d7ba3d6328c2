"""Loading and saving a diffusers-layout folder without torch, through safetensors.

Layout (Stable Diffusion 1.x pipelines)::

    root/unet/config.json, diffusion_pytorch_model.safetensors        UNet2DConditionModel
    root/text_encoder/config.json, model.safetensors                   transformers CLIPTextModel
    root/tokenizer/                                                    CLIPTokenizer files
    root/scheduler/scheduler_config.json                               beta schedule, prediction type

The name map is explicit and mechanical: our parameter path (``down_blocks.0.resnets.1.conv1.
kernel``) becomes the torch name by the rules in :func:`torch_name` (``kernel``/``scale`` ->
``weight``, ``resample`` -> ``downsamplers``/``upsamplers``, the CLIP prefixes), and the tensor is
transposed (linear ``[in, out]`` <-> ``[out, in]``, conv ``HWIO`` <-> ``OIHW``). Loading checks
that every model parameter has a tensor of the right shape and that no tensor is left over; an
error names the tensor and the file. Parameters are placed with the shardings the model's
logical axes give under the active mesh (build under :func:`jaxrec.train.mesh_context`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding

from jaxrec.models.clip_text import CLIPTextConfig, CLIPTextEncoder
from jaxrec.models.llm.safetensors_io import read_safetensors, write_safetensors
from jaxrec.models.unet import UNet2DCondition, UNetConfig

__all__ = [
    "load_clip_text",
    "load_scheduler",
    "load_tokenizer",
    "load_torch_params",
    "load_unet",
    "save_clip_text",
    "save_unet",
    "torch_name",
    "unet_config_from_diffusers",
    "unet_config_to_diffusers",
]

UNET_WEIGHTS = "diffusion_pytorch_model.safetensors"
CLIP_WEIGHTS = "model.safetensors"
_BETA_SCHEDULES = {"linear": "linear", "scaled_linear": "scaled_linear",
                   "squaredcos_cap_v2": "cosine"}  # fmt: skip
_IGNORED = ("embeddings.position_ids",)  # a torch buffer, not a parameter


def torch_name(path: tuple[str | int, ...], *, clip: bool = False) -> str:
    """The torch tensor name of one of our parameters (path of keys in the pure dict)."""
    parts = [str(p) for p in path]
    out = []
    for i, p in enumerate(parts):
        if p == "resample":
            out.append("downsamplers" if parts[0] == "down_blocks" else "upsamplers")
        elif p in ("kernel", "scale") and i == len(parts) - 1:
            out.append("weight")
        else:
            out.append(p)
    if clip:
        head = out[0]
        if head in ("token_embedding", "position_embedding"):
            out = ["embeddings", head, "weight"]
        elif head in ("class_embedding", "patch_embedding"):  # the vision tower
            out = ["embeddings", *out]
        elif head == "layers":
            out = ["encoder", *out]
    return ".".join(out)


def _to_torch(path: tuple, value: np.ndarray) -> np.ndarray:
    if path[-1] != "kernel":
        return value
    return value.T if value.ndim == 2 else value.transpose(3, 2, 0, 1)


def _from_torch(path: tuple, value: np.ndarray) -> np.ndarray:
    if path[-1] != "kernel":
        return value
    return value.T if value.ndim == 2 else value.transpose(2, 3, 1, 0)


def _leaves(tree: Any, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, (*prefix, k))
    else:
        yield prefix, tree


def _set(tree: dict, path: tuple, value: Any) -> None:
    for k in path[:-1]:
        tree = tree[k]
    tree[path[-1]] = value


def load_torch_params(
    build: Callable[[], nnx.Module],
    tensors: Mapping[str, np.ndarray],
    name: Callable[[tuple], str],
    source: str,
    *,
    owns: Callable[[str], bool] = lambda n: True,
) -> nnx.Module:
    """Builds the model abstractly and fills every parameter (pure-dict ``path``) from
    ``tensors[name(path)]``, transposed from torch's layout.

    Raises:
      ValueError: naming ``source`` and the tensor, if one is missing or mis-shaped, or if a tensor
        that ``owns`` claims is used by no parameter (``*embeddings.position_ids`` buffers aside).
    """
    abstract = nnx.eval_shape(build)
    graphdef, state = nnx.split(abstract)
    pure = nnx.to_pure_dict(state)
    used = set()
    for path, leaf in list(_leaves(pure)):
        key = name(path)
        if key not in tensors:
            raise ValueError(
                f"{source}: missing tensor {key!r} (for parameter {'.'.join(map(str, path))})"
            )
        value = _from_torch(path, np.asarray(tensors[key]))
        if value.shape != leaf.shape:
            raise ValueError(
                f"{source}: tensor {key!r} has shape {list(np.shape(tensors[key]))}, the model "
                f"needs {list(_to_torch(path, np.zeros(leaf.shape, np.int8)).shape)}"
            )
        sharding = getattr(leaf, "sharding", None)  # abstract mesh + spec, under a mesh
        value = value.astype(leaf.dtype)
        if sharding is not None:
            value = jax.device_put(value, NamedSharding(jax.sharding.get_mesh(), sharding.spec))
        _set(pure, path, value)
        used.add(key)
    extra = sorted(k for k in tensors if k not in used and owns(k) and not k.endswith(_IGNORED))
    if extra:
        raise ValueError(f"{source}: unexpected tensors {extra[:5]} ({len(extra)} in all)")
    nnx.replace_by_pure_dict(state, pure)
    return nnx.merge(graphdef, state)


def _load_into(build: Callable[[], nnx.Module], file: Path, clip: bool) -> nnx.Module:
    """Builds the model abstractly and fills every parameter from ``file``."""
    tensors = read_safetensors(file)
    if clip:  # transformers 4 prefixes CLIPTextModel names with "text_model.", 5 does not
        tensors = {k.removeprefix("text_model."): v for k, v in tensors.items()}
    return load_torch_params(build, tensors, lambda p: torch_name(p, clip=clip), str(file))


def _save_from(model: nnx.Module, file: Path, clip: bool) -> None:
    pure = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    tensors = {
        torch_name(path, clip=clip): _to_torch(path, np.asarray(jax.device_get(v), np.float32))
        for path, v in _leaves(pure)
    }
    write_safetensors(tensors, file, {"format": "pt"})


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    return json.loads(path.read_text())


def _write_json(data: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def unet_config_from_diffusers(data: dict, **overrides: Any) -> UNetConfig:
    """Our :class:`UNetConfig` from a diffusers ``unet/config.json``.

    Raises:
      ValueError: naming the field of a variant this UNet does not implement.
    """
    unsupported = {
        "act_fn": "silu", "time_embedding_type": "positional", "class_embed_type": None,
        "addition_embed_type": None, "center_input_sample": False, "transformer_layers_per_block": 1,
        "mid_block_type": "UNetMidBlock2DCrossAttn", "encoder_hid_dim": None, "dual_cross_attention": False,
        "upcast_attention": False, "resnet_time_scale_shift": "default", "only_cross_attention": False,
    }  # fmt: skip
    for field, ok in unsupported.items():
        if field in data and data[field] != ok:
            raise ValueError(
                f"unet config field {field}={data[field]!r} is not supported (need {ok!r})"
            )
    down = data["down_block_types"]
    known = {"CrossAttnDownBlock2D": True, "DownBlock2D": False}
    if any(b not in known for b in down):
        raise ValueError(f"unet config down_block_types {down} has blocks other than {list(known)}")
    cross = tuple(known[b] for b in down)
    up_expected = ["CrossAttnUpBlock2D" if c else "UpBlock2D" for c in reversed(cross)]
    if list(data["up_block_types"]) != up_expected:
        raise ValueError(
            f"unet config up_block_types {data['up_block_types']} do not mirror {down}"
        )
    heads = data.get("num_attention_heads") or data.get("attention_head_dim", 8)
    return UNetConfig(
        in_channels=data.get("in_channels", 4),
        out_channels=data.get("out_channels", 4),
        block_out_channels=tuple(data["block_out_channels"]),
        cross_attn=cross,
        layers_per_block=data.get("layers_per_block", 2),
        attention_heads=heads if isinstance(heads, int) else tuple(heads),
        cross_attention_dim=data.get("cross_attention_dim", 1280),
        norm_num_groups=data.get("norm_num_groups", 32),
        norm_eps=data.get("norm_eps", 1e-5),
        use_linear_projection=data.get("use_linear_projection", False),
        flip_sin_to_cos=data.get("flip_sin_to_cos", True),
        freq_shift=data.get("freq_shift", 0),
        **overrides,
    )


def unet_config_to_diffusers(cfg: UNetConfig) -> dict:
    """A diffusers ``UNet2DConditionModel`` config for ``cfg``."""
    return {
        "_class_name": "UNet2DConditionModel",
        "in_channels": cfg.in_channels, "out_channels": cfg.out_channels,
        "block_out_channels": list(cfg.block_out_channels),
        "down_block_types": ["CrossAttnDownBlock2D" if c else "DownBlock2D" for c in cfg.cross_attn],
        "up_block_types": ["CrossAttnUpBlock2D" if c else "UpBlock2D" for c in reversed(cfg.cross_attn)],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "layers_per_block": cfg.layers_per_block, "attention_head_dim": list(cfg.heads),
        "cross_attention_dim": cfg.cross_attention_dim, "norm_num_groups": cfg.norm_num_groups,
        "norm_eps": cfg.norm_eps, "use_linear_projection": cfg.use_linear_projection,
        "flip_sin_to_cos": cfg.flip_sin_to_cos, "freq_shift": cfg.freq_shift,
        "sample_size": 64, "act_fn": "silu",
    }  # fmt: skip


def load_unet(folder: str | os.PathLike, **overrides: Any) -> UNet2DCondition:
    """The UNet of a diffusers ``unet/`` folder (``overrides``: e.g. ``dtype``, ``remat``)."""
    folder = Path(folder)
    cfg = unet_config_from_diffusers(_read_json(folder / "config.json"), **overrides)
    return _load_into(lambda: UNet2DCondition(cfg, rngs=nnx.Rngs(0)), folder / UNET_WEIGHTS, False)


def save_unet(model: UNet2DCondition, folder: str | os.PathLike) -> None:
    """Writes ``config.json`` and ``diffusion_pytorch_model.safetensors`` (float32)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _save_from(model, folder / UNET_WEIGHTS, False)
    _write_json(unet_config_to_diffusers(model.cfg), folder / "config.json")


def _clip_config(data: dict, **overrides: Any) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=data["vocab_size"],
        max_position_embeddings=data.get("max_position_embeddings", 77),
        hidden_size=data["hidden_size"],
        intermediate_size=data["intermediate_size"],
        num_layers=data["num_hidden_layers"],
        num_heads=data["num_attention_heads"],
        layer_norm_eps=data.get("layer_norm_eps", 1e-5),
        hidden_act=data.get("hidden_act", "quick_gelu"),
        eos_token_id=data.get("eos_token_id", 2),
        **overrides,
    )


def load_clip_text(folder: str | os.PathLike, **overrides: Any) -> CLIPTextEncoder:
    """The text encoder of a transformers ``CLIPTextModel`` folder."""
    folder = Path(folder)
    cfg = _clip_config(_read_json(folder / "config.json"), **overrides)
    return _load_into(lambda: CLIPTextEncoder(cfg, rngs=nnx.Rngs(0)), folder / CLIP_WEIGHTS, True)


def save_clip_text(model: CLIPTextEncoder, folder: str | os.PathLike) -> None:
    """Writes a transformers ``CLIPTextModel`` folder (``config.json``, ``model.safetensors``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    _save_from(model, folder / CLIP_WEIGHTS, True)
    _write_json({
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
        "vocab_size": cfg.vocab_size, "max_position_embeddings": cfg.max_position_embeddings,
        "hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers, "num_attention_heads": cfg.num_heads,
        "layer_norm_eps": cfg.layer_norm_eps, "hidden_act": cfg.hidden_act,
        "eos_token_id": cfg.eos_token_id, "projection_dim": cfg.hidden_size,
    }, folder / "config.json")  # fmt: skip


def load_scheduler(folder: str | os.PathLike) -> dict[str, Any]:
    """The arguments of :func:`jaxrec.diffusion.make_noise_schedule` for a diffusers
    ``scheduler/scheduler_config.json`` (``models/`` does not import the diffusion layer):
    ``make_noise_schedule(**load_scheduler(folder))``.

    Raises:
      ValueError: an unknown ``beta_schedule`` (or trained betas) or prediction type.
    """
    data = _read_json(Path(folder) / "scheduler_config.json")
    kind = data.get("beta_schedule", "linear")
    if kind not in _BETA_SCHEDULES or data.get("trained_betas") is not None:
        raise ValueError(
            f"unknown scheduler beta_schedule {kind!r}; expected one of {list(_BETA_SCHEDULES)}"
        )
    kind = _BETA_SCHEDULES[kind]
    betas = {} if kind == "cosine" else {"beta_start": data.get("beta_start", 1e-4),
                                         "beta_end": data.get("beta_end", 0.02)}  # fmt: skip
    return {"kind": kind, "num_train_timesteps": data.get("num_train_timesteps", 1000), **betas,
            "prediction_type": data.get("prediction_type", "epsilon")}  # fmt: skip


def load_tokenizer(folder: str | os.PathLike):
    """The ``CLIPTokenizer`` of a ``tokenizer/`` folder (transformers, no torch needed)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(folder))
