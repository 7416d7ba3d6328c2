"""Pod input path: TFDS ArrayRecord interactions through a grain pipeline (optional extra).

Needs ``pip install 'jaxrec[tfds]'`` (tensorflow-datasets and grain; TensorFlow is not used).
Both are imported lazily, so the rest of ``jaxrec`` never needs them.

The batches follow the :class:`jaxrec.data.InteractionBatches` contract, ``{"users": int32 [b],
"items": int32 [b], "mask": bool [b]}`` with ``b = batch_size // process_count``; here the
incomplete tail of each process's shard is dropped, so ``mask`` is always True. Each process reads
only its own shard (records ``i, i + P, ...``, truncated so every process has the same number of
steps); the shuffle is a fresh permutation of that shard every epoch. ``iter(dataset)`` gives a
grain iterator whose ``get_state()``/``set_state()`` are saved beside the checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

_INSTALL_HINT = (
    "the TFDS input path needs tensorflow-datasets and grain: pip install 'jaxrec[tfds]'"
)


def _import_grain() -> Any:
    try:
        import grain
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return grain


def _import_tfds() -> Any:
    try:
        import tensorflow_datasets as tfds
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return tfds


def interaction_dataset(
    source: Any,
    batch_size: int,
    seed: int,
    *,
    num_epochs: int | None = 1,
    user_key: str = "user",
    item_key: str = "item",
    process_index: int | None = None,
    process_count: int | None = None,
) -> Any:
    """A shuffled, batched, per-process grain ``MapDataset`` over interaction records.

    Args:
        source: random-access records (``len`` and ``__getitem__``), each a mapping with an
            integer user under ``user_key`` and item under ``item_key``, e.g. a
            ``tfds.data_source`` split.
        batch_size: global batch size, a multiple of ``process_count``.
        seed: shuffle seed, shared by all processes.
        num_epochs: epochs to repeat (None: forever); each epoch is reshuffled.
        user_key: record field holding the user id.
        item_key: record field holding the item id.
        process_index: this process's shard; default ``jax.process_index()``.
        process_count: number of shards; default ``jax.process_count()``.

    Returns:
        ``grain.MapDataset`` of batch dicts; one epoch is ``(len(source) // process_count) //
        (batch_size // process_count)`` batches.
    """
    grain = _import_grain()
    if process_index is None or process_count is None:
        options = grain.sharding.ShardByJaxProcess(drop_remainder=True)
        process_index, process_count = options.shard_index, options.shard_count
    if batch_size <= 0 or batch_size % process_count:
        raise ValueError(
            f"batch_size {batch_size} must be a positive multiple of process_count {process_count}"
        )
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} not in [0, {process_count})")
    local_batch = batch_size // process_count
    shard_end = len(source) - len(source) % process_count
    if shard_end // process_count < local_batch:
        raise ValueError(
            f"{len(source)} records give no batch of {batch_size} over {process_count} processes"
        )

    def to_arrays(record: Any) -> dict[str, np.ndarray]:
        return {
            "users": np.int32(record[user_key]),
            "items": np.int32(record[item_key]),
            "mask": np.bool_(True),
        }

    dataset = grain.MapDataset.source(source)[process_index:shard_end:process_count]
    dataset = dataset.shuffle(seed=seed).map(to_arrays).batch(local_batch, drop_remainder=True)
    return dataset.repeat(num_epochs)


def tfds_interaction_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str],
    split: str = "train",
    batch_size: int,
    seed: int,
    **kwargs: Any,
) -> Any:
    """:func:`interaction_dataset` over a prepared TFDS ArrayRecord dataset.

    Args:
        name: registered TFDS name, e.g. ``"my_interactions"`` or ``"my_interactions:1.0.0"``.
        data_dir: where the dataset was prepared (``download_and_prepare``); nothing is fetched.
        split: TFDS split, e.g. ``"train"``.
        batch_size: global batch size.
        seed: shuffle seed.
        **kwargs: the keyword arguments of :func:`interaction_dataset`.

    Returns:
        ``grain.MapDataset`` of batch dicts.
    """
    tfds = _import_tfds()
    source = tfds.data_source(name, data_dir=os.fspath(data_dir), split=split, download=False)
    return interaction_dataset(source, batch_size, seed, **kwargs)


class GrainBatches:
    """A grain ``MapDataset`` of batches as the training loop's checkpointable batch source.

    ``dataset`` repeats forever (``num_epochs=None``); one epoch is ``steps_per_epoch`` batches.
    The state saved beside each checkpoint is the grain iterator's own state plus the epoch
    and step counters, so a resumed run continues with exactly the same batches.
    """

    def __init__(self, dataset: Any, steps_per_epoch: int) -> None:
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.steps_per_epoch = steps_per_epoch
        self._dataset = dataset
        self._iterator = iter(dataset)
        self._epoch = 0
        self._step = 0

    def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
        """Random access to a batch (no state change), e.g. as a shape example."""
        return self._dataset[epoch * self.steps_per_epoch + step]

    def epoch(self):
        """Yields the rest of the current epoch, then advances to the next one."""
        while self._step < self.steps_per_epoch:
            batch = next(self._iterator)
            self._step += 1
            yield batch
        self._epoch, self._step = self._epoch + 1, 0

    def get_state(self) -> dict[str, Any]:
        return {"epoch": self._epoch, "step": self._step, "grain": self._iterator.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._epoch, self._step = int(state["epoch"]), int(state["step"])
        self._iterator.set_state(state["grain"])


def tfds_interactions(
    name: str,
    *,
    data_dir: str | os.PathLike[str],
    split: str,
    user_key: str = "user",
    item_key: str = "item",
) -> tuple[np.ndarray, np.ndarray]:
    """All ``(users, items)`` int32 arrays of a prepared TFDS interaction split (for the
    sampler's positive lists and for evaluation, which need the whole split in memory)."""
    tfds = _import_tfds()
    source = tfds.data_source(name, data_dir=os.fspath(data_dir), split=split, download=False)
    records = source.__getitems__(list(range(len(source))))
    users = np.fromiter((r[user_key] for r in records), np.int32, count=len(records))
    items = np.fromiter((r[item_key] for r in records), np.int32, count=len(records))
    return users, items
