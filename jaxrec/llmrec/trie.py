"""The item-title trie over token ids (paper §4.1; ``Z_valid`` of eq. 9), as static arrays usable
inside ``jit``.

One entry per item: ``tokenizer.encode('"' + title + '"') + [eos]``; items with the same entry
(duplicate titles) share its leaf. ``Z_valid`` after a prefix is the set of child tokens of the
node the prefix reaches.

Storage is CSR, not a dense ``[N, F]`` children table: a node's children are
``child_tokens[offsets[n]:offsets[n + 1]]`` (sorted by token) with their node ids in
``child_nodes``. A dense table costs ``N x F`` with ``F`` the largest fan-out, and the fan-out
after the opening quote is the number of distinct first title tokens (hundreds to thousands on
Amazon catalogues), so it would be hundreds of MB; CSR is ``O(N)``. :func:`children` returns the
padded ``[..., F]`` view for any array of node ids inside ``jit``.

``height[n]`` / ``min_remaining[n]`` are the largest / smallest number of further tokens (EOS
included) from node ``n`` to the end of an entry (0 at a leaf); constrained beam search uses them
to bound the final length of a running beam.

A leaf (the node after EOS) has no children; ``leaf_entry[n]`` is its entry index, and
``entry_items[e]`` lists the item ids of entry ``e`` (padded with -1). Evaluation compares entry
indices, i.e. exact title match, so a duplicate title counts as a hit for either id.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "TitleTrie",
    "TokenizationMismatchError",
    "TrieArrays",
    "build_trie",
    "children",
    "entries_from_titles",
    "remaining_lengths",
    "title_entry",
    "walk_responses",
]


def title_entry(title: str) -> str:
    """The text of a title's trie entry and training target (before EOS): ``"<title>"``."""
    return f'"{title}"'


class TrieArrays(NamedTuple):
    """The device part of a trie (a pytree of int32 arrays)."""

    offsets: jax.Array  # [N + 1]
    child_tokens: jax.Array  # [E]
    child_nodes: jax.Array  # [E]
    leaf_entry: jax.Array  # [N], -1 for inner nodes
    height: jax.Array  # [N] most further tokens to an entry's end
    min_remaining: jax.Array  # [N] fewest further tokens to an entry's end


@dataclasses.dataclass(frozen=True)
class TitleTrie:
    """Host-side trie. Node 0 is the root.

    Attributes:
      offsets: int32 ``[N + 1]`` CSR row pointers.
      child_tokens: int32 ``[E]`` child token ids, sorted within each node.
      child_nodes: int32 ``[E]`` child node ids.
      leaf_entry: int32 ``[N]`` entry index of a leaf, -1 for inner nodes.
      entry_items: int32 ``[num_entries, D]`` item ids per entry, padded with -1.
      entry_titles: the title of each entry (the first item's title).
      item_entry: int32 ``[max_item_id + 1]`` entry of each item id, -1 for unknown ids.
      vocab_size: token ids are in ``[0, vocab_size)``.
      max_depth: the longest entry, in tokens (EOS included).
      height: int32 ``[N]`` largest number of further tokens from a node to an entry's end.
      min_remaining: int32 ``[N]`` smallest such number (both 0 at a leaf).
    """

    offsets: np.ndarray
    child_tokens: np.ndarray
    child_nodes: np.ndarray
    leaf_entry: np.ndarray
    entry_items: np.ndarray
    entry_titles: tuple[str, ...]
    item_entry: np.ndarray
    vocab_size: int
    max_depth: int
    height: np.ndarray
    min_remaining: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def fanout(self) -> np.ndarray:
        """int32 ``[N]`` number of children of each node."""
        return np.diff(self.offsets).astype(np.int32)

    @property
    def max_fanout(self) -> int:
        return int(self.fanout.max())

    @property
    def first_branch(self) -> tuple[int, int]:
        """``(depth, fan-out)`` of the first node on the common path from the root with more than
        one child (the "root fan-out" of the authors' ATS when the root itself branches)."""
        node, depth, fanout = 0, 0, self.fanout
        while fanout[node] == 1:
            node, depth = int(self.child_nodes[self.offsets[node]]), depth + 1
        return depth, int(fanout[node])

    def arrays(self) -> TrieArrays:
        return TrieArrays(
            jnp.asarray(self.offsets),
            jnp.asarray(self.child_tokens),
            jnp.asarray(self.child_nodes),
            jnp.asarray(self.leaf_entry),
            jnp.asarray(self.height),
            jnp.asarray(self.min_remaining),
        )

    def entry_of_items(self, item_ids: np.ndarray) -> np.ndarray:
        """Entry index of each item id (raises on unknown ids)."""
        item_ids = np.asarray(item_ids)
        bad = (item_ids < 0) | (item_ids >= self.item_entry.shape[0])
        entries = np.where(bad, -1, self.item_entry[np.where(bad, 0, item_ids)])
        if (entries < 0).any():
            raise KeyError(f"item ids not in the trie: {np.unique(item_ids[entries < 0])[:10]}")
        return entries


