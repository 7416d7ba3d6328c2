"""SLAPS (Fatemi, El Asri, Kazemi, NeurIPS 2021) as a GSL host, following OpenGSL v0.0.6
(``slaps.py``, ``SLAPSSolver.learn_nc``) with the UnGSL authors' patch (``SLAPSUnGSL/``).

Learned graph (every step, ``x`` [n, d] the raw binary features)::

    E = MLP(x)                                   2 layers, hidden ⌊√(d·mlp_h)⌋, ReLU between
    E = E / ‖E‖ (rows)
    S = φ(top_{k+1}(E Eᵀ))                       per row, self included; φ = ReLU or elu(i·s−i)+1
    S = D^{-1/2} ((S + Sᵀ)/2) D^{-1/2}           row degrees, no self-loops added
    S̃ = UnGSL(S)                                 the one graph both GCNs use (README, "Hosts")

Self-supervision (DAE): ``x_m = x ⊙ (1 − M)`` with ``M ~ Bernoulli`` of rate ``1/r`` on the ones
of ``x`` and ``(n_ones / n_zeros) · nr / r`` on its zeros (binary features; continuous features:
``1/r`` everywhere); ``GCN_DAE(x_m, dropout(S̃, 0.25))`` reconstructs ``x``; ``L_DAE`` is the
BCE-with-logits averaged over the masked entries. Classifier: ``GCN_C(x, dropout(S̃, 0.5))``.
Loss ``CE + λ L_DAE``; for the first ``epochs // epoch_d − 1`` steps only ``λ L_DAE`` (OpenGSL's
``epoch < n_epochs // epoch_d`` with epochs counted from 1), driven by ``state["epoch"]``.
Evaluation: ``GCN_C(x, S̃)`` without dropout.

Optimiser (OpenGSL's one Adam with two parameter groups): classifier lr 1e-2 with L2 weight decay
5e-4, generator + DAE lr_dae 1e-3 without; ``optax.multi_transform``. During the warm-up the
classifier receives no gradient *and* no update: torch skips parameters whose ``.grad`` is None,
so neither weight decay nor Adam's step count touch it (:func:`frozen_until` reproduces this).

Generator initialisation (OpenGSL ``MLP.mlp_knn_init``): OpenGSL passes ``mlp_h = d`` (the number
of features) whatever the config says, so input and output sizes agree and both layers get
*identity* weights (biases keep ``torch.nn.Linear``'s default) — the paper's MSE pre-fit to a
kNN graph is skipped on every dataset. That is the default here (``mlp_h=None``). With another
``mlp_h`` the pre-fit runs inside :meth:`SLAPSHost.init`: ``mlp_epochs − 1`` Adam(0.01) steps of
``Σ (φ(top_{k+1}(E Eᵀ)) − kNN_k(x))²`` with ``kNN_k(x)`` the top-k cosine similarities of ``x``
(values, self included; OpenGSL's ``KNN`` transform).

Dense form: the learned graph is kept as a dense [n, n] matrix (Cora/Citeseer size), which keeps
OpenGSL's semantics exactly (the elu non-linearity fills the non-top-k entries with
``elu(−i)+1``; torch's dropout acts on entries of the coalesced matrix). The authors' sparse UnGSL
variant is applied as ``reweight.dense`` on the non-zero pattern (numerically identical,
README "Quirks kept" 4).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxrec.graph import ops
from jaxrec.graph.data import GraphData
from jaxrec.graph.host import HostVars
from jaxrec.graph.hosts._common import UnGSLDefaults, adam_l2, masked_cross_entropy
from jaxrec.graph.ungsl import EdgeReweight
from jaxrec.models.gcn import GCN

__all__ = ["SLAPSConfig", "SLAPSHost", "build", "dae_mask", "frozen_until", "ungsl_defaults"]


@dataclasses.dataclass(frozen=True)
class SLAPSConfig:
    """SLAPS hyperparameters (OpenGSL ``slaps_<dataset>.yaml`` names in brackets); defaults:
    OpenGSL v0.0.6 ``slaps_cora.yaml`` (other datasets: ``configs/gsl/slaps.py``).

    Attributes:
      k: neighbours of the generator's kNN [k]. i: slope of the elu non-linearity [i].
      non_linearity: "relu" or "elu" [non_linearity].
      mlp_h: generator output size; None = d, OpenGSL's effective value (identity init).
      mlp_epochs: pre-fit epochs when ``mlp_h != d`` [mlp_epochs]. mlp_act: "relu" or "tanh".
      hidden_adj: DAE GCN hidden size [hidden_adj]. hidden: classifier hidden size [hidden].
      dropout1, dropout_adj1: DAE feature / edge dropout. dropout2, dropout_adj2: classifier's.
      lr, weight_decay: classifier Adam. lr_dae, weight_decay_dae: generator + DAE Adam.
      epochs: training epochs [n_epochs]; epoch_d: warm-up is ``epochs // epoch_d − 1`` steps.
      eval_every, patience: validation every epoch, no early stopping (OpenGSL's SLAPS solver).
      lamda: weight λ of the DAE loss. ratio, nr: masking r and nr [ratio, nr].
      feat_type: "binary" or "continuous" masking [dataset.feat_type].
      normalize_features: row-normalise features [dataset.feat_norm] (False for SLAPS).
    """

    k: int = 20
    i: float = 6.0
    non_linearity: str = "relu"
    mlp_h: int | None = None
    mlp_epochs: int = 100
    mlp_act: str = "relu"
    hidden_adj: int = 512
    hidden: int = 32
    dropout1: float = 0.5
    dropout2: float = 0.5
    dropout_adj1: float = 0.25
    dropout_adj2: float = 0.5
    lr: float = 1e-2
    lr_dae: float = 1e-3
    weight_decay: float = 5e-4
    weight_decay_dae: float = 0.0
    epochs: int = 2000
    eval_every: int = 1
    patience: int = 0
    epoch_d: int = 5
    lamda: float = 10.0
    ratio: float = 10.0
    nr: float = 5.0
    feat_type: str = "binary"
    normalize_features: bool = False

    def __post_init__(self) -> None:
        if self.non_linearity not in ("relu", "elu"):
            raise ValueError(f"SLAPSConfig.non_linearity must be relu or elu: {self.non_linearity}")
        if self.mlp_act not in ("relu", "tanh"):
            raise ValueError(f"SLAPSConfig.mlp_act must be relu or tanh, got {self.mlp_act!r}")
        if self.feat_type not in ("binary", "continuous"):
            raise ValueError(f"SLAPSConfig.feat_type must be binary/continuous: {self.feat_type}")
        for name in ("dropout1", "dropout2", "dropout_adj1", "dropout_adj2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"SLAPSConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.k < 1 or self.epochs < 1 or self.epoch_d < 1 or self.ratio <= 1:
            raise ValueError(
                f"SLAPSConfig needs k, epochs, epoch_d >= 1 and ratio > 1, got {self.k=}, "
                f"{self.epochs=}, {self.epoch_d=}, {self.ratio=}"
            )

    @property
    def warmup_steps(self) -> int:
        """DAE-only steps: OpenGSL trains CE from epoch ``epochs // epoch_d`` (1-based) on."""
        return max(self.epochs // self.epoch_d - 1, 0)


def ungsl_defaults(dataset: str) -> UnGSLDefaults:
    """``config/SLAPSUnGSLRomanEmpireBestParams.json`` for roman-empire (with its re-tuned lr and
    lr_dae); the suggested starting point elsewhere. Sparse form in the authors' patch."""
    if dataset == "roman-empire":
        return UnGSLDefaults(
            beta=0.774,
            tau_init=0.971,
            lr=2.2e-3,
            form="sparse",
            retuned_host=(("lr", 0.0987), ("lr_dae", 1.1e-4)),
        )
    return UnGSLDefaults(form="sparse")


def dae_mask(
    features: jax.Array, key: jax.Array, ratio: float, nr: float, feat_type: str = "binary"
) -> jax.Array:
    """SLAPS's DAE mask [n, d] (1 = masked). Binary: ones of ``features`` masked with probability
    ``1/ratio``, zeros with ``(n_ones / n_zeros) · nr / ratio``; continuous: ``1/ratio``."""
    if feat_type == "continuous":
        return jax.random.bernoulli(key, 1.0 / ratio, features.shape).astype(features.dtype)
    ones = features > 0
    n_ones = jnp.sum(ones)
    n_zeros = features.size - n_ones
    p_zero = n_ones / jnp.maximum(n_zeros, 1) / ratio * nr
    probs = jnp.where(ones, 1.0 / ratio, p_zero)
    return jax.random.bernoulli(key, probs).astype(features.dtype)


class _FrozenState(NamedTuple):
    count: jax.Array
    inner: Any


def frozen_until(inner: optax.GradientTransformation, start: int) -> optax.GradientTransformation:
    """``inner`` that outputs zero updates and leaves its own state untouched for the first
    ``start`` steps (torch's Adam skipping parameters without a gradient)."""

    def init(params):
        return _FrozenState(jnp.zeros((), jnp.int32), inner.init(params))

    def update(updates, state, params=None):
        new_updates, new_inner = inner.update(updates, state.inner, params)
        active = state.count >= start
        updates = jax.tree.map(lambda u: jnp.where(active, u, jnp.zeros_like(u)), new_updates)
        inner_state = jax.tree.map(lambda a, b: jnp.where(active, a, b), new_inner, state.inner)
        return updates, _FrozenState(state.count + 1, inner_state)

    return optax.GradientTransformation(init, update)


def _torch_linear(key: jax.Array, fan_in: int, fan_out: int) -> tuple[jax.Array, jax.Array]:
    bound = 1.0 / math.sqrt(fan_in)
    kw, kb = jax.random.split(key)
    return (
        jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound),
        jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound),
    )


