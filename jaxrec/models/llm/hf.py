"""Hugging Face model folders <-> :class:`~.decoder.Decoder`.

A folder holds ``config.json``, the weights as ``*.safetensors`` (one file, or shards listed in
``model.safetensors.index.json``) and tokenizer files. transformers is used only to parse the
config (``AutoConfig``) and the tokenizer (``AutoTokenizer``), both with
``local_files_only=True`` and without remote code; it is imported inside the functions, so
``import jaxrec`` never needs it. Weights never pass through pickle: folders with only
``*.bin``/``*.pt`` weights are refused.

Name map (``i`` = layer; ``[L]`` = stacked over layers; Linear weights are transposed from
torch's ``(out, in)`` to our ``(in, out)`` kernels)::

    model.embed_tokens.weight                     embed_tokens              (V, D)
    model.layers.i.input_layernorm.weight         layers.input_layernorm.weight           [L]
    model.layers.i.self_attn.{q,k,v,o}_proj.weight  layers.self_attn.{q,k,v,o}_proj.kernel  [L] T
    model.layers.i.self_attn.{q,k,v}_proj.bias    layers.self_attn.{q,k,v}_proj.bias      [L] (qwen2)
    model.layers.i.post_attention_layernorm.weight  layers.post_attention_layernorm.weight  [L]
    model.layers.i.mlp.{gate,up,down}_proj.weight   layers.mlp.{gate,up,down}_proj.kernel   [L] T
    model.norm.weight                             norm.weight
    lm_head.weight                                lm_head (D, V) T          (absent when tied)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding

from jaxrec.models.llm.config import SUPPORTED_MODEL_TYPES, LLMConfig
from jaxrec.models.llm.decoder import Decoder
from jaxrec.models.llm.lora import has_lora
from jaxrec.models.llm.safetensors_io import SafetensorsFiles, write_safetensors

__all__ = ["hf_name_map", "load_config", "load_pretrained", "save_pretrained"]

_INDEX = "model.safetensors.index.json"
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
# Tensors some exporters add that carry no parameters.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One of our parameters: its path in the pure state dict, its HF name(s), and whether it is
    a torch Linear weight (transposed) and stacked over layers (HF name has ``{i}``)."""

    path: tuple[str, ...]
    hf_name: str
    linear: bool

    @property
    def stacked(self) -> bool:
        return "{i}" in self.hf_name


def hf_name_map(cfg: LLMConfig) -> list[_Entry]:
    """The parameters of a decoder with ``cfg`` and their HF checkpoint names."""
    entries = [
        _Entry(("embed_tokens",), "model.embed_tokens.weight", False),
        _Entry(("norm", "weight"), "model.norm.weight", False),
    ]
    if not cfg.tie_embeddings:
        entries.append(_Entry(("lm_head",), "lm_head.weight", True))
    for norm in ("input_layernorm", "post_attention_layernorm"):
        entries.append(
            _Entry(("layers", norm, "weight"), f"model.layers.{{i}}.{norm}.weight", False)
        )
    for block, projs in (("self_attn", "qkvo"), ("mlp", ("gate", "up", "down"))):
        for p in projs:
            name = f"{p}_proj"
            hf = f"model.layers.{{i}}.{block}.{name}"
            entries.append(_Entry(("layers", block, name, "kernel"), f"{hf}.weight", True))
            if block == "self_attn" and p != "o" and cfg.qkv_bias:
                entries.append(_Entry(("layers", block, name, "bias"), f"{hf}.bias", False))
    return entries


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike, **overrides: Any) -> LLMConfig:
    """Parses ``path/config.json`` (via ``transformers.AutoConfig``) into an :class:`LLMConfig`.

    Raises:
      FileNotFoundError: no ``config.json``.
      ValueError: unsupported model type or feature.
    """
    path = Path(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{path}: no config.json (not a Hugging Face model folder)")
    try:
        raw = json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_file}: invalid JSON ({err})") from err
    if raw.get("model_type") not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"{config_file}: model_type={raw.get('model_type')!r} is not supported; "
            f"supported: {SUPPORTED_MODEL_TYPES}"
        )
    from transformers import AutoConfig

    hf = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    return LLMConfig.from_hf(hf.to_dict(), **overrides)


