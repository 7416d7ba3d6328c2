"""Title trie (arrays vs a dict trie, walk, mismatch report), prompts encoding, and ATS vs a
numpy re-implementation of the authors' ATS steps 1-9 (jaxrec/llmrec/README.md)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.data import synthetic_title_world
from jaxrec.llmrec import trie as trie_lib
from jaxrec.llmrec.ats import ats_init, ats_rows, ats_statistics, ats_step
from jaxrec.llmrec.config import ats_preset
from jaxrec.llmrec.prompts import encode_windows
from jaxrec.llmrec.tokenizer import TextTokenizer

EOS = 9


def _random_entries(seed, n=30, vocab=9):
    rng = np.random.default_rng(seed)
    entries = set()
    while len(entries) < n:
        entries.add(tuple(rng.integers(0, vocab, size=rng.integers(1, 6)).tolist()) + (EOS,))
    entries = sorted(entries)
    entries.append(entries[3])  # a duplicated title: two items share one entry
    ids = list(range(5, 5 + len(entries)))
    titles = [f"t{e}" for e in range(len(entries) - 1)] + ["t3"]
    return entries, ids, titles


def _dict_trie(entries):
    root: dict = {}
    for e in entries:
        node = root
        for t in e:
            node = node.setdefault(t, {})
    return root


def test_trie_arrays_match_dict_trie():
    entries, ids, titles = _random_entries(0)
    trie = trie_lib.build_trie(entries, ids, titles, vocab_size=EOS + 1)
    ref = _dict_trie(entries)
    arrays = trie.arrays()
    lookup = jax.jit(lambda n: trie_lib.children(arrays, n, trie.max_fanout))
    node_ids = {(): 0}
    for e in entries:  # walk every prefix in the arrays and the dict side by side
        node, ref_node = 0, ref
        for i, tok in enumerate(e):
            tokens, child = map(np.asarray, lookup(jnp.asarray([node])))
            valid = tokens[0] >= 0
            assert sorted(tokens[0][valid].tolist()) == sorted(ref_node)
            node = int(child[0][tokens[0] == tok][0])
            node_ids[tuple(e[: i + 1])] = node
            ref_node = ref_node[tok]
        assert trie.leaf_entry[node] >= 0 and not ref_node
    # distinct prefixes <-> distinct nodes; duplicates share an entry; items map back.
    assert len(set(node_ids.values())) == len(node_ids) == trie.num_nodes
    assert trie.entry_items.shape == (len(entries) - 1, 2)
    dup = trie.item_entry[ids[-1]]
    assert dup == trie.item_entry[ids[3]] and sorted(trie.entry_items[dup]) == [ids[3], ids[-1]]
    tokens, _ = lookup(jnp.asarray([-1]))
    assert np.all(np.asarray(tokens) == -1)
    # remaining lengths: longest / shortest completion of each prefix among the entries
    for prefix, node in node_ids.items():
        rest = [len(e) - len(prefix) for e in entries if tuple(e[: len(prefix)]) == prefix]
        assert (trie.height[node], trie.min_remaining[node]) == (max(rest), min(rest))
    np.testing.assert_array_equal(np.asarray(arrays.height), trie.height)
    assert trie.height[0] == trie.max_depth


def test_build_trie_rejects_prefix_entries():
    with pytest.raises(ValueError, match="prefix"):
        trie_lib.build_trie([[1, 2, EOS], [1, 2]], [1, 2], ["a", "b"], EOS + 1)
    with pytest.raises(ValueError, match="out of range"):
        trie_lib.build_trie([[1, 20]], [1], ["a"], EOS + 1)


def test_walk_nodes_and_mismatch_report():
    entries, ids, titles = _random_entries(1)
    trie = trie_lib.build_trie(entries, ids, titles, vocab_size=EOS + 1)
    width = trie.max_depth
    responses = np.full((len(entries), width), -1)
    for i, e in enumerate(entries):
        responses[i, : len(e)] = e
    nodes, keep = trie_lib.walk_responses(trie, responses, np.array(ids))
    assert keep.all()
    arrays = trie.arrays()
    for i, e in enumerate(entries):  # children of the node before token t contain token t
        tokens, _ = trie_lib.children(arrays, jnp.asarray(nodes[i, : len(e)]), trie.max_fanout)
        assert all(e[t] in np.asarray(tokens[t]).tolist() for t in range(len(e)))
        assert np.all(nodes[i, len(e) :] == -1)
    bad = responses.copy()
    bad[2, 0] = 99  # a token outside the trie
    bad[4, len(entries[4]) - 1] = -1  # stops before EOS
    with pytest.raises(trie_lib.TokenizationMismatchError) as err:
        trie_lib.walk_responses(trie, bad, np.array(ids))
    assert list(err.value.rows) == [2, 4]
    assert f"item {ids[2]} 't2'" in str(err.value) and f"item {ids[4]} 't4'" in str(err.value)
    with pytest.warns(UserWarning, match="dropping"):
        _, keep = trie_lib.walk_responses(trie, bad, np.array(ids), drop_mismatched=True)
    assert np.flatnonzero(~keep).tolist() == [2, 4]


class _CharTokenizer(TextTokenizer):
    """One token per byte, except that '\\n"A' inside a prompt becomes '\\n' + one merged token
    '"A' (a context-dependent tokenisation)."""

    MERGED = 256

    def __init__(self):
        super().__init__(None, eos_id=257, pad_id=258, vocab_size=259)

    def encode_batch(self, texts):
        out = []
        for text in texts:
            ids, i = [], 0
            while i < len(text):
                if text[i : i + 2] == '"A' and i > 0 and text[i - 1] == "\n":
                    ids.append(self.MERGED)
                    i += 2
                else:
                    ids.append(ord(text[i]))
                    i += 1
            out.append(ids)
        return out


def test_encode_windows_layout_and_tokenisation_mismatch():
    world = synthetic_title_world(num_users=40, num_valid=10, num_test=10, seed=3)
    tok = _CharTokenizer()
    entries, ids, titles = trie_lib.entries_from_titles(tok.encode_batch, world.titles, tok.eos_id)
    trie = trie_lib.build_trie(entries, ids, titles, tok.vocab_size)
    enc = encode_windows(
        world.test, world.titles, tok, trie, dataset="synthetic", style="compact",
        max_prompt_len=300, max_history=2,
    )  # fmt: skip
    r = trie.max_depth
    assert enc["input_ids"].shape == (10, 300 + r)
    # The last R inputs are the supervised response where targets >= 0.
    sup = enc["targets"] >= 0
    np.testing.assert_array_equal(enc["input_ids"][:, -r:][sup], enc["targets"][sup])
    assert np.all(enc["targets"][:, -1] == tok.eos_id)
    np.testing.assert_array_equal(sup, enc["nodes"] >= 0)
    # A title starting with "A" tokenises differently after the prompt's newline.
    world_a = dataclasses.replace(world, titles={**world.titles, 1: "Alpha Book"})
    entries, ids, titles = trie_lib.entries_from_titles(tok.encode_batch, world_a.titles, 257)
    trie = trie_lib.build_trie(entries, ids, titles, tok.vocab_size)
    window = world_a.test.subset(slice(0, 1))
    window.items[0, window.lengths[0] - 1] = 1
    with pytest.raises(trie_lib.TokenizationMismatchError, match="item 1 'Alpha Book'"):
        encode_windows(window, world_a.titles, tok, trie, dataset="synthetic", style="compact",
                       max_prompt_len=300)  # fmt: skip


# --------------------------------------------------------------------------------------------
# ATS


def _ats_numpy(prev, step, cand, valid, gold, where, cfg, branch):
    """The authors' ATS steps 1-9 in float64 numpy, row by row."""
    counts = valid.sum(-1)
    multi = where & (counts > 1)
    if cfg.rows == "first_multi_valid":
        rows = np.zeros_like(multi)
        for idx in np.ndindex(multi.shape[:-1]):
            hits = np.flatnonzero(multi[idx])
            if hits.size:
                rows[idx + (hits[0],)] = True
    elif cfg.rows == "root_count":
        rows = multi & (counts == branch)
    else:
        rows = multi
    pos = gold[rows].astype(np.float64)
    neg = cand[rows][valid[rows]].astype(np.float64)
    if pos.size == 0:
        target, ok = np.nan, False
    else:
        m = neg.size / pos.size if cfg.m == "mean_valid" else branch
        c = np.log(m * cfg.eta)
        delta = pos.mean() - neg.mean()
        root = np.sqrt(max(delta**2 - 2 * c * neg.var(ddof=1), 0.0))
        target = (delta + root if cfg.root == "larger" else delta - root) / (2 * c)
        ok = c > 0 and np.isfinite(target) and target > 0
        if cfg.clamp is not None:
            target = np.clip(target, *cfg.clamp)
    new = target if cfg.ema is None else (1 - cfg.ema) * prev + cfg.ema * target
    new = new if ok else prev
    if cfg.warm_up != -1 and step < cfg.warm_up:
        new = cfg.tau0
    return new


