"""SOFT's training arrays: (prompt, response) pairs laid out for
:func:`jaxrec.llmrec.soft_objective.response_ce`, and their shuffled batches.

A pair set holds ``ids`` / ``mask`` ``[n, P + R]`` (left-padded prompt + response) and
``targets`` ``[n, R]`` (the response right-aligned, -1 before it). The true targets ``y`` come
from :func:`jaxrec.llmrec.prompts.encode_windows`; the self-distilled ``y_hat`` are generated
token rows placed behind the same prompts by :func:`pairs_from_tokens`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np

from jaxrec.data.batches import IndexBatches

__all__ = ["PairBatches", "left_padded", "lm_pairs", "pairs_from_tokens"]


def pairs_from_tokens(
    prompt_ids: np.ndarray, prompt_mask: np.ndarray, responses: Sequence[Sequence[int]],
    eos_id: int, pad_id: int,
) -> dict[str, np.ndarray]:  # fmt: skip
    """``{"ids", "mask", "targets"}`` for left-padded prompts ``[n, P]`` and each row's response
    tokens; EOS is appended where a response does not end with it (a generation stopped by
    ``max_new_tokens``), so every response has at least one supervised token (EOS-only for an
    empty generation)."""
    n, p = prompt_ids.shape
    if len(responses) != n:
        raise ValueError(f"{len(responses)} responses for {n} prompts")
    resp = [list(r) if (r and r[-1] == eos_id) else [*r, eos_id] for r in responses]
    width = max(len(r) for r in resp)
    ids = np.full((n, p + width), pad_id, np.int32)
    mask = np.zeros((n, p + width), bool)
    targets = np.full((n, width), -1, np.int32)
    lengths = prompt_mask.sum(1)
    for i, r in enumerate(resp):
        seq = np.concatenate([prompt_ids[i, p - lengths[i] :], r])
        ids[i, ids.shape[1] - seq.size :] = seq
        mask[i, ids.shape[1] - seq.size :] = True
        targets[i, width - len(r) :] = r
    return {"ids": ids, "mask": mask, "targets": targets}


def left_padded(rows: Sequence[Sequence[int]], width: int, pad_id: int) -> np.ndarray:
    """int32 ``[n, width]`` with each row right-aligned (left padding); longer rows are cut
    from the left."""
    out = np.full((len(rows), width), pad_id, np.int32)
    for i, r in enumerate(rows):
        r = list(r)[-width:]
        out[i, width - len(r) :] = r
    return out


def lm_pairs(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Plain next-token LM on left-padded sequences ``[n, S]``: every real token after the
    first is a target (``R = S - 1``)."""
    supervised = mask[:, 1:] & mask[:, :-1]
    return {"ids": ids, "mask": mask, "targets": np.where(supervised, ids[:, 1:], -1)}


class PairBatches:
    """Shuffled fixed-shape batches of one or two pair sets (a :class:`jaxrec.train.BatchSource`)
    with keys ``{name}_ids`` / ``{name}_mask`` / ``{name}_targets``; a padded row (row 0,
    ``mask`` False in the index) has all targets -1."""

    def __init__(self, pairs: Mapping[str, Mapping[str, np.ndarray]], batch_size: int, seed: int):
        sizes = {name: p["ids"].shape[0] for name, p in pairs.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"pair sets differ in rows: {sizes}")
        self._arrays = {f"{name}_{k}": v for name, p in pairs.items() for k, v in p.items()}
        self._order = IndexBatches(
            next(iter(sizes.values())), batch_size, seed,
            process_index=jax.process_index(), process_count=jax.process_count(),
        )  # fmt: skip
        self.steps_per_epoch = self._order.steps_per_epoch

    def _gather(self, part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: v[part["index"]] for k, v in self._arrays.items()}
        for k in out:
            if k.endswith("_targets"):
                out[k] = np.where(part["mask"][:, None], out[k], -1)
        return out

    def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
        return self._gather(self._order.batch(epoch, step))

    def epoch(self):
        for part in self._order.epoch():
            yield self._gather(part)

    def get_state(self):
        return self._order.get_state()

    def set_state(self, state):
        self._order.set_state(state)
