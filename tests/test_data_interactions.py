"""Interactions/CFDataset validation, csr and the per-user validation split."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxrec.data import CFDataset, Interactions, csr, split_validation


def _random_dataset(seed=0, num_users=300, num_items=200):
    rng = np.random.default_rng(seed)
    degrees = rng.integers(1, 40, size=num_users)
    degrees[:5] = 1  # users with a single train item keep it
    users = np.repeat(np.arange(num_users), degrees)
    items = np.concatenate([rng.choice(num_items, d, replace=False) for d in degrees])
    perm = rng.permutation(users.size)
    train = Interactions(users[perm], items[perm])
    test = Interactions(np.arange(num_users), rng.integers(0, num_items, num_users))
    return CFDataset("random", num_users, num_items, train, None, test)


def test_interactions_validate_and_cast():
    pairs = Interactions(np.array([0, 1], dtype=np.int64), [2, 3])
    assert pairs.users.dtype == pairs.items.dtype == np.int32 and len(pairs) == 2
    with pytest.raises(ValueError, match="users has 2 entries but items has 1"):
        Interactions(np.array([0, 1]), np.array([2]))
    with pytest.raises(ValueError, match="items: ids must be >= 0"):
        Interactions(np.array([0]), np.array([-1]))
    with pytest.raises(ValueError, match="integer ids"):
        Interactions(np.array([0.5]), np.array([1]))
    with pytest.raises(ValueError, match="test item id 5 is out of range for num_items=5"):
        CFDataset("x", 2, 5, pairs, None, Interactions(np.array([0]), np.array([5])))


def test_csr_sorts_and_deduplicates():
    pairs = Interactions(np.array([2, 0, 2, 2, 0]), np.array([4, 3, 1, 4, 0]))
    indptr, indices = csr(pairs, num_users=4)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    np.testing.assert_array_equal(indptr, [0, 2, 2, 4, 4])
    np.testing.assert_array_equal(indices, [0, 3, 1, 4])
    with pytest.raises(ValueError, match="user id 2 is out of range for num_users=2"):
        csr(pairs, num_users=2)


def test_split_validation_properties():
    dataset = _random_dataset()
    split = split_validation(dataset, fraction=0.1, seed=3)
    train, valid = split.train, split.valid
    assert split.test is dataset.test and len(train) + len(valid) == len(dataset.train)
    pairs = lambda x: set(zip(x.users.tolist(), x.items.tolist(), strict=True))  # noqa: E731
    assert not pairs(train) & pairs(valid)
    assert pairs(train) | pairs(valid) == pairs(dataset.train)
    degrees = np.bincount(dataset.train.users, minlength=dataset.num_users)
    held = np.bincount(valid.users, minlength=dataset.num_users)
    np.testing.assert_array_equal(held, np.minimum(np.floor(0.1 * degrees + 0.5), degrees - 1))
    assert held[:5].sum() == 0 and np.all(np.bincount(train.users) >= 1)
    # Deterministic given the seed, different for another seed.
    again = split_validation(dataset, fraction=0.1, seed=3)
    np.testing.assert_array_equal(again.valid.items, valid.items)
    other = split_validation(dataset, fraction=0.1, seed=4)
    assert pairs(other.valid) != pairs(valid)
    with pytest.raises(ValueError, match="already has a valid split"):
        split_validation(split)


def test_split_validation_is_uniform_within_user():
    # One user with 10 items, 1 held out: over many seeds each item is held out ~10% of the time.
    dataset = CFDataset(
        "one", 1, 10, Interactions(np.zeros(10, int), np.arange(10)), None, Interactions([0], [0])
    )
    counts = np.zeros(10)
    for seed in range(2000):
        counts[split_validation(dataset, seed=seed).valid.items] += 1
    assert counts.sum() == 2000 and np.all(np.abs(counts - 200) < 60)


def test_package_import_needs_no_optional_extra():
    code = (
        "import sys, jaxrec.data; "
        "assert not {'grain', 'tensorflow_datasets', 'tensorflow'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
