"""BIGRec grounding (SOFT spec §4): a generated text is embedded by the base model
(:mod:`jaxrec.llmrec.encoder`), every catalogue item is ranked by the L2 distance
``||e(gen) - e(item)||_2`` (ascending; ties by lower row), and the target's 0-based rank ``r``
gives ``HR@K = 1[r < K]`` and ``NDCG@K = 1[r < K] / log2(r + 2)`` for K in {1, 5, 10, 20, 50}.

Duplicated titles (SOFT pitfall 2): only the first item id of each distinct title has a row
that takes part in the ranking; the other rows are masked (never ranked), not left as zero
vectors as the authors' table does, and a target with a duplicated title counts as its first
id (its title is what the model can generate).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.metrics import masked_top_k, ranking_metrics

__all__ = ["KS", "ItemTable", "build_item_table", "grounded_top_k", "grounding_metrics", "l2"]

KS = (1, 5, 10, 20, 50)


@dataclasses.dataclass(frozen=True)
class ItemTable:
    """The catalogue's embeddings, one row per item id (sorted).

    Attributes:
      item_ids: int64 ``[N]`` sorted item ids.
      titles: the title of each row.
      embeddings: float32 ``[N, D]``.
      valid: bool ``[N]``, the row takes part in the ranking (first id of its title).
      canonical: int32 ``[N]``, the valid row with the same title.
    """

    item_ids: np.ndarray
    titles: tuple[str, ...]
    embeddings: np.ndarray
    valid: np.ndarray
    canonical: np.ndarray

    def rows_of(self, item_ids: np.ndarray) -> np.ndarray:
        """The canonical row of each item id (``KeyError`` naming unknown ids)."""
        item_ids = np.asarray(item_ids)
        pos = np.clip(np.searchsorted(self.item_ids, item_ids), 0, self.item_ids.size - 1)
        bad = self.item_ids[pos] != item_ids
        if bad.any():
            raise KeyError(f"item ids not in the catalogue: {np.unique(item_ids[bad])[:10]}")
        return self.canonical[pos]


def build_item_table(titles: Mapping[int, str], embeddings: np.ndarray) -> ItemTable:
    """The table for ``{item id: title}`` with ``embeddings[i]`` the embedding of the i-th id in
    sorted order.

    Raises:
      ValueError: the row count differs from the catalogue, or an embedding is not finite.
    """
    ids = np.array(sorted(titles), np.int64)
    embeddings = np.asarray(embeddings, np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != ids.size:
        raise ValueError(
            f"item table has shape {embeddings.shape}, expected [{ids.size}, D] "
            f"(one row per catalogue item)"
        )
    if not np.isfinite(embeddings).all():
        bad = np.flatnonzero(~np.isfinite(embeddings).all(-1))
        raise ValueError(f"item embeddings are not finite for item ids {ids[bad][:10]}")
    first: dict[str, int] = {}
    canonical = np.empty(ids.size, np.int32)
    for row, i in enumerate(ids):
        canonical[row] = first.setdefault(titles[int(i)], row)
    valid = canonical == np.arange(ids.size)
    names = tuple(titles[int(i)] for i in ids)
    return ItemTable(ids, names, embeddings, valid, canonical)


def l2(a: jax.Array, b: jax.Array) -> jax.Array:
    """``||a - b||_2`` over the last axis, float32 ``[...]``."""
    diff = jnp.asarray(a, jnp.float32) - jnp.asarray(b, jnp.float32)
    return jnp.sqrt(jnp.sum(diff * diff, axis=-1))


@jax.jit
def _scores(queries: jax.Array, table: jax.Array, valid: jax.Array) -> jax.Array:
    """``-||q - e_i||_2`` for every valid row, ``-inf`` for masked rows: ``[B, N]``."""
    q2 = jnp.sum(queries * queries, axis=-1, keepdims=True)
    t2 = jnp.sum(table * table, axis=-1)[None, :]
    cross = jnp.einsum("bd,nd->bn", queries, table, precision=jax.lax.Precision.HIGHEST)
    dist = jnp.sqrt(jnp.maximum(q2 + t2 - 2.0 * cross, 0.0))
    return jnp.where(valid[None, :], -dist, -jnp.inf)


def grounded_top_k(
    queries: np.ndarray, table: ItemTable, k: int = 50, batch_size: int = 256
) -> np.ndarray:
    """int32 ``[n, k]`` the nearest valid rows of each query embedding, nearest first (-1 where
    fewer than ``k`` rows are valid)."""
    queries = np.asarray(queries, np.float32)
    if queries.ndim != 2 or queries.shape[1] != table.embeddings.shape[1]:
        raise ValueError(
            f"queries have shape {queries.shape}, expected [n, {table.embeddings.shape[1]}]"
        )
    k = min(k, table.item_ids.size)
    emb, valid = jnp.asarray(table.embeddings), jnp.asarray(table.valid)
    none = jnp.full((batch_size, 1), -1, jnp.int32)
    out = []
    for start in range(0, queries.shape[0], batch_size):
        rows = np.arange(start, start + batch_size) % queries.shape[0]
        top = masked_top_k(_scores(jnp.asarray(queries[rows]), emb, valid), none, k)
        out.append(np.asarray(top)[: min(batch_size, queries.shape[0] - start)])
    return np.concatenate(out)


def grounding_metrics(
    queries: np.ndarray,
    table: ItemTable,
    target_items: np.ndarray,
    ks: Sequence[int] = KS,
) -> dict[str, float]:
    """Mean ``hr@K`` / ``ndcg@K`` of grounding ``queries [n, D]`` against each row's target item
    id (module docstring)."""
    target = table.rows_of(target_items)
    ks = tuple(k for k in ks if k <= table.item_ids.size)
    top = grounded_top_k(queries, table, max(ks))
    per_row = ranking_metrics(top, target[:, None], np.ones(target.size, np.int32), ks=ks)
    out = {}
    for k in ks:
        out[f"hr@{k}"] = float(np.mean(per_row[f"hit_rate@{k}"]))
        out[f"ndcg@{k}"] = float(np.mean(per_row[f"ndcg@{k}"]))
    return out
