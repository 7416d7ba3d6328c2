"""Synthetic ground truth: exact coverage and consistent truth points."""

import math

import numpy as np
import pytest

from jaxrec.vision.edges import synthetic as S


def _supersample(shape, inside, n=64):
    o = (np.arange(n) + 0.5) / n - 0.5
    ys = (np.arange(shape[0])[:, None] + o[None, :]).ravel()
    xs = (np.arange(shape[1])[:, None] + o[None, :]).ravel()
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return inside(xx, yy).reshape(shape[0], n, shape[1], n).mean(axis=(1, 3))


@pytest.mark.parametrize("angle", [0.0, 13.0, 45.0, 77.0, 135.0, 250.0])
def test_half_plane_coverage_matches_supersampling(angle):
    hp = S.HalfPlane(angle, 7.3)
    t = math.radians(angle)
    ref = _supersample((20, 20), lambda x, y: math.cos(t) * x + math.sin(t) * y > 7.3)
    # 64 x 64 supersampling quantises coverage to ~1/64 per crossing
    assert np.abs(S.half_plane_coverage((20, 20), hp) - ref).max() < 1.0 / 64


def test_half_plane_columns_integrate_exactly():
    # column sum over a full strip equals the area under the line in that strip
    hp = S.HalfPlane(70.0, 12.0)  # bright where cos x + sin y > 12
    cov = S.half_plane_coverage((40, 40), hp)
    nx, ny = hp.normal
    for c in (10, 20):
        y_mid = (12.0 - nx * c) / ny  # line at the column centre = strip mean for a line
        assert abs((40 - cov[:, c].sum()) - (y_mid + 0.5)) < 1e-12


@pytest.mark.parametrize("r", [3.0, 7.3, 15.5])
def test_disk_coverage_area_and_supersampling(r):
    d = S.Disk(20.2, 19.6, r)
    cov = S.disk_coverage((40, 40), d)
    assert abs(cov.sum() - math.pi * r * r) < 1e-9
    ref = _supersample((40, 40), lambda x, y: (x - 20.2) ** 2 + (y - 19.6) ** 2 < r * r)
    assert np.abs(cov - ref).max() < 0.02


def test_truth_points_lie_on_shapes():
    layers = [(S.Disk(30.0, 31.0, 10.0), -80.0), (S.HalfPlane(30.0, 10.0), 100.0)]
    tr = S.truth((64, 64), layers)
    d, nx, ny, _ = S.nearest_shape(tr.x, tr.y, [s for s, _ in layers], [c for _, c in layers])
    assert tr.x.size > 50
    np.testing.assert_allclose(d, 0.0, atol=1e-9)
    np.testing.assert_allclose(tr.nx * nx + tr.ny * ny, 1.0, atol=1e-9)
    assert np.all((np.abs(tr.x - tr.col) <= 0.5) & (np.abs(tr.y - tr.row) <= 0.5))


def test_render_noise_blur_quantise():
    layers = [(S.HalfPlane(0.0, 10.2), 120.0)]
    clean = S.render((24, 24), layers)
    blurred = S.render((24, 24), layers, blur=1.0)
    np.testing.assert_allclose(clean.sum(axis=1), blurred.sum(axis=1), atol=1e-9)
    q = S.render((24, 24), layers, noise=5.0, quantize=True, rng=np.random.default_rng(0))
    assert np.all(q == np.round(q)) and q.min() >= 0 and q.max() <= 255
    assert 3.0 < np.std(q - clean) < 7.0
