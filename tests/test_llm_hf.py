"""Hugging Face interop: logits parity with transformers on the committed tiny checkpoints,
save/load round trips (ours and, when torch is importable, transformers'), sharded loading, and
clear errors on bad folders or configs."""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxrec import train
from jaxrec.models import llm
from jaxrec.models.llm.safetensors_io import (
    SafetensorsFiles,
    read_header,
    read_safetensors,
    write_safetensors,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llm"
NAMES = ["tiny_llama", "tiny_qwen2"]
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _inputs(name: str):
    folder = FIXTURES / name
    ids = np.load(folder / "input_ids.npy")
    mask = np.load(folder / "attention_mask.npy")
    return ids, mask, np.load(folder / "expected_logits.npy")


@pytest.fixture(scope="module", params=NAMES)
def loaded(request):
    model, tokenizer = llm.load_pretrained(FIXTURES / request.param)
    return request.param, model, tokenizer


def test_logits_match_transformers(loaded):
    name, model, _ = loaded
    ids, mask, expected = _inputs(name)
    assert not mask.all(), "the fixture must include a left-padded row"
    got = np.asarray(jax.jit(lambda m, i, k: m(i, k))(model, ids, mask))
    err = np.abs(got[mask] - expected[mask]).max()
    print(f"{name}: max |logit diff| vs transformers = {err:.2e}")
    assert err < 1e-4


def test_fixture_features_are_the_ones_under_test(loaded):
    name, model, tokenizer = loaded
    cfg = model.cfg
    assert cfg.num_kv_heads < cfg.num_heads  # grouped-query attention
    if name == "tiny_llama":
        assert cfg.rope_scaling is not None and not cfg.tie_embeddings and not cfg.qkv_bias
    else:
        assert cfg.tie_embeddings and cfg.qkv_bias and model.lm_head is None
    texts = json.loads((FIXTURES / name / "inputs.json").read_text())["texts"]
    batch = tokenizer(texts, padding=True, return_tensors="np")
    ids, mask, _ = _inputs(name)
    np.testing.assert_array_equal(batch["input_ids"], ids)
    np.testing.assert_array_equal(batch["attention_mask"].astype(bool), mask)


def test_save_then_load_round_trip(loaded, tmp_path):
    name, model, tokenizer = loaded
    ids, mask, _ = _inputs(name)
    out = llm.save_pretrained(model, tokenizer, tmp_path / "saved", max_shard_bytes=40_000)
    assert (out / "model.safetensors.index.json").is_file()  # forced several shards
    again, tok2 = llm.load_pretrained(out)
    np.testing.assert_array_equal(again(ids, mask), model(ids, mask))
    assert tok2(["rank items"])["input_ids"] == tokenizer(["rank items"])["input_ids"]
    with pytest.raises(FileExistsError, match="not empty"):
        llm.save_pretrained(model, tokenizer, out)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed: transformers cannot run")
def test_transformers_loads_our_saved_folder(loaded, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    name, model, tokenizer = loaded
    ids, mask, _ = _inputs(name)
    out = llm.save_pretrained(model, tokenizer, tmp_path / "saved")
    hf = AutoModelForCausalLM.from_pretrained(out, local_files_only=True).eval()
    positions = np.maximum(np.cumsum(mask, 1) - 1, 0)
    with torch.no_grad():
        want = hf(
            input_ids=torch.from_numpy(ids.astype(np.int64)),
            attention_mask=torch.from_numpy(mask.astype(np.int64)),
            position_ids=torch.from_numpy(positions),
        ).logits.numpy()
    got = np.asarray(model(ids, mask))
    np.testing.assert_allclose(got[mask], want[mask], atol=1e-4)


def test_loading_under_a_mesh_shards_parameters():
    ids, mask, expected = _inputs("tiny_llama")
    mesh = train.make_mesh(train.MeshConfig(data=2, fsdp=2, tensor=2))
    with train.mesh_context(mesh, train.DEFAULT_RULES):
        model, _ = llm.load_pretrained(FIXTURES / "tiny_llama")
        got = np.asarray(jax.jit(lambda m, i, k: m(i, k))(model, ids, mask))
    assert model.embed_tokens[...].sharding.spec == jax.P(("fsdp", "tensor"), None)
    assert model.layers.mlp.up_proj.kernel[...].sharding.spec == jax.P(None, None, "tensor")
    np.testing.assert_allclose(got[mask], expected[mask], atol=1e-4)


def _flat_params(model) -> dict:
    from flax import nnx

    return {k: np.asarray(v[...]) for k, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def test_sharded_load_reads_only_device_slices(monkeypatch):
    """Under a (data=2, fsdp=2, tensor=2) mesh each HF tensor is read in the ranges the devices
    hold, every element exactly once, and the arrays equal the unsharded load bit for bit."""
    reads = []
    original = SafetensorsFiles.read

    def recording_read(self, name, index=()):
        out = original(self, name, index)
        reads.append((name, tuple((s.start, s.stop) for s in index), out.nbytes))
        return out

    plain = _flat_params(llm.load_pretrained(FIXTURES / "tiny_llama")[0])
    monkeypatch.setattr(SafetensorsFiles, "read", recording_read)
    mesh = train.make_mesh(train.MeshConfig(data=2, fsdp=2, tensor=2))
    with train.mesh_context(mesh, train.DEFAULT_RULES):
        model, _ = llm.load_pretrained(FIXTURES / "tiny_llama")
    sharded = _flat_params(model)
    assert sharded.keys() == plain.keys()
    for key in plain:
        np.testing.assert_array_equal(sharded[key], plain[key], err_msg=str(key))
    # embed_tokens (320, 32) over ("fsdp", "tensor"): four 80-row ranges, each read once
    embed = sorted(r[1] for r in reads if r[0] == "model.embed_tokens.weight")
    assert embed == [((lo, lo + 80), (None, None)) for lo in (0, 80, 160, 240)]
    # up_proj kernel (L, 32, 64) split over "tensor" on its out axis = rows of HF's (64, 32)
    up = sorted(r[1] for r in reads if r[0] == "model.layers.0.mlp.up_proj.weight")
    assert up == [((0, 32), (None, None)), ((32, 64), (None, None))]
    names = [r[0] for r in reads]
    total = sum(r[2] for r in reads)
    on_file = sum(
        int(np.prod(i.shape)) * i.dtype.itemsize for i in read_header(
            FIXTURES / "tiny_llama" / "model.safetensors").values()
    )  # fmt: skip
    print(f"{len(reads)} slice reads, {total} bytes read of {on_file} on file")
    assert len(set(reads)) == len(reads) and total == on_file
    assert max(r[2] for r in reads) == 320 * 32 * 4 // 4  # the largest single read
    assert len(set(names)) == len(read_header(FIXTURES / "tiny_llama" / "model.safetensors"))


def test_bfloat16_checkpoint_round_trip(tmp_path):
    model, tokenizer = llm.load_pretrained(FIXTURES / "tiny_qwen2", param_dtype="bfloat16")
    out = llm.save_pretrained(model, tokenizer, tmp_path / "bf16")
    tensors = read_safetensors(out / "model.safetensors")
    source = read_safetensors(FIXTURES / "tiny_qwen2" / "model.safetensors")
    for name in ("model.embed_tokens.weight", "model.layers.1.self_attn.q_proj.bias"):
        assert tensors[name].dtype.name == "bfloat16"
        np.testing.assert_array_equal(tensors[name], source[name].astype(tensors[name].dtype))
    again, _ = llm.load_pretrained(out, param_dtype="bfloat16", dtype="bfloat16")
    ids, mask, expected = _inputs("tiny_qwen2")
    got = np.asarray(again(ids, mask))
    scale = np.abs(expected[mask]).max()
    assert np.abs(got[mask] - expected[mask]).max() < 0.05 * scale  # bf16 weights + compute


def _copy_fixture(tmp_path: Path, name: str = "tiny_llama") -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def _rewrite_tensors(folder: Path, edit) -> None:
    tensors = {k: np.array(v) for k, v in read_safetensors(folder / "model.safetensors").items()}
    edit(tensors)
    write_safetensors(tensors, folder / "model.safetensors", {"format": "pt"})


def test_missing_and_mismatched_tensors_are_named(tmp_path):
    folder = _copy_fixture(tmp_path)
    _rewrite_tensors(folder, lambda t: t.pop("model.layers.1.self_attn.k_proj.weight"))
    with pytest.raises(ValueError, match=r"lacks tensor 'model.layers.1.self_attn.k_proj.weight'"):
        llm.load_pretrained(folder)
    folder = _copy_fixture(tmp_path / "b")
    name = "model.layers.0.mlp.up_proj.weight"
    _rewrite_tensors(folder, lambda t: t.update({name: t[name][:-1]}))
    with pytest.raises(
        ValueError, match=r"up_proj.weight' has shape \[63, 32\], expected \[64, 32\]"
    ):
        llm.load_pretrained(folder)
    folder = _copy_fixture(tmp_path / "c")
    _rewrite_tensors(folder, lambda t: t.update({"model.extra.weight": np.zeros(2, np.float32)}))
    with pytest.raises(ValueError, match="does not use"):
        llm.load_pretrained(folder)


def test_bad_folders_are_refused(tmp_path):
    folder = _copy_fixture(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(ValueError, match="refusing to unpickle"):
        llm.load_pretrained(folder)
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(FileNotFoundError, match="no \\*.safetensors"):
        llm.load_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"\xff" * 4)
    with pytest.raises(ValueError, match="not a safetensors file"):
        llm.load_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        llm.load_pretrained(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"model_type": "gpt2"}, "model_type='gpt2' is not supported"),
        ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4, "factor": 2.0}}, "yarn"),
        ({"hidden_act": "gelu"}, "hidden_act"),
        ({"attention_bias": True}, "attention_bias"),
    ],
)
def test_unsupported_configs_are_rejected(tmp_path, edit, message):
    folder = _copy_fixture(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **edit}))
    with pytest.raises(ValueError, match=message):
        llm.load_config(folder)


