"""Hugging Face interop: logits parity with transformers on the committed tiny checkpoints,
save/load round trips (ours and, when torch is importable, transformers'), sharded loading, and
clear errors on bad folders or configs."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxrec import train
from jaxrec.models import llm
from jaxrec.models.llm.safetensors_io import read_safetensors, write_safetensors

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
