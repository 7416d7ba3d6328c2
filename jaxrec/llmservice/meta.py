"""Tree meta-models (the optional ``llmservice`` extra: scikit-learn, xgboost) and the search
spaces of every meta-model (the authors' ``res/setting.txt``, spec §2.5).

scikit-learn rejects ``min_samples_split = 1`` (pitfall 6), so the published range 1-20 starts
at 2 here. The paper does not give the ``colsample_bytree`` range; ``U(0.5, 1)`` is used.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxrec.llmservice.cv import RandomizedSearch, Space
from jaxrec.llmservice.meta_jax import KNNRegressor, MLPConfig, MLPRegressor

__all__ = ["SPACES", "SklearnRegressor", "make_meta_model", "tuned"]


def _int(lo: int, hi: int):
    return lambda rng: int(rng.integers(lo, hi + 1))


def _uniform(lo: float, hi: float):
    return lambda rng: float(rng.uniform(lo, hi))


def _choice(*options):
    return lambda rng: options[int(rng.integers(len(options)))]


def _depth_or_none(rng: np.random.Generator) -> int | None:
    return None if rng.random() < 1 / 42 else int(rng.integers(10, 51))  # None or 10..50


SPACES: dict[str, Space] = {
    "knn": {"n_neighbors": _int(1, 5), "weights": _choice("uniform", "distance")},
    "mlp": {"layers": _int(1, 3), "dropout": _uniform(0.0, 0.3)},
    "rf": {
        "n_estimators": _int(50, 300),
        "max_depth": _depth_or_none,
        "min_samples_split": _int(2, 20),
        "min_samples_leaf": _int(1, 20),
        "max_features": _choice("sqrt", "log2"),
    },
    "xgb": {
        "learning_rate": _uniform(0.01, 0.5),
        "max_depth": _int(3, 10),
        "n_estimators": _int(100, 1000),
        "subsample": _choice(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
        "colsample_bytree": _uniform(0.5, 1.0),
        "gamma": _uniform(0.0, 1.0),
        "reg_alpha": _uniform(0.0, 1.0),
        "reg_lambda": _uniform(0.0, 1.0),
    },
}


@dataclasses.dataclass
class SklearnRegressor:
    """A scikit-learn-style regressor (``kind`` "rf" or "xgb") behind ``fit(x, y, tasks)``."""

    kind: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0
    n_jobs: int = 1

    def fit(self, x, y, tasks=None) -> SklearnRegressor:
        if self.kind == "rf":
            try:
                from sklearn.ensemble import RandomForestRegressor
            except ImportError as e:  # pragma: no cover - the extra is missing
                raise ImportError(
                    "RandomForest needs scikit-learn: pip install 'jaxrec[llmservice]'"
                ) from e
            self.model_ = RandomForestRegressor(
                random_state=self.seed, n_jobs=self.n_jobs, **self.params
            )
        elif self.kind == "xgb":
            try:
                from xgboost import XGBRegressor
            except ImportError as e:  # pragma: no cover
                raise ImportError("XGBoost needs xgboost: pip install 'jaxrec[llmservice]'") from e
            self.model_ = XGBRegressor(
                objective="reg:squarederror", random_state=self.seed, n_jobs=self.n_jobs,
                tree_method="hist", **self.params,
            )  # fmt: skip
        else:
            raise ValueError(f"kind must be 'rf' or 'xgb', got {self.kind!r}")
        self.model_.fit(np.asarray(x, np.float32), np.asarray(y, np.float64))
        return self

    def predict(self, x) -> np.ndarray:
        return np.asarray(self.model_.predict(np.asarray(x, np.float32)), np.float64)


def make_meta_model(name: str, seed: int = 0, mlp: MLPConfig | None = None, **params):
    """An untuned meta-model: ``knn`` / ``mlp`` (JAX) or ``rf`` / ``xgb`` (the extra)."""
    if name == "knn":
        return KNNRegressor(**params)
    if name == "mlp":
        return MLPRegressor(dataclasses.replace(mlp or MLPConfig(), seed=seed, **params))
    if name in ("rf", "xgb"):
        return SklearnRegressor(name, params, seed)
    raise ValueError(f"unknown meta-model {name!r}; expected knn, mlp, rf or xgb")


def tuned(name: str, n_iter: int = 300, cv: int = 5, seed: int = 0, mlp: MLPConfig | None = None):
    """:func:`make_meta_model` wrapped in a task-fold :class:`RandomizedSearch` over ``SPACES``."""
    return RandomizedSearch(
        lambda **p: make_meta_model(name, seed, mlp, **p), SPACES[name], n_iter, cv, seed
    )
