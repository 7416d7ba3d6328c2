"""NPR and spectrum features: exact zeros, invariances and a known sinusoid's peak."""

from __future__ import annotations

import numpy as np
import pytest

from jaxrec.vision.detect import features


def test_npr_is_exactly_zero_on_nearest_upsampled_images_and_not_otherwise():
    rng = np.random.default_rng(0)
    small = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    up = small.repeat(2, 1).repeat(2, 2)
    np.testing.assert_array_equal(np.asarray(features.npr(up)), 0.0)
    photo = rng.normal(size=(2, 8, 10, 3)).astype(np.float32)
    out = np.asarray(features.npr(photo))
    # Independent transcription: pixel minus the top-left pixel of its 2x2 cell.
    want = photo - photo[:, (np.arange(8) // 2) * 2][:, :, (np.arange(10) // 2) * 2]
    np.testing.assert_allclose(out, want, atol=0)
    assert np.abs(out).max() > 0.5


def test_npr_is_invariant_to_a_constant_shift_and_promotes_uint8():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 200, size=(1, 6, 6, 3)).astype(np.uint8)
    a = np.asarray(features.npr(x))
    b = np.asarray(features.npr(x + np.uint8(50)))
    assert a.dtype == np.float32 and a.min() < 0  # uint8 would wrap instead of going negative
    np.testing.assert_array_equal(a, b)


def test_npr_rejects_odd_sizes_and_non_image_shapes():
    with pytest.raises(ValueError, match="even height and width.*5, 6"):
        features.npr(np.zeros((1, 5, 6, 3)))
    with pytest.raises(ValueError, match=r"images \[B, H, W, C\]"):
        features.npr(np.zeros((5, 6, 3)))


def test_spectra_of_a_sinusoid_peak_at_its_frequency():
    n, k = 32, 5  # k cycles per image along the width
    cols = np.cos(2 * np.pi * k * np.arange(n) / n)
    x = np.broadcast_to(cols, (n, n))[None, :, :, None].astype(np.float32)
    spec = np.asarray(features.log_spectrum(x))[0, :, :, 0]
    peak = np.unravel_index(np.argmax(spec), spec.shape)
    assert peak in {(n // 2, n // 2 + k), (n // 2, n // 2 - k)}
    bins = 16
    radial = np.asarray(features.radial_spectrum(x, bins))[0]
    radius_max = np.hypot(n // 2, n // 2)
    assert np.argmax(radial) == int(k / radius_max * bins)
