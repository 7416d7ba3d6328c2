"""The JAX meta-models: k-NN regression and an MLP (Flax NNX), both on standardised profiles.

k-NN (paper: k = 3; search space ``n_neighbors`` 1-5, ``weights`` uniform / distance):
``y_hat(x) = sum_{i in N_k(x)} w_i y_i / sum w_i`` over the k nearest training rows in Euclidean
distance, ``w_i = 1`` (uniform) or ``1 / d_i`` (distance; rows at distance 0 take all the weight,
as scikit-learn does).

MLP (Fu et al.'s recipe, spec §2.5): ``1-3`` hidden ReLU layers of width 500 with dropout, a
sigmoid output fitted to ``F1 / 100`` with the mean squared error and Adam, early stopping with
patience 7 on the validation L1, the validation rows being whole training tasks (``val_tasks``
of them), the best-validation parameters kept. The step is :func:`jaxrec.train.make_train_step`;
an epoch is one jitted ``lax.scan`` over fixed-size batches (the last padded, weight 0).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxrec import train
from jaxrec.llmservice.cv import task_folds

__all__ = ["KNNRegressor", "MLP", "MLPConfig", "MLPRegressor", "Standardizer", "mlp_loss"]


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-column ``(x - mean) / std`` fitted on training rows (constant columns: std 1)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        std = x.std(0)
        return cls(x.mean(0), np.where(std > 1e-12, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("k", "weights"))
def _knn_predict(xq, xt, yt, *, k: int, weights: str):
    d2 = jnp.sum(xq**2, -1)[:, None] + jnp.sum(xt**2, -1)[None, :] - 2.0 * xq @ xt.T  # [Q, S]
    idx = jax.lax.top_k(-d2, k)[1]
    # exact distances of the k chosen rows (no cancellation: identical rows give 0)
    dist = jnp.sqrt(jnp.sum((xq[:, None, :] - xt[idx]) ** 2, -1))
    y = yt[idx]
    if weights == "uniform":
        return jnp.mean(y, -1)
    exact = dist == 0.0
    w = jnp.where(jnp.any(exact, -1, keepdims=True), exact.astype(jnp.float32), 1.0 / dist)
    return jnp.sum(w * y, -1) / jnp.sum(w, -1)


@dataclasses.dataclass
class KNNRegressor:
    """Brute-force k-NN on standardised inputs (``standardize=False``: raw profiles)."""

    n_neighbors: int = 3
    weights: str = "uniform"
    standardize: bool = True

    def fit(self, x, y, tasks=None) -> KNNRegressor:
        if self.weights not in ("uniform", "distance"):
            raise ValueError(f"weights must be 'uniform' or 'distance', got {self.weights!r}")
        x = np.asarray(x, np.float32)
        if not 1 <= self.n_neighbors <= len(x):
            raise ValueError(f"n_neighbors={self.n_neighbors} with {len(x)} training rows")
        self.scale_ = Standardizer.fit(x) if self.standardize else None
        self.x_ = self._scaled(x)
        self.y_ = jnp.asarray(y, jnp.float32)
        return self

    def _scaled(self, x) -> jax.Array:
        x = np.asarray(x, np.float32)
        return jnp.asarray(x if self.scale_ is None else self.scale_(x))

    def predict(self, x) -> np.ndarray:
        out = _knn_predict(
            self._scaled(x), self.x_, self.y_, k=self.n_neighbors, weights=self.weights
        )
        return np.asarray(out, np.float64)


# ------------------------------------------------------------------------------------ MLP


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """Attributes: hidden (500), layers (1-3), dropout (0-0.3), lr (Adam), batch_size,
    max_epochs, patience (7), val_tasks (training tasks held out for early stopping), seed."""

    hidden: int = 500
    layers: int = 2
    dropout: float = 0.1
    lr: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 100
    patience: int = 7
    val_tasks: int = 2
    seed: int = 0


class MLP(nnx.Module):
    """``x [B, D] -> sigmoid(MLP(x)) [B]`` with ReLU hidden layers and inverted dropout."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, *, rngs: nnx.Rngs):
        dims = [in_dim] + [hidden] * layers
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims, dims[1:])])
        self.out = nnx.Linear(dims[-1], 1, rngs=rngs)
        self.dropout = dropout

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        for i, layer in enumerate(self.hidden):
            x = jax.nn.relu(layer(x))
            if key is not None and self.dropout > 0:
                keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1 - self.dropout, x.shape)
                x = jnp.where(keep, x / (1 - self.dropout), 0.0)
        return jax.nn.sigmoid(self.out(x)[:, 0])


