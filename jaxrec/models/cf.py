"""Collaborative-filtering backbones: MF and LightGCN, plus scoring helpers.

Both models hold exactly two parameters, a user table ``[num_users, dim]`` and an item table
``[num_items, dim]``, initialised ``N(0, init_std^2)`` (``init_std=1`` is ``torch.nn.Embedding``'s
default, which the PSL authors use). No RNG streams and no graph live in the modules: the
interaction graph is data (:class:`BipartiteGraph`, a pytree) passed to :meth:`LightGCN.embed`
as an ordinary jit argument every step.

Sharding. The tables carry *logical* axis names, ``("users", "embed")`` and
``("items", "embed")``. Flax NNX shards annotated variables eagerly at creation, so a model must be
built under both a mesh and a rules table mapping every logical name to a mesh axis (or ``None``);
with flax 0.12.8 a mesh without rules raises ``Resource axis: users ... is not found in mesh`` and
no mesh raises ``An auto mesh context or metadata is required``::

    rules = (("users", "fsdp"), ("items", "fsdp"), ("embed", None))
    with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
        model = MF(cfg, rngs=nnx.Rngs(0))

For a single device use a 1-device mesh whose axis names cover the rules' targets. (The global
opt-out ``flax.config.update("flax_always_shard_variable", False)`` keeps the annotations as
metadata only and needs no mesh.)

Scoring. A sampled-softmax step needs ``s = scale * cos(u_b, v_bk)`` for ``[B, K]`` pairs. The
``[B, K, d]`` gather of item rows is inherent; :func:`score_pairs` then computes cosines as
``(u . v) * rsqrt(|u|^2) * rsqrt(|v|^2)``, so no normalised ``[B, K, d]`` copy is written, and for
MF only the gathered rows receive gradient. :func:`full_scores` scores every item for evaluation.

References:
  He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation",
  SIGIR 2020, eq. 3-4 (propagation) and eq. 5 (layer average ``alpha_k = 1 / (L + 1)``).
  Yang et al., "PSL", NeurIPS 2024, App. B.4 (MF and 2-layer LightGCN backbones, d = 64).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from jaxrec.models.sharding import take_rows

ScoreKind = Literal["cosine", "dot"]

_EPS = 1e-12  # as torch.nn.functional.normalize: x / max(|x|, eps)


@dataclasses.dataclass(frozen=True)
class CFModelConfig:
    """Configuration shared by :class:`MF` and :class:`LightGCN`.

    Attributes:
      num_users: rows of the user table.
      num_items: rows of the item table.
      dim: embedding size d (64 for every backbone in the PSL paper).
      init_std: standard deviation of the normal initialiser (paper: 1.0, ``nn.Embedding``).
      num_layers: LightGCN propagation depth L (paper: 2); ignored by MF.
    """

    num_users: int
    num_items: int
    dim: int = 64
    init_std: float = 1.0
    num_layers: int = 2

    def __post_init__(self) -> None:
        for name in ("num_users", "num_items", "dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"CFModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_layers < 0:
            raise ValueError(f"CFModelConfig.num_layers must be >= 0, got {self.num_layers}")
        if not self.init_std > 0:
            raise ValueError(f"CFModelConfig.init_std must be > 0, got {self.init_std}")


@jax.tree_util.register_dataclass  # outermost: registers the finished dataclass
@dataclasses.dataclass(frozen=True)
class BipartiteGraph:
    """Symmetric-normalised user-item graph as a directed edge list over ``num_users + num_items``
    nodes (users first, then items at offset ``num_users``).

    Every interaction (u, i) appears twice, u -> U+i and U+i -> u, with weight
    ``1 / sqrt(deg(u) * deg(i))``, i.e. the nonzeros of ``D^{-1/2} A D^{-1/2}``. Edges are sorted by
    ``target`` so that aggregation is a sorted segment sum. Build it with
    :func:`build_bipartite_graph`.

    Attributes:
      source: ``[E] int32`` node an edge reads from.
      target: ``[E] int32`` node an edge writes to (non-decreasing).
      weight: ``[E] float32`` normalised adjacency value.
      num_users: static; number of user nodes.
      num_items: static; number of item nodes.
    """

    source: jax.Array
    target: jax.Array
    weight: jax.Array
    num_users: int = dataclasses.field(metadata=dict(static=True))
    num_items: int = dataclasses.field(metadata=dict(static=True))

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items


def build_bipartite_graph(
    users: ArrayLike, items: ArrayLike, num_users: int, num_items: int
) -> BipartiteGraph:
    """Builds the normalised bipartite graph from interaction lists (host-side numpy).

    Duplicate (user, item) pairs are merged, so ``A`` is binary. Users or items without
    interactions have no edges (their propagated embedding is 0, never NaN).

    Args:
      users: ``[R]`` integer user ids in ``[0, num_users)``.
      items: ``[R]`` integer item ids in ``[0, num_items)``.
      num_users: number of users U.
      num_items: number of items I.

    Returns:
      A :class:`BipartiteGraph` with ``E = 2 * (number of distinct pairs)`` edges, as numpy
      arrays (``jax.device_put`` it to place it).
    """
    users = np.asarray(users).reshape(-1)
    items = np.asarray(items).reshape(-1)
    if users.shape != items.shape:
        raise ValueError(f"users and items differ in length: {users.shape} vs {items.shape}")
    if not (np.issubdtype(users.dtype, np.integer) and np.issubdtype(items.dtype, np.integer)):
        raise ValueError(f"ids must be integers, got {users.dtype} and {items.dtype}")
    for name, ids, n in (("users", users, num_users), ("items", items, num_items)):
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"{name} ids must lie in [0, {n}), got [{ids.min()}, {ids.max()}]")
    pairs = np.unique(np.stack([users, items], axis=1).astype(np.int64), axis=0).reshape(-1, 2)
    u, i = pairs[:, 0], pairs[:, 1] + num_users
    source = np.concatenate([u, i])
    target = np.concatenate([i, u])
    deg = np.bincount(source, minlength=num_users + num_items).astype(np.float64)
    weight = 1.0 / np.sqrt(deg[source] * deg[target])  # both endpoints have degree >= 1
    order = np.argsort(target, kind="stable")
    return BipartiteGraph(
        source=source[order].astype(np.int32),
        target=target[order].astype(np.int32),
        weight=weight[order].astype(np.float32),
        num_users=num_users,
        num_items=num_items,
    )


def graph_conv(graph: BipartiteGraph, h: jax.Array) -> jax.Array:
    """One LightGCN layer, ``D^{-1/2} A D^{-1/2} h`` as a sparse segment sum.

    Args:
      graph: the normalised graph.
      h: ``[num_users + num_items, d]`` node embeddings.

    Returns:
      ``[num_users + num_items, d]``; row n is ``sum_{e: target_e = n} weight_e * h[source_e]``.
    """
    messages = take_rows(h, jnp.asarray(graph.source)) * graph.weight.astype(h.dtype)[:, None]
    return jax.ops.segment_sum(
        messages, graph.target, num_segments=graph.num_nodes, indices_are_sorted=True
    )


def lightgcn_propagate(
    graph: BipartiteGraph, user_emb: jax.Array, item_emb: jax.Array, *, num_layers: int
) -> tuple[jax.Array, jax.Array]:
    """LightGCN readout ``E = 1/(L+1) * sum_{k=0..L} Â^k E^(0)`` with ``Â = D^{-1/2} A D^{-1/2}``.

    Args:
      graph: graph with ``graph.num_users == U`` and ``graph.num_items == I``.
      user_emb: ``[U, d]`` layer-0 user embeddings.
      item_emb: ``[I, d]`` layer-0 item embeddings.
      num_layers: L >= 0 (L = 0 returns the inputs).

    Returns:
      ``([U, d], [I, d])`` layer-averaged user and item embeddings.
    """
    if (user_emb.shape[0], item_emb.shape[0]) != (graph.num_users, graph.num_items):
        raise ValueError(
            f"embedding tables {user_emb.shape[0]} x {item_emb.shape[0]} do not match the graph's "
            f"{graph.num_users} users x {graph.num_items} items"
        )
    h = jnp.concatenate([user_emb, item_emb], axis=0)
    total = h
    for _ in range(num_layers):
        h = graph_conv(graph, h)
        total = total + h
    mean = total / (num_layers + 1)
    return mean[: graph.num_users], mean[graph.num_users :]


class _EmbeddingTables(nnx.Module):
    """User and item tables annotated with logical axes (build under mesh + rules)."""

    def __init__(self, cfg: CFModelConfig, *, rngs: nnx.Rngs) -> None:
        self.cfg = cfg
        normal = nnx.initializers.normal(stddev=cfg.init_std)
        user_init = nnx.with_partitioning(normal, ("users", "embed"))
        item_init = nnx.with_partitioning(normal, ("items", "embed"))
        self.user_embedding = nnx.Param(user_init(rngs.params(), (cfg.num_users, cfg.dim)))
        self.item_embedding = nnx.Param(item_init(rngs.params(), (cfg.num_items, cfg.dim)))


class MF(_EmbeddingTables):
    """Matrix factorisation: ``f(u, i)`` is a score (cosine or dot) of two free embeddings.

    Construct under ``with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):`` (see module doc).
    """

    def embed(self, graph: BipartiteGraph | None = None) -> tuple[jax.Array, jax.Array]:
        """Returns the raw tables ``([U, d], [I, d])``; ``graph`` is accepted and ignored.

        Gather only the rows a batch needs (:func:`gather_rows`): gradients then touch those rows
        only.
        """
        del graph
        return self.user_embedding[...], self.item_embedding[...]


class LightGCN(_EmbeddingTables):
    """LightGCN: free layer-0 embeddings propagated ``cfg.num_layers`` times over the
    normalised bipartite graph and averaged over layers 0..L (He et al. 2020, eq. 3-5).

    Construct under ``with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):`` (see module doc).
    """

    def embed(self, graph: BipartiteGraph | None = None) -> tuple[jax.Array, jax.Array]:
        """Returns propagated ``([U, d], [I, d])``; ``graph`` is required."""
        if graph is None:
            raise ValueError("LightGCN.embed needs the BipartiteGraph of the training interactions")
        return lightgcn_propagate(
            graph,
            self.user_embedding[...],
            self.item_embedding[...],
            num_layers=self.cfg.num_layers,
        )


def l2_normalize(x: ArrayLike, *, axis: int = -1, eps: float = _EPS) -> jax.Array:
    """``x / max(|x|_2, eps)`` along ``axis`` (zero vectors stay zero, gradients finite)."""
    x = jnp.asarray(x)
    return x * _inv_norm(x, axis=axis, eps=eps)


def _inv_norm(x: jax.Array, *, axis: int, eps: float) -> jax.Array:
    sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return jax.lax.rsqrt(jnp.maximum(sq, eps * eps))


def gather_rows(table: jax.Array, ids: ArrayLike, *, normalize: bool = False) -> jax.Array:
    """Rows ``table[ids]`` (``[..., d]``), optionally L2-normalised after the gather (cost ∝
    ``ids.size``); sharding-aware as :func:`jaxrec.models.sharding.take_rows`."""
    rows = take_rows(table, jnp.asarray(ids))
    return l2_normalize(rows) if normalize else rows


def score_pairs(
    user_vecs: ArrayLike,
    item_vecs: ArrayLike,
    *,
    kind: ScoreKind = "cosine",
    scale: float = 1.0,
) -> jax.Array:
    """Pairwise scores ``scale * <u, v>`` (dot) or ``scale * cos(u, v)`` (cosine).

    Leading dims broadcast with equal rank (size-1 dims expand), e.g. ``[B, 1, d]`` users against
    ``[B, K, d]`` items gives ``[B, K]``. Cosine is computed as
    ``(u . v) / (max(|u|, eps) * max(|v|, eps))`` without writing normalised copies; it lies in
    ``[-scale, scale]``.

    Args:
      user_vecs: ``[..., d]`` user vectors.
      item_vecs: ``[..., d]`` item vectors.
      kind: ``"cosine"`` (PSL/SL) or ``"dot"`` (BPR, LightGCN paper).
      scale: multiplier; 0.5 gives PSL's ``f = cos / 2``, 1.0 the authors' SL code.

    Returns:
      ``[...]`` scores (broadcast leading shape).
    """
    u, v = jnp.asarray(user_vecs), jnp.asarray(item_vecs)
    if u.ndim != v.ndim:
        raise ValueError(f"user_vecs and item_vecs need equal rank, got {u.shape} and {v.shape}")
    dots = jnp.einsum("...d,...d->...", u, v)
    if kind == "dot":
        return scale * dots
    if kind != "cosine":
        raise ValueError(f"kind must be 'cosine' or 'dot', got {kind!r}")
    inv = _inv_norm(u, axis=-1, eps=_EPS)[..., 0] * _inv_norm(v, axis=-1, eps=_EPS)[..., 0]
    return scale * dots * inv


def full_scores(
    user_vecs: ArrayLike,
    item_emb: ArrayLike,
    *,
    kind: ScoreKind = "cosine",
    scale: float = 1.0,
) -> jax.Array:
    """Scores of users against every item, for full-ranking evaluation.

    Args:
      user_vecs: ``[B, d]`` user vectors (evaluate in user batches; never all users at once on
        large data).
      item_emb: ``[I, d]`` item table.
      kind: ``"cosine"`` or ``"dot"``.
      scale: multiplier (ranking is invariant to any positive scale).

    Returns:
      ``[B, I]`` scores.
    """
    u, v = jnp.asarray(user_vecs), jnp.asarray(item_emb)
    if kind == "cosine":
        u, v = l2_normalize(u), l2_normalize(v)
    elif kind != "dot":
        raise ValueError(f"kind must be 'cosine' or 'dot', got {kind!r}")
    return scale * (u @ v.T)
