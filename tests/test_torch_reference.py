"""Checks of the benchmark-only PyTorch reference (skipped where torch is not installed)."""

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="benchmark-only dependency, not installed by CI: pip install torch==2.13.0"
)

from benchmarks.torch_reference import torch_sample_negatives, torch_train_throughput  # noqa: E402


def test_negatives_avoid_positives_and_cover_the_rest():
    num_items = 6
    users = np.array([0, 0, 0, 1])
    items = np.array([0, 2, 5, 1])
    pos_keys = torch.unique(torch.as_tensor(users * num_items + items))
    gen = torch.Generator().manual_seed(0)
    neg = torch_sample_negatives(
        pos_keys, torch.tensor([0, 1]), num_items, 2000, generator=gen
    ).numpy()
    assert set(np.unique(neg[0])) == {1, 3, 4}
    assert set(np.unique(neg[1])) == {0, 2, 3, 4, 5}
    counts = np.bincount(neg[0], minlength=num_items)[[1, 3, 4]]
    assert counts.min() > 550  # uniform: about 667 each


def test_throughput_runs():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(50), 5)
    items = rng.integers(0, 80, users.size)
    r = torch_train_throughput(
        users, items, 50, 80, batch_size=64, num_negatives=16, steps=3, warmup=1, dim=8
    )
    assert r["median_step_s"] > 0 and np.isfinite(r["final_loss"])
    assert r["interactions_per_s"] == pytest.approx(64 / r["median_step_s"])