def _weight_files(path: Path) -> list[Path]:
    index = path / _INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as err:
            raise ValueError(f"{index}: not a valid safetensors index ({err})") from err
        files = [path / f for f in sorted(set(weight_map.values()))]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"{index} lists missing shard files: {missing}")
        return files
    files = sorted(path.glob("*.safetensors"))
    if files:
        return files
    pickled = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
    if pickled:
        raise ValueError(
            f"{path}: weights are only in pickle-based files {pickled}; refusing to unpickle them. "
            "Convert the checkpoint to safetensors first."
        )
    raise FileNotFoundError(f"{path}: no *.safetensors weight files")


def _check_names(
    cfg: LLMConfig, shapes: dict[tuple[str, ...], tuple[int, ...]], st: SafetensorsFiles
) -> None:
    """Every tensor the architecture needs is in ``st`` with the HF shape matching our
    parameter ``shapes`` (by path), and nothing else is."""
    used = set()
    for entry in hf_name_map(cfg):
        ours = shapes[entry.path]
        per_layer = ours[1:] if entry.stacked else ours
        hf_shape = per_layer[::-1] if entry.linear else per_layer
        for name in _hf_names(cfg, entry):
            if name not in st.info:
                raise ValueError(
                    f"checkpoint lacks tensor {name!r} (expected shape {list(hf_shape)})"
                )
            found = st.info[name].shape
            if found != hf_shape:
                raise ValueError(
                    f"{st.info[name].file}: tensor {name!r} has shape {list(found)}, "
                    f"expected {list(hf_shape)}"
                )
            used.add(name)
    if cfg.tie_embeddings:
        used.add("lm_head.weight")  # some exporters store the tied copy
    extra = sorted(k for k in st.info if k not in used and not k.endswith(_IGNORED_SUFFIXES))
    if extra:
        raise ValueError(f"checkpoint has tensors this architecture does not use: {extra[:8]}")


def _hf_names(cfg: LLMConfig, entry: _Entry) -> list[str]:
    if entry.stacked:
        return [entry.hf_name.format(i=i) for i in range(cfg.num_layers)]
    return [entry.hf_name]


def _param_reader(
    cfg: LLMConfig, entry: _Entry, st: SafetensorsFiles, check_finite: bool
) -> Callable[[tuple[slice, ...]], np.ndarray]:
    """``index -> our_param[index]`` (``index``: one slice per axis of our layout), reading only
    the matching ranges of the HF tensors: the layer slice picks the files' tensors, a Linear
    kernel's ``(in, out)`` index is the HF ``(out, in)`` index reversed. Repeated indices (devices
    holding the same replica) are read once."""
    names = _hf_names(cfg, entry)
    cache: dict[tuple, np.ndarray] = {}

    def read(index: tuple[slice, ...]) -> np.ndarray:
        key = tuple((s.start, s.stop, s.step) for s in index)
        if key in cache:
            return cache[key]
        layers, rest = (index[0], index[1:]) if entry.stacked else (slice(None), index)
        parts = []
        for name in names[layers]:
            part = st.read(name, rest[::-1] if entry.linear else rest)
            floating = jnp.issubdtype(part.dtype, jnp.floating)
            if check_finite and floating and not np.isfinite(part).all():
                raise ValueError(
                    f"{st.info[name].file}: tensor {name!r} has non-finite values (NaN or inf)"
                )
            parts.append(part.T if entry.linear else part)
        value = np.stack(parts) if entry.stacked else parts[0]
        cache[key] = value = value.astype(cfg.weight_dtype)
        return value

    return read


