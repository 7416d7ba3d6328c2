"""Degradations: blur equals scipy's Gaussian filter, resize keeps the size and loses the
resolution, JPEG is near-identity at high quality and destroys NPR's exact zero."""

import numpy as np
import pytest
import scipy.ndimage

from jaxrec.vision.detect.degrade import degrade, gaussian_blur, jpeg, resize
from jaxrec.vision.detect.features import npr

pytest.importorskip("PIL")


def _images(seed=0, n=2, s=16):
    return np.random.default_rng(seed).uniform(-1, 1, (n, s, s, 3)).astype(np.float32)


def test_blur_equals_scipy():
    x = _images()
    ref = scipy.ndimage.gaussian_filter(x.astype(np.float64), (0, 1.3, 1.3, 0), mode="reflect")
    np.testing.assert_allclose(gaussian_blur(x, 1.3), ref, atol=1e-5)


def test_resize_and_jpeg():
    smooth = np.repeat(np.repeat(_images(n=2, s=4), 4, 1), 4, 2)  # piecewise constant
    y = np.asarray(resize(smooth, 0.5))
    assert y.shape == smooth.shape
    np.testing.assert_allclose(np.asarray(resize(smooth, 1.0)), smooth, atol=1e-6)
    up = np.repeat(np.repeat(_images(s=16), 2, 1), 2, 2)  # nearest x2: NPR exactly 0
    assert np.abs(np.asarray(npr(up))).max() == 0.0
    hi, lo = jpeg(up, 95), jpeg(up, 10)
    assert np.abs(hi - up).mean() < np.abs(lo - up).mean()
    assert np.abs(np.asarray(npr(hi))).mean() > 0.005  # the 2x2 trace is gone
    assert degrade(up, "none") is up


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="quality"):
        jpeg(_images(), 0)
    with pytest.raises(ValueError, match="scale"):
        resize(_images(), 1.5)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(_images(), 0.0)
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(_images(), "crop")
    with pytest.raises(ValueError, match="NHWC"):
        jpeg(np.zeros((4, 4, 3)), 90)