class _Generator(nnx.Module):
    """OpenGSL's 2-layer ``MLP`` graph generator (weights stored [in, out])."""

    def __init__(self, d: int, mlp_h: int, rngs: nnx.Rngs):
        hidden = math.floor(math.sqrt(d * mlp_h))
        w1, b1 = _torch_linear(rngs.params(), d, hidden)
        w2, b2 = _torch_linear(rngs.params(), hidden, mlp_h)
        if mlp_h == d:  # OpenGSL "MLP full": identity weights, default biases
            w1, w2 = jnp.eye(d), jnp.eye(d)
        self.w1, self.b1 = nnx.Param(w1), nnx.Param(b1)
        self.w2, self.b2 = nnx.Param(w2), nnx.Param(b2)


class _SLAPSModel(nnx.Module):
    def __init__(self, d: int, num_classes: int, cfg: SLAPSConfig, rngs: nnx.Rngs):
        self.generator = _Generator(d, cfg.mlp_h or d, rngs)
        self.dae = GCN(d, cfg.hidden_adj, d, dropout=cfg.dropout1, rngs=rngs)
        self.classifier = GCN(d, cfg.hidden, num_classes, dropout=cfg.dropout2, rngs=rngs)


def _gcn(gcn: GCN, x: jax.Array, adj: jax.Array, rate: float, key: jax.Array | None):
    """OpenGSL ``GCNEncoder``: ``A H W + b`` per layer, ReLU and dropout between layers. Each
    product is ordered so the [n, n] matrix meets the narrower of H and H W (same result)."""
    keys = jax.random.split(key, len(gcn.layers)) if key is not None else None
    h = x
    for i, layer in enumerate(gcn.layers):
        w = layer.kernel[...]
        h = adj @ (h @ w) if w.shape[1] <= w.shape[0] else (adj @ h) @ w
        h = h + layer.bias[...][None, :]
        if i < len(gcn.layers) - 1:
            h = jax.nn.relu(h)
            if keys is not None and rate > 0:
                h = ops.dropout_edges(h, rate, keys[i], rescale=True)
    return h


