"""PROSE (Wang et al., KDD 2023, progressive graph structure learning) as a GSL host, stage-free.

Only the stage-free path (``stage_ks = []``) is implemented; the progressive hierarchical stages
(sigmoid-scored top-k node selection and re-fused anchor similarities) are not. Note: the UnGSL
authors' ``PROSEUnGSL/main.py`` sets ``stage_ks = [split_prop] * split_deep`` = ``[0.7]`` after
parsing unless ``split_deep`` or ``split_prop`` is 0, so their logged Pubmed run may have used one
stage even though ``-stage_ks`` defaults to ``[]``.

One epoch (authors' anchor variant, ``PROSEUnGSL``):

1. Anchors: ``s`` node ids drawn without replacement from the step key (resampled every epoch).
2. Node-anchor graph ``R`` [n, s]: multi-head weighted cosine
   ``R_ia = (1/m) sum_p cos(w_p * x_i, w_p * x_a)`` (m = 6 heads), entries ``<= eps`` set to 0.
3. UnGSL on ``R`` (all entries count as edges): confidence of the anchor column ``c[anchor_a]``,
   threshold of the node row ``tau_i``.
4. Classifier (2 anchor-GCN layers, no bias, ReLU, dropout): every layer fuses node-anchor-node
   message passing with the original graph,
   ``H' = r * rownorm(R) (colnorm(R)^T (H W)) + (1 - r) * A_hat (H W)`` (r = emb_fusion_ratio
   0.35, ``A_hat = D^{-1/2}(A + I)D^{-1/2}``).
5. Loss: CE on train nodes + degree loss on the anchor graph ``B = colnorm(R)^T R`` [s, s]:
   ``-w (1/s) sum_a log(sum_b B_ab + 1e-10)`` (w = 0.03) + ``mi_ratio`` x the head-tail mutual
   information term: the symmetric NT-Xent (:mod:`jaxrec.graph.contrastive`, chunks of
   ``contrast_batch_size`` nodes) between a GCN encoder view on ``A_hat`` and an anchor-message-
   passing view on ``R``, each with feature-column masking and (rescaled) entry dropout.
6. Three Adams: contrastive model (lr_cl), graph learner (lr_gsl, L2 5e-4), classifier (lr_cls,
   L2 5e-4); UnGSL's tau gets its own from the trainer.

Evaluation (``logits``) uses a node-anchor graph from freshly drawn anchors (``key``) and the
classifier without dropout. The authors select the epoch by ``val_loss <= best and val_acc >=
best`` with patience 100; the shared trainer's best-validation-accuracy rule is used instead.
Defaults follow the authors' ``main.py`` argparse defaults (500 epochs); PROSE has no OpenGSL
config, so ``configs/gsl/prose.py`` uses these defaults on every dataset. The UnGSL defaults are
the authors' Pubmed values (``config/PROSEUnGSLPubmedBestParams.json``) with the host values they
re-tuned jointly (applied to the UnGSL run only).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxrec.graph import ops
from jaxrec.graph.contrastive import feature_column_mask, ntxent_per_node
from jaxrec.graph.data import GraphData
from jaxrec.graph.host import HostVars
from jaxrec.graph.hosts._common import UnGSLDefaults, adam_l2, masked_cross_entropy
from jaxrec.graph.ungsl import EdgeReweight
from jaxrec.models.gcn import GCNLayer

__all__ = [
    "ProseConfig",
    "ProseHost",
    "anchor_message_passing",
    "build",
    "degree_loss",
    "sample_anchors",
    "ungsl_defaults",
]

_EOS = 1e-10


@dataclasses.dataclass(frozen=True)
class ProseConfig:
    """PROSE hyperparameters (defaults: the authors' ``PROSEUnGSL/main.py``, stage-free)."""

    epochs: int = 500
    eval_every: int = 1
    patience: int = 100
    anchor_num: int = 700
    head_num: int = 6
    epsilon: float = 0.1
    anchor_weight: float = 0.03
    emb_fusion_ratio: float = 0.35
    lr_gsl: float = 0.01
    w_decay_gsl: float = 5e-4
    head_tail_mi: bool = True
    mi_ratio: float = 0.1
    maskfeat_rate_learner: float = 0.2
    maskfeat_rate_anchor: float = 0.2
    dropedge_rate: float = 0.25
    lr_cl: float = 0.01
    w_decay_cl: float = 0.0
    hidden_dim: int = 64
    rep_dim: int = 32
    proj_dim: int = 16
    dropout: float = 0.5
    contrast_batch_size: int = 1024
    temperature: float = 0.2
    lr_cls: float = 0.01
    w_decay_cls: float = 5e-4
    hidden_dim_cls: int = 64
    dropout_cls: float = 0.5
    normalize_features: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "eval_every", "anchor_num", "head_num", "hidden_dim_cls"):
            if getattr(self, name) < 1:
                raise ValueError(f"ProseConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.emb_fusion_ratio <= 1.0:
            raise ValueError(f"emb_fusion_ratio must be in [0, 1], got {self.emb_fusion_ratio=}")
        if self.contrast_batch_size < 0:
            raise ValueError(f"contrast_batch_size must be >= 0, got {self.contrast_batch_size=}")


# The UnGSL authors' PROSE Pubmed best parameters (config/PROSEUnGSLPubmedBestParams.json).
_PUBMED_RETUNED = (
    ("lr_cl", 7.188933126003108e-4), ("lr_gsl", 0.010555096909144565),
    ("epsilon", 0.13459373361867466), ("maskfeat_rate_learner", 0.4),
    ("maskfeat_rate_anchor", 0.6), ("dropedge_rate", 0.6), ("mi_ratio", 0.05),
)  # fmt: skip


def ungsl_defaults(dataset: str) -> UnGSLDefaults:
    """The authors' PROSE Pubmed values (the only ones shipped) for every dataset, with the host
    values they re-tuned jointly; all node-anchor entries count as edges."""
    del dataset
    return UnGSLDefaults(lr=0.017219416027185522, beta=0.22719487786571546,
                         tau_init=0.6697752238267177, edge_threshold=float("-inf"),
                         retuned_host=_PUBMED_RETUNED)  # fmt: skip


def sample_anchors(key: jax.Array, num_nodes: int, num_anchors: int) -> jax.Array:
    """``min(num_anchors, n)`` distinct node ids [s] (``torch.randperm(n)[:s]``)."""
    return jax.random.permutation(key, num_nodes)[: min(num_anchors, num_nodes)]


def anchor_message_passing(node_anchor: jax.Array, h: jax.Array) -> jax.Array:
    """Node -> anchor -> node propagation ``rownorm(R) (colnorm(R)^T h)`` for ``R`` [n, s]."""
    to_anchor = ops.normalize_row(node_anchor.T)  # colnorm(R)^T, [s, n]
    return ops.normalize_row(node_anchor) @ (to_anchor @ h)


def degree_loss(node_anchor: jax.Array, weight: float) -> jax.Array:
    """IDGL/PROSE degree loss on the anchor graph ``B = colnorm(R)^T R`` [s, s]."""
    b = ops.normalize_row(node_anchor.T) @ node_anchor
    return -weight * jnp.sum(jnp.log(b.sum(axis=1) + _EOS)) / b.shape[0]


def _propagate(layer: GCNLayer, h: jax.Array, adj: jax.Array, node_anchor: jax.Array | None):
    hw = layer.transform(h)
    return anchor_message_passing(node_anchor, hw) if node_anchor is not None else adj @ hw


class _Model(nnx.Module):
    """Learner weights, anchor-GCN classifier and the head-tail contrastive model."""

    def __init__(self, d: int, num_classes: int, cfg: ProseConfig, *, rngs: nnx.Rngs):
        xavier = nnx.initializers.xavier_uniform()
        self.learner = nnx.Param(xavier(rngs.params(), (cfg.head_num, d)))
        self.cls1 = GCNLayer(d, cfg.hidden_dim_cls, bias=False, rngs=rngs)
        self.cls2 = GCNLayer(cfg.hidden_dim_cls, num_classes, bias=False, rngs=rngs)
        self.gcl1 = GCNLayer(d, cfg.hidden_dim, bias=False, rngs=rngs)
        self.gcl2 = GCNLayer(cfg.hidden_dim, cfg.rep_dim, bias=False, rngs=rngs)
        self.proj1 = nnx.Linear(cfg.rep_dim, cfg.proj_dim, rngs=rngs)
        self.proj2 = nnx.Linear(cfg.proj_dim, cfg.proj_dim, rngs=rngs)


class ProseHost:
    """The GSLHost for stage-free PROSE (see the module docstring). Build with :func:`build`."""

    name = "prose"

    def __init__(self, cfg: ProseConfig, num_features: int, num_classes: int):
        self.cfg = cfg
        self.num_classes = num_classes
        self._def, _ = nnx.split(
            nnx.eval_shape(lambda: _Model(num_features, num_classes, cfg, rngs=nnx.Rngs(0)))
        )

    def init(self, key: jax.Array, data: GraphData) -> HostVars:
        _, state = nnx.split(_Model(data.features.shape[1], self.num_classes, self.cfg,
                                    rngs=nnx.Rngs(key)))  # fmt: skip
        adj_hat = ops.normalize_symmetric(ops.add_self_loops(data.adjacency))
        return HostVars(params=nnx.to_pure_dict(state), state={"adj_hat": adj_hat})

    def optimizer(self) -> optax.GradientTransformation:
        c = self.cfg

        groups = {"learner": "gsl", "cls1": "cls", "cls2": "cls"}
        return optax.multi_transform(
            {"gsl": adam_l2(c.lr_gsl, c.w_decay_gsl), "cls": adam_l2(c.lr_cls, c.w_decay_cls),
             "cl": adam_l2(c.lr_cl, c.w_decay_cl)},
            lambda params: {k: jax.tree.map(lambda _, k=k: groups.get(k, "cl"), v)
                            for k, v in params.items()},
        )  # fmt: skip

    def _features(self, data: GraphData) -> jax.Array:
        return ops.normalize_row(data.features) if self.cfg.normalize_features else data.features

    def node_anchor_graph(
        self, params: Any, data: GraphData, key: jax.Array, reweight: EdgeReweight
    ) -> tuple[jax.Array, jax.Array]:
        """``(R~ [n, s], anchor ids [s])``: epsilon-thresholded weighted cosine, then UnGSL with
        the anchors' confidences as columns and every entry an edge."""
        x = self._features(data)
        anchors = sample_anchors(key, x.shape[0], self.cfg.anchor_num)
        r = ops.weighted_cosine(x, params["learner"], x[anchors])
        r = ops.epsilon_neighbourhood(r, self.cfg.epsilon)
        if reweight.enabled:
            column_reweight = dataclasses.replace(reweight, confidence=reweight.confidence[anchors])
            r = column_reweight.dense(r, -jnp.inf)
        return r, anchors

    def _classify(self, model: _Model, x, adj_hat, r, key: jax.Array | None) -> jax.Array:
        f = self.cfg.emb_fusion_ratio
        h = f * _propagate(model.cls1, x, adj_hat, r) + (1 - f) * _propagate(
            model.cls1, x, adj_hat, None
        )
        h = ops.dropout(jax.nn.relu(h), self.cfg.dropout_cls, key)
        return f * _propagate(model.cls2, h, adj_hat, r) + (1 - f) * _propagate(
            model.cls2, h, adj_hat, None
        )

    def _contrast_view(self, model: _Model, x, adj, r, key: jax.Array) -> jax.Array:
        c = self.cfg
        k_edge, k_drop = jax.random.split(key)
        if r is None:
            adj = ops.dropout_edges(adj, c.dropedge_rate, k_edge, rescale=True)
        else:
            r = ops.dropout_edges(r, c.dropedge_rate, k_edge, rescale=True)
        h = ops.dropout(jax.nn.relu(_propagate(model.gcl1, x, adj, r)), c.dropout, k_drop)
        h = _propagate(model.gcl2, h, adj, r)
        return model.proj2(jax.nn.relu(model.proj1(h)))

    def _mi_loss(self, model: _Model, x, adj_hat, r, key: jax.Array) -> jax.Array:
        c = self.cfg
        keys = jax.random.split(key, 4)
        x1 = x * feature_column_mask(keys[0], x.shape[1], c.maskfeat_rate_anchor)[None, :]
        x2 = x * feature_column_mask(keys[1], x.shape[1], c.maskfeat_rate_learner)[None, :]
        z1 = self._contrast_view(model, x1, adj_hat, None, keys[2])
        z2 = self._contrast_view(model, x2, adj_hat, r, keys[3])
        n = x.shape[0]
        groups = jnp.arange(n) // c.contrast_batch_size if c.contrast_batch_size else None
        return ntxent_per_node(z1, z2, c.temperature, groups).mean()

    def loss(
        self, params: Any, state: Any, data: GraphData, key: jax.Array, reweight: EdgeReweight
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        c = self.cfg
        k_anchor, k_cls, k_mi = jax.random.split(key, 3)
        model = nnx.merge(self._def, params)
        x = self._features(data)
        r, _ = self.node_anchor_graph(params, data, k_anchor, reweight)
        logits = self._classify(model, x, state["adj_hat"], r, k_cls)
        ce = masked_cross_entropy(logits, data.labels, data.train_mask)
        deg = degree_loss(r, c.anchor_weight)
        mi = self._mi_loss(model, x, state["adj_hat"], r, k_mi) if c.head_tail_mi else jnp.zeros(())
        total = ce + deg + c.mi_ratio * mi
        return total, (state, {"ce": ce, "degree_loss": deg, "mi_loss": mi})

    def logits(
        self, params: Any, state: Any, data: GraphData, key: jax.Array, reweight: EdgeReweight
    ) -> jax.Array:
        model = nnx.merge(self._def, params)
        r, _ = self.node_anchor_graph(params, data, key, reweight)
        return self._classify(model, self._features(data), state["adj_hat"], r, None)


def build(cfg: ProseConfig, data: GraphData) -> ProseHost:
    """A :class:`ProseHost` for ``data``'s feature size and class count."""
    return ProseHost(cfg, data.features.shape[1], data.num_classes)