def test_config_from_legacy_keys_and_to_hf_round_trip():
    new = json.loads((FIXTURES / "tiny_llama" / "config.json").read_text())
    legacy = {k: v for k, v in new.items() if k != "rope_parameters"}
    rope = dict(new["rope_parameters"])
    legacy["rope_theta"] = rope.pop("rope_theta")
    legacy["rope_scaling"] = rope
    cfg = llm.LLMConfig.from_hf(new)
    assert llm.LLMConfig.from_hf(legacy) == cfg
    assert llm.LLMConfig.from_hf(cfg.to_hf("llama")) == cfg
    mistral = {**new, "model_type": "mistral", "sliding_window": 16}
    assert llm.LLMConfig.from_hf(mistral).sliding_window == 16
    qwen_window = {**new, "model_type": "qwen2", "use_sliding_window": True}
    with pytest.raises(ValueError, match="use_sliding_window"):
        llm.LLMConfig.from_hf(qwen_window)
    with pytest.raises(ValueError, match="qkv_bias"):
        cfg.to_hf("qwen2")


def test_lora_model_must_be_merged_before_saving(tmp_path):
    from flax import nnx

    model, tokenizer = llm.load_pretrained(FIXTURES / "tiny_llama")
    llm.add_lora(model, llm.LoRAConfig(), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="merge_lora"):
        llm.save_pretrained(model, tokenizer, tmp_path / "x")
    llm.save_pretrained(llm.merge_lora(model), tokenizer, tmp_path / "x")


