"""Negative sampling for implicit feedback, jit-compatible and vectorised.

``sample_negatives`` draws uniformly from the items a user has NOT interacted with, without
rejection: with the user's sorted positives p_0 < p_1 < ... < p_{d-1}, the values q_j = p_j - j are
non-decreasing, and the r-th non-positive item (0-based) is ``r + #{j : q_j <= r}``. Drawing
r ~ U{0, ..., num_items - d - 1} therefore gives a uniform non-positive item; the count is a
binary search over the user's CSR segment with a static number of steps.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp


def _num_search_steps(max_degree: int) -> int:
    """Binary-search steps that resolve an insertion point among ``max_degree`` values."""
    return max(1, math.ceil(math.log2(max_degree + 1)))


@functools.partial(jax.jit, static_argnames=("num_negatives", "num_items", "max_degree"))
def sample_negatives(
    key: jax.Array,
    users: jax.Array,
    num_negatives: int,
    pos_indptr: jax.Array,
    pos_indices: jax.Array,
    num_items: int,
    *,
    max_degree: int | None = None,
) -> jax.Array:
    """Samples items each user has not interacted with, uniformly and with replacement.

    Args:
        key: PRNG key.
        users: int [B] user ids in [0, U) (padding rows may use any valid id).
        num_negatives: negatives per user N (static).
        pos_indptr: int [U + 1] CSR row pointers of the training positives (``csr``).
        pos_indices: int32 [nnz] positives, sorted and unique within each user.
        num_items: number of items I (static).
        max_degree: an upper bound on any user's number of positives (static); sets the number
            of binary-search steps to ``ceil(log2(max_degree + 1))``. Default: ``nnz``, always
            safe; pass ``int(np.diff(indptr).max())`` to save steps.

    Returns:
        int32 [B, N] item ids in [0, I), none of them a positive of its row's user. A user who has
        interacted with every item (no negatives exist) gets -1 in every slot: mask those
        entries (``negatives >= 0``) in the loss.
    """
    indptr = jnp.asarray(pos_indptr, dtype=jnp.int32)
    positives = jnp.asarray(pos_indices, dtype=jnp.int32)
    users = jnp.asarray(users, dtype=jnp.int32)
    nnz = positives.shape[0]
    start = indptr[users][:, None]  # [B, 1]
    degree = indptr[users + 1][:, None] - start  # [B, 1]
    num_free = num_items - degree  # [B, 1] non-positive items per user
    r = jax.random.randint(
        key, (users.shape[0], num_negatives), 0, jnp.maximum(num_free, 1), dtype=jnp.int32
    )
    if nnz == 0:
        return r
    # Upper bound of r among q_j = p_j - j over the user's segment: lo = #{j : q_j <= r}.
    lo = jnp.zeros_like(r)
    hi = jnp.broadcast_to(degree, r.shape)
    for _ in range(_num_search_steps(nnz if max_degree is None else max_degree)):
        active = lo < hi
        mid = (lo + hi) // 2
        q = positives[jnp.minimum(start + mid, nnz - 1)] - mid
        go_right = active & (q <= r)
        lo = jnp.where(go_right, mid + 1, lo)
        hi = jnp.where(active & ~go_right, mid, hi)
    return jnp.where(num_free > 0, r + lo, -1)


def uniform_negatives(key: jax.Array, shape: tuple[int, ...], num_items: int) -> jax.Array:
    """Samples items uniformly from all items, with replacement (positives may occur).

    Args:
        key: PRNG key.
        shape: output shape, e.g. (B, N).
        num_items: number of items I.

    Returns:
        int32 ``shape`` item ids in [0, I).
    """
    return jax.random.randint(key, shape, 0, num_items, dtype=jnp.int32)
