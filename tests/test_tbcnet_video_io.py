"""Real-video layouts for TBCNet: HDF5 + split CSV, folder of frames, clear errors."""

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="h5py (jaxrec[video]) is needed for the HDF5 layout")

from jaxrec.vision.tbcnet.video_io import (  # noqa: E402
    ClipError,
    center_crop,
    load_folder_clip,
    load_hdf5_clip,
    read_split_csv,
    short_side_resize,
)


def _write(path, arr):
    with h5py.File(path, "w") as f:
        f.create_dataset("default", data=arr)


def test_hdf5_layout_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    vids = [f"S001C00{c}P001R001A007_rgb" for c in (1, 2, 3)]
    data = {v: rng.integers(0, 255, (4, 3, 6, 8), dtype=np.uint8) for v in vids}
    for v, a in data.items():
        _write(tmp_path / f"{v}.hdf5", a)
    rows = [(3, vids[2]), (1, vids[0]), (2, vids[1])]  # shuffled: ordered by camera on load
    (tmp_path / "split.csv").write_text(
        "video_id,subject,action,camera,repetition,setup\n"
        + "".join(f"{v}.avi,1,7,{c},1,1\n" for c, v in rows)
    )
    ((clip_ids, label),) = read_split_csv(tmp_path / "split.csv")
    assert clip_ids == vids and label == 6
    clip = load_hdf5_clip(tmp_path, clip_ids, num_views=3, frames=4)
    np.testing.assert_array_equal(clip[1], data[vids[1]].transpose(0, 2, 3, 1)[..., ::-1])
    single = load_hdf5_clip(tmp_path, vids[:1], num_views=2, frames=4)
    np.testing.assert_array_equal(single[0], single[1])
    with pytest.raises(ClipError, match="2 views"):
        load_hdf5_clip(tmp_path, vids[:2], num_views=3, frames=4)
    with pytest.raises(ClipError, match="5"):
        load_hdf5_clip(tmp_path, vids, num_views=3, frames=5)
    with pytest.raises(ClipError, match="missing view"):
        load_hdf5_clip(tmp_path, [*vids[:2], "nope"], num_views=3, frames=4)
    (tmp_path / "bad.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(ClipError, match="bad"):
        load_hdf5_clip(tmp_path, [*vids[:2], "bad"], num_views=3, frames=4)
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="expected columns"):
        read_split_csv(tmp_path / "cols.csv")


def test_folder_layout_and_preprocessing(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for k in range(2):
        d = tmp_path / "clip0" / f"view{k}"
        d.mkdir(parents=True)
        for t in range(3):
            Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)).save(
                d / f"{t:03d}.png"
            )
    clip = load_folder_clip(tmp_path, "clip0", num_views=2, frames=3)
    assert clip.shape == (2, 3, 10, 12, 3)
    with pytest.raises(ClipError, match="clip0"):
        load_folder_clip(tmp_path, "clip0", num_views=3, frames=3)
    big = short_side_resize(clip, 8)
    assert big.shape == (2, 3, 8, 9, 3)
    crop = center_crop(big, 8)
    np.testing.assert_array_equal(crop, big[:, :, :, 0:8])
    flipped = center_crop(big, 8, np.random.default_rng(3))
    assert flipped.shape == (2, 3, 8, 8, 3)
