"""`EdgePoints`: the fixed-size, padded result of every edge detector."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

POINT_FIELDS = ("x", "y", "nx", "ny", "curvature", "i0", "i1", "valid")  # shape (..., max_points)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EdgePoints:
    """Subpixel edge points, shape ``(..., max_points)`` per field (padded; see ``valid``).

    Pixel centres sit at integer indices: ``x`` is the column, ``y`` the row. ``(nx, ny)`` is the
    unit normal pointing from the darker side (intensity ``i0``) to the brighter one (``i1``).
    ``curvature`` is signed: positive when the edge bends towards its normal, i.e. the bright
    side is convex (a bright disk of radius r on a dark background gives ``+1/r``).

    Per image (shape ``(...)``): ``num_candidates`` (int32) counts the edge pixels the pixel
    stage found, and ``overflow`` (bool) is ``num_candidates > max_points``: the pixels after
    the first ``max_points`` in raster order were cut, so the output is incomplete (raise
    ``max_points``).
    """

    x: jax.Array
    y: jax.Array
    nx: jax.Array
    ny: jax.Array
    curvature: jax.Array
    i0: jax.Array
    i1: jax.Array
    valid: jax.Array
    num_candidates: jax.Array
    overflow: jax.Array

    def compact(self) -> EdgePoints | list[EdgePoints]:
        """Host-side numpy copy with only the valid points (a list over leading batch dims),
        keeping each image's ``num_candidates`` and ``overflow``."""
        arrays = {f: np.asarray(getattr(self, f)) for f in POINT_FIELDS}
        counts = np.asarray(self.num_candidates).reshape(-1)
        overflow = np.asarray(self.overflow).reshape(-1)
        flat = {f: a.reshape(-1, a.shape[-1]) for f, a in arrays.items()}
        images = [
            EdgePoints(
                **{f: a[i][flat["valid"][i]] for f, a in flat.items()},
                num_candidates=counts[i],
                overflow=overflow[i],
            )
            for i in range(counts.size)
        ]
        return images[0] if arrays["valid"].ndim == 1 else images