def _ats_problem(seed, branch=6):
    rng = np.random.default_rng(seed)
    b, t, f = 5, 6, 8
    counts = rng.integers(1, f + 1, size=(b, t))
    counts[:, 0] = 1  # opening quote: a single valid token
    counts[:, 1] = branch  # the first branching node
    valid = np.arange(f) < counts[..., None]
    cand = rng.normal(size=(b, t, f)).astype(np.float32) * 2
    gold = cand[..., 0] + rng.normal(size=(b, t)).astype(np.float32) + 1.5
    where = np.ones((b, t), bool)
    where[0, :2] = False  # this example's response starts later
    return cand, valid, gold, where


CONFIGS = {
    "code": ats_preset("code"),
    "paper": ats_preset("paper"),
    "code_literal_rows": dataclasses.replace(ats_preset("code"), rows="root_count"),
    "no_clamp_smaller": dataclasses.replace(ats_preset("code"), clamp=None, root="smaller"),
    "warm_up": dataclasses.replace(ats_preset("code"), warm_up=3),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("seed", [0, 1])
def test_ats_matches_numpy_reference(name, seed):
    cfg = CONFIGS[name]
    cand, valid, gold, where = _ats_problem(seed)
    branch = 6

    @jax.jit
    def run(state, cand, gold):
        rows = ats_rows(valid.sum(-1), where, cfg.rows, branch)
        stats = ats_statistics(cand, valid, gold, rows)
        return ats_step(state, stats, cfg, branch)

    state = ats_init(cfg)
    prev = cfg.tau0
    for step in range(5):  # a trajectory: EMA, warm-up and clamp interact across steps
        c = cand * (1 + step)
        tau, _ = run(state, c, gold * (1 + step))
        expected = _ats_numpy(prev, step, c, valid, gold * (1 + step), where, cfg, branch)
        np.testing.assert_allclose(float(tau), expected, rtol=1e-4)
        state = {"tau": tau, "step": state["step"] + 1}
        prev = expected
        if cfg.clamp is not None:
            assert cfg.clamp[0] - 1e-6 <= float(tau) <= cfg.clamp[1] + 1e-6


def test_ats_guards_keep_previous_tau():
    cfg = dataclasses.replace(ats_preset("code"), clamp=None)
    cand, valid, gold, where = _ats_problem(2)
    state = {"tau": jnp.asarray(2.7, jnp.float32), "step": jnp.asarray(10, jnp.int32)}
    # Empty row set: every supervised position has one valid token.
    single = np.zeros_like(valid)
    single[..., 0] = True
    rows = ats_rows(single.sum(-1), where, cfg.rows, 6)
    assert not bool(rows.any())
    tau, _ = ats_step(state, ats_statistics(cand, single, gold, rows), cfg, 6)
    assert float(tau) == pytest.approx(2.7)
    # C = log(m * eta) <= 0 (m = 4, eta = 0.25): no positive root.
    rows = ats_rows(valid.sum(-1), where, cfg.rows, 4)
    tau, _ = ats_step(state, ats_statistics(cand, valid, gold, rows), cfg, 4)
    assert float(tau) == pytest.approx(2.7)


def test_ats_rows_by_position_not_count():
    """A quirk (jaxrec/llmrec/README.md): with a separate opening-quote token the root fan-out is 1,
    so the code's count rule selects nothing; selecting by position finds the first branching
    rows."""
    _, valid, _, where = _ats_problem(3)
    counts = jnp.asarray(valid.sum(-1))
    assert not bool(ats_rows(counts, where, "root_count", 1).any())
    rows = np.asarray(ats_rows(counts, where, "first_multi_valid", 1))
    assert rows.sum(-1).tolist() == [1] * 5
    assert rows[1:, 1].all() and rows[0, 2]  # row 0's response starts at position 2
