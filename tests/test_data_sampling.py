"""Rejection-free negative sampler: validity, uniformity, jit and determinism."""

import jax
import numpy as np

from jaxrec.data import Interactions, csr, sample_negatives, uniform_negatives


def _positives(num_users=64, num_items=50, seed=0):
    rng = np.random.default_rng(seed)
    degrees = rng.integers(0, num_items, size=num_users)
    degrees[:3] = [0, num_items - 1, num_items]  # no positives, one negative, none at all
    users = np.repeat(np.arange(num_users), degrees)
    items = np.concatenate([rng.choice(num_items, d, replace=False) for d in degrees])
    return csr(Interactions(users, items), num_users)


def test_never_a_positive_and_in_range():
    num_items = 50
    indptr, indices = _positives(num_items=num_items)
    users = np.arange(indptr.size - 1, dtype=np.int32)
    for max_degree in (None, int(np.diff(indptr).max())):
        neg = np.asarray(
            sample_negatives(
                jax.random.key(0), users, 200, indptr, indices, num_items, max_degree=max_degree
            )
        )
        assert neg.shape == (users.size, 200) and neg.dtype == np.int32
        np.testing.assert_array_equal(neg[2], -1)  # user 2 has interacted with every item
        free_of_1 = np.setdiff1d(np.arange(num_items), indices[indptr[1] : indptr[2]])
        assert free_of_1.size == 1 and np.all(neg[1] == free_of_1[0])
        for u in users[3:]:
            assert neg[u].min() >= 0 and neg[u].max() < num_items
            assert not np.isin(neg[u], indices[indptr[u] : indptr[u + 1]]).any()
        # Over 200 draws every item a user with few positives may get shows up.
        small = [u for u in users[3:] if num_items - np.diff(indptr)[u] <= 5]
        for u in small:
            free = np.setdiff1d(np.arange(num_items), indices[indptr[u] : indptr[u + 1]])
            np.testing.assert_array_equal(np.unique(neg[u]), free)


def test_uniform_over_non_positives():
    # Positives at both ends and in runs stress the p_j - j search.
    num_items = 12
    positives = np.array([0, 1, 4, 5, 6, 9, 11])
    indptr, indices = csr(Interactions(np.zeros(7, int), positives), 1)
    draws = 60_000
    neg = np.asarray(
        sample_negatives(
            jax.random.key(1), np.zeros(1, np.int32), draws, indptr, indices, num_items
        )
    )
    counts = np.bincount(neg.ravel(), minlength=num_items)
    assert counts[positives].sum() == 0
    expected = draws / (num_items - positives.size)
    chi2 = (
        (counts[np.setdiff1d(np.arange(num_items), positives)] - expected) ** 2 / expected
    ).sum()
    assert chi2 < 25.0  # 4 dof; P(chi2 > 25) ~ 5e-5, a one-item bias of 5% gives ~150


def test_jit_deterministic_and_key_dependent():
    indptr, indices = _positives()
    users = np.arange(3, 40, dtype=np.int32)
    step = jax.jit(lambda key, u: sample_negatives(key, u, 8, indptr, indices, 50))
    a = step(jax.random.key(7), users)
    np.testing.assert_array_equal(a, step(jax.random.key(7), users))
    np.testing.assert_array_equal(
        a, sample_negatives(jax.random.key(7), users, 8, indptr, indices, 50)
    )
    assert not np.array_equal(a, step(jax.random.key(8), users))


def test_uniform_negatives():
    neg = uniform_negatives(jax.random.key(0), (4, 1000), 7)
    assert neg.shape == (4, 1000) and neg.dtype == np.int32
    np.testing.assert_array_equal(np.unique(np.asarray(neg)), np.arange(7))
