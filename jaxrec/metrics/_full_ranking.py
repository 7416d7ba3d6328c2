"""Batched full-ranking evaluation: score every item for each user, mask the user's training
items, take the top K and average the ranking metrics over users with test items.

Users are processed in fixed-size batches (the last one padded) and per-user item lists are
padded to one width computed once, so the per-batch function compiles once. Only a
``[batch_size, num_items]`` score block exists at any time; a users × items matrix never does.

Example:
    >>> import numpy as np, jax.numpy as jnp
    >>> item_emb = jnp.eye(4)                          # 4 items; user u likes item u
    >>> score_fn = lambda users: item_emb[users]       # [B] -> [B, num_items]
    >>> train = CSR(np.array([0, 1, 1, 1]), np.array([1], np.int32))  # user 0 trained on 1
    >>> test = CSR(np.array([0, 1, 2, 2]), np.array([0, 3], np.int32))
    >>> m = evaluate_full_ranking(score_fn, np.arange(3), train, test, 4, ks=(1,), batch_size=2)
    >>> print(m["recall@1"], m["hit_rate@1"])           # user 2 has no test items: excluded
    0.5 0.5
"""

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrec.metrics._ranking import ranking_metrics


class CSR(NamedTuple):
    """Per-user item lists in compressed sparse row form (numpy arrays).

    The items of user ``u`` are ``indices[indptr[u]:indptr[u + 1]]``. A plain
    ``(indptr, indices)`` tuple is accepted wherever a ``CSR`` is.

    Attributes:
        indptr: int ``[num_users + 1]``, non-decreasing, ``indptr[0] == 0``.
        indices: int ``[nnz]`` item ids.
    """

    indptr: np.ndarray
    indices: np.ndarray


def masked_top_k(scores: ArrayLike, exclude_items: ArrayLike, k: int) -> jax.Array:
    """Top-``k`` items per row after setting the excluded items' scores to ``-inf``.

    Non-finite scores (NaN, ``+inf``, ``-inf``, e.g. from a diverged model) rank lowest, like
    excluded items: ``lax.top_k`` alone would rank NaN first, so a NaN at a test item would
    count as a hit.

    Args:
        scores: float ``[B, I]``.
        exclude_items: int ``[B, E]`` item ids to exclude (e.g. training items), padded
            with -1.
        k: number of items to return (static), ``k <= I``.

    Returns:
        int32 ``[B, k]`` item ids, best first (``jax.lax.top_k``, ties by lower id). A slot
        whose item is excluded or has a non-finite score (a row with fewer than ``k`` such
        items) holds -1, which :func:`ranking_metrics` never counts as a hit.
    """
    scores = jnp.asarray(scores)
    exclude_items = jnp.asarray(exclude_items)
    if scores.ndim != 2 or exclude_items.ndim != 2 or exclude_items.shape[0] != scores.shape[0]:
        raise ValueError(
            f"expected scores [B, I] and exclude_items [B, E]; got {scores.shape=}, "
            f"{exclude_items.shape=}."
        )
    num_items = scores.shape[1]
    # -1 padding would wrap around to the last item; send it out of bounds and drop it.
    cols = jnp.where(exclude_items >= 0, exclude_items, num_items)
    rows = jnp.arange(scores.shape[0])[:, None]
    masked = jnp.where(jnp.isfinite(scores), scores, -jnp.inf)
    masked = masked.at[rows, cols].set(-jnp.inf, mode="drop")
    values, items = jax.lax.top_k(masked, k)
    return jnp.where(values > -jnp.inf, items, -1)


