"""Invariances, robustness and input validation of `jaxrec.vision.edges.detect`."""

import jax
import numpy as np
import pytest

from jaxrec.vision.edges import METHODS, EdgePoints, detect
from jaxrec.vision.edges import synthetic as S
from tests.vision.edge_helpers import x64

SHAPE = (36, 36)


BATCH = 8  # every call is padded to this batch (and float64) so tests share compilations


def run(imgs, method, threshold=10.0):
    """`detect` in float64 on a batch padded to BATCH images; the padded `EdgePoints`."""
    n = len(imgs)
    batch = np.concatenate([np.stack(imgs), np.zeros((BATCH - n,) + SHAPE)])
    with x64():
        out = detect(batch, method=method, threshold=threshold, max_points=512)
    return jax.tree.map(lambda t: np.asarray(t)[:n], out)


def _scene(noise):
    layers = [(S.Disk(17.3, 18.6, 9.4), 110.0), (S.HalfPlane(21.0, 30.0), 60.0)]
    return S.render(SHAPE, layers, noise=noise, rng=np.random.default_rng(3))


@pytest.mark.parametrize("method", ["pae", "cis_ser", "cis_ser_complement"])
def test_rotating_the_image_rotates_the_points(method):
    img = _scene(noise=4.0)
    rot = np.rot90(img)  # rot[i, j] = img[j, W - 1 - i]: (x, y) -> (y, W - 1 - x)
    p, q = run([img, rot], method, threshold=12.0).compact()
    w = SHAPE[1]
    px, py, pnx, pny = p.y, w - 1 - p.x, p.ny, -p.nx  # p's points mapped into the rotated image
    assert p.x.size == q.x.size > 40
    order_p = np.lexsort((np.round(px, 6), np.round(py, 6)))
    order_q = np.lexsort((np.round(q.x, 6), np.round(q.y, 6)))
    for u, v in ((px, q.x), (py, q.y), (pnx, q.nx), (pny, q.ny), (p.curvature, q.curvature)):
        np.testing.assert_allclose(u[order_p], v[order_q], atol=1e-8)


