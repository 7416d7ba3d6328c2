"""Cross-validation over tasks, never over settings (spec §3, pitfall 5), and randomized search.

Every split here is built from the per-setting task labels alone: :func:`task_folds` partitions
the distinct tasks, and a :class:`Fold` refuses to exist when a task has settings on both sides.
No function accepts row indices chosen elsewhere, so a leaking split cannot be expressed.

Estimators share one interface: ``fit(X, y, tasks) -> self`` and ``predict(X) -> y_hat`` with
``y`` the setting's F1 in points (0-100) and ``tasks [S]`` the task label of each row (estimators
that tune or early-stop split their own training rows by task with the same helpers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

__all__ = ["Estimator", "Fold", "RandomizedSearch", "cross_validate", "task_folds"]


class Estimator(Protocol):
    def fit(self, x: np.ndarray, y: np.ndarray, tasks: np.ndarray) -> Estimator: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Fold:
    """Row indices of one split; construction fails if any task is on both sides."""

    train: np.ndarray
    test: np.ndarray
    tasks: np.ndarray  # [S] the task label of every row

    def __post_init__(self) -> None:
        shared = np.intersect1d(self.tasks[self.train], self.tasks[self.test])
        if shared.size:
            raise ValueError(f"leaking split: tasks {shared.tolist()} are in train and test")
        if not (self.train.size and self.test.size):
            raise ValueError("a fold needs training and test rows")


def task_folds(tasks, n_folds: int, seed: int = 0) -> list[Fold]:
    """``n_folds`` folds over the distinct values of ``tasks [S]`` (shuffled with ``seed``);
    each task's settings are all in one test fold."""
    tasks = np.asarray(tasks)
    unique = np.unique(tasks)
    if not 2 <= n_folds <= unique.size:
        raise ValueError(f"{n_folds} folds need between 2 and {unique.size} (the tasks) folds")
    order = np.random.default_rng(seed).permutation(unique)
    folds = []
    for held in np.array_split(order, n_folds):
        test = np.isin(tasks, held)
        folds.append(Fold(np.flatnonzero(~test), np.flatnonzero(test), tasks))
    return folds


def cross_validate(
    make: Callable[[], Estimator], x, y, tasks, n_folds: int, seed: int = 0
) -> np.ndarray:
    """Out-of-fold predictions ``[S]`` of a fresh ``make()`` per task fold."""
    x, y, tasks = np.asarray(x), np.asarray(y, np.float64), np.asarray(tasks)
    pred = np.empty_like(y)
    for fold in task_folds(tasks, n_folds, seed):
        est = make().fit(x[fold.train], y[fold.train], tasks[fold.train])
        pred[fold.test] = est.predict(x[fold.test])
    return pred


Space = Mapping[str, Callable[[np.random.Generator], Any]]


@dataclasses.dataclass
class RandomizedSearch:
    """Randomized hyper-parameter search scored by task-fold MAE, then a refit on all rows.

    ``make(**params)`` builds an estimator; ``space`` maps each parameter to a sampler
    ``rng -> value``. Defaults follow the paper: ``n_iter=300``, ``cv=5`` (fewer folds when the
    training rows have fewer tasks).
    """

    make: Callable[..., Estimator]
    space: Space
    n_iter: int = 300
    cv: int = 5
    seed: int = 0
    best_params_: dict[str, Any] | None = None
    best_score_: float | None = None
    model_: Estimator | None = None

    def fit(self, x, y, tasks) -> RandomizedSearch:
        x, y, tasks = np.asarray(x), np.asarray(y, np.float64), np.asarray(tasks)
        rng = np.random.default_rng(self.seed)
        cv = min(self.cv, np.unique(tasks).size)
        best = (np.inf, None)
        for _ in range(self.n_iter):
            params = {k: sample(rng) for k, sample in self.space.items()}
            pred = cross_validate(lambda p=params: self.make(**p), x, y, tasks, cv, self.seed)
            mae = float(np.mean(np.abs(pred - y)))
            if mae < best[0]:
                best = (mae, params)
        self.best_score_, self.best_params_ = best
        self.model_ = self.make(**self.best_params_).fit(x, y, tasks)
        return self

    def predict(self, x) -> np.ndarray:
        if self.model_ is None:
            raise RuntimeError("RandomizedSearch.predict before fit")
        return self.model_.predict(np.asarray(x))