def _padded_rows(csr: CSR, users: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Item lists of ``users`` as int32 ``[len(users), width]`` padded with -1, and lengths."""
    start = csr.indptr[users]
    length = csr.indptr[users + 1] - start
    col = np.arange(width)
    take = start[:, None] + col
    valid = col < length[:, None]
    items = np.full(take.shape, -1, np.int32)
    items[valid] = csr.indices[take[valid]]
    return items, length.astype(np.int32)


def _max_length(csr: CSR, users: np.ndarray) -> int:
    """Longest item list among ``users`` (0 if all are empty)."""
    return int(np.max(csr.indptr[users + 1] - csr.indptr[users], initial=0))


def _as_csr(lists: CSR | tuple[np.ndarray, np.ndarray], name: str, num_users: int) -> CSR:
    indptr, indices = (np.asarray(a) for a in lists)
    if indptr.ndim != 1 or indices.ndim != 1 or indptr.size < num_users + 1:
        raise ValueError(
            f"{name} must be CSR (indptr [num_users + 1], indices [nnz]) covering every "
            f"evaluated user id (< {num_users}); got {indptr.shape=}, {indices.shape=}."
        )
    return CSR(indptr.astype(np.int64), indices.astype(np.int32))


@functools.partial(jax.jit, static_argnames="ks")
def _batch_sums(
    scores: jax.Array,
    exclude: jax.Array,
    test: jax.Array,
    num_test: jax.Array,
    row_valid: jax.Array,
    *,
    ks: tuple[int, ...],
) -> tuple[dict[str, jax.Array], jax.Array]:
    """Masked top-K metrics of one user batch, summed over real (non-padding) users with
    test items; also returns how many users were counted."""
    top = masked_top_k(scores, exclude, max(ks))
    per_user = ranking_metrics(top, test, num_test, ks=ks)
    counted = per_user.pop("has_test") & row_valid
    sums = {name: jnp.sum(jnp.where(counted, v, 0.0)) for name, v in per_user.items()}
    return sums, jnp.sum(counted)


def evaluate_full_ranking(
    score_fn: Callable[[jax.Array], jax.Array],
    user_ids: ArrayLike,
    exclude: CSR | tuple[np.ndarray, np.ndarray],
    test: CSR | tuple[np.ndarray, np.ndarray],
    num_items: int,
    *,
    ks: Sequence[int] = (20,),
    batch_size: int = 1024,
) -> dict[str, float]:
    """Full-ranking top-K evaluation over all items, averaged over users with test items.

    For each batch of users: ``scores = score_fn(users)``, the users' ``exclude`` items are
    set to ``-inf``, the top ``max(ks)`` items are ranked and scored by
    :func:`ranking_metrics`. Users without test items are left out of the average. A
    non-finite score (NaN/inf) ranks below every finite one and is never a hit
    (:func:`masked_top_k`), so a diverged model scores 0, not 1.

    Args:
        score_fn: maps int32 user ids ``[B]`` to scores ``[B, num_items]``; ideally jitted
            (it is called once per batch with the same shape).
        user_ids: int ``[U]`` users to evaluate (row ids into ``exclude`` and ``test``).
        exclude: CSR of items to mask per user (their training items).
        test: CSR of held-out test items per user.
        num_items: number of items scored.
        ks: cut-offs, each ``1 <= k <= num_items``.
        batch_size: users per batch; the last batch is padded to this size.

    Returns:
        Mean ``"recall@k"``, ``"ndcg@k"``, ``"precision@k"``, ``"hit_rate@k"`` and
        ``"mrr@k"`` (Python floats) over users with at least one test item (all 0.0 if
        there are none).
    """
    ks = tuple(int(k) for k in ks)
    if not ks or any(not 1 <= k <= num_items for k in ks):
        raise ValueError(f"every k must lie in [1, num_items={num_items}]; got {ks=}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size=}.")
    users = np.asarray(user_ids, np.int64).reshape(-1)
    if users.size == 0:
        raise ValueError("user_ids is empty.")
    num_users = int(users.max(initial=-1)) + 1
    exclude = _as_csr(exclude, "exclude", num_users)
    test = _as_csr(test, "test", num_users)
    exclude_width = max(1, _max_length(exclude, users))
    test_width = max(1, _max_length(test, users))

    sums, count = {}, 0
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        row_valid = np.arange(batch_size) < batch.size
        batch = np.pad(batch, (0, batch_size - batch.size), constant_values=batch[0])
        ex, _ = _padded_rows(exclude, batch, exclude_width)
        te, num_test = _padded_rows(test, batch, test_width)
        scores = score_fn(jnp.asarray(batch, jnp.int32))
        if scores.shape != (batch_size, num_items):
            raise ValueError(
                f"score_fn must return [batch_size, num_items] = {(batch_size, num_items)}; "
                f"got {scores.shape}."
            )
        batch_sums, batch_count = _batch_sums(scores, ex, te, num_test, row_valid, ks=ks)
        sums = jax.tree.map(jnp.add, sums, batch_sums) if sums else batch_sums
        count = count + batch_count
    count = max(int(count), 1)
    return {name: float(total) / count for name, total in sums.items()}