def build_trie(
    entries: Sequence[Sequence[int]],
    item_ids: Sequence[int],
    titles: Sequence[str],
    vocab_size: int,
) -> TitleTrie:
    """Builds the trie from one token sequence per item.

    Args:
      entries: token ids of each item's entry, EOS included (every entry must end at a leaf: no
        entry may be a proper prefix of another).
      item_ids: the item id of each entry (non-negative, distinct).
      titles: the title of each entry (kept for reports).
      vocab_size: size of the token id space.

    Raises:
      ValueError: on empty or out-of-range entries, duplicate item ids, or an entry that is a
        prefix of another (a missing EOS).
    """
    if not (len(entries) == len(item_ids) == len(titles)) or not entries:
        raise ValueError(
            f"need equal, non-zero numbers of entries ({len(entries)}), item ids "
            f"({len(item_ids)}) and titles ({len(titles)})"
        )
    if len(set(item_ids)) != len(item_ids) or min(item_ids) < 0:
        raise ValueError("item ids must be distinct and non-negative")
    nodes: list[dict[int, int]] = [{}]
    leaf_of: dict[int, int] = {}  # leaf node -> entry index
    entry_members: list[list[int]] = []
    entry_titles: list[str] = []
    item_entry = np.full(max(item_ids) + 1, -1, np.int32)
    max_depth = 0
    for tokens, item, title in zip(entries, item_ids, titles):
        if not tokens or min(tokens) < 0 or max(tokens) >= vocab_size:
            raise ValueError(f"item {item} ({title!r}): entry {list(tokens)} empty or out of range")
        node = 0
        for tok in tokens:
            nxt = nodes[node].get(tok)
            if nxt is None:
                if node in leaf_of:
                    raise ValueError(f"item {item} ({title!r}) extends a complete entry")
                nxt = len(nodes)
                nodes[node][tok] = nxt
                nodes.append({})
            node = nxt
        if nodes[node]:
            raise ValueError(f"item {item} ({title!r}): entry is a prefix of another entry")
        if node not in leaf_of:
            leaf_of[node] = len(entry_members)
            entry_members.append([])
            entry_titles.append(title)
        entry_members[leaf_of[node]].append(item)
        item_entry[item] = leaf_of[node]
        max_depth = max(max_depth, len(tokens))
    fanout = np.array([len(c) for c in nodes], np.int32)
    offsets = np.concatenate([[0], np.cumsum(fanout)]).astype(np.int32)
    child_tokens = np.empty(offsets[-1], np.int32)
    child_nodes = np.empty(offsets[-1], np.int32)
    for n, kids in enumerate(nodes):
        ordered = sorted(kids.items())
        child_tokens[offsets[n] : offsets[n + 1]] = [t for t, _ in ordered]
        child_nodes[offsets[n] : offsets[n + 1]] = [c for _, c in ordered]
    leaf_entry = np.full(len(nodes), -1, np.int32)
    leaf_entry[list(leaf_of)] = list(leaf_of.values())
    height, min_remaining = remaining_lengths(offsets, child_nodes)
    width = max(len(m) for m in entry_members)
    entry_items = np.full((len(entry_members), width), -1, np.int32)
    for e, members in enumerate(entry_members):
        entry_items[e, : len(members)] = members
    return TitleTrie(
        offsets,
        child_tokens,
        child_nodes,
        leaf_entry,
        entry_items,
        tuple(entry_titles),
        item_entry,
        int(vocab_size),
        max_depth,
        height,
        min_remaining,
    )


