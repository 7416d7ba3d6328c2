"""UNet and CLIP text encoder: parity with diffusers / transformers on the committed tiny
fixtures (no torch needed), loader errors, the canvas check, and the torch-only round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.diffusion import make_noise_schedule
from jaxrec.models import diffusers_io
from jaxrec.models.unet import UNetConfig

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "diffusion" / "tiny_sd"


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(TINY / "expected.npz"))


def test_unet_matches_diffusers(ctx, expected):
    unet = diffusers_io.load_unet(TINY / "unet")
    assert unet.cfg == UNetConfig.tiny()
    out = jax.jit(lambda m, *a: m(*a))(unet, expected["x"], expected["t"], expected["context"])
    assert np.abs(np.asarray(out) - expected["unet_out"]).max() <= 1e-4


@pytest.mark.slow
def test_unet_bf16_and_remat_stay_close(ctx, expected):
    ref = expected["unet_out"]
    forward = jax.jit(lambda m, *a: m(*a))
    remat = diffusers_io.load_unet(TINY / "unet", remat=True)
    out = forward(remat, expected["x"], expected["t"], expected["context"])
    assert np.abs(np.asarray(out) - ref).max() <= 1e-4
    bf16 = diffusers_io.load_unet(TINY / "unet", dtype="bfloat16")
    out = forward(bf16, expected["x"], expected["t"], expected["context"])
    assert out.dtype == jnp.float32
    assert np.abs(np.asarray(out) - ref).max() <= 0.05 * np.abs(ref).max()


def test_clip_text_matches_transformers(ctx, expected):
    enc = diffusers_io.load_clip_text(TINY / "text_encoder")
    hidden, pooled = jax.jit(lambda m, ids: m(ids))(enc, expected["input_ids"])
    assert np.abs(np.asarray(hidden) - expected["last_hidden"]).max() <= 1e-4
    assert np.abs(np.asarray(pooled) - expected["pooled"]).max() <= 1e-4


def test_scheduler_config_loads_and_unknown_schedules_fail(tmp_path):
    s = make_noise_schedule(**diffusers_io.load_scheduler(TINY / "scheduler"))
    assert s.prediction_type == "epsilon"
    np.testing.assert_allclose(np.asarray(s.betas)[[0, -1]], [0.00085, 0.012], rtol=1e-5)
    cfg = json.loads((TINY / "scheduler" / "scheduler_config.json").read_text())
    (tmp_path / "scheduler_config.json").write_text(json.dumps({**cfg, "beta_schedule": "sigmoid"}))
    with pytest.raises(ValueError, match="unknown scheduler beta_schedule 'sigmoid'"):
        diffusers_io.load_scheduler(tmp_path)


def test_missing_or_misshaped_tensor_is_named(ctx, tmp_path):
    from jaxrec.models.llm.safetensors_io import read_safetensors, write_safetensors

    name = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    for case in ("missing", "shape"):
        folder = tmp_path / case
        shutil.copytree(TINY / "unet", folder)
        tensors = read_safetensors(folder / diffusers_io.UNET_WEIGHTS)
        if case == "missing":
            del tensors[name]
        else:
            tensors[name] = tensors[name][:, :8]
        write_safetensors(tensors, folder / diffusers_io.UNET_WEIGHTS, {"format": "pt"})
        with pytest.raises(
            ValueError, match=f"{'missing tensor' if case == 'missing' else ''}.*{name}"
        ):
            diffusers_io.load_unet(folder)


def test_canvas_not_divisible_by_the_downsampling_fails(ctx, expected):
    unet = diffusers_io.load_unet(TINY / "unet")
    with pytest.raises(ValueError, match="divisible by its downsampling factor 2"):
        unet(jnp.zeros((1, 7, 8, 4)), jnp.zeros((1,), jnp.int32), expected["context"][:1])


@pytest.mark.slow
def test_saved_folder_round_trips_and_loads_in_diffusers(ctx, expected, tmp_path):
    unet = diffusers_io.load_unet(TINY / "unet")
    enc = diffusers_io.load_clip_text(TINY / "text_encoder")
    diffusers_io.save_unet(unet, tmp_path / "unet")
    diffusers_io.save_clip_text(enc, tmp_path / "text_encoder")
    again = diffusers_io.load_unet(tmp_path / "unet")
    out = jax.jit(lambda m, *a: m(*a))(again, expected["x"], expected["t"], expected["context"])
    assert np.abs(np.asarray(out) - expected["unet_out"]).max() <= 1e-4
    torch = pytest.importorskip("torch", reason="torch is needed to load the folder in diffusers")
    diffusers = pytest.importorskip("diffusers", reason="diffusers is not installed")
    transformers = pytest.importorskip("transformers")
    ref = diffusers.UNet2DConditionModel.from_pretrained(tmp_path / "unet").eval()
    text = transformers.CLIPTextModel.from_pretrained(tmp_path / "text_encoder").eval()
    with torch.no_grad():
        got = ref(
            torch.from_numpy(expected["x"]).permute(0, 3, 1, 2),
            torch.from_numpy(expected["t"]),
            torch.from_numpy(expected["context"]),
        ).sample
        pooled = text(torch.from_numpy(expected["input_ids"])).pooler_output  # fmt: skip
    np.testing.assert_allclose(got.permute(0, 2, 3, 1).numpy(), expected["unet_out"], atol=1e-5)
    np.testing.assert_allclose(pooled.numpy(), expected["pooled"], atol=1e-5)
