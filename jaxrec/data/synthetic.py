"""Synthetic implicit feedback with planted latent factors, for tests and default runs."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxrec.data.interactions import CFDataset, Interactions, holdout_mask


@dataclasses.dataclass(frozen=True)
class SyntheticCF:
    """A synthetic dataset and the structure that generated it.

    Attributes:
        dataset: the train/test split (``valid=None``).
        user_factors: float32 [U, d] planted user factors.
        item_factors: float32 [I, d] planted item factors.
        item_bias: float32 [I] planted log-popularity of each item.
        temperature: softmax temperature used for sampling.
    """

    dataset: CFDataset
    user_factors: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray
    temperature: float

    def logits(self, users: np.ndarray) -> np.ndarray:
        """float32 [len(users), I] planted sampling logits ``(u . v) / temperature + bias``."""
        return _logits(
            self.user_factors[users], self.item_factors, self.item_bias, self.temperature
        )


def _logits(
    user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray, temperature: float
) -> np.ndarray:
    return (user_factors @ item_factors.T) / np.float32(temperature) + item_bias


def synthetic_interactions(
    num_users: int = 2000,
    num_items: int = 1000,
    dim: int = 16,
    interactions_per_user: int = 40,
    *,
    temperature: float = 0.25,
    popularity_skew: float = 0.5,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> SyntheticCF:
    """Samples interactions from a planted low-rank softmax model.

    User and item factors are i.i.d. N(0, 1/sqrt(dim)), so ``u . v`` has unit variance. Item i
    gets popularity bias ``-popularity_skew * log(1 + rank_i)`` for a random rank (a Zipf-like
    head). Each user draws ``interactions_per_user`` distinct items from
    ``softmax((u . v) / temperature + bias)`` without replacement (Gumbel-top-k); lower
    temperature means less noise. Each user's items are then split into train/test with
    ``round_half_up(test_fraction * k)`` test items (at most k - 1).

    Args:
        num_users: U.
        num_items: I, at least ``interactions_per_user``.
        dim: latent dimension d.
        interactions_per_user: k distinct items per user.
        temperature: softmax temperature (> 0) of the planted scores.
        popularity_skew: Zipf exponent of the item popularity bias (0: none).
        test_fraction: share of each user's items held out for test.
        seed: seed of all randomness.

    Returns:
        The dataset (named ``"synthetic"``) and its planted factors.
    """
    if not 0 < interactions_per_user <= num_items:
        raise ValueError(
            f"interactions_per_user {interactions_per_user} must be in [1, num_items={num_items}]"
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    rng = np.random.default_rng(seed)
    scale = dim**-0.25
    user_factors = (rng.standard_normal((num_users, dim)) * scale).astype(np.float32)
    item_factors = (rng.standard_normal((num_items, dim)) * scale).astype(np.float32)
    ranks = rng.permutation(num_items)
    item_bias = (-popularity_skew * np.log1p(ranks)).astype(np.float32)

    k = interactions_per_user
    chosen = np.empty((num_users, k), dtype=np.int32)
    block = max(1, 2**22 // num_items)  # bound the [block, I] working set to ~16 MiB
    for first in range(0, num_users, block):
        users = np.arange(first, min(first + block, num_users))
        logits = _logits(user_factors[users], item_factors, item_bias, temperature)
        perturbed = logits + rng.gumbel(size=(users.shape[0], num_items))
        chosen[users] = np.argpartition(-perturbed, k - 1, axis=1)[:, :k]
    users = np.repeat(np.arange(num_users, dtype=np.int32), k)
    items = chosen.reshape(-1)
    test = holdout_mask(users, test_fraction, rng)
    dataset = CFDataset(
        "synthetic",
        num_users,
        num_items,
        Interactions(users[~test], items[~test]),
        None,
        Interactions(users[test], items[test]),
    )
    return SyntheticCF(dataset, user_factors, item_factors, item_bias, temperature)