def _write_raw(path: Path, header, data: bytes = b"", length: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


_F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "header, length, message",
    [
        ({"w": _F32x2}, 10**6, r"header length 1000000 exceeds the file \(\d+ bytes\)"),
        (b"{not json", None, "header is not valid JSON"),
        (b"[1, 2]", None, "header is a list, not an object"),
        ({"w": "F32"}, None, r"tensor 'w': header entry is 'F32'"),
        ({"w": {**_F32x2, "dtype": "F99"}}, None, r"tensor 'w': dtype 'F99' is not one of"),
        ({"w": {**_F32x2, "shape": None}}, None, r"tensor 'w': shape None is not a list"),
        ({"w": {**_F32x2, "shape": [-2]}}, None, r"tensor 'w': shape \[-2\]"),
        ({"w": {**_F32x2, "data_offsets": [0]}}, None, r"tensor 'w': data_offsets \[0\]"),
        ({"w": {**_F32x2, "shape": [3]}}, None, r"'w': data_offsets \[0, 8\] do not hold F32\[3\]"),
        (
            {"w": {**_F32x2, "shape": [2000000000, 1000], "data_offsets": [0, 8]}},
            None,
            r"do not hold F32\[2000000000, 1000\] \(8000000000000 bytes\)",
        ),
        ({"w": {**_F32x2, "data_offsets": [8, 16]}}, None, r"\[8, 16\] .* within the 8 data"),
    ],
)
def test_corrupt_safetensors_headers_name_file_and_field(tmp_path, header, length, message):
    path = _write_raw(tmp_path / "bad.safetensors", header, b"\0" * 8, length)
    with pytest.raises(ValueError, match=message) as err:
        read_header(path)
    assert str(path) in str(err.value)


def test_corrupt_header_is_named_by_load_pretrained(tmp_path):
    folder = _copy_fixture(tmp_path)
    _write_raw(folder / "model.safetensors", {"w": {**_F32x2, "dtype": "C64"}}, b"\0" * 8)
    with pytest.raises(ValueError, match=r"model.safetensors: tensor 'w': dtype 'C64'"):
        llm.load_pretrained(folder)


def test_non_finite_weights_are_named(tmp_path):
    folder = _copy_fixture(tmp_path)
    name = "model.layers.1.mlp.down_proj.weight"

    def poison(tensors):
        tensors[name][5, 3] = np.nan

    _rewrite_tensors(folder, poison)
    with pytest.raises(ValueError, match=rf"tensor '{name}' has non-finite values"):
        llm.load_pretrained(folder)
    mesh = train.make_mesh(train.MeshConfig(data=2, fsdp=2, tensor=2))
    with train.mesh_context(mesh, train.DEFAULT_RULES), pytest.raises(ValueError, match=name):
        llm.load_pretrained(folder)  # the device slice holding the NaN raises
    model, _ = llm.load_pretrained(folder, check_finite=False)
    kernel = np.asarray(model.layers.mlp.down_proj.kernel[...])
    assert np.isnan(kernel[1, 3, 5]) and np.isnan(kernel).sum() == 1  # transposed position
