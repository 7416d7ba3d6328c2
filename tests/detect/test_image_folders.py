"""Real-vs-fake folder scanning and loading on small trees the tests write themselves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxrec.data import DataFormatError
from jaxrec.data.image_folders import load_images, scan_image_folder

Image = pytest.importorskip("PIL.Image")


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _unit(a):
    """uint8 -> [-1, 1] in float32, as the loader computes it."""
    return a.astype(np.float32) / np.float32(127.5) - np.float32(1)


def _rgb(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_forensynths_layout_with_and_without_source_classes_and_captions(tmp_path):
    for gen, src in (("progan", "car"), ("progan", "cat"), ("sd14", None)):
        base = tmp_path / gen / src if src else tmp_path / gen
        for cls in ("0_real", "1_fake"):
            _png(base / cls / "a.png", _rgb(8, 8, 0))
            _png(base / cls / "b.png", _rgb(8, 8, 1))
    (tmp_path / "sd14" / "1_fake" / "captions.json").write_text(json.dumps({"b.png": "a cat"}))
    records = scan_image_folder(tmp_path)
    assert len(records) == 12
    assert {(r.generator, r.source) for r in records} == {
        ("progan", "car"), ("progan", "cat"), ("sd14", "")
    }  # fmt: skip
    labelled = {(r.generator, r.source, r.path.parent.name, r.label) for r in records}
    assert all(lab == (cls == "1_fake") for *_, cls, lab in labelled)
    assert [r.caption for r in records if r.caption] == ["a cat"]


def test_genimage_layout(tmp_path):
    for split in ("train", "val"):
        for cls in ("nature", "ai"):
            _png(tmp_path / "sd14" / split / cls / "x.png", _rgb(8, 8, 2))
    records = scan_image_folder(tmp_path, layout="auto")
    assert sorted((r.split, r.label) for r in records) == [
        ("train", 0), ("train", 1), ("val", 0), ("val", 1)
    ]  # fmt: skip
    assert {r.generator for r in records} == {"sd14"}


def test_crop_not_resize_same_for_real_and_fake_grayscale_and_alpha_converted(tmp_path):
    big = _rgb(12, 10, 3)
    _png(tmp_path / "g" / "0_real" / "big.png", big)
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    _png(tmp_path / "g" / "1_fake" / "gray.png", gray)
    rgba = np.dstack([_rgb(8, 8, 4), np.full((8, 8), 7, np.uint8)])
    _png(tmp_path / "g" / "1_fake" / "rgba.png", rgba)
    records = scan_image_folder(tmp_path)
    x = load_images(records, 8)
    assert x.shape == (3, 8, 8, 3) and x.dtype == np.float32
    by_name = {r.path.name: i for i, r in enumerate(records)}
    np.testing.assert_array_equal(x[by_name["big.png"]], _unit(big[2:10, 1:9]))
    np.testing.assert_array_equal(x[by_name["gray.png"]], _unit(np.repeat(gray[..., None], 3, -1)))
    np.testing.assert_array_equal(x[by_name["rgba.png"]], _unit(rgba[..., :3]))
    # Random crops are reproducible from the seed and stay inside the image.
    a, b = (
        load_images(records[:1], 6, crop="random", seed=5),
        load_images(records[:1], 6, crop="random", seed=5),
    )
    np.testing.assert_array_equal(a, b)


def test_small_images_are_reflect_padded_or_rejected(tmp_path):
    small = _rgb(4, 6, 5)
    _png(tmp_path / "g" / "0_real" / "s.png", small)
    _png(tmp_path / "g" / "1_fake" / "t.png", small)
    records = scan_image_folder(tmp_path)
    x = load_images(records, 8)
    want = _unit(np.pad(small, ((0, 4), (0, 2), (0, 0)), mode="reflect"))
    np.testing.assert_allclose(x[0], want, atol=0)
    with pytest.raises(DataFormatError, match=r"s\.png.*below 8"):
        load_images(records, 8, pad_small=False)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_image_folder(tmp_path / "missing")
    (tmp_path / "g" / "0_real").mkdir(parents=True)
    _png(tmp_path / "g" / "1_fake" / "x.png", _rgb(8, 8, 6))
    with pytest.raises(DataFormatError, match=r"0_real holds no images"):
        scan_image_folder(tmp_path)
    (tmp_path / "g" / "0_real" / "broken.png").write_bytes(b"not a png")
    records = scan_image_folder(tmp_path)
    with pytest.raises(DataFormatError, match=r"cannot read image .*broken\.png"):
        load_images(records, 8)
    _png(tmp_path / "h" / "val" / "ai" / "y.png", _rgb(8, 8, 7))
    with pytest.raises(DataFormatError, match="cannot tell the layout"):
        scan_image_folder(tmp_path)
    with pytest.raises(DataFormatError, match="unknown layout"):
        scan_image_folder(tmp_path, layout="imagenet")
    (tmp_path / "g" / "1_fake" / "captions.json").write_text("{")
    with pytest.raises(DataFormatError, match="captions.json is not valid JSON"):
        scan_image_folder(tmp_path, layout="forensynths")
