"""r3d_18 (truncated after layer3) parity with torchvision on seeded random weights.

The fixture (``tests/fixtures/make_video_fixtures.py``, torchvision 0.29.1 / torch 2.14.1) holds
only torchvision's outputs; both sides regenerate the same weights from
``tests/fixtures/r3d_random.py``.
"""

import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxrec.models.llm.safetensors_io import write_safetensors
from jaxrec.models.video import R3D, load_torchvision_r3d, torchvision_name_map

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from r3d_random import random_clip, random_r3d_state  # noqa: E402


def _torch_shapes(model: R3D) -> dict[str, tuple[int, ...]]:
    out = {}
    for name, (var, kind) in torchvision_name_map(model).items():
        shape = var.get_value().shape
        out[name] = (shape[4], shape[3], *shape[:3]) if kind == "conv" else shape
    return out


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    model = R3D(num_layers=3, rngs=nnx.Rngs(0))
    state = random_r3d_state(_torch_shapes(model), seed=0)
    state["layer1.0.conv1.1.num_batches_tracked"] = np.array(0)
    state["layer4.0.conv1.0.weight"] = np.zeros((1,), np.float32)  # dropped layer: ignored
    path = tmp_path_factory.mktemp("r3d") / "r3d_18.safetensors"
    write_safetensors(state, path, {})
    return load_torchvision_r3d(model, path), state


def test_r3d_eval_and_train_match_torchvision(loaded):
    model, _ = loaded
    ref = np.load(FIXTURES / "video" / "r3d18_layer3.npz")
    x = jnp.asarray(random_clip().transpose(0, 2, 3, 4, 1))  # NCTHW -> NTHWC
    y = np.asarray(model(x, train=False)).transpose(0, 4, 1, 2, 3)
    np.testing.assert_allclose(y, ref["y_eval"], rtol=1e-4, atol=1e-4)
    y_tr = np.asarray(model(x, train=True)).transpose(0, 4, 1, 2, 3)
    np.testing.assert_allclose(y_tr, ref["y_train"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        model.blocks[5].bn2.mean.get_value(),
        ref["layer3_1_bn2_running_mean_after_train"],
        rtol=1e-4,
        atol=1e-5,
    )


def test_loader_errors_name_the_tensor(loaded):
    _, state = loaded
    model = R3D(num_layers=3, rngs=nnx.Rngs(1))
    bad = dict(state)
    del bad["layer2.0.downsample.0.weight"]
    with pytest.raises(KeyError, match="layer2.0.downsample.0.weight"):
        load_torchvision_r3d(model, bad)
    bad = dict(state)
    bad["stem.0.weight"] = np.zeros((64, 3, 3, 7, 6), np.float32)
    with pytest.raises(ValueError, match="stem.0.weight"):
        load_torchvision_r3d(model, bad)
    bad = dict(state)
    bad["layer3.0.extra.weight"] = np.zeros((1,), np.float32)
    with pytest.raises(KeyError, match="unexpected"):
        load_torchvision_r3d(model, bad)


def test_r3d_output_shape_and_bad_input(loaded):
    model, _ = loaded
    assert model(jnp.ones((1, 8, 48, 32, 3))).shape == (1, 2, 6, 4, 256)
    with pytest.raises(ValueError, match="B, T, H, W, C"):
        model(jnp.ones((8, 32, 32, 3)))