def load_pretrained(
    path: str | os.PathLike,
    *,
    dtype: str = "float32",
    param_dtype: str = "float32",
    scan_layers: bool = True,
    remat: bool = False,
    check_finite: bool = True,
) -> tuple[Decoder, Any]:
    """Loads a local Hugging Face model folder.

    Call inside :func:`jaxrec.train.mesh_context` to place the parameters sharded as the model
    annotates them: each process then reads from the files only the index ranges its devices
    hold (``jax.make_array_from_callback``), so no host materialises a sharded tensor whole.
    Outside a mesh the parameters land on the default device.

    Args:
      path: folder with config.json, *.safetensors and tokenizer files.
      dtype: compute dtype; param_dtype: storage dtype of the parameters.
      scan_layers, remat: see :class:`LLMConfig`.
      check_finite: raise on NaN/inf in a floating tensor (checked per read slice on the host).

    Returns:
      ``(model, tokenizer)``; ``tokenizer`` is a transformers tokenizer, or None when the
      folder has no tokenizer files.

    Raises:
      FileNotFoundError / ValueError: naming the missing file, the unsupported feature, the
        corrupt header field, the non-finite tensor, or the tensor with its expected and found
        shapes.
    """
    path = Path(path)
    cfg = load_config(
        path, dtype=dtype, param_dtype=param_dtype, scan_layers=scan_layers, remat=remat
    )
    entries = {entry.path: entry for entry in hf_name_map(cfg)}
    abstract = nnx.eval_shape(lambda: Decoder(cfg, rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    flat = [(tuple(str(k) for k in key), v) for key, v in nnx.to_flat_state(state)]
    with SafetensorsFiles(_weight_files(path)) as st:
        _check_names(cfg, {key: tuple(v.get_value().shape) for key, v in flat}, st)
        for key, variable in flat:
            abstract_value = variable.get_value()
            read = _param_reader(cfg, entries[key], st, check_finite)
            sharding = getattr(abstract_value, "sharding", None)  # abstract mesh + spec
            if sharding is None:
                full = (slice(None),) * len(abstract_value.shape)
                variable.set_value(jnp.asarray(read(full)))
            else:
                concrete = NamedSharding(jax.sharding.get_mesh(), sharding.spec)
                variable.set_value(
                    jax.make_array_from_callback(abstract_value.shape, concrete, read)
                )
    return nnx.merge(graphdef, state), _load_tokenizer(path)


def _load_tokenizer(path: Path):
    names = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
    if not any((path / n).is_file() for n in names):
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)


# --------------------------------------------------------------------------- saving


def _default_model_type(cfg: LLMConfig) -> str:
    if cfg.qkv_bias:
        return "qwen2"
    return "mistral" if cfg.sliding_window is not None else "llama"


def _hf_tensors(model: Decoder) -> Iterator[tuple[str, np.ndarray]]:
    cfg = model.cfg
    flat = {
        tuple(str(k) for k in key): np.asarray(jax.device_get(v[...]))
        for key, v in nnx.to_flat_state(nnx.state(model, nnx.Param))
    }
    for entry in hf_name_map(cfg):
        array = flat[entry.path]
        layers = enumerate(array) if entry.stacked else [(None, array)]
        for i, a in layers:
            yield entry.hf_name.format(i=i), np.ascontiguousarray(a.T if entry.linear else a)


def save_pretrained(
    model: Decoder,
    tokenizer: Any,
    path: str | os.PathLike,
    *,
    model_type: str | None = None,
    max_shard_bytes: int = 4 * 1024**3,
    overwrite: bool = False,
) -> Path:
    """Writes a folder that transformers (and :func:`load_pretrained`) loads back.

    The folder is assembled in a temporary sibling and renamed into place.

    Args:
      model: a decoder without LoRA adapters (:func:`merge_lora` first).
      tokenizer: a transformers tokenizer (``save_pretrained`` is called) or None.
      path: destination folder.
      model_type: "llama", "mistral" or "qwen2"; default inferred (qkv bias -> qwen2, sliding
        window -> mistral, else llama).
      max_shard_bytes: weights above this size are split into shards with an index file.
      overwrite: replace an existing non-empty folder.

    Returns:
      The folder path.
    """
    if has_lora(model):
        raise ValueError("the model has LoRA adapters; call merge_lora(model) before saving")
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} exists and is not empty (pass overwrite=True to replace)")
    config = model.cfg.to_hf(model_type or _default_model_type(model.cfg))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
    try:
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        _write_weights(dict(_hf_tensors(model)), tmp, max_shard_bytes)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def _write_weights(tensors: dict[str, np.ndarray], folder: Path, max_shard_bytes: int) -> None:
    metadata = {"format": "pt"}  # transformers checks this key
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for name, array in tensors.items():
        if shards[-1] and size + array.nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = array
        size += array.nbytes
    if len(shards) == 1:
        write_safetensors(shards[0], folder / "model.safetensors", metadata)
        return
    weight_map = {}
    for k, shard in enumerate(shards, start=1):
        file = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(shard, folder / file, metadata)
        weight_map.update(dict.fromkeys(shard, file))
    total = sum(a.nbytes for a in tensors.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / _INDEX).write_text(json.dumps(index, indent=2) + "\n")
