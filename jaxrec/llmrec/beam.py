"""Constrained beam search (CBS) over the title trie, batched with fixed shapes, and exact-match
HR/NDCG (paper §4.1, §5.1.3; the authors' exact-match protocol: README.md "Evaluation").

The decoder interface (``jaxrec.models.llm``): ``init_cache(batch, max_len)``,
``prefill(input_ids, attention_mask, cache) -> (logits [B, T, V], cache)`` for left-padded
prompts, ``decode(token_ids [B], cache) -> (logits [B, V], cache)`` and ``cache.take(rows)``.

Each step scores, for every beam, only the trie children of its node (``F`` = largest fan-out)
instead of the vocabulary:

- ``"softmax_then_mask"`` (HF ``prefix_allowed_tokens_fn`` style, paper Table 5; default):
  ``log_softmax`` over the full vocabulary, then keep the valid tokens;
- ``"mask_then_softmax"`` (the authors' updated decoder): ``log_softmax`` over the valid tokens,
  consistent with MSL training.

Beam bookkeeping follows HF beam search: the ``2K`` best (beam, token) candidates by summed
log-probability are taken in order; a candidate that completes an entry (its child is a leaf,
i.e. the token is EOS) joins the finished pool if it ranks among the first ``K``, with score
``sum_logprob / length ** length_penalty`` (``length`` = generated tokens including EOS;
``length_penalty=0``: no normalisation); the first ``K`` other candidates continue.

Stopping (exact, not HF's heuristic): a row is settled once its pool is full and no running beam
can beat the pool's worst score. A running beam with summed log-prob ``s <= 0`` at node ``u``
after ``t`` tokens ends with length ``l`` in ``[t + min_remaining[u], t + height[u]]`` (trie
arrays) and summed log-prob ``s' <= s`` (log-probs are ``<= 0``), so its final score is
``s' / l**p <= s / l**p <= s / max_l l**p``: the largest ``l`` for ``p > 0``, the smallest for
``p < 0``, ``s`` itself for ``p = 0``. A settled row's pool can no longer change (a tie keeps the
older entry), so the loop ends when every row is settled, or at the trie's depth. Every returned
hypothesis is a catalogue entry by construction: a beam
whose valid set is empty is dead (score -inf), never decoded unconstrained; pool slots that no
entry reached are returned as entry -1 with score -inf. Non-finite log-probabilities count as
-inf (dead), so NaN logits give entry -1 (never a hit), not a free top rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.llmrec.trie import TrieArrays, children
from jaxrec.metrics import ranking_metrics

__all__ = ["SCORINGS", "BeamResult", "constrained_beam_search", "exact_match_metrics"]

SCORINGS = ("softmax_then_mask", "mask_then_softmax")


class BeamResult(NamedTuple):
    """Hypotheses best first. ``entries`` int32 ``[B, R]`` trie entry (title) ids, -1 = none;
    ``scores`` float32 ``[B, R]``; ``items`` int32 ``[B, R, D]`` the entry's item ids (several
    for a duplicated title), padded with -1; ``steps`` int32 ``[B]`` decode steps until the row
    was settled (the loop ran the largest of them, or the trie depth with ``early_stop=False``)."""

    entries: jax.Array
    scores: jax.Array
    items: jax.Array
    steps: jax.Array


def _candidate_logprobs(
    logits: jax.Array, tokens: jax.Array, valid: jax.Array, scoring: str
) -> jax.Array:
    """log-probabilities ``[B, K, F]`` of the candidate tokens (-inf where not valid).

    A non-finite log-probability (NaN or inf logits from a diverged model) is -inf too: the
    candidate is dead, so it can neither take a beam slot (``lax.top_k`` ranks NaN first) nor
    be returned as a hypothesis. ``mask_then_softmax`` drops non-finite candidate logits before
    normalising over the rest; with ``softmax_then_mask`` one NaN logit anywhere in the
    vocabulary makes every candidate of that beam dead.
    """
    logits = logits.astype(jnp.float32)
    safe = jnp.maximum(tokens, 0)
    if scoring == "softmax_then_mask":
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), safe, axis=-1)
    elif scoring == "mask_then_softmax":
        candidate = jnp.take_along_axis(logits, safe, axis=-1)
        valid = valid & jnp.isfinite(candidate)  # a NaN/inf logit leaves the valid set
        masked = jnp.where(valid, candidate, -jnp.inf)
        masked = jnp.where(jnp.any(valid, axis=-1, keepdims=True), masked, 0.0)
        logp = masked - jax.nn.logsumexp(masked, axis=-1, keepdims=True)
    else:
        raise ValueError(f"unknown cbs scoring {scoring!r}; expected one of {SCORINGS}")
    return jnp.where(valid & jnp.isfinite(logp), logp, -jnp.inf)


def _length_bound_tables(max_depth: int, length_penalty: float) -> tuple[jax.Array, jax.Array]:
    """``(penalty, bound)``, float32 ``[max_depth]`` indexed by ``length - 1``: ``penalty[l - 1] =
    l ** p`` and the largest penalty a beam whose final length is known to be ``>= l`` (``p < 0``)
    or ``<= l`` (``p >= 0``) can get, as a running max (exact even if float ``pow`` were not
    monotone)."""
    penalty = jnp.arange(1, max_depth + 1, dtype=jnp.float32) ** length_penalty
    bound = jax.lax.cummax(penalty, reverse=length_penalty < 0)
    return penalty, bound


def constrained_beam_search(
    model: Any,
    trie: TrieArrays,
    entry_items: jax.Array,
    prompt_ids: jax.Array,
    prompt_mask: jax.Array,
    *,
    max_fanout: int,
    max_depth: int,
    num_beams: int = 10,
    num_return: int = 10,
    scoring: str = "softmax_then_mask",
    length_penalty: float = 1.0,
    early_stop: bool = True,
) -> BeamResult:
    """Beam search restricted to the trie's entries (call it under ``jax.jit``).

    Args:
      model: a decoder with ``init_cache``/``prefill``/``decode`` (module docstring).
      trie: the trie's device arrays (``TitleTrie.arrays()``).
      entry_items: int32 ``[num_entries, D]`` (``TitleTrie.entry_items``).
      prompt_ids: int32 ``[B, P]`` left-padded prompts; ``prompt_mask`` bool ``[B, P]``.
      max_fanout, max_depth: the trie's largest fan-out and deepest entry (static).
      num_beams: ``K``; num_return: hypotheses returned, ``<= K``.
      scoring: ``"softmax_then_mask"`` or ``"mask_then_softmax"``.
      length_penalty: exponent of the length normalisation (HF semantics; 0 = none).
      early_stop: end the loop once every row is settled (module docstring); ``False`` always
        runs ``max_depth`` steps (same result; a reference for tests).
    """
    if scoring not in SCORINGS:
        raise ValueError(f"unknown cbs scoring {scoring!r}; expected one of {SCORINGS}")
    if not 1 <= num_return <= num_beams:
        raise ValueError(f"need 1 <= num_return <= num_beams, got {num_return=}, {num_beams=}")
    batch, prompt_len = prompt_ids.shape
    k, f = num_beams, max_fanout
    width = min(2 * k, k * f)
    cache = model.init_cache(batch, prompt_len + max_depth + 1)
    logits, cache = model.prefill(prompt_ids, prompt_mask, cache)
    cache = cache.take(jnp.repeat(jnp.arange(batch), k))
    last = jnp.repeat(logits[:, -1], k, axis=0)
    vocab = last.shape[-1]
    first = jnp.arange(k) == 0
    carry = {
        "step": jnp.zeros((), jnp.int32),
        "cache": cache,
        "last": last,
        "node": jnp.zeros((batch, k), jnp.int32),
        "score": jnp.broadcast_to(jnp.where(first, 0.0, -jnp.inf)[None, :], (batch, k)),
        "fin_score": jnp.full((batch, k), -jnp.inf),
        "fin_entry": jnp.full((batch, k), -1, jnp.int32),
        "steps": jnp.zeros(batch, jnp.int32),
    }
    penalty, bound_penalty = _length_bound_tables(max_depth, length_penalty)
    remaining = trie.min_remaining if length_penalty < 0 else trie.height

    def settled(c: dict) -> jax.Array:
        """bool ``[B]``: no running beam can beat the worst finished hypothesis (pool full)."""
        length = c["step"] + remaining[c["node"]]  # [B, K] extreme final length of each beam
        bound = c["score"] / bound_penalty[jnp.clip(length, 1, max_depth) - 1]
        best = jnp.max(bound, axis=-1)
        pool_floor = jnp.min(c["fin_score"], axis=-1)
        return ~jnp.isfinite(best) | (jnp.isfinite(pool_floor) & (best <= pool_floor))

    def cond(c: dict) -> jax.Array:
        running = c["step"] < max_depth
        return running & ~jnp.all(settled(c)) if early_stop else running

    def body(c: dict) -> dict:
        tokens, child = children(trie, c["node"], f)  # [B, K, F]
        logp = _candidate_logprobs(c["last"].reshape(batch, k, vocab), tokens, tokens >= 0, scoring)
        total = (c["score"][..., None] + logp).reshape(batch, k * f)
        top, index = jax.lax.top_k(total, width)  # best first
        cand_child = jnp.take_along_axis(child.reshape(batch, k * f), index, axis=-1)
        cand_tok = jnp.take_along_axis(tokens.reshape(batch, k * f), index, axis=-1)
        alive = jnp.isfinite(top)
        cand_entry = jnp.where(alive, trie.leaf_entry[jnp.maximum(cand_child, 0)], -1)
        ends = alive & (cand_entry >= 0)
        rank = jnp.arange(width)[None, :]
        # Finished pool: EOS candidates ranked among the first K, length-normalised.
        new_fin = jnp.where(ends & (rank < k), top / penalty[c["step"]], -jnp.inf)
        pool_score = jnp.concatenate([c["fin_score"], new_fin], axis=-1)
        pool_entry = jnp.concatenate([c["fin_entry"], jnp.where(ends, cand_entry, -1)], axis=-1)
        fin_score, pick = jax.lax.top_k(pool_score, k)
        fin_entry = jnp.where(
            jnp.isfinite(fin_score), jnp.take_along_axis(pool_entry, pick, axis=-1), -1
        )
        # Running beams: the first K candidates that do not end.
        cont = alive & ~ends
        _, sel = jax.lax.top_k(jnp.where(cont, -rank, -width - rank), k)
        keep = jnp.take_along_axis(cont, sel, axis=-1)
        score = jnp.where(keep, jnp.take_along_axis(top, sel, axis=-1), -jnp.inf)
        node = jnp.where(keep, jnp.take_along_axis(cand_child, sel, axis=-1), 0)
        token = jnp.where(keep, jnp.take_along_axis(cand_tok, sel, axis=-1), 0)
        source = jnp.take_along_axis(index, sel, axis=-1) // f
        rows = (jnp.arange(batch)[:, None] * k + source).reshape(-1)
        cache = c["cache"].take(rows)
        last, cache = model.decode(token.reshape(-1).astype(jnp.int32), cache)
        return {
            "steps": c["steps"] + ~settled(c),
            "step": c["step"] + 1,
            "cache": cache,
            "last": last,
            "node": node.astype(jnp.int32),
            "score": score,
            "fin_score": fin_score,
            "fin_entry": fin_entry.astype(jnp.int32),
        }

    out = jax.lax.while_loop(cond, body, carry)
    entries = out["fin_entry"][:, :num_return]
    items = jnp.where(entries[..., None] >= 0, entry_items[jnp.maximum(entries, 0)], -1)
    return BeamResult(entries, out["fin_score"][:, :num_return], items, out["steps"])


def exact_match_metrics(
    entries: np.ndarray, target_entry: np.ndarray, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """HR@K and NDCG@K (README.md, "Evaluation") from the decoded entries (best first) and each
    row's target entry: the rank is the first exact title match (a duplicated title matches any of
    its ids)."""
    entries = np.asarray(entries)
    ks = tuple(k for k in ks if k <= entries.shape[1])
    per_row = ranking_metrics(
        entries, np.asarray(target_entry)[:, None], np.ones(entries.shape[0], np.int32), ks=ks
    )
    out = {}
    for k in ks:
        out[f"hr@{k}"] = float(np.mean(per_row[f"hit_rate@{k}"]))
        out[f"ndcg@{k}"] = float(np.mean(per_row[f"ndcg@{k}"]))
    return out
