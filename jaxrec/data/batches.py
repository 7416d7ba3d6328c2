"""Deterministic, resumable, process-sharded epoch iterators: :class:`IndexBatches` over row
indices, :class:`InteractionBatches`, the (user, item) batches built on it, and
:class:`GatheredBatches` for any row store that gathers an index array, and
:class:`ArrayBatches` over a dict of same-length arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import jax
import numpy as np


class IndexBatches:
    """Shuffled fixed-size batches of row indices ``0..num_rows-1``, epoch after epoch.

    Epoch e visits the rows in the order ``np.random.default_rng((seed, e)).permutation``.
    Every batch has the same shape so a jitted step never recompiles: without ``drop_remainder``
    the last global batch is padded (index 0, ``mask`` False); with it, the incomplete tail is
    skipped. Each process gets the contiguous slice ``[process_index * b, (process_index + 1) *
    b)`` of every global batch, ``b = batch_size // process_count``, so the processes together
    see each global batch exactly once.

    The iterator's position is ``(epoch, step)``: the next batch to yield. Typical use::

        for epoch in range(it.get_state()["epoch"], num_epochs):
            for batch in it.epoch():
                state = train_step(state, batch)
                save(state, it.get_state())

    ``set_state`` with a saved state makes ``epoch()`` continue with exactly the batches an
    uninterrupted iterator would have yielded.
    """

    def __init__(
        self,
        num_rows: int,
        batch_size: int,
        seed: int,
        *,
        drop_remainder: bool = False,
        process_index: int = 0,
        process_count: int = 1,
    ) -> None:
        """Creates the iterator at epoch 0, step 0.

        Args:
            num_rows: number of rows to batch (indices ``0..num_rows-1``).
            batch_size: global batch size, a multiple of ``process_count``.
            seed: shuffling seed, shared by all processes.
            drop_remainder: skip the incomplete last batch instead of padding it.
            process_index: this process's index in [0, process_count).
            process_count: number of processes sharing each global batch.
        """
        if batch_size <= 0 or batch_size % process_count:
            raise ValueError(
                f"batch_size {batch_size} must be a positive multiple of process_count "
                f"{process_count}"
            )
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} not in [0, {process_count})")
        self._steps = num_rows // batch_size if drop_remainder else -(-num_rows // batch_size)
        if self._steps == 0:
            raise ValueError(f"{num_rows} rows give no batch of {batch_size} in an epoch")
        self._num_rows = num_rows
        self._batch_size = batch_size
        self._seed = seed
        self._local = batch_size // process_count
        self._offset = process_index * self._local
        self._epoch = 0
        self._step = 0
        self._order: tuple[int, np.ndarray] | None = None  # cached (epoch, permutation)

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch (the same on every process)."""
        return self._steps

    def get_state(self) -> dict[str, int]:
        """The position of the next batch: ``{"epoch": e, "step": s}``, plain ints."""
        return {"epoch": self._epoch, "step": self._step}

    def set_state(self, state: dict[str, int]) -> None:
        """Moves to a position returned by :meth:`get_state`."""
        epoch, step = int(state["epoch"]), int(state["step"])
        if epoch < 0 or not 0 <= step < self._steps:
            raise ValueError(f"state {state} out of range: step must be in [0, {self._steps})")
        self._epoch, self._step = epoch, step

    def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
        """This process's part of global batch ``step`` of ``epoch`` (no state change).

        Returns:
            ``{"index": int64 [b], "mask": bool [b]}``, ``b = batch_size // process_count``;
            padding has index 0 and ``mask`` False.
        """
        if self._order is None or self._order[0] != epoch:
            order = np.random.default_rng((self._seed, epoch)).permutation(self._num_rows)
            self._order = (epoch, order)
        start = step * self._batch_size + self._offset
        rows = self._order[1][start : start + self._local]
        return {
            "index": np.pad(rows, (0, self._local - rows.shape[0])),
            "mask": np.arange(self._local) < rows.shape[0],
        }

    def epoch(self) -> Iterator[dict[str, np.ndarray]]:
        """Yields the remaining batches of the current epoch, advancing the state.

        The state moves past a batch before the batch is yielded, so ``get_state()`` taken while
        processing it resumes with the following one; after the last batch it reads
        ``{"epoch": e + 1, "step": 0}``.
        """
        epoch = self._epoch
        while self._epoch == epoch:
            step = self._step
            if self._step + 1 == self._steps:
                self._epoch, self._step = epoch + 1, 0
            else:
                self._step += 1
            yield self.batch(epoch, step)


