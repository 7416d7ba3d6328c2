"""Graph contrastive pieces shared by SUBLIME and PROSE: the symmetric NT-Xent of two views and
column feature masking.

SUBLIME's NT-Xent (Liu et al., WWW 2022; also PROSE) contrasts the two views ``z1, z2`` [n, p] of
the same node. With ``s_ij = cos(z1_i, z2_j) / T``::

    l1_i = -s_ii + log sum_{j != i} exp(s_ij)      (node i of view 1 against view-2 nodes)
    l0_i = -s_ii + log sum_{j != i} exp(s_ji)      (node i of view 2 against view-1 nodes)
    l_i  = (l0_i + l1_i) / 2,    loss = mean_i l_i

The positive pair is *excluded* from the denominators (the authors' ``pos / (sum - pos)``), so
``l_i`` can be negative. ``l_i`` is UnGSL's per-node stage-1 signal for SUBLIME (README, eq. 1').
``groups`` restricts the contrast to nodes of the same group: the authors' ``contrast_batch_size``
splits the nodes in order into chunks and weights chunk losses by size, which equals the plain mean
of the chunk-restricted ``l_i``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["feature_column_mask", "ntxent_per_node"]


def ntxent_per_node(
    z1: jax.Array, z2: jax.Array, temperature: float, groups: jax.Array | None = None
) -> jax.Array:
    """Per-node symmetric NT-Xent ``l_i`` [n] of views ``z1, z2`` [n, p] (see module docstring).

    ``groups`` [n] int: when given, only pairs within the same group count as negatives.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"views must both be [n, p], got {z1.shape} and {z2.shape}")
    s = (_unit_rows(z1) @ _unit_rows(z2).T) / temperature
    n = s.shape[0]
    negative = ~jnp.eye(n, dtype=bool)
    if groups is not None:
        negative = negative & (groups[:, None] == groups[None, :])
    pos = jnp.diagonal(s)
    masked = jnp.where(negative, s, -jnp.inf)
    l1 = jax.nn.logsumexp(masked, axis=1) - pos
    l0 = jax.nn.logsumexp(masked, axis=0) - pos
    return 0.5 * (l0 + l1)


def _unit_rows(z: jax.Array) -> jax.Array:
    """Rows scaled to unit norm; an all-zero row stays zero with a finite (zero) gradient (the
    gradient of ``jnp.linalg.norm`` at 0 is NaN)."""
    return z * jax.lax.rsqrt(jnp.maximum(jnp.sum(z * z, axis=1, keepdims=True), 1e-24))


def feature_column_mask(key: jax.Array, num_features: int, rate: float) -> jax.Array:
    """[d] float 0/1 keep-mask zeroing exactly ``int(d * rate)`` random feature columns (the same
    columns for every node, as SUBLIME's ``get_feat_mask``)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"feature mask rate must be in [0, 1), got {rate=}")
    num_masked = int(num_features * rate)
    masked = jax.random.permutation(key, num_features)[:num_masked]
    return jnp.ones((num_features,), jnp.float32).at[masked].set(0.0)
