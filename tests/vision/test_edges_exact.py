"""Exactness of every method on clean area-sampled edges (float64), and CIS blur invariance."""

import numpy as np
import pytest

from jaxrec.vision.edges import METHODS, detect
from jaxrec.vision.edges import synthetic as S
from tests.vision.edge_helpers import x64

SHAPE = (36, 36)
BATCH = 8  # every call is padded to this batch so tests share compilations


def run(imgs, method, **kw):
    """`detect` in float64 on a batch padded to BATCH images; compact results for the real ones."""
    n = len(imgs)
    batch = np.concatenate([np.stack(imgs), np.zeros((BATCH - n,) + SHAPE)])
    with x64():
        out = detect(batch, method=method, threshold=10.0, max_points=512, **kw)
    return out.compact()[:n]


# (normal angle in degrees, offset of the line from the image centre in px)
LINES = [
    (0.0, 0.37),
    (7.0, -0.4),
    (19.0, 0.21),
    (33.0, 0.61),
    (44.0, -0.05),
    (63.0, 0.3),
    (100.0, -0.28),
    (212.0, 0.45),
]


def _line(angle, delta):
    t = np.radians(angle)
    return S.HalfPlane(angle, float(np.cos(t) + np.sin(t)) * 17.5 + delta)


def _errors(points, layers, margin=5):
    x, y = points.x, points.y
    inner = (x > margin) & (x < SHAPE[1] - 1 - margin) & (y > margin) & (y < SHAPE[0] - 1 - margin)
    d, nx, ny, k = S.nearest_shape(x, y, [s for s, _ in layers], [c for _, c in layers])
    return d[inner], (points.nx * nx + points.ny * ny)[inner], (points.curvature - k)[inner], inner


@pytest.mark.parametrize("method", METHODS)
def test_straight_edges_are_exact(method):
    scenes = [[(_line(a, o), 120.0 if i % 2 else -120.0)] for i, (a, o) in enumerate(LINES)]
    out = run([S.render(SHAPE, L) for L in scenes], method)
    for pts, layers in zip(out, scenes):
        d, cosang, dk, inner = _errors(pts, layers)
        assert inner.sum() >= 20, f"too few points: {inner.sum()}"
        assert d.max() < 1e-6
        assert np.all(cosang > 1 - 1e-9)
        assert np.abs(dk).max() < 1e-6
        lo, hi = (50.0, 170.0) if layers[0][1] > 0 else (-70.0, 50.0)
        np.testing.assert_allclose(pts.i0[inner], lo, atol=1e-6)
        np.testing.assert_allclose(pts.i1[inner], hi, atol=1e-6)


@pytest.mark.parametrize("method,tol", [("cis", 5e-3), ("cis_ser", 1e-2), ("pae", 5e-3)])
def test_circles_three_column_correction(method, tol):
    radii = [6.3, 9.0, 14.2]
    scenes = [[(S.Disk(17.6, 18.3, r), 130.0)] for r in radii]
    out = run([S.render(SHAPE, L) for L in scenes], method)
    for pts, layers, r in zip(out, scenes, radii):
        d, cosang, dk, inner = _errors(pts, layers, margin=2)
        assert inner.sum() > 4 * r  # most of the ~2 pi r edge pixels
        assert d.max() < tol
        assert np.abs(dk).max() < 0.1 / r  # curvature within 10 % of 1 / r
        assert np.all(cosang > np.cos(np.radians(20.0 / r)))  # 3-column slope error ~ 1/r^2


def test_cis_blur_invariance():
    scenes = [[(_line(a, o), 120.0)] for a, o in LINES[:6]]
    # kernel radius ceil(3.5 * 0.8) = 3: the window ends (+-7) stay on the plateaus
    imgs = [S.render(SHAPE, L) for L in scenes[:4]] + [
        S.render(SHAPE, L, blur=0.8) for L in scenes[:4]
    ]
    out = run(imgs, "cis", half_window=7)
    for pa, pb, layers in zip(out[:4], out[4:], scenes):
        da, _, _, _ = _errors(pa, layers, margin=8)  # away from the blur's border padding
        db, _, _, ib = _errors(pb, layers, margin=8)
        assert ib.sum() >= 14
        assert db.max() < 1e-6 and da.max() < 1e-6


def test_ser_handles_blur_without_tuning():
    scenes = [[(_line(a, o), 120.0)] for a, o in LINES[:4]]
    out = run([S.render(SHAPE, L, blur=1.0) for L in scenes], "cis_ser")
    for pts, layers in zip(out, scenes):
        d, _, _, inner = _errors(pts, layers)
        assert inner.sum() >= 20
        # blur tails below the noise-adaptive floor are cut: small, not zero (README, SER)
        assert np.median(d) < 0.005 and d.max() < 0.025


def test_complement_fills_points_ser_rejects_between_close_edges():
    # a 3.5 px stripe: most SER plateaus reach the other edge and are rejected
    t = np.radians(20.0)
    off = float(np.cos(t) + np.sin(t)) * 15.0
    layers = [(S.HalfPlane(20.0, off), 120.0), (S.HalfPlane(20.0, off + 3.5), -120.0)]
    img = S.render(SHAPE, layers)
    ser, comp = run([img], "cis_ser")[0], run([img], "cis_ser_complement")[0]
    d_ser, _, _, in_ser = _errors(ser, layers)
    d_comp, _, _, in_comp = _errors(comp, layers)
    assert in_comp.sum() >= 3 * max(in_ser.sum(), 1) and in_comp.sum() >= 20
    assert d_comp.max() < 0.02 and (d_ser.size == 0 or d_ser.max() < 0.02)
