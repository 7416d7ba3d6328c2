"""Synthetic planted-factor interactions: shapes, determinism, recoverable structure."""

import numpy as np

from jaxrec.data import csr, synthetic_interactions


def _recall_at_20(scores, dataset):
    """Mean recall@20 on test, train items excluded."""
    indptr, indices = csr(dataset.train, dataset.num_users)
    scores = scores.copy()
    rows = np.repeat(np.arange(dataset.num_users), np.diff(indptr))
    scores[rows, indices] = -np.inf
    top = np.argpartition(-scores, 20, axis=1)[:, :20]
    hit = np.zeros_like(scores, dtype=bool)
    hit[np.arange(dataset.num_users)[:, None], top] = True
    hits = np.bincount(dataset.test.users, weights=hit[dataset.test.users, dataset.test.items])
    per_user = np.bincount(dataset.test.users)
    return float(np.mean(hits / np.minimum(per_user, 20)))


def test_shapes_counts_and_determinism():
    data = synthetic_interactions(num_users=300, num_items=200, dim=8, interactions_per_user=20)
    d = data.dataset
    assert (d.num_users, d.num_items, d.valid) == (300, 200, None)
    assert (len(d.train), len(d.test)) == (300 * 16, 300 * 4)
    assert data.user_factors.shape == (300, 8) and data.item_factors.shape == (200, 8)
    assert data.item_bias.shape == (200,) and data.logits(np.arange(3)).shape == (3, 200)
    # Distinct items per user, split disjoint.
    users = np.concatenate([d.train.users, d.test.users])
    items = np.concatenate([d.train.items, d.test.items])
    assert np.unique(users.astype(np.int64) * 200 + items).size == 300 * 20
    again = synthetic_interactions(num_users=300, num_items=200, dim=8, interactions_per_user=20)
    np.testing.assert_array_equal(again.dataset.test.items, d.test.items)
    np.testing.assert_array_equal(again.user_factors, data.user_factors)
    other = synthetic_interactions(
        num_users=300, num_items=200, dim=8, interactions_per_user=20, seed=1
    )
    assert not np.array_equal(other.dataset.test.items, d.test.items)


def test_planted_model_ranks_held_out_items_far_above_chance():
    data = synthetic_interactions()
    d = data.dataset
    planted = _recall_at_20(data.logits(np.arange(d.num_users)), d)
    popularity = np.bincount(d.train.items, minlength=d.num_items).astype(np.float64)
    pop = _recall_at_20(np.broadcast_to(popularity, (d.num_users, d.num_items)), d)
    rand = _recall_at_20(np.random.default_rng(0).random((d.num_users, d.num_items)), d)
    assert rand < 0.04 and pop < 0.15
    assert planted > 0.5 and planted > 4 * pop
