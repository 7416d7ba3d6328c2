"""The digits world, its tokenizer, the attribute metrics and the configs' clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from jaxrec import cli
from jaxrec.data.mnist import load_mnist
from jaxrec.models.unet import UNetConfig
from jaxrec.vision.dice.classifier import alignment, frechet_distance
from jaxrec.vision.dice.config import (
    DiceDigitsExperiment,
    DiffusionDigitsExperiment,
    SamplingConfig,
    WorldConfig,
)
from jaxrec.vision.dice.pipeline import from_latent, to_latent
from jaxrec.vision.dice.world import POSITIONS, SIZES, CaptionTokenizer, digits_world


@pytest.fixture(scope="module")
def blocks():
    """Ten "glyphs": solid squares (so that pixels show where each object was drawn)."""
    return np.full((10, 28, 28), 255, np.uint8), np.arange(10, dtype=np.uint8)


def test_captions_list_every_object_with_its_labels(blocks):
    w = digits_world(*blocks, 64, canvas=32, max_objects=2, seed=3)
    tok = CaptionTokenizer(17)
    counts = (w.digits != 10).sum(1)
    assert set(counts) == {1, 2} and np.all((w.sizes == 2) == (w.digits == 10))
    for i in range(64):
        parts = w.captions[i].split(" , ")
        assert len(parts) == counts[i]
        for part in parts:
            words = part.split()
            q = POSITIONS.index(" ".join(words[-2:]))
            assert int(words[2]) == w.digits[i, q] and SIZES.index(words[1]) == w.sizes[i, q]
        assert tok.decode(w.ids[i]) == w.captions[i]
    # pixels: occupied quadrants hold the object (large fill more), empty ones stay at -1
    quads = w.images[..., 0].reshape(64, 2, 16, 2, 16).transpose(0, 1, 3, 2, 4).reshape(64, 4, -1)
    lit = (quads > 0).sum(-1)
    np.testing.assert_array_equal(lit == 0, w.digits == 10)
    assert lit[w.sizes == 1].min() > lit[w.sizes == 0].max()


def test_tokenizer_pads_after_eos_and_names_unknown_words():
    tok = CaptionTokenizer(10)
    ids = tok.encode(["", "a small 7 at the top left"])
    np.testing.assert_array_equal(ids[0], [0, 1] + [2] * 8)
    assert ids[1, 0] == 0 and ids[1, 8] == tok.eos_id and ids[1, 9] == 2
    with pytest.raises(ValueError, match="unknown caption word 'purple'"):
        tok.encode(["a purple 7 at the top left"])
    with pytest.raises(ValueError, match="more than max_length=10"):
        tok.encode(["a small 7 at the top left , a large 2 at the bottom right"])


def test_real_mnist_world(shared_data):
    glyphs, labels = load_mnist(shared_data / "vision" / "mnist")
    assert glyphs.shape == (10000, 28, 28) and labels.max() == 9
    w = digits_world(glyphs[:500], labels[:500], 16, canvas=32, seed=0)
    assert w.images.shape == (16, 32, 32, 1) and w.images.min() == -1 and w.images.max() > 0.9
    np.testing.assert_array_equal(from_latent(to_latent(w.images)), w.images)
    assert to_latent(w.images).shape == (16, 16, 16, 4)


def test_alignment_and_frechet_closed_forms():
    digits = np.array([[3, 10, 10, 5], [10, 1, 10, 10]])
    sizes = np.array([[0, 2, 2, 1], [2, 1, 2, 2]])
    pred_d = np.array([[3, 10, 10, 4], [10, 1, 7, 10]])  # wrong digit; spurious object
    pred_s = np.array([[0, 2, 2, 1], [2, 0, 1, 2]])  # wrong size of the second image's 1
    m = alignment(pred_d, pred_s, digits, sizes)
    assert m == {"position": 0.5, "digit": 2 / 3, "size": 2 / 3, "exact": 0.0}
    assert alignment(digits, sizes, digits, sizes)["exact"] == 1.0
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6))
    shift = np.array([1.0, -2.0, 0.0, 0.5, 0.0, 0.0])
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + shift) == pytest.approx(5.25, rel=1e-6)


def test_configs_fail_clearly():
    with pytest.raises(ValueError, match="not divisible by the UNet's downsampling factor 16"):
        DiffusionDigitsExperiment(
            world=WorldConfig(canvas=48),
            unet=UNetConfig(in_channels=4, out_channels=4, block_out_channels=(8,) * 5,
                            cross_attn=(False,) * 5, attention_heads=2, cross_attention_dim=64,
                            norm_num_groups=4),
        )  # fmt: skip
    with pytest.raises(ValueError, match="unknown sampler 'euler'"):
        SamplingConfig(sampler="euler")
    with pytest.raises(ValueError, match="unknown noise schedule 'sigmoid'"):
        DiffusionDigitsExperiment(schedule="sigmoid")
    with pytest.raises(ValueError, match="guidance scale must be finite and >= 0"):
        SamplingConfig(guidance=-1.0)
    with pytest.raises(ValueError, match="guidance scale must be finite and >= 0"):
        DiceDigitsExperiment(omega=-2.0)
    with pytest.raises(ValueError, match="unknown DICE loss 'l3'"):
        DiceDigitsExperiment(loss="l3")


def test_configs_are_registered_runners():
    assert {"diffusion", "dice"} <= set(cli.RUNNERS)
    cfg = cli.load_config("dice/digits")
    assert isinstance(cfg, DiceDigitsExperiment) and cfg.method == "dice"
    assert cfg.omega == 5.0 and cfg.loss == "l1" and not cfg.per_example_t
    assert cfg.optimizer.lr == 2e-4 and cfg.optimizer.schedule == "constant"
    assert cfg.base == cli.load_config("diffusion/digits")  # the same cached base stage
    assert cli.load_config("diffusion/digits:tiny").method == "diffusion"
