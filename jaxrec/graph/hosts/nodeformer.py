"""NodeFormer (Wu et al., NeurIPS 2022) as a GSL host: all-pair message passing with a kernelised
Gumbel-softmax attention, relational bias on observed edges and an edge-level regulariser.

Per layer and head h (queries/keys ``q_i, k_j`` of size D, all nodes attend to all nodes)::

    attention   p_ij  = exp(q_i.k_j / (tau sqrt(D))) / sum_l exp(q_i.k_l / (tau sqrt(D)))
    Gumbel      p~_ij = mean_g  exp(q_i.k_j/(tau sqrt D) + g_gj/tau) / sum_l (same, l)
    output      z_i   = sum_j p~_ij v_j  +  sum_{r=1..R} sigmoid(b_rh) (A_r v)_i

``g_gj ~ Gumbel(0, 1)`` per key node, head and sample (K = 10 samples; training only). Linear cost:
``exp(q.k)`` is replaced by the positive random features of Performer (FAVOR+),
``phi(x) = exp(W x - |x|^2/2) / sqrt(M)`` with M orthogonal Gaussian rows ``W`` drawn from the
key (``E[phi(q).phi(k)] = exp(q.k)``), so ``z_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) /
phi(q_i)^T sum_j phi(k_j)`` never forms the n x n matrix. ``A_r`` is the symmetrically
normalised pattern of a power of ``A + I`` (rb_order R = 3): ``(A + I)^(2^(r-1))`` by
repeated squaring as in the authors' code and OpenGSL's solver (``rb_powers="squaring"``,
default: hops 1, 2, 4), or ``(A + I)^r`` (``"consecutive"``: hops 1, 2, 3, the paper's reading). The edge regulariser adds
``-lambda * mean_layers mean_{(i<-j) in A+I, h} log p_ij / deg_i`` (non-Gumbel kernel weights).

UnGSL (chosen design, documented): the learned structure is the all-pair attention ``p~`` itself,
which the kernel form never materialises, and the UnGSL multiplier ``m_ij(c_j, tau_i)`` does not
factor through the random features. With UnGSL on, every layer therefore uses the *dense* form of
the same kernel attention, ``P~ = U * (W E^T)`` with ``U = phi(Q) phi(K)^T`` [n, n],
``E_jg = exp(g_gj / tau)``, ``W_ig = 1 / (K den_gi)`` (exactly the kernel form's averaged Gumbel
attention), applies ``reweight.dense(P~)`` per head (every entry is an edge: p~ > 0) and
aggregates ``(P~ * M) V`` without renormalising, as the authors do for SUBLIME. Cora's 2708^2
attention per head fits easily; ``attention="dense"`` forces this path without UnGSL, and the tests
check that dense and kernel forms agree. The relational bias and the edge regulariser act on the
observed edges and are not re-weighted.

Architecture (OpenGSL ``nodeformer_cora.yaml``): Linear(d, 32) -> LayerNorm -> ReLU -> dropout,
2 NodeFormer layers (4 heads, Q/K/V ``32 -> 4*32``, output ``4*32 -> 32``) each with residual +
LayerNorm (no activation, ``use_act=False``), Linear(32, C). Adam lr 1e-2 with L2 5e-4, 1000
epochs, lambda = 1, row-normalised features. The random-feature matrix is redrawn at every call
from the step key (the authors reseed it from the sum of the queries).

Initialisation: every Linear starts as ``torch.nn.Linear``'s default (kernel and bias
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, LayerNorm epsilon 1e-5), the scale the method's
temperature tau = 0.25 was tuned at. Flax's default LeCun-normal kernel has sqrt(3) times that std,
so ``W_q``, ``W_k`` make the initial logits ``q.k / (tau sqrt D)`` 3x larger (row std about 1.6
instead of 0.55 on the test SBM graph). Then the Gumbel-softmax attention starts near-one-hot on a
few key nodes, every query receives nearly the same message, the node-independent part of the
layer output grows under Adam until it swamps the residual, and after LayerNorm every node has the
same representation (train loss stuck at ln C; one seed in six on the test graph). Scaling only
``W_q``, ``W_k`` down by sqrt(3) already removes the collapse.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.sparse as sp
from flax import nnx

from jaxrec.graph import ops
from jaxrec.graph.data import GraphData
from jaxrec.graph.host import HostVars
from jaxrec.graph.hosts._common import UnGSLDefaults, adam_l2, masked_cross_entropy
from jaxrec.graph.ungsl import EdgeReweight
from jaxrec.models.gcn import torch_linear_init

__all__ = [
    "NodeFormerConfig",
    "NodeFormerHost",
    "build",
    "dense_attention",
    "kernel_attention",
    "orthogonal_random_features",
    "positive_random_features",
    "ungsl_defaults",
]


@dataclasses.dataclass(frozen=True)
class NodeFormerConfig:
    """NodeFormer hyperparameters (defaults: OpenGSL v0.0.6 ``nodeformer_cora.yaml``; other
    datasets: ``configs/gsl/nodeformer.py``)."""

    epochs: int = 1000
    eval_every: int = 1
    patience: int = 0
    lr: float = 1e-2
    weight_decay: float = 5e-4
    n_layers: int = 2
    hidden: int = 32
    heads: int = 4
    dropout: float = 0.0
    use_bn: bool = True
    num_random_features: int = 30
    use_gumbel: bool = True
    gumbel_samples: int = 10
    use_residual: bool = True
    use_act: bool = False
    rb_order: int = 3
    rb_powers: str = "squaring"
    tau: float = 0.25
    edge_loss_weight: float = 1.0
    attention: str = "kernel"
    normalize_features: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "eval_every", "n_layers", "hidden", "heads",
                     "num_random_features", "gumbel_samples"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"NodeFormerConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.attention not in ("kernel", "dense"):
            raise ValueError(f"attention must be 'kernel' or 'dense', got {self.attention=}")
        if self.rb_powers not in ("squaring", "consecutive"):
            raise ValueError(
                f"rb_powers must be 'squaring' or 'consecutive', got {self.rb_powers=}"
            )
        if self.tau <= 0 or self.rb_order < 0:
            raise ValueError(f"need tau > 0 and rb_order >= 0, got {self.tau=}, {self.rb_order=}")


def ungsl_defaults(dataset: str) -> UnGSLDefaults:
    """No UnGSL values were shipped for NodeFormer: the suggested starting point (every
    attention entry is positive, so every entry is an edge)."""
    del dataset
    return UnGSLDefaults()


def orthogonal_random_features(key: jax.Array, m: int, d: int) -> jax.Array:
    """[m, d] Performer projection: blocks of orthogonal rows (QR of d x d Gaussians) scaled by the
    norms of independent Gaussian d-vectors (so each row is marginally N(0, I_d))."""
    blocks = -(-m // d)
    k_q, k_norm = jax.random.split(key)
    gauss = jax.random.normal(k_q, (blocks, d, d))
    q = jnp.linalg.qr(gauss)[0]  # [blocks, d, d], orthonormal columns
    rows = jnp.swapaxes(q, 1, 2).reshape(blocks * d, d)[:m]
    norms = jnp.linalg.norm(jax.random.normal(k_norm, (m, d)), axis=1)
    return norms[:, None] * rows


def positive_random_features(
    x: jax.Array, projection: jax.Array, is_query: bool, eps: float = 1e-6
) -> jax.Array:
    """FAVOR+ features ``(exp(W x - |x|^2/2 - c) + eps) / sqrt(M)`` of ``x`` [..., n, D] ->
    [..., n, M]. The stabiliser ``c`` is the row max for queries and the global max for keys
    (both cancel in the attention ratio)."""
    xw = jnp.einsum("...nd,md->...nm", x, projection)
    sq = 0.5 * jnp.sum(x * x, axis=-1, keepdims=True)
    logits = xw - sq
    axes = -1 if is_query else (-2, -1)
    stab = jax.lax.stop_gradient(jnp.max(logits, axis=axes, keepdims=True))
    return (jnp.exp(logits - stab) + eps) / jnp.sqrt(projection.shape[0])


def _gumbel_weights(key: jax.Array | None, shape: tuple[int, ...], tau: float) -> jax.Array | None:
    """``exp(g / tau)`` with ``g ~ Gumbel(0, 1)`` of ``shape`` = [heads, n, K], or None."""
    if key is None:
        return None
    return jnp.exp(jax.random.gumbel(key, shape) / tau)


def kernel_attention(
    qf: jax.Array, kf: jax.Array, v: jax.Array, gumbel: jax.Array | None = None
) -> jax.Array:
    """Linear-cost attention output [H, n, D] from features ``qf, kf`` [H, n, M] and values
    ``v`` [H, n, D]; ``gumbel`` [H, n, K] key weights ``exp(g/tau)`` average K Gumbel samples."""
    if gumbel is None:
        num = jnp.einsum("hnm,hmd->hnd", qf, jnp.einsum("hjm,hjd->hmd", kf, v))
        den = jnp.einsum("hnm,hm->hn", qf, kf.sum(axis=1))
        return num / den[..., None]
    kv = jnp.einsum("hjm,hjd,hjg->hgmd", kf, v, gumbel)
    ks = jnp.einsum("hjm,hjg->hgm", kf, gumbel)
    num = jnp.einsum("hnm,hgmd->hgnd", qf, kv)
    den = jnp.einsum("hnm,hgm->hgn", qf, ks)
    return jnp.mean(num / den[..., None], axis=1)


def dense_attention(qf: jax.Array, kf: jax.Array, gumbel: jax.Array | None = None) -> jax.Array:
    """The attention matrices [H, n, n] (rows receive) whose product with ``v`` is
    :func:`kernel_attention`: ``U / den`` or, with Gumbel weights, ``U * (W E^T)``."""
    u = jnp.einsum("hnm,hjm->hnj", qf, kf)
    if gumbel is None:
        return u / u.sum(axis=-1, keepdims=True)
    den = jnp.einsum("hnj,hjg->hng", u, gumbel)  # [H, n, K]
    w = 1.0 / (gumbel.shape[-1] * den)
    return u * jnp.einsum("hng,hjg->hnj", w, gumbel)


def _linear(fan_in: int, fan_out: int, rngs: nnx.Rngs) -> nnx.Linear:
    """A ``torch.nn.Linear`` as the authors initialise it (kernel and bias ``U(+-1/sqrt(fan_in))``).

    Not Flax's default (LeCun-normal kernel, std ``1/sqrt(fan_in)``, i.e. sqrt(3) larger): with it
    the query/key logits ``q.k / (tau sqrt D)`` start 3x larger, and at tau = 0.25 some seeds
    collapse (module docstring, "Initialisation")."""
    init = torch_linear_init(fan_in)
    return nnx.Linear(fan_in, fan_out, kernel_init=init, bias_init=init, rngs=rngs)


class _Layer(nnx.Module):
    def __init__(self, cfg: NodeFormerConfig, *, rngs: nnx.Rngs):
        h, d = cfg.heads, cfg.hidden
        self.wq = _linear(d, d * h, rngs)
        self.wk = _linear(d, d * h, rngs)
        self.wv = _linear(d, d * h, rngs)
        self.wo = _linear(d * h, d, rngs)
        self.rb = nnx.Param(jnp.full((cfg.rb_order, h), 0.1))  # sigmoid relational-bias logits
        self.norm = nnx.LayerNorm(d, epsilon=1e-5, rngs=rngs)  # torch.nn.LayerNorm's epsilon


class _Model(nnx.Module):
    def __init__(self, d: int, num_classes: int, cfg: NodeFormerConfig, *, rngs: nnx.Rngs):
        self.inp = _linear(d, cfg.hidden, rngs)
        self.inp_norm = nnx.LayerNorm(cfg.hidden, epsilon=1e-5, rngs=rngs)
        self.layers = nnx.List([_Layer(cfg, rngs=rngs) for _ in range(cfg.n_layers)])
        self.out = _linear(cfg.hidden, num_classes, rngs)


class NodeFormerHost:
    """The GSLHost for NodeFormer (see the module docstring). Build with :func:`build`."""

    name = "nodeformer"

    def __init__(self, cfg: NodeFormerConfig, data: GraphData):
        self.cfg = cfg
        self.num_classes = data.num_classes
        n = data.num_nodes
        self._def, _ = nnx.split(
            nnx.eval_shape(
                lambda: _Model(data.features.shape[1], data.num_classes, cfg, rngs=nnx.Rngs(0))
            )
        )
        # Observed-edge structure (host-side, static): A + I and the patterns of (A + I)^r.
        base = sp.csr_matrix(np.asarray(data.adjacency) != 0, dtype=np.float32)
        base = ((base + sp.eye(n, dtype=np.float32, format="csr")) != 0).astype(np.float32)
        self._edges = base.tocoo()
        self._bias_graphs = []
        power = base
        step = base
        for r in range(cfg.rb_order):
            if r:
                if cfg.rb_powers == "squaring":
                    step = power
                power = ((power @ step) != 0).astype(np.float32)
            coo = power.tocoo()
            deg = np.asarray(power.sum(axis=1)).ravel()
            vals = (coo.data / np.sqrt(deg[coo.row] * deg[coo.col])).astype(np.float32)
            self._bias_graphs.append((coo.row.astype(np.int32), coo.col.astype(np.int32), vals))
        deg0 = np.asarray(base.sum(axis=1)).ravel()
        self._edge_inv_deg = (1.0 / deg0[self._edges.row]).astype(np.float32)

    def init(self, key: jax.Array, data: GraphData) -> HostVars:
        model = _Model(data.features.shape[1], self.num_classes, self.cfg, rngs=nnx.Rngs(key))
        return HostVars(params=nnx.to_pure_dict(nnx.split(model)[1]), state={})

    def optimizer(self) -> optax.GradientTransformation:
        c = self.cfg
        return adam_l2(c.lr, c.weight_decay)

    def _attend(self, layer: _Layer, z, key, train: bool, reweight: EdgeReweight):
        """One NodeFormer layer's message passing: (output [n, hidden], edge log-likelihood)."""
        c = self.cfg
        n = z.shape[0]
        heads = lambda t: t.reshape(n, c.heads, c.hidden).transpose(1, 0, 2)
        scale = 1.0 / jnp.sqrt(c.tau) / c.hidden**0.25
        q, k, v = heads(layer.wq(z)) * scale, heads(layer.wk(z)) * scale, heads(layer.wv(z))
        k_proj, k_gumbel = jax.random.split(key)
        proj = orthogonal_random_features(k_proj, c.num_random_features, c.hidden)
        qf = positive_random_features(q, proj, is_query=True)
        kf = positive_random_features(k, proj, is_query=False)
        gumbel_key = k_gumbel if (train and c.use_gumbel) else None
        gumbel = _gumbel_weights(gumbel_key, (c.heads, n, c.gumbel_samples), c.tau)
        if reweight.enabled or c.attention == "dense":
            p = dense_attention(qf, kf, gumbel)
            p = jax.vmap(lambda a: reweight.dense(a, 0.0))(p)
            out = jnp.einsum("hnj,hjd->hnd", p, v)
        else:
            out = kernel_attention(qf, kf, v, gumbel)
        for r, (rows, cols, vals) in enumerate(self._bias_graphs):
            gate = jax.nn.sigmoid(layer.rb[...][r])  # [H]
            prop = jax.vmap(ops.spmm, in_axes=(None, None, None, 0, None))(rows, cols, vals, v, n)
            out = out + gate[:, None, None] * prop
        out = layer.wo(out.transpose(1, 0, 2).reshape(n, c.heads * c.hidden))
        # Edge regulariser on observed edges (receiver row <- source col), non-Gumbel weights.
        rows, cols = self._edges.row, self._edges.col
        num = jnp.einsum("hem,hem->he", qf[:, rows], kf[:, cols])
        den = jnp.einsum("hnm,hm->hn", qf, kf.sum(axis=1))[:, rows]
        edge_ll = jnp.mean(jnp.log(num / den) * self._edge_inv_deg[None, :])
        return out, edge_ll

    def _forward(self, params, data: GraphData, key, train: bool, reweight: EdgeReweight):
        c = self.cfg
        model = nnx.merge(self._def, params)
        x = ops.normalize_row(data.features) if c.normalize_features else data.features
        keys = jax.random.split(key, 2 * c.n_layers + 1)
        drop = lambda h, k: ops.dropout(h, c.dropout, k if train else None)
        z = model.inp(x)
        z = model.inp_norm(z) if c.use_bn else z
        z = drop(jax.nn.relu(z), keys[0])
        edge_lls = []
        for i, layer in enumerate(model.layers):
            out, ll = self._attend(layer, z, keys[2 * i + 1], train, reweight)
            edge_lls.append(ll)
            z = out + z if c.use_residual else out
            z = layer.norm(z) if c.use_bn else z
            z = jax.nn.relu(z) if c.use_act else z
            z = drop(z, keys[2 * i + 2])
        return model.out(z), jnp.mean(jnp.stack(edge_lls))

    def loss(
        self, params: Any, state: Any, data: GraphData, key: jax.Array, reweight: EdgeReweight
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        logits, edge_ll = self._forward(params, data, key, True, reweight)
        ce = masked_cross_entropy(logits, data.labels, data.train_mask)
        total = ce - self.cfg.edge_loss_weight * edge_ll
        return total, (state, {"ce": ce, "edge_loglik": edge_ll})

    def logits(
        self, params: Any, state: Any, data: GraphData, key: jax.Array, reweight: EdgeReweight
    ) -> jax.Array:
        return self._forward(params, data, key, False, reweight)[0]


def build(cfg: NodeFormerConfig, data: GraphData) -> NodeFormerHost:
    """A :class:`NodeFormerHost` for ``data`` (needs a concrete adjacency: the observed-edge lists
    for the relational bias and the edge regulariser are built on the host)."""
    return NodeFormerHost(cfg, data)
