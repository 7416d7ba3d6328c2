"""UnGSL: uncertainty-aware re-weighting of a learned graph (Han et al., WWW 2025).

Every learned edge ``i <- j`` (row i receives from column j, as in ``(S H)_i = sum_j S_ij h_j``)
is re-weighted by the *source's* confidence ``c_j`` against the *receiver's* learnable threshold
``tau_i``::

    e_ij = [S_ij > edge_threshold]                 (an edge of the learned graph)
    w_ij = 2 sigmoid(c_j e_ij - tau_i)
    m_ij = w_ij if w_ij >= 1 (i.e. c_j e_ij >= tau_i) else beta
    S~_ij = S_ij m_ij                               (jaxrec/graph/README.md, eqs. 2-4)

``jnp.where`` keeps the authors' gradient semantics exactly: ``tau_i`` gets gradient only from
kept-branch edges (``dm/dtau_i = -2 sigma (1 - sigma)``), the beta branch is a constant, and
``S`` still receives gradient through both branches. Confidences are fixed (stage 1).

Entries that are not edges see confidence 0, exactly as the authors' dense module masks the
confidence matrix by ``S > AdjThreshold``: zeros stay zero, and the tiny non-edge values of a
dense learner (SUBLIME's FGP, README "Quirks kept" 3) are scaled by ``beta`` (for ``tau_i > 0``), not
dropped.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

__all__ = ["EdgeReweight", "ungsl_dense", "ungsl_edges"]


def _multiplier(c_source: jax.Array, tau_receiver: jax.Array, beta: float) -> jax.Array:
    w = 2.0 * jax.nn.sigmoid(c_source - tau_receiver)
    return jnp.where(w >= 1.0, w, beta)


def ungsl_dense(
    s: jax.Array,
    confidence: jax.Array,
    tau: jax.Array,
    beta: float,
    edge_threshold: float = 0.0,
) -> jax.Array:
    """Re-weights a dense learned graph ``s`` [n, n] (rows receive); ``confidence``, ``tau`` [n]."""
    edge = s > edge_threshold
    return s * _multiplier(jnp.where(edge, confidence[None, :], 0.0), tau[:, None], beta)


def ungsl_edges(
    rows: jax.Array,
    cols: jax.Array,
    values: jax.Array,
    confidence: jax.Array,
    tau: jax.Array,
    beta: float,
    edge_threshold: float = 0.0,
) -> jax.Array:
    """Edge-list form: ``values`` [E] of edges ``rows[e] <- cols[e]`` re-weighted as in
    :func:`ungsl_dense` (gathers ``tau[rows]`` and ``confidence[cols]``)."""
    edge = values > edge_threshold
    return values * _multiplier(jnp.where(edge, confidence[cols], 0.0), tau[rows], beta)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EdgeReweight:
    """The hook a host applies to its learned graph; the identity when ``confidence`` is None.

    Attributes:
      confidence: [n] fixed per-node confidence ``c = exp(-H)`` from stage 1, or None (UnGSL off).
      tau: [n] learnable thresholds (a trained parameter passed in by the trainer), or None.
      beta: down-weighting factor of uncertain sources (static).
    """

    confidence: jax.Array | None = None
    tau: jax.Array | None = None
    beta: float = dataclasses.field(default=1.0, metadata={"static": True})

    @property
    def enabled(self) -> bool:
        return self.confidence is not None

    def dense(self, s: jax.Array, edge_threshold: float = 0.0) -> jax.Array:
        if not self.enabled:
            return s
        return ungsl_dense(s, self.confidence, self.tau, self.beta, edge_threshold)

    def edges(
        self, rows: jax.Array, cols: jax.Array, values: jax.Array, edge_threshold: float = 0.0
    ) -> jax.Array:
        if not self.enabled:
            return values
        return ungsl_edges(rows, cols, values, self.confidence, self.tau, self.beta, edge_threshold)
