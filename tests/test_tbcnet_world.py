"""The synthetic multi-view action world: planted motion visible per camera, protocols."""

import numpy as np
import pytest

from jaxrec.vision.tbcnet.world import load_mnist_images, protocol_split, synthetic_action_world


@pytest.fixture(scope="module")
def world(shared_data):
    mnist = load_mnist_images(shared_data / "vision" / "mnist" / "t10k-images-idx3-ubyte.gz")
    return synthetic_action_world(mnist, num_scenes=3, clips_per_scene=20, frames=6, seed=0)


def _centroid_x(frames):
    """Brightness-weighted column of the actor (above-background pixels) per frame."""
    g = frames.astype(np.float64).mean(-1)
    w = np.clip(g - np.median(g, axis=(1, 2), keepdims=True) - 40, 0, None)
    cols = np.arange(g.shape[2])[None, None, :]
    return (w * cols).sum((1, 2)) / np.maximum(w.sum((1, 2)), 1e-9)


def test_translation_direction_seen_per_camera(world):
    for label, sign in ((0, 1.0), (1, -1.0)):
        idx = np.flatnonzero(world.labels == label)
        moves = [
            np.diff(_centroid_x(world.clips[i, cam])[[0, -1]])[0] for i in idx for cam in (0, 1)
        ]
        moves = np.asarray(moves).reshape(-1, 2)
        # camera 0 sees the planted direction, camera 1 (flipped) the mirror image
        assert np.mean(np.sign(moves[:, 0]) == sign) >= 0.8
        assert np.mean(np.sign(moves[:, 1]) == -sign) >= 0.8


def test_protocols_and_balance(world):
    assert world.clips.shape == (60, 3, 6, 32, 32, 3)
    assert np.all(np.bincount(world.labels) == 6)
    cs, cv = protocol_split(world, "cs"), protocol_split(world, "cv")
    assert cs["train"][0].shape[1] == 3 and len(cs["test"][1]) == 20
    assert cv["train"][0].shape[1] == 2
    test = world.scenes == 2
    np.testing.assert_array_equal(cv["test"][0][:, 0], world.clips[test][:, 2])
    np.testing.assert_array_equal(cv["test"][0][:, 1], world.clips[test][:, 2])
    with pytest.raises(ValueError, match="protocol"):
        protocol_split(world, "cset")