def mlp_loss(model, batch, *, key, context, extra):
    """Weighted MSE between ``model(x)`` and ``y01 = F1 / 100`` (weight 0 on padding rows)."""
    pred = model(batch["x"], key)
    w = batch["w"]
    mse = jnp.sum(w * (pred - batch["y01"]) ** 2) / jnp.maximum(jnp.sum(w), 1.0)
    return mse, {"mse": mse}


def _batches(x, y, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``[nb, B, ...]`` shuffled batches; the last padded with weight-0 rows."""
    order = rng.permutation(len(x))
    nb = -(-len(x) // batch_size)
    pad = nb * batch_size - len(x)
    idx = np.concatenate([order, order[:pad]])
    w = np.concatenate([np.ones(len(x)), np.zeros(pad)]).astype(np.float32)
    return {
        "x": x[idx].reshape(nb, batch_size, -1),
        "y01": (y[idx] / 100.0).astype(np.float32).reshape(nb, batch_size),
        "w": w.reshape(nb, batch_size),
    }


_apply = jax.jit(lambda model, x: model(x))


def _model_fn(in_dim: int, c: MLPConfig):
    return lambda rngs: MLP(in_dim, c.hidden, c.layers, c.dropout, rngs=rngs)


def _init_state(in_dim: int, c: MLPConfig) -> train.TrainState:
    return train.init_train_state(_model_fn(in_dim, c), optax.adam(c.lr), c.seed)[1]


@functools.lru_cache(maxsize=16)
def _programs(in_dim: int, c: MLPConfig):
    """``(graphdef, step, epoch, val_l1)``, built once per input size and recipe so that the
    folds of a cross-validation reuse the compiled epoch."""
    tx = optax.adam(c.lr)
    graphdef = train.split_model(nnx.eval_shape(lambda: _model_fn(in_dim, c)(nnx.Rngs(0))))[0]
    step = train.make_train_step(graphdef, tx, mlp_loss)

    @jax.jit
    def epoch(state, batches, key):
        return jax.lax.scan(lambda s, b: step(s, b, key, None), state, batches)[0]

    @jax.jit
    def val_l1(params, model_state, xv, yv):
        pred = nnx.merge(graphdef, params, model_state)(xv) * 100.0
        return jnp.mean(jnp.abs(pred - yv))

    return graphdef, step, epoch, val_l1


@dataclasses.dataclass
class MLPRegressor:
    """The MLP meta-model behind the ``fit / predict`` interface (see the module docstring)."""

    cfg: MLPConfig = MLPConfig()

    def build(self, in_dim: int):
        """``(graphdef, state, train_step)`` of a fresh model (used by the device test)."""
        graphdef, step, _, _ = _programs(in_dim, self.cfg)
        return graphdef, _init_state(in_dim, self.cfg), step

    def fit(self, x, y, tasks) -> MLPRegressor:
        c = self.cfg
        x, y, tasks = np.asarray(x, np.float32), np.asarray(y, np.float64), np.asarray(tasks)
        n_tasks = np.unique(tasks).size
        if n_tasks < 2:
            raise ValueError("the MLP needs at least 2 training tasks (one for validation)")
        fold = task_folds(tasks, max(2, n_tasks // max(1, c.val_tasks)), c.seed)[0]
        self.scale_ = Standardizer.fit(x[fold.train])
        xt, yt = self.scale_(x[fold.train]), y[fold.train]
        xv, yv = self.scale_(x[fold.test]), y[fold.test]
        graphdef, _, epoch, val_l1 = _programs(x.shape[1], c)
        state = _init_state(x.shape[1], c)
        rng = np.random.default_rng(c.seed)
        key = jax.random.key(c.seed)
        best, best_params, bad = np.inf, state.params, 0
        for e in range(c.max_epochs):
            state = epoch(state, _batches(xt, yt, c.batch_size, rng), jax.random.fold_in(key, e))
            l1 = float(val_l1(state.params, state.model_state, xv, yv))
            if l1 < best:
                best, best_params, bad = l1, state.params, 0
            else:
                bad += 1
                if bad >= c.patience:
                    break
        self.model_ = nnx.merge(graphdef, best_params, state.model_state)
        self.val_l1_, self.epochs_ = best, e + 1
        return self

    def predict(self, x) -> np.ndarray:
        pred = _apply(self.model_, jnp.asarray(self.scale_(np.asarray(x))))
        return np.asarray(pred, np.float64) * 100.0
