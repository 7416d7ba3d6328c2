"""`EdgePoints`: the fixed-size, padded result of every edge detector."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

_FIELDS = ("x", "y", "nx", "ny", "curvature", "i0", "i1", "valid")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EdgePoints:
    """Subpixel edge points, shape ``(..., max_points)`` per field (padded; see ``valid``).

    Pixel centres sit at integer indices: ``x`` is the column, ``y`` the row. ``(nx, ny)`` is the
    unit normal pointing from the darker side (intensity ``i0``) to the brighter one (``i1``).
    ``curvature`` is signed: positive when the edge bends towards its normal, i.e. the bright
    side is convex (a bright disk of radius r on a dark background gives ``+1/r``).
    """

    x: jax.Array
    y: jax.Array
    nx: jax.Array
    ny: jax.Array
    curvature: jax.Array
    i0: jax.Array
    i1: jax.Array
    valid: jax.Array

    def compact(self) -> EdgePoints | list[EdgePoints]:
        """Host-side numpy copy with only the valid points (a list over leading batch dims)."""
        arrays = {f: np.asarray(getattr(self, f)) for f in _FIELDS}
        valid = arrays["valid"]
        if valid.ndim == 1:
            return EdgePoints(**{f: a[valid] for f, a in arrays.items()})
        flat = {f: a.reshape(-1, a.shape[-1]) for f, a in arrays.items()}
        return [
            EdgePoints(**{f: a[i][flat["valid"][i]] for f, a in flat.items()})
            for i in range(flat["valid"].shape[0])
        ]
