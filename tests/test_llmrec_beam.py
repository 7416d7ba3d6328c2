"""Constrained beam search: catalogue-only outputs, brute-force ranking property for both
scorings, length penalty, and exact-match HR/NDCG against a slow reference.

Runs against a tiny test-only decoder that implements the decoder interface: the next-token
logits are a fixed table indexed by (last token, tokens generated so far).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.llmrec import trie as trie_lib
from jaxrec.llmrec.beam import constrained_beam_search, exact_match_metrics

VOCAB, EOS = 12, 11


class TableCache(NamedTuple):
    last: jax.Array  # [B]
    generated: jax.Array  # [B]

    def take(self, rows):
        return TableCache(self.last[rows], self.generated[rows])


class TableDecoder:
    """logits(next) = table[last token, tokens generated since the prompt]."""

    def __init__(self, table):
        self.table = jnp.asarray(table)

    def init_cache(self, batch, max_len, dtype=None):
        return TableCache(jnp.zeros(batch, jnp.int32), jnp.zeros(batch, jnp.int32))

    def prefill(self, input_ids, attention_mask, cache):
        logits = self.table[input_ids, 0]
        return logits, TableCache(input_ids[:, -1], jnp.zeros_like(cache.generated))

    def decode(self, token_ids, cache):
        generated = cache.generated + 1
        return self.table[token_ids, generated], TableCache(token_ids, generated)


def _world(seed, n=14):
    rng = np.random.default_rng(seed)
    entries = set()
    while len(entries) < n:
        entries.add(tuple(rng.integers(0, EOS, size=rng.integers(1, 5)).tolist()) + (EOS,))
    entries = sorted(entries)
    trie = trie_lib.build_trie(entries, list(range(1, n + 1)), [str(e) for e in entries], VOCAB)
    table = rng.normal(size=(VOCAB, trie.max_depth + 2, VOCAB)).astype(np.float32) * 2
    prompts = rng.integers(0, EOS, size=(3, 4)).astype(np.int32)
    return entries, trie, table, prompts


def _brute_force(entries, table, prompt_last, scoring, length_penalty):
    """Teacher-forced score of every entry: sum of per-step log-probs (normalised over the valid
    children for mask_then_softmax, over the vocabulary otherwise) / length ** penalty."""
    children: dict[tuple, set] = {}
    for e in entries:
        for i in range(len(e)):
            children.setdefault(tuple(e[:i]), set()).add(e[i])
    scores = []
    for e in entries:
        total, last = 0.0, prompt_last
        for i, tok in enumerate(e):
            logits = table[last, i].astype(np.float64)
            if scoring == "mask_then_softmax":
                support = logits[sorted(children[tuple(e[:i])])]
            else:
                support = logits
            total += logits[tok] - np.log(np.exp(support - support.max()).sum()) - support.max()
            last = tok
        scores.append(total / len(e) ** length_penalty)
    return np.array(scores)


def _search(trie, table, prompts, **kw):
    model = TableDecoder(table)

    @jax.jit
    def run(arrays, items, ids, mask):
        return constrained_beam_search(
            model, arrays, items, ids, mask,
            max_fanout=trie.max_fanout, max_depth=trie.max_depth, **kw,
        )  # fmt: skip

    out = run(trie.arrays(), jnp.asarray(trie.entry_items), prompts, jnp.ones(prompts.shape, bool))
    return jax.tree.map(np.asarray, out)


@pytest.mark.parametrize("scoring", ["mask_then_softmax", "softmax_then_mask"])
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_exhaustive_beams_rank_by_brute_force_score(scoring, length_penalty):
    entries, trie, table, prompts = _world(0)
    n = len(entries)
    out = _search(
        trie, table, prompts, num_beams=n, num_return=n, scoring=scoring,
        length_penalty=length_penalty,
    )  # fmt: skip
    for b in range(prompts.shape[0]):
        ref = _brute_force(entries, table, prompts[b, -1], scoring, length_penalty)
        order = np.argsort(-ref, kind="stable")
        # entry ids are assigned in insertion order = sorted entries order
        np.testing.assert_array_equal(out.entries[b], order)
        np.testing.assert_allclose(out.scores[b], ref[order], rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(out.items[b, :, 0], order + 1)


@pytest.mark.parametrize("scoring", ["mask_then_softmax", "softmax_then_mask"])
def test_small_beams_return_only_catalogue_titles(scoring):
    entries, trie, table, prompts = _world(1, n=30)
    out = _search(trie, table, prompts, num_beams=4, num_return=3, scoring=scoring)
    assert out.entries.shape == (3, 3)
    assert np.all((out.entries >= 0) & (out.entries < len(entries)))
    for row, scores in zip(out.entries, out.scores):
        assert len(set(row.tolist())) == 3 and np.all(np.diff(scores) <= 1e-6)
    # the returned score is the brute-force score of the returned title
    for b in range(3):
        ref = _brute_force(entries, table, prompts[b, -1], scoring, 1.0)
        assert ref[out.entries[b, 0]] == pytest.approx(out.scores[b, 0], rel=1e-4, abs=1e-5)


def test_more_beams_than_titles_leaves_empty_slots_not_free_text():
    _, trie, table, prompts = _world(2, n=3)
    out = _search(trie, table, prompts, num_beams=6, num_return=6, scoring="mask_then_softmax")
    assert np.all(np.sort(out.entries[:, :3], axis=1) == np.arange(3))
    assert np.all(out.entries[:, 3:] == -1) and np.all(np.isneginf(out.scores[:, 3:]))
    assert np.all(out.items[:, 3:] == -1)


def test_exact_match_metrics_against_slow_reference():
    rng = np.random.default_rng(0)
    entries = rng.integers(-1, 15, size=(40, 10))
    for row in entries:  # distinct per row, -1 allowed (empty slots)
        vals = rng.permutation(15)[:10]
        row[:] = np.where(rng.random(10) < 0.1, -1, vals)
    target = rng.integers(0, 15, size=40)
    got = exact_match_metrics(entries, target, ks=(1, 5, 10))
    for k in (1, 5, 10):
        hr, ndcg = [], []
        for row, t in zip(entries, target):
            rank = next((r for r, e in enumerate(row) if e == t), None)
            hit = rank is not None and rank < k
            hr.append(float(hit))
            ndcg.append(1.0 / np.log2(rank + 2) if hit else 0.0)
        assert got[f"hr@{k}"] == pytest.approx(np.mean(hr))
        assert got[f"ndcg@{k}"] == pytest.approx(np.mean(ndcg), rel=1e-6)


def _ragged_world(seed, n=30):
    """Short entries (1-3 tokens) and half as many long ones that branch off a prefix of an
    existing entry and add 6 tokens: subtree heights and minimum lengths differ per node."""
    rng = np.random.default_rng(seed)
    entries: set = set()
    while len(entries) < n:
        if entries and rng.random() < 0.5:
            base = sorted(entries)[rng.integers(len(entries))][:-1]
            head = base[: rng.integers(1, len(base) + 1)]
            entries.add(head + tuple(rng.integers(0, EOS, size=6).tolist()) + (EOS,))
        else:
            entries.add(tuple(rng.integers(0, EOS, size=rng.integers(1, 4)).tolist()) + (EOS,))
    entries = sorted(entries)
    trie = trie_lib.build_trie(entries, list(range(n)), [str(e) for e in entries], VOCAB)
    table = rng.normal(size=(VOCAB, trie.max_depth + 2, VOCAB)).astype(np.float32) * 2
    prompts = rng.integers(0, EOS, size=(6, 3)).astype(np.int32)
    return trie, table, prompts


@pytest.mark.parametrize("scoring", ["mask_then_softmax", "softmax_then_mask"])
def test_early_stop_matches_full_depth_search(scoring):
    """The remaining-length bound stops early yet returns exactly what max_depth steps return."""
    early = []
    for seed in range(2):
        trie, table, prompts = _ragged_world(seed)
        for length_penalty in (0.0, 0.5, 1.0, 2.0, -0.5):
            kw = {
                "num_beams": 4,
                "num_return": 4,
                "scoring": scoring,
                "length_penalty": length_penalty,
            }
            fast = _search(trie, table, prompts, **kw)
            full = _search(trie, table, prompts, early_stop=False, **kw)
            for name in ("entries", "scores", "items", "steps"):
                np.testing.assert_array_equal(
                    getattr(fast, name), getattr(full, name), err_msg=name
                )
            assert np.all((fast.steps >= 1) & (fast.steps <= trie.max_depth))
            early.append(fast.steps < trie.max_depth)
    assert 0.2 < np.mean(early) < 1.0  # both settled-early and full-depth rows are covered


BeamResult_fields = ("entries", "scores", "items", "steps")


@pytest.mark.parametrize("scoring", ["mask_then_softmax", "softmax_then_mask"])
def test_nan_logits_never_give_hypotheses(scoring):
    entries, trie, table, prompts = _world(3)
    n = len(entries)
    out = _search(trie, np.full_like(table, np.nan), prompts, num_beams=4, num_return=4,
                  scoring=scoring)  # fmt: skip
    assert np.all(out.entries == -1) and np.all(np.isneginf(out.scores))
    assert exact_match_metrics(out.entries, np.zeros(3, int), ks=(1, 4))["hr@4"] == 0.0
    # a NaN logit at one first token kills exactly the entries that start with it; the rest
    # keep their brute-force order
    bad = entries[0][0]
    poisoned = table.copy()
    poisoned[:, 0, bad] = np.nan
    out = _search(trie, poisoned, prompts, num_beams=n, num_return=n, scoring=scoring,
                  length_penalty=0.0)  # fmt: skip
    alive = np.array([e[0] != bad for e in entries])
    if scoring == "softmax_then_mask":  # a NaN anywhere poisons the full-vocabulary softmax
        assert np.all(out.entries == -1)
        return
    for b in range(3):
        # dropping the NaN token shifts every surviving entry's score by the same constant
        ref = _brute_force(entries, table, prompts[b, -1], scoring, 0.0)
        order = [e for e in np.argsort(-ref, kind="stable") if alive[e]]
        got = out.entries[b]
        np.testing.assert_array_equal(got[: len(order)], order)
        assert np.all(got[len(order) :] == -1)
