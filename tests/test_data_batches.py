"""IndexBatches and InteractionBatches: coverage, fixed shapes, resume equality, process slicing."""

import itertools

import numpy as np
import pytest

from jaxrec.data import InteractionBatches
from jaxrec.data.batches import IndexBatches

N = 103


def _data():
    users = np.arange(N) % 11
    items = np.arange(N)  # item id identifies the interaction
    return users, items


def _flatten(batches):
    return np.concatenate([b["items"][b["mask"]] for b in batches])


def test_each_epoch_covers_every_interaction_once_with_fixed_shapes():
    it = InteractionBatches(*_data(), batch_size=16, seed=0)
    assert it.steps_per_epoch == 7
    epochs = []
    for expected_epoch in range(3):
        assert it.get_state() == {"epoch": expected_epoch, "step": 0}
        batches = list(it.epoch())
        assert len(batches) == 7
        for b in batches:
            assert b["users"].shape == b["items"].shape == b["mask"].shape == (16,)
            assert b["users"].dtype == b["items"].dtype == np.int32 and b["mask"].dtype == bool
            np.testing.assert_array_equal(b["users"][b["mask"]], b["items"][b["mask"]] % 11)
        assert batches[-1]["mask"].sum() == N - 6 * 16 and batches[-1]["mask"][:7].all()
        items = _flatten(batches)
        np.testing.assert_array_equal(np.sort(items), np.arange(N))
        epochs.append(items)
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch
    again = InteractionBatches(*_data(), batch_size=16, seed=0)
    np.testing.assert_array_equal(_flatten(again.epoch()), epochs[0])


def test_drop_remainder():
    it = InteractionBatches(*_data(), batch_size=16, seed=0, drop_remainder=True)
    batches = list(it.epoch())
    assert it.steps_per_epoch == len(batches) == 6
    assert all(b["mask"].all() for b in batches)
    assert np.unique(_flatten(batches)).size == 96


def test_resume_yields_identical_batches():
    reference = InteractionBatches(*_data(), batch_size=8, seed=5)
    stream = [b for _ in range(3) for b in reference.epoch()]
    # Interrupt after 17 steps (mid epoch 1), restore into a fresh iterator, continue.
    first = InteractionBatches(*_data(), batch_size=8, seed=5)
    seen, saved = [], None
    for _ in range(2):
        for batch in first.epoch():
            seen.append(batch)
            saved = first.get_state()
            if len(seen) == 17:
                break
        if len(seen) == 17:
            break
    assert saved == {"epoch": 1, "step": 17 - 13}
    resumed = InteractionBatches(*_data(), batch_size=8, seed=5)
    resumed.set_state(saved)
    while resumed.get_state()["epoch"] < 3:
        seen.extend(resumed.epoch())
    assert len(seen) == len(stream)
    for got, want in zip(seen, stream, strict=True):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_state_after_last_batch_rolls_over():
    it = InteractionBatches(*_data(), batch_size=64, seed=0)
    states = [it.get_state() for _ in it.epoch()]
    assert states == [{"epoch": 0, "step": 1}, {"epoch": 1, "step": 0}]


def test_process_slices_partition_the_global_batch():
    global_it = InteractionBatches(*_data(), batch_size=12, seed=2)
    local_its = [
        InteractionBatches(*_data(), batch_size=12, seed=2, process_index=p, process_count=3)
        for p in range(3)
    ]
    for global_batch, *locals_ in itertools.zip_longest(
        global_it.epoch(), *[i.epoch() for i in local_its]
    ):
        assert all(b["items"].shape == (4,) for b in locals_)
        for key in ("users", "items", "mask"):
            np.testing.assert_array_equal(
                np.concatenate([b[key] for b in locals_]), global_batch[key]
            )


def test_invalid_arguments():
    with pytest.raises(ValueError, match="multiple of process_count 3"):
        InteractionBatches(*_data(), batch_size=16, seed=0, process_count=3)
    with pytest.raises(ValueError, match="process_index 3 not in"):
        InteractionBatches(*_data(), batch_size=12, seed=0, process_index=3, process_count=3)
    with pytest.raises(ValueError, match="103 rows give no batch of 128"):
        InteractionBatches(*_data(), batch_size=128, seed=0, drop_remainder=True)
    with pytest.raises(ValueError, match="step must be in"):
        InteractionBatches(*_data(), batch_size=16, seed=0).set_state({"epoch": 0, "step": 7})


def test_index_batches_are_the_order_interaction_batches_gather():
    index_it = IndexBatches(N, batch_size=16, seed=3, process_index=1, process_count=2)
    pair_it = InteractionBatches(*_data(), batch_size=16, seed=3, process_index=1, process_count=2)
    users, items = _data()
    assert index_it.steps_per_epoch == pair_it.steps_per_epoch == 7
    for a, b in zip(index_it.epoch(), pair_it.epoch(), strict=True):
        assert a["index"].shape == a["mask"].shape == (8,)
        np.testing.assert_array_equal(a["mask"], b["mask"])
        np.testing.assert_array_equal(a["index"][~a["mask"]], 0)  # padding is row 0
        np.testing.assert_array_equal(np.where(a["mask"], items[a["index"]], 0), b["items"])
        np.testing.assert_array_equal(np.where(a["mask"], users[a["index"]], 0), b["users"])
    assert index_it.get_state() == pair_it.get_state() == {"epoch": 1, "step": 0}
    # both halves together cover every row once per epoch, in the seeded permutation
    halves = [IndexBatches(N, 16, 3, process_index=p, process_count=2) for p in range(2)]
    rows = np.concatenate(
        [
            np.concatenate([b["index"][b["mask"]] for b in bs])
            for bs in zip(*(h.epoch() for h in halves))
        ]
    )
    np.testing.assert_array_equal(rows, np.random.default_rng((3, 0)).permutation(N))