class InteractionBatches:
    """Shuffled fixed-size batches of (user, item) interactions: :class:`IndexBatches` over the
    interactions (same order, padding, process slices and state), padding with user 0, item 0.
    """

    def __init__(
        self,
        users: np.ndarray,
        items: np.ndarray,
        batch_size: int,
        seed: int,
        *,
        drop_remainder: bool = False,
        process_index: int = 0,
        process_count: int = 1,
    ) -> None:
        """Creates the iterator at epoch 0, step 0.

        Args:
            users: int [n] user id of each training interaction.
            items: int [n] item id of each training interaction.
            batch_size, seed, drop_remainder, process_index, process_count: as in
                :class:`IndexBatches`.
        """
        users, items = np.asarray(users), np.asarray(items)
        if users.ndim != 1 or users.shape != items.shape:
            raise ValueError(
                f"users {users.shape} and items {items.shape} must be equal-length 1-D"
            )
        self._index = IndexBatches(
            users.shape[0],
            batch_size,
            seed,
            drop_remainder=drop_remainder,
            process_index=process_index,
            process_count=process_count,
        )
        self._users = users.astype(np.int32)
        self._items = items.astype(np.int32)

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch (the same on every process)."""
        return self._index.steps_per_epoch

    def get_state(self) -> dict[str, int]:
        """The position of the next batch: ``{"epoch": e, "step": s}``, plain ints."""
        return self._index.get_state()

    def set_state(self, state: dict[str, int]) -> None:
        """Moves to a position returned by :meth:`get_state`."""
        self._index.set_state(state)

    def _gather(self, part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        index, mask = part["index"], part["mask"]
        return {
            "users": np.where(mask, self._users[index], 0).astype(np.int32),
            "items": np.where(mask, self._items[index], 0).astype(np.int32),
            "mask": mask,
        }

    def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
        """This process's part of global batch ``step`` of ``epoch`` (no state change).

        Returns:
            ``{"users": int32 [b], "items": int32 [b], "mask": bool [b]}``,
            ``b = batch_size // process_count``; ``mask`` is False on padding.
        """
        return self._gather(self._index.batch(epoch, step))

    def epoch(self) -> Iterator[dict[str, np.ndarray]]:
        """Yields the remaining batches of the current epoch, advancing the state (as
        :meth:`IndexBatches.epoch`)."""
        for part in self._index.epoch():
            yield self._gather(part)


class GatheredBatches:
    """Batches ``gather(part)`` of the :class:`IndexBatches` parts ``{"index", "mask"}`` over
    ``num_rows`` rows (a :class:`jaxrec.train.BatchSource`, resumable through their state): one
    shuffled, process-sharded order for any row store that can gather an index array."""

    def __init__(
        self,
        num_rows: int,
        batch_size: int,
        seed: int,
        gather: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        *,
        drop_remainder: bool,
    ) -> None:
        self._gather = gather
        self._order = IndexBatches(
            num_rows, batch_size, seed, drop_remainder=drop_remainder,
            process_index=jax.process_index(), process_count=jax.process_count(),
        )  # fmt: skip
        self.steps_per_epoch = self._order.steps_per_epoch

    def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
        return self._gather(self._order.batch(epoch, step))

    def epoch(self) -> Iterator[dict[str, np.ndarray]]:
        for part in self._order.epoch():
            yield self._gather(part)

    def get_state(self) -> dict[str, int]:
        return self._order.get_state()

    def set_state(self, state: dict[str, int]) -> None:
        self._order.set_state(state)


class ArrayBatches(GatheredBatches):
    """Shuffled fixed-size batches of same-length arrays ``{name: [N, ...]}`` with the
    incomplete last batch dropped."""

    def __init__(self, arrays: dict[str, np.ndarray], batch_size: int, seed: int) -> None:
        rows = {k: len(v) for k, v in arrays.items()}
        if len(set(rows.values())) != 1:
            raise ValueError(f"arrays differ in rows: {rows}")
        super().__init__(
            next(iter(rows.values())), batch_size, seed,
            lambda part: {k: v[part["index"]] for k, v in arrays.items()}, drop_remainder=True,
        )  # fmt: skip
