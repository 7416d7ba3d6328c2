"""Overlay of CIS+SER subpixel edges, with normals, on images bundled with scikit-image.

Run (from the repository root; needs scikit-image, benchmark-only):

    PYTHONPATH=. python3 benchmarks/edges_overlay.py --out docs/img/edges_overlay.png

Top row: whole images with every detected edge point. Bottom row: the 24 x 24 crop (yellow box)
with the most points, showing the subpixel points (dots) and the unit normals (dark -> bright)
drawn 1.5 px long.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from jaxrec.vision.edges import detect

IMAGES = {"coins": 20.0, "camera": 25.0, "horse": 20.0}  # name -> gradient threshold
CROP = 24  # zoomed crop size (px); placed on the CROP x CROP block holding the most points


def load(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.dtype == bool:
        img = np.where(img, 200.0, 40.0)
    return np.asarray(img, float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/img/edges_overlay.png")
    ap.add_argument("--method", default="cis_ser_complement")
    ap.add_argument("--dpi", type=int, default=80)
    a = ap.parse_args()
    fig, axes = plt.subplots(2, len(IMAGES), figsize=(4.2 * len(IMAGES), 8.4))
    for k, (name, thr) in enumerate(IMAGES.items()):
        img = load(name)
        p = detect(img, method=a.method, threshold=thr, max_points=40000).compact()
        s = CROP
        counts = np.zeros((img.shape[0] // s, img.shape[1] // s))
        np.add.at(
            counts,
            (
                np.minimum(p.y.astype(int) // s, counts.shape[0] - 1),
                np.minimum(p.x.astype(int) // s, counts.shape[1] - 1),
            ),
            1,
        )
        r0, c0 = (s * i for i in np.unravel_index(np.argmax(counts), counts.shape))
        top, bot = axes[0, k], axes[1, k]
        top.imshow(img, cmap="gray", interpolation="nearest")
        top.plot(p.x, p.y, ",", color="red")
        top.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), s, s, fill=False, color="yellow"))
        top.set_title(f"{name}: {p.x.size} points ({a.method}, thr {thr:g})", fontsize=9)
        sel = (p.x >= c0) & (p.x < c0 + s - 1) & (p.y >= r0) & (p.y < r0 + s - 1)
        bot.imshow(
            img[r0 : r0 + s, c0 : c0 + s],
            cmap="gray",
            interpolation="nearest",
            extent=(c0 - 0.5, c0 + s - 0.5, r0 + s - 0.5, r0 - 0.5),
        )
        bot.quiver(
            p.x[sel],
            p.y[sel],
            p.nx[sel],
            p.ny[sel],
            color="cyan",
            angles="xy",
            scale_units="xy",
            scale=1 / 1.5,
            width=0.004,
        )
        bot.plot(p.x[sel], p.y[sel], ".", color="red", ms=3)
        bot.set_title(f"crop rows {r0}-{r0 + s}, cols {c0}-{c0 + s}", fontsize=9)
        for ax in (top, bot):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(a.out, dpi=a.dpi)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
