"""UnGSL: uncertainty-aware re-weighting of a learned graph (Han et al., WWW 2025).

Every learned edge ``i <- j`` (row i receives from column j, as in ``(S H)_i = sum_j S_ij h_j``)
is re-weighted by the *source's* confidence ``c_j`` against the *receiver's* learnable threshold
``tau_i``::

    w_ij = 2 sigmoid(c_j - tau_i)
    m_ij = w_ij if w_ij >= 1 (i.e. c_j >= tau_i) else beta
    S~_ij = S_ij m_ij   on edges (S_ij > edge_threshold), 0 elsewhere

``jnp.where`` keeps the authors' gradient semantics exactly: ``tau_i`` gets gradient only from
kept-branch edges (``dm/dtau_i = -2 sigma (1 - sigma)``), the beta branch is a constant, and
``S`` still receives gradient through both branches. Confidences are fixed (stage 1).
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
    m = _multiplier(confidence[None, :], tau[:, None], beta)
    return jnp.where(s > edge_threshold, s * m, jnp.zeros_like(s))


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
    m = _multiplier(confidence[cols], tau[rows], beta)
    return jnp.where(values > edge_threshold, values * m, jnp.zeros_like(values))


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