def _group_labels(params: Any) -> Any:
    """ "classifier" for leaves under a ``classifier`` key, "dae" (generator + DAE) otherwise; by
    path, so it also works when an outer ``multi_transform`` (the trainer's tau) nests the tree."""

    def label(path, _):
        names = {getattr(p, "key", None) for p in path}
        return "classifier" if "classifier" in names else "dae"

    return jax.tree_util.tree_map_with_path(label, params)


class SLAPSHost:
    """SLAPS implementing :class:`jaxrec.graph.host.GSLHost`.

    params: ``{"generator", "dae", "classifier"}``; state: ``{"epoch": int32}`` (steps taken).
    """

    name = "slaps"

    def __init__(self, config: SLAPSConfig, num_features: int, num_classes: int):
        self.config = config
        self.num_features = num_features
        self.num_classes = num_classes
        abstract = nnx.eval_shape(
            lambda: _SLAPSModel(num_features, num_classes, config, nnx.Rngs(0))
        )
        self._graphdef = nnx.graphdef(abstract)

    # -- the learned graph -------------------------------------------------------------------
    def _similarities(self, gen: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        """``φ(top_{k+1}(E Eᵀ))`` [n, n] of the generator ``gen`` (OpenGSL ``MLP.forward``)."""
        act = jax.nn.relu if self.config.mlp_act == "relu" else jnp.tanh
        e = act(x @ gen["w1"] + gen["b1"][None, :]) @ gen["w2"] + gen["b2"][None, :]
        e = e / jnp.sqrt(jnp.maximum(jnp.sum(e * e, axis=1, keepdims=True), 1e-24))
        s = ops.top_k_rows(ops.inner_product(e), self.config.k + 1)
        if self.config.non_linearity == "relu":
            return jax.nn.relu(s)
        i = self.config.i
        return jax.nn.elu(s * i - i) + 1.0

    def learned_graph(self, params: Any, data: GraphData, reweight: EdgeReweight) -> jax.Array:
        """The graph both GCNs use: ``UnGSL(D^{-1/2} ((S+Sᵀ)/2) D^{-1/2})`` [n, n]."""
        s = self._similarities(params["generator"], data.features)
        s = ops.normalize_symmetric(ops.symmetrize(s, "mean"))
        return reweight.dense(s)

    # -- GSLHost ------------------------------------------------------------------------------
    def init(self, key: jax.Array, data: GraphData) -> HostVars:
        if data.features.shape[1] != self.num_features or data.num_classes != self.num_classes:
            raise ValueError(
                f"SLAPS host built for d={self.num_features}, C={self.num_classes}; data has "
                f"d={data.features.shape[1]}, C={data.num_classes}"
            )
        model = _SLAPSModel(self.num_features, self.num_classes, self.config, nnx.Rngs(key))
        params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
        if (self.config.mlp_h or self.num_features) != self.num_features:
            params["generator"] = self._prefit_generator(params["generator"], data.features)
        return HostVars(params=params, state={"epoch": jnp.zeros((), jnp.int32)})

    def _prefit_generator(self, gen: dict[str, jax.Array], x: jax.Array) -> dict[str, jax.Array]:
        """OpenGSL ``mlp_knn_init``: ``mlp_epochs − 1`` Adam(0.01) steps of the summed squared
        error between the generator's similarities and the top-k cosine similarities of x."""
        target = ops.top_k_rows(ops.cosine_similarity(x), self.config.k)
        opt = adam_l2(0.01)

        def step(carry, _):
            g, opt_state = carry
            grads = jax.grad(lambda p: jnp.sum((self._similarities(p, x) - target) ** 2))(g)
            updates, opt_state = opt.update(grads, opt_state, g)
            return (optax.apply_updates(g, updates), opt_state), None

        (gen, _), _ = jax.lax.scan(
            step, (gen, opt.init(gen)), None, length=max(self.config.mlp_epochs - 1, 0)
        )
        return gen

    def optimizer(self) -> optax.GradientTransformation:
        c = self.config
        classifier = adam_l2(c.lr, c.weight_decay)
        dae = adam_l2(c.lr_dae, c.weight_decay_dae)
        return optax.multi_transform(
            {"classifier": frozen_until(classifier, c.warmup_steps), "dae": dae},
            _group_labels,
        )

    def loss(self, params, state, data, key, reweight):
        c = self.config
        k_mask, k_dae_adj, k_dae, k_adj, k_clf = jax.random.split(key, 5)
        model = nnx.merge(self._graphdef, params)
        adj = self.learned_graph(params, data, reweight)
        x = data.features

        mask = dae_mask(x, k_mask, c.ratio, c.nr, c.feat_type)
        dae_adj = ops.dropout_edges(adj, c.dropout_adj1, k_dae_adj, rescale=True)
        recon = _gcn(model.dae, x * (1.0 - mask), dae_adj, c.dropout1, k_dae)
        bce = optax.sigmoid_binary_cross_entropy(recon, x)
        loss_dae = jnp.sum(bce * mask) / jnp.maximum(jnp.sum(mask), 1.0)

        clf_adj = ops.dropout_edges(adj, c.dropout_adj2, k_adj, rescale=True)
        logits = _gcn(model.classifier, x, clf_adj, c.dropout2, k_clf)
        ce = masked_cross_entropy(logits, data.labels, data.train_mask)
        warm = state["epoch"] < c.warmup_steps
        loss = c.lamda * loss_dae + jnp.where(warm, 0.0, ce)
        metrics = {"loss_dae": loss_dae, "ce": ce, "warmup": warm.astype(jnp.float32)}
        return loss, ({"epoch": state["epoch"] + 1}, metrics)

    def logits(self, params, state, data, key, reweight):
        del key, state
        model = nnx.merge(self._graphdef, params)
        adj = self.learned_graph(params, data, reweight)
        return _gcn(model.classifier, data.features, adj, 0.0, None)


def build(config: SLAPSConfig, data: GraphData) -> SLAPSHost:
    """Registry entry point: the host for ``data``'s feature and class counts."""
    return SLAPSHost(config, data.features.shape[1], data.num_classes)
