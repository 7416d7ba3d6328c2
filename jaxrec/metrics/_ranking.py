"""Top-K ranking metrics per user: Recall, NDCG, Precision, HitRate and MRR at several K.

Example:
    >>> import jax.numpy as jnp
    >>> top = jnp.array([[3, 1, 4], [2, 0, 1]])          # ranked, best first  [B, K_max]
    >>> test = jnp.array([[1, 5, -1], [-1, -1, -1]])     # padded with -1      [B, T]
    >>> m = ranking_metrics(top, test, jnp.array([2, 0]), ks=(1, 3))
    >>> print(m["recall@3"], m["mrr@3"], m["has_test"])
    [0.5 0. ] [0.5 0. ] [ True False]
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def _hits(top_items: jax.Array, test_items: jax.Array) -> jax.Array:
    """Bool ``[B, K]``: whether ``top_items[b, r]`` is one of ``test_items[b]`` (O(K log T))."""
    sorted_test = jnp.sort(test_items, axis=-1)
    pos = jax.vmap(jnp.searchsorted)(sorted_test, top_items)
    pos = jnp.minimum(pos, sorted_test.shape[-1] - 1)
    found = jnp.take_along_axis(sorted_test, pos, axis=-1)
    return (found == top_items) & (top_items >= 0)


def ranking_metrics(
    top_items: ArrayLike,
    test_items: ArrayLike,
    num_test: ArrayLike,
    *,
    ks: Sequence[int] = (20,),
) -> dict[str, jax.Array]:
    """Per-user top-K metrics from ranked recommendations and held-out test items.

    With :math:`h_r \\in \\{0,1\\}` the hit at 1-based rank :math:`r` and :math:`n` the
    number of test items:

    .. math::
        \\mathrm{Recall@K} = \\frac{\\sum_{r \\le K} h_r}{n}, \\quad
        \\mathrm{Precision@K} = \\frac{\\sum_{r \\le K} h_r}{K}, \\quad
        \\mathrm{NDCG@K} = \\frac{\\sum_{r \\le K} h_r / \\log_2(1 + r)}
                               {\\sum_{r \\le \\min(K, n)} 1 / \\log_2(1 + r)},

    HitRate@K is :math:`1[\\sum_{r \\le K} h_r > 0]`, MRR@K is :math:`1/r` for the first hit
    within K (0 if none). Users with :math:`n = 0` get 0 for every metric and
    ``has_test = False``; exclude them when averaging.

    Args:
        top_items: int ``[B, K_max]``, recommended item ids, best first, distinct per row;
            -1 marks an empty slot (e.g. a non-finite score, :func:`masked_top_k`), never a hit.
        test_items: int ``[B, T]``, each user's test items, padded with -1.
        num_test: int ``[B]``, number of valid entries in each row of ``test_items``.
        ks: cut-offs, each ``1 <= k <= K_max`` (static).

    Returns:
        A dict of float32 ``[B]`` arrays named ``"recall@k"``, ``"ndcg@k"``,
        ``"precision@k"``, ``"hit_rate@k"`` and ``"mrr@k"`` for every ``k`` in ``ks``, plus
        bool ``[B]`` ``"has_test"``.

    Raises:
        ValueError: on mismatched shapes or a ``k`` outside ``[1, K_max]``.
    """
    top_items = jnp.asarray(top_items)
    test_items = jnp.asarray(test_items)
    num_test = jnp.asarray(num_test)
    if top_items.ndim != 2 or test_items.ndim != 2 or num_test.shape != top_items.shape[:1]:
        raise ValueError(
            "expected top_items [B, K_max], test_items [B, T], num_test [B]; got "
            f"{top_items.shape=}, {test_items.shape=}, {num_test.shape=}."
        )
    if test_items.shape[0] != top_items.shape[0]:
        raise ValueError(f"batch sizes differ: {top_items.shape=}, {test_items.shape=}.")
    k_max = top_items.shape[1]
    if not ks or any(not 1 <= k <= k_max for k in ks):
        raise ValueError(f"every k must lie in [1, K_max={k_max}]; got {ks=}.")

    hits = _hits(top_items, test_items).astype(jnp.float32)
    n = num_test.astype(jnp.float32)
    has_test = num_test > 0
    discount = 1.0 / jnp.log2(jnp.arange(2, k_max + 2, dtype=jnp.float32))  # rank 1..K_max
    ideal_dcg = jnp.cumsum(discount)  # ideal_dcg[m - 1] = IDCG with m relevant positions

    out: dict[str, jax.Array] = {}
    for k in ks:
        h = hits[:, :k]
        num_hits = jnp.sum(h, axis=-1)
        any_hit = num_hits > 0
        idcg = ideal_dcg[jnp.clip(jnp.minimum(num_test, k) - 1, 0, k - 1)]
        first = jnp.argmax(h, axis=-1).astype(jnp.float32)  # index of the first hit
        out[f"recall@{k}"] = jnp.where(has_test, num_hits / jnp.maximum(n, 1.0), 0.0)
        out[f"ndcg@{k}"] = jnp.where(has_test, (h @ discount[:k]) / idcg, 0.0)
        out[f"precision@{k}"] = num_hits / k
        out[f"hit_rate@{k}"] = any_hit.astype(jnp.float32)
        out[f"mrr@{k}"] = jnp.where(any_hit, 1.0 / (first + 1.0), 0.0)
    out["has_test"] = has_test
    return out
