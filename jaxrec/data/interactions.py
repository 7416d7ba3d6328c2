"""Implicit-feedback interaction containers, CSR conversion and the per-user validation split."""

from __future__ import annotations

import dataclasses

import numpy as np


def _as_ids(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"Interactions.{name}: expected a 1-D array, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"Interactions.{name}: expected integer ids, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"Interactions.{name}: ids must be >= 0, found {int(array.min())}")
    if array.size and array.max() > np.iinfo(np.int32).max:
        raise ValueError(f"Interactions.{name}: id {int(array.max())} does not fit in int32")
    return array.astype(np.int32)


@dataclasses.dataclass(frozen=True)
class Interactions:
    """A list of (user, item) interactions.

    Attributes:
        users: int32 [n] user ids (>= 0).
        items: int32 [n] item ids (>= 0), aligned with ``users``.
    """

    users: np.ndarray
    items: np.ndarray

    def __post_init__(self) -> None:
        users = _as_ids("users", self.users)
        items = _as_ids("items", self.items)
        if users.shape != items.shape:
            raise ValueError(
                f"Interactions: users has {users.shape[0]} entries but items has {items.shape[0]}"
            )
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "items", items)

    def __len__(self) -> int:
        return int(self.users.shape[0])


@dataclasses.dataclass(frozen=True)
class CFDataset:
    """A collaborative-filtering dataset with contiguous 0-based user and item ids.

    Attributes:
        name: dataset name, for logs and result tables.
        num_users: number of users U; every user id is in [0, U).
        num_items: number of items I; every item id is in [0, I).
        train: training interactions.
        valid: validation interactions carved from train, or None.
        test: test interactions.
    """

    name: str
    num_users: int
    num_items: int
    train: Interactions
    valid: Interactions | None
    test: Interactions

    def __post_init__(self) -> None:
        for split in ("train", "valid", "test"):
            part = getattr(self, split)
            if part is None or len(part) == 0:
                continue
            if part.users.max() >= self.num_users:
                raise ValueError(
                    f"CFDataset {self.name!r}: {split} user id {int(part.users.max())} is out of "
                    f"range for num_users={self.num_users}"
                )
            if part.items.max() >= self.num_items:
                raise ValueError(
                    f"CFDataset {self.name!r}: {split} item id {int(part.items.max())} is out of "
                    f"range for num_items={self.num_items}"
                )


def csr(interactions: Interactions, num_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user item lists in compressed sparse row form.

    Args:
        interactions: the interactions; user ids must be < ``num_users``.
        num_users: number of rows U.

    Returns:
        ``(indptr, indices)``: indptr int64 [U + 1], indices int32 [nnz]. User u's items are
        ``indices[indptr[u]:indptr[u + 1]]``, sorted ascending with duplicates removed.
    """
    users, items = interactions.users, interactions.items
    if len(interactions) and users.max() >= num_users:
        raise ValueError(
            f"csr: user id {int(users.max())} is out of range for num_users={num_users}"
        )
    order = np.lexsort((items, users))
    users, items = users[order], items[order]
    keep = np.ones(users.shape[0], dtype=bool)
    keep[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    users, items = users[keep], items[keep]
    indptr = np.zeros(num_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=num_users), out=indptr[1:])
    return indptr, items.astype(np.int32)


def holdout_mask(users: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Marks a random ``fraction`` of each user's rows as held out.

    A user with n rows holds out ``min(floor(fraction * n + 0.5), n - 1)`` of them: the fraction
    rounded half up, but never the user's last row, so a user with a single row keeps it.

    Args:
        users: int [n] user id of each row.
        fraction: share of each user's rows to hold out, in [0, 1).
        rng: source of randomness; the mask is a deterministic function of its state.

    Returns:
        bool [n], True for held-out rows.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    n = users.shape[0]
    order = np.lexsort((rng.random(n), users))  # users grouped, random order within each user
    sorted_users = users[order]
    counts = np.bincount(users) if n else np.zeros(0, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    rank = np.arange(n) - starts[sorted_users]  # position of each row within its user's group
    num_held = np.minimum(np.floor(fraction * counts + 0.5).astype(np.int64), counts - 1)
    mask = np.empty(n, dtype=bool)
    mask[order] = rank < num_held[sorted_users]
    return mask


def split_validation(dataset: CFDataset, fraction: float = 0.1, seed: int = 0) -> CFDataset:
    """Moves a random ``fraction`` of each user's train rows into a new validation split.

    Per user with n train rows, ``min(floor(fraction * n + 0.5), n - 1)`` rows go to valid (see
    :func:`holdout_mask`). Rows keep their original relative order in both outputs. The split is a
    deterministic function of (dataset, fraction, seed).

    Args:
        dataset: a dataset without a validation split.
        fraction: share of each user's train rows for validation, in [0, 1).
        seed: seed of ``np.random.default_rng``.

    Returns:
        A copy of ``dataset`` with the reduced train split and the new valid split.
    """
    if dataset.valid is not None:
        raise ValueError(f"split_validation: dataset {dataset.name!r} already has a valid split")
    train = dataset.train
    held = holdout_mask(train.users, fraction, np.random.default_rng(seed))
    return dataclasses.replace(
        dataset,
        train=Interactions(train.users[~held], train.items[~held]),
        valid=Interactions(train.users[held], train.items[held]),
    )