def _child_edges(offsets: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR edge indices of ``nodes``' children, concatenated node by node, and the start of each
    node's run in that concatenation."""
    counts = offsets[nodes + 1] - offsets[nodes]
    starts = np.cumsum(counts) - counts
    edges = np.repeat(offsets[nodes] - starts, counts) + np.arange(counts.sum())
    return edges, starts


def remaining_lengths(
    offsets: np.ndarray, child_nodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(height, min_remaining)``, int32 ``[N]``: the largest and smallest number of tokens from
    each node to a leaf, i.e. ``h(n) = 1 + max/min over children h(c)``, ``h(leaf) = 0``.

    Vectorised: the nodes are split into depth levels by a breadth-first sweep from the root, then
    one reverse pass over the levels reduces each inner node's children (``O(N)`` work in all).
    """
    offsets = np.asarray(offsets, np.int64)
    levels, frontier = [], np.zeros(1, np.int64)
    while frontier.size:
        levels.append(frontier)
        frontier = child_nodes[_child_edges(offsets, frontier)[0]].astype(np.int64)
    height = np.zeros(offsets.shape[0] - 1, np.int32)
    min_remaining = np.zeros_like(height)
    for level in reversed(levels[:-1]):
        inner = level[offsets[level + 1] > offsets[level]]
        edges, starts = _child_edges(offsets, inner)
        kids = child_nodes[edges]
        height[inner] = 1 + np.maximum.reduceat(height[kids], starts)
        min_remaining[inner] = 1 + np.minimum.reduceat(min_remaining[kids], starts)
    return height, min_remaining


def children(trie: TrieArrays, nodes: jax.Array, max_fanout: int) -> tuple[jax.Array, jax.Array]:
    """Padded children of ``nodes`` (any shape ``[...]``; -1 = no node) inside ``jit``.

    Returns:
      ``(tokens, child)``, int32 ``[..., max_fanout]`` each, -1 past a node's fan-out.
    """
    nodes = jnp.asarray(nodes)
    safe = jnp.maximum(nodes, 0)
    start = trie.offsets[safe]
    count = jnp.where(nodes >= 0, trie.offsets[safe + 1] - start, 0)
    slot = jnp.arange(max_fanout, dtype=jnp.int32).reshape((1,) * nodes.ndim + (max_fanout,))
    valid = slot < count[..., None]
    index = jnp.clip(start[..., None] + slot, 0, trie.child_tokens.shape[0] - 1)
    tokens = jnp.where(valid, trie.child_tokens[index], -1)
    child = jnp.where(valid, trie.child_nodes[index], -1)
    return tokens, child


class TokenizationMismatchError(ValueError):
    """Responses whose tokens leave the trie (tokenised differently in the prompt than alone)."""

    def __init__(self, message: str, rows: np.ndarray):
        super().__init__(message)
        self.rows = rows


def walk_responses(
    trie: TitleTrie,
    responses: np.ndarray,
    item_ids: np.ndarray,
    *,
    drop_mismatched: bool = False,
    source: str = "responses",
) -> tuple[np.ndarray, np.ndarray]:
    """Walks each response (its tokens as tokenised inside the prompt) down the trie.

    Vectorised over examples, one numpy step per token position.

    Args:
      trie: the title trie.
      responses: int ``[n, T]`` response tokens (EOS included), left-aligned, padded with -1.
      item_ids: int ``[n]`` the target item of each example (for the report).
      drop_mismatched: warn and drop mismatched examples instead of raising.
      source: name used in messages.

    Returns:
      ``(nodes, keep)``: int32 ``[n, T]`` the node *before* each response token (whose children
      are ``Z_valid`` for that token; -1 at padding), and bool ``[n]`` the examples that walked
      the trie to a leaf.

    Raises:
      TokenizationMismatchError: listing every example whose response leaves the trie or stops
        before a leaf (README.md, "Quirks"), with its item id and title, unless ``drop_mismatched``.
    """
    responses = np.asarray(responses, np.int64)
    item_ids = np.asarray(item_ids)
    n, steps = responses.shape
    keys = trie.child_tokens.astype(np.int64) + np.repeat(
        np.arange(trie.num_nodes, dtype=np.int64), trie.fanout
    ) * np.int64(trie.vocab_size)
    nodes = np.full((n, steps), -1, np.int32)
    current = np.zeros(n, np.int64)
    ok = np.ones(n, bool)
    fail_step = np.full(n, -1)
    for t in range(steps):
        tok = responses[:, t]
        active = ok & (tok >= 0)
        nodes[active, t] = current[active]
        key = current * trie.vocab_size + np.clip(tok, 0, trie.vocab_size - 1)
        pos = np.minimum(np.searchsorted(keys, key), max(keys.shape[0] - 1, 0))
        hit = (keys[pos] == key) & (tok < trie.vocab_size)
        bad = active & ~hit
        fail_step[bad] = t
        ok &= ~bad
        current = np.where(active & hit, trie.child_nodes[pos], current)
    incomplete = ok & (trie.leaf_entry[current] < 0)
    fail_step[incomplete] = (responses[incomplete] >= 0).sum(-1)
    ok &= ~incomplete
    if ok.all():
        return nodes, ok
    rows = np.flatnonzero(~ok)
    lines = []
    for r in rows[:20]:
        item = int(item_ids[r])
        entry = trie.item_entry[item] if 0 <= item < trie.item_entry.shape[0] else -1
        title = trie.entry_titles[entry] if entry >= 0 else "<unknown item>"
        lines.append(
            f"  row {r}: item {item} {title!r}: leaves the trie at response token "
            f"{fail_step[r]} ({responses[r][responses[r] >= 0].tolist()})"
        )
    more = f"\n  ... and {rows.size - 20} more" if rows.size > 20 else ""
    message = (
        f"{source}: {rows.size} of {n} responses are tokenised differently inside the prompt "
        'than their title alone (see jaxrec/llmrec/README.md, "Quirks"):\n'
        + "\n".join(lines)
        + more
    )
    if not drop_mismatched:
        raise TokenizationMismatchError(message, rows)
    warnings.warn(message + "\n  dropping them (drop_mismatched=True)", stacklevel=2)
    return nodes, ok


def entries_from_titles(
    encode_batch, titles: Mapping[int, str], eos_id: int
) -> tuple[list[list[int]], list[int], list[str]]:
    """(token entries, item ids, titles) for :func:`build_trie` from ``{item id: title}``."""
    ids = sorted(titles)
    texts = [titles[i] for i in ids]
    encoded = encode_batch([title_entry(t) for t in texts])
    return [list(e) + [eos_id] for e in encoded], ids, texts