def test_transpose_swaps_coordinates_in_float32():
    img = _scene(noise=0.0)
    a, b = detect(
        np.stack([img, img.T]), method="cis_ser", threshold=10.0, max_points=512
    ).compact()
    oa = np.lexsort((np.round(a.x, 3), np.round(a.y, 3)))
    ob = np.lexsort((np.round(b.y, 3), np.round(b.x, 3)))
    np.testing.assert_allclose(a.x[oa], b.y[ob], atol=1e-4)
    np.testing.assert_allclose(a.nx[oa], b.ny[ob], atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_flat_and_saturated_images_give_no_nan(method):
    flat = np.full(SHAPE, 255.0)
    zero = np.zeros(SHAPE)
    sat = np.clip(S.render(SHAPE, [(S.Disk(18.0, 18.0, 9.0), 400.0)]), 0, 255)  # clipped step
    pts = run([flat, zero, sat], method, threshold=10.0)
    for f in ("x", "y", "nx", "ny", "curvature", "i0", "i1"):
        assert np.all(np.isfinite(np.asarray(getattr(pts, f))))
    valid = np.asarray(pts.valid)
    assert not valid[0].any() and not valid[1].any()
    assert valid[2].sum() > 30
    c = pts.compact()[2]
    np.testing.assert_allclose(np.hypot(c.nx, c.ny), 1.0, atol=1e-5)
    assert np.all(c.i1 - c.i0 > 0)


def test_automatic_threshold_on_flat_and_edge_images():
    flat = np.full(SHAPE, 80.0)
    edge = S.render(SHAPE, [(S.HalfPlane(10.0, 17.0), 100.0)], noise=3.0)
    pts = run([flat, edge], "pae", threshold=None)
    assert not pts.valid[0].any()
    assert pts.valid[1].sum() >= 30  # one point per row of the near-vertical edge


def test_normals_point_dark_to_bright_and_curvature_sign():
    bright = S.render(SHAPE, [(S.Disk(17.5, 18.2, 10.0), 120.0)])
    dark = 170.0 - bright + 50.0
    a, b = run([bright, dark], "cis_ser").compact()
    for p, sign in ((a, 1.0), (b, -1.0)):
        radial = ((p.x - 17.5) * p.nx + (p.y - 18.2) * p.ny) / np.hypot(p.x - 17.5, p.y - 18.2)
        assert np.all(sign * radial < -0.99)  # bright inside: normal points inwards
        assert np.all(sign * p.curvature > 0.08) and np.all(sign * p.curvature < 0.12)


def test_batch_matches_single_and_is_jittable():
    imgs = np.stack([_scene(2.0), _scene(0.0)])
    batch = detect(imgs, method="cis", threshold=10.0, max_points=300)
    one = detect(imgs[1], method="cis", threshold=10.0, max_points=300)
    assert isinstance(one, EdgePoints) and one.x.shape == (300,) and batch.x.shape == (2, 300)
    for f in ("x", "y", "valid"):
        np.testing.assert_array_equal(np.asarray(getattr(batch, f))[1], np.asarray(getattr(one, f)))
    jitted = jax.jit(lambda im: detect(im, method="cis", threshold=10.0, max_points=300))(imgs[1])
    np.testing.assert_array_equal(np.asarray(jitted.valid), np.asarray(one.valid))


def test_max_points_overflow_is_reported_and_keeps_the_raster_prefix():
    imgs = np.stack([_scene(2.0), _scene(0.0)])
    full = detect(imgs, method="cis", threshold=10.0, max_points=300)
    counts = np.asarray(full.num_candidates)
    assert not np.any(full.overflow) and np.all(counts > 20)
    # the count is the number of pixel candidates: at least the valid points, at most max_points
    assert np.all(counts >= np.asarray(full.valid).sum(-1))
    small = detect(imgs, method="cis", threshold=10.0, max_points=20)
    np.testing.assert_array_equal(small.num_candidates, counts)  # counted before the cut
    assert np.all(small.overflow)
    # the first 20 candidates are the same points (up to float rounding of another compile)
    np.testing.assert_array_equal(small.valid, np.asarray(full.valid)[:, :20])
    for f in ("x", "y"):
        np.testing.assert_allclose(
            getattr(small, f), np.asarray(getattr(full, f))[:, :20], atol=1e-5
        )
    exact = detect(imgs[0], method="cis", threshold=10.0, max_points=int(counts[0]))
    assert not exact.overflow and exact.num_candidates == counts[0]
    compact = small.compact()
    assert [bool(c.overflow) for c in compact] == [True, True]
    assert [int(c.num_candidates) for c in compact] == counts.tolist()


@pytest.mark.parametrize(
    "image,match",
    [
        (np.zeros(40), "2-D"),
        (np.zeros((2, 2, 40, 40)), "2-D"),
        (np.full((20, 20), np.nan), "non-finite"),
        (np.where(np.eye(20) > 0, np.inf, 0.0), "non-finite"),
        (np.zeros((4, 40)), "at least 8"),
        (np.zeros((20, 20), complex), "real-valued"),
    ],
)
def test_bad_input_raises_value_error(image, match):
    with pytest.raises(ValueError, match=match):
        detect(image)


def test_bad_arguments_raise_value_error():
    img = np.zeros((20, 20))
    with pytest.raises(ValueError, match="method"):
        detect(img, method="canny")
    with pytest.raises(ValueError, match="threshold"):
        detect(img, threshold=float("nan"))
    with pytest.raises(ValueError, match="max_points"):
        detect(img, max_points=0)
    with pytest.raises(ValueError, match="order"):
        detect(img, method="pae", order=3)


@pytest.mark.parametrize("density", [0.0, 0.003, 0.05, 1.0])
def test_first_true_matches_nonzero(density):
    from jaxrec.vision.edges.pixel import first_true

    mask = np.random.default_rng(7).random((37, 53)) < density
    for size in (1, 64, mask.size):
        row, col, count = first_true(jax.numpy.asarray(mask), size)
        ref_row, ref_col = np.nonzero(mask)
        n = min(size, ref_row.size)
        assert int(count) == ref_row.size
        np.testing.assert_array_equal(np.asarray(row)[:n], ref_row[:n])
        np.testing.assert_array_equal(np.asarray(col)[:n], ref_col[:n])
        assert not np.asarray(row)[n:].any() and not np.asarray(col)[n:].any()


def test_slot_buckets_cover_the_count_within_a_quarter_octave():
    from jaxrec.vision.edges import slot_bucket

    for count in [0, 1, 63, 64, 65, 1131, 4095, 4096, 5000, 10**6]:
        slots = slot_bucket(count, 4096)
        assert slots == 4096 if count >= 4096 else count <= slots <= max(64, 1.25 * count)
    assert len({slot_bucket(c, 1 << 20) for c in range(1025, 2049)}) == 4


def test_fewer_slots_than_max_points_give_the_same_points():
    img = _scene(noise=2.0)
    with x64():
        traced = jax.jit(lambda im: detect(im, method="cis_ser_complement", max_points=512))(img)
        bucketed = detect(img, method="cis_ser_complement", max_points=512)
    assert int(bucketed.num_candidates) < 200  # so `detect` ran a smaller bucket than 512
    np.testing.assert_array_equal(bucketed.valid, traced.valid)
    for f in ("x", "y", "nx", "ny", "curvature", "i0", "i1"):  # other shapes: last-ulp rounding
        np.testing.assert_allclose(getattr(bucketed, f), getattr(traced, f), rtol=1e-12, err_msg=f)
