"""TBCNet model: shapes, trunk-only inference equals the training model's trunk, Swin mask."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.vision.tbcnet.branch import relative_index, shift_mask
from jaxrec.vision.tbcnet.model import TBCNet, TBCNetModelConfig, feature_volume

CFG = TBCNetModelConfig(classes=5, views=2, frames=4, size=16, backbone_layers=2,
                        widths=(8, 16), heads=4, groups=2, emb_dim=8, branch_heads=2,
                        window=2, shift=1)  # fmt: skip


def test_trunk_only_inference_equals_training_trunk():
    model = TBCNet(CFG, rngs=nnx.Rngs(0))
    clips = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2, 4, 16, 16, 3)), jnp.float32)
    assert feature_volume(CFG) == (2, 4, 4)
    full, trunk = jax.jit(lambda m, x: (m(x, branches=True), m(x)))(model, clips)
    np.testing.assert_array_equal(full["logits"], trunk["logits"])
    np.testing.assert_array_equal(full["emb"], trunk["emb"])
    assert full["view_emb"].shape == (2, 3, 8) and full["view_logits"].shape == (2, 3, 5)
    np.testing.assert_allclose(jnp.linalg.norm(full["view_emb"], axis=-1), 1.0, rtol=1e-5)


def test_late_fusion_and_bad_shape():
    import dataclasses

    import pytest

    model = TBCNet(dataclasses.replace(CFG, fusion="late"), rngs=nnx.Rngs(0))
    out = jax.jit(lambda m, x: m(x))(model, jnp.ones((2, 2, 4, 16, 16, 3)))
    assert out["logits"].shape == (2, 5)
    with pytest.raises(ValueError, match="V=2"):
        model(jnp.ones((2, 3, 4, 16, 16, 3)))


def test_shift_mask_and_relative_index_brute_force():
    w, s, h = 4, 2, 8
    mask = shift_mask(h, h, w, s)

    # region of each pixel of the rolled map, by its original (unrolled) coordinates
    def region(i):
        return 0 if i < h - w else (1 if i < h - s else 2)

    for win in range(mask.shape[0]):
        wr, wc = divmod(win, h // w)
        for a in range(w * w):
            for b in range(w * w):
                pa = (wr * w + a // w, wc * w + a % w)
                pb = (wr * w + b // w, wc * w + b % w)
                same = (region(pa[0]), region(pa[1])) == (region(pb[0]), region(pb[1]))
                assert mask[win, a, b] == same
    idx = relative_index(3)
    assert idx.shape == (9, 9) and idx[0, 0] == idx[4, 4] == 12 and idx[0, 8] == 0
