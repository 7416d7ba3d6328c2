"""CLIP vision tower: parity with a tiny random transformers CLIPVisionModelWithProjection
(every parameter perturbed, so norms and biases count), named loader errors, config checks."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxrec.models import CLIPVisionConfig, clip_normalize, load_clip_vision

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

CFG = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                       num_layers=2, num_heads=4, projection_dim=16)  # fmt: skip


@pytest.fixture(scope="module")
def reference():
    """A seeded torch model, its state dict as numpy, pixels and its outputs."""
    torch.manual_seed(0)
    hf_cfg = transformers.CLIPVisionConfig(
        image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, projection_dim=16, hidden_act="quick_gelu", layer_norm_eps=1e-5,
    )  # fmt: skip
    model = transformers.CLIPVisionModelWithProjection(hf_cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    pixels = np.asarray(clip_normalize(images))
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()))
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    expected = {k: getattr(out, k).numpy() for k in
                ("last_hidden_state", "image_embeds")}  # fmt: skip
    # CLIPVisionModelWithProjection's output has no pooler_output: post_layernorm of the CLS row
    expected["pooler_output"] = (
        model.vision_model(pixel_values=torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()))
        .pooler_output.detach()
        .numpy()
    )
    return tensors, pixels, expected


def test_matches_transformers(ctx, reference):
    tensors, pixels, expected = reference
    enc = load_clip_vision(tensors, CFG)
    (hidden, pooled), embeds = jax.jit(lambda m, x: (m(x), m.embed(x)))(enc, pixels)
    assert hidden.shape == (2, 1 + 16, 32) and embeds.shape == (2, 16)
    assert np.abs(np.asarray(hidden) - expected["last_hidden_state"]).max() <= 1e-4
    assert np.abs(np.asarray(pooled) - expected["pooler_output"]).max() <= 1e-4
    assert np.abs(np.asarray(embeds) - expected["image_embeds"]).max() <= 1e-4


def test_clip_normalize_maps_minus1_1_to_clip_stats():
    x = np.stack([np.full((1, 2, 3), -1.0), np.full((1, 2, 3), 1.0)]).astype(np.float32)
    y = np.asarray(clip_normalize(x))
    mean, std = (
        np.array([0.48145466, 0.4578275, 0.40821073]),
        np.array([0.26862954, 0.26130258, 0.27577711]),
    )
    np.testing.assert_allclose(y[0, 0, 0], -mean / std, rtol=1e-6)
    np.testing.assert_allclose(y[1, 0, 0], (1 - mean) / std, rtol=1e-6)
    with pytest.raises(ValueError, match="RGB"):
        clip_normalize(np.zeros((1, 2, 2, 4), np.float32))


def test_loader_names_missing_misshaped_and_unused_tensors(ctx, reference):
    tensors = reference[0]
    missing = {k: v for k, v in tensors.items() if k != "vision_model.post_layernorm.bias"}
    with pytest.raises(ValueError, match="missing tensor 'vision_model.post_layernorm.bias'"):
        load_clip_vision(missing, CFG)
    bad = {**tensors, "visual_projection.weight": np.zeros((16, 31), np.float32)}
    with pytest.raises(ValueError, match=r"'visual_projection.weight' has shape \[16, 31\]"):
        load_clip_vision(bad, CFG)
    name = "vision_model.embeddings.patch_embedding.weight"
    with pytest.raises(ValueError, match=f"{name}' has shape"):
        load_clip_vision({**tensors, name: tensors[name][:, :, :4]}, CFG)
    with pytest.raises(ValueError, match="unexpected tensors.*visual_projection.weight"):
        load_clip_vision(tensors, CLIPVisionConfig(**{**CFG.__dict__, "projection_dim": None}))
    # a full CLIPModel's text tower is ignored
    assert load_clip_vision({**tensors, "text_model.x": np.zeros(1)}, CFG).cfg == CFG


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_heads": 5}, "hidden_size=32 must divide by self.num_heads=5"),
        ({"image_size": 30}, "image_size=30 must divide by self.patch_size=8"),
        ({"hidden_act": "relu"}, "unknown hidden_act 'relu'"),
        ({"projection_dim": 0}, "'projection_dim': 0"),
        ({"dtype": "float16"}, "unknown dtype 'float16'"),
    ],
)
def test_bad_config_raises(change, message):
    with pytest.raises(ValueError, match=message):
        CLIPVisionConfig(**{**CFG.__dict__, **change})


def test_bad_pixels_raise(ctx, reference):
    enc = load_clip_vision(reference[0], CFG)
    with pytest.raises(ValueError, match=r"pixels must be \[B, 32, 32, 3\]"):
        enc(np.zeros((1, 3, 32, 32), np.float32))
