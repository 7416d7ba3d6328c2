"""Beam search with the constraint as an argument: trie-constrained (CBS, MSL paper §4.1, §5.1.3)
or unconstrained (BIGRec / SOFT decoding), batched with fixed shapes, plus exact-match HR/NDCG
(the MSL authors' exact-match protocol: README.md "Evaluation").

The decoder interface (``jaxrec.models.llm``): ``init_cache(batch, max_len)``,
``prefill(input_ids, attention_mask, cache) -> (logits [B, T, V], cache)`` for left-padded
prompts, ``decode(token_ids [B], cache) -> (logits [B, V], cache)`` and ``cache.take(rows)``.

One core, :func:`beam_search`, runs the beams; a *constraint* says, per step, which ``F``
candidate tokens each beam may take, their log-probabilities, which candidates complete a
hypothesis, and how long a running beam can still grow (for the stopping rule):

- :class:`TrieConstraint` scores only the trie children of each beam's node (``F`` = largest
  fan-out) instead of the vocabulary: ``"softmax_then_mask"`` (HF ``prefix_allowed_tokens_fn``
  style, MSL paper Table 5; default) takes ``log_softmax`` over the full vocabulary, then keeps
  the valid tokens; ``"mask_then_softmax"`` (the MSL authors' updated decoder) normalises over the
  valid tokens. A candidate completes an entry when its child is a leaf (the token is EOS).
- :class:`Unconstrained` scores the whole vocabulary (HF ``generate(num_beams=K)``). Only each
  beam's ``2K`` best tokens can enter the global ``2K`` best, so it hands the core those (an
  exact reduction). A candidate completes a hypothesis when it is EOS or when it is the
  ``max_new_tokens``-th token (HF's max-length stop: such hypotheses carry no EOS, and
  ``Generation.eos`` says so).

Beam bookkeeping follows HF beam search: the ``2K`` best (beam, token) candidates by summed
log-probability are taken in order; a completing candidate joins the finished pool if it ranks
among the first ``K``, with score ``sum_logprob / length ** length_penalty`` (``length`` =
generated tokens including EOS; ``length_penalty=0``: no normalisation); the first ``K`` other
candidates continue.

Stopping: a row is *settled* once its pool is full and no running beam can beat the pool's
worst score, and a settled row's pool is frozen (HF's ``is_early_stop_heuristic_unsatisfied``).
A running beam with summed log-prob ``s <= 0`` after ``t`` tokens, whose final length ``l`` is
known to lie in a range, ends with score ``<= s / max_l l**p``:

- trie: ``l`` in ``[t + min_remaining[u], t + height[u]]`` (trie arrays), so the bound is exact
  and freezing never changes the result (a tie keeps the older entry);
- unconstrained: HF's default heuristic (``early_stopping=False``), ``l = t``.

The loop ends when every row is settled, or after ``max_steps`` (the trie depth, or
``max_new_tokens``). Non-finite log-probabilities count as -inf (dead), so NaN logits never give
a hypothesis; pool slots that nothing reached are returned with score -inf (entry -1, length 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.llmrec.trie import TrieArrays, children
from jaxrec.metrics import ranking_metrics

__all__ = [
    "SCORINGS",
    "BeamOutput",
    "BeamResult",
    "Candidates",
    "Constraint",
    "Generation",
    "TrieConstraint",
    "Unconstrained",
    "beam_search",
    "constrained_beam_search",
    "exact_match_metrics",
    "unconstrained_beam_search",
]

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


def _length_bound_tables(max_steps: int, length_penalty: float) -> tuple[jax.Array, jax.Array]:
    """``(penalty, bound)``, float32 ``[max_steps]`` indexed by ``length - 1``: ``penalty[l - 1] =
    l ** p`` and the largest penalty a beam whose final length is known to be ``>= l`` (``p < 0``)
    or ``<= l`` (``p >= 0``) can get, as a running max (exact even if float ``pow`` were not
    monotone)."""
    penalty = jnp.arange(1, max_steps + 1, dtype=jnp.float32) ** length_penalty
    bound = jax.lax.cummax(penalty, reverse=length_penalty < 0)
    return penalty, bound


class Candidates(NamedTuple):
    """A constraint's per-beam candidates, ``[B, K, F]`` each: ``tokens`` int32, ``logp`` float32
    (-inf = not allowed), ``state`` the constraint state after the token (a pytree with leading
    ``[B, K, F]``), ``ends`` bool (the token completes a hypothesis), ``result`` int32 (what a
    completed hypothesis reports: the trie entry, or 1 if it ended with EOS)."""

    tokens: jax.Array
    logp: jax.Array
    state: Any
    ends: jax.Array
    result: jax.Array


class Constraint(Protocol):
    """What :func:`beam_search` asks of a constraint (all shapes static)."""

    max_steps: int  # decode steps at most
    width: int  # F, candidates per beam

    def init_state(self, batch: int, num_beams: int) -> Any:
        """State of the empty hypotheses, leading dims ``[B, K]``."""

    def expand(self, state: Any, logits: jax.Array, step: jax.Array) -> Candidates:
        """Candidates from each beam's next-token ``logits [B, K, V]`` at 0-based ``step``."""

    def final_length(self, state: Any, step: jax.Array) -> jax.Array:
        """int ``[B, K]``: the final length at which a running beam's score bound is largest."""


class TrieConstraint:
    """Only trie entries (module docstring); the state is each beam's trie node ``[B, K]``."""

    def __init__(
        self,
        trie: TrieArrays,
        *,
        max_fanout: int,
        max_depth: int,
        scoring: str = "softmax_then_mask",
        length_penalty: float = 1.0,
    ):
        if scoring not in SCORINGS:
            raise ValueError(f"unknown cbs scoring {scoring!r}; expected one of {SCORINGS}")
        self.trie, self.scoring = trie, scoring
        self.max_steps, self.width = max_depth, max_fanout
        self._remaining = trie.min_remaining if length_penalty < 0 else trie.height

    def init_state(self, batch: int, num_beams: int) -> jax.Array:
        return jnp.zeros((batch, num_beams), jnp.int32)

    def expand(self, state: jax.Array, logits: jax.Array, step: jax.Array) -> Candidates:
        del step
        tokens, child = children(self.trie, state, self.width)  # [B, K, F]
        logp = _candidate_logprobs(logits, tokens, tokens >= 0, self.scoring)
        entry = jnp.where(tokens >= 0, self.trie.leaf_entry[jnp.maximum(child, 0)], -1)
        return Candidates(jnp.maximum(tokens, 0), logp, jnp.maximum(child, 0), entry >= 0, entry)

    def final_length(self, state: jax.Array, step: jax.Array) -> jax.Array:
        return step + self._remaining[state]


class Unconstrained:
    """Free text up to ``max_new_tokens`` (module docstring); no state. ``width`` is the number
    of best tokens kept per beam, ``2 K`` for an exact K-beam search."""

    def __init__(self, *, eos_id: int, max_new_tokens: int, width: int):
        if max_new_tokens < 1 or width < 1:
            raise ValueError(f"need max_new_tokens >= 1 and width >= 1, got {max_new_tokens=}")
        self.eos_id, self.max_steps, self.width = int(eos_id), int(max_new_tokens), int(width)

    def init_state(self, batch: int, num_beams: int) -> tuple:
        del batch, num_beams
        return ()

    def expand(self, state: tuple, logits: jax.Array, step: jax.Array) -> Candidates:
        logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        logp = jnp.where(jnp.isfinite(logp), logp, -jnp.inf)
        logp, tokens = jax.lax.top_k(logp, min(self.width, logp.shape[-1]))
        eos = tokens == self.eos_id
        ends = eos | (step == self.max_steps - 1)
        return Candidates(tokens.astype(jnp.int32), logp, state, ends, eos.astype(jnp.int32))

    def final_length(self, state: tuple, step: jax.Array) -> jax.Array:
        del state
        return step  # HF's early_stopping=False heuristic: the current length


class BeamOutput(NamedTuple):
    """The finished pool, best first: ``tokens`` int32 ``[B, K, L]`` (generated tokens, EOS
    included, -1 past ``lengths``), ``lengths`` int32 ``[B, K]``, ``scores`` float32 ``[B, K]``
    (-inf: empty slot), ``results`` int32 ``[B, K]`` (the constraint's result, -1 for an empty
    slot), ``steps`` int32 ``[B]`` decode steps until the row was settled."""

    tokens: jax.Array
    lengths: jax.Array
    scores: jax.Array
    results: jax.Array
    steps: jax.Array


def _gather(x: Any, index: jax.Array) -> Any:
    """``x[b, index[b, j]]`` for every leaf of ``x`` (leading dims ``[B, N, ...]``)."""

    def one(a):
        idx = index.reshape(index.shape + (1,) * (a.ndim - 2))
        return jnp.take_along_axis(a, idx, axis=1)

    return jax.tree.map(one, x)


def beam_search(
    model: Any,
    prompt_ids: jax.Array,
    prompt_mask: jax.Array,
    constraint: Constraint,
    *,
    num_beams: int,
    length_penalty: float = 1.0,
    early_stop: bool = True,
) -> BeamOutput:
    """K-beam search under ``constraint`` (module docstring; call it under ``jax.jit``).

    Args:
      model: a decoder with ``init_cache``/``prefill``/``decode`` (module docstring).
      prompt_ids: int32 ``[B, P]`` left-padded prompts; ``prompt_mask`` bool ``[B, P]``.
      constraint: :class:`TrieConstraint` or :class:`Unconstrained`.
      num_beams: ``K``.
      length_penalty: exponent of the length normalisation (HF semantics; 0 = none).
      early_stop: end the loop once every row is settled; ``False`` always runs
        ``constraint.max_steps`` steps (same result; a reference for tests).
    """
    batch, prompt_len = prompt_ids.shape
    k, f, steps_max = num_beams, constraint.width, constraint.max_steps
    width = min(2 * k, k * f)
    cache = model.init_cache(batch, prompt_len + steps_max + 1)
    logits, cache = model.prefill(prompt_ids, prompt_mask, cache)
    cache = cache.take(jnp.repeat(jnp.arange(batch), k))
    last = jnp.repeat(logits[:, -1], k, axis=0)
    vocab = last.shape[-1]
    first = jnp.arange(k) == 0
    carry = {
        "step": jnp.zeros((), jnp.int32),
        "cache": cache,
        "last": last,
        "state": constraint.init_state(batch, k),
        "score": jnp.broadcast_to(jnp.where(first, 0.0, -jnp.inf)[None, :], (batch, k)),
        "hist": jnp.full((batch, k, steps_max), -1, jnp.int32),
        "fin_score": jnp.full((batch, k), -jnp.inf),
        "fin_result": jnp.full((batch, k), -1, jnp.int32),
        "fin_hist": jnp.full((batch, k, steps_max), -1, jnp.int32),
        "fin_len": jnp.zeros((batch, k), jnp.int32),
        "frozen": jnp.zeros(batch, bool),
        "steps": jnp.zeros(batch, jnp.int32),
    }
    penalty, bound_penalty = _length_bound_tables(steps_max, length_penalty)

    def settled(c: dict) -> jax.Array:
        """bool ``[B]``: no running beam can beat the worst finished hypothesis (pool full)."""
        length = constraint.final_length(c["state"], c["step"])  # [B, K]
        bound = c["score"] / bound_penalty[jnp.clip(length, 1, steps_max) - 1]
        best = jnp.max(bound, axis=-1)
        pool_floor = jnp.min(c["fin_score"], axis=-1)
        return ~jnp.isfinite(best) | (jnp.isfinite(pool_floor) & (best <= pool_floor))

    def cond(c: dict) -> jax.Array:
        running = c["step"] < steps_max
        return running & ~jnp.all(c["frozen"]) if early_stop else running

    def body(c: dict) -> dict:
        step = c["step"]
        cand = constraint.expand(c["state"], c["last"].reshape(batch, k, vocab), step)
        total = (c["score"][..., None] + cand.logp).reshape(batch, k * f)
        top, index = jax.lax.top_k(total, width)  # best first
        flat = jax.tree.map(
            lambda a: a.reshape(batch, k * f, *a.shape[3:]),
            (cand.tokens, cand.ends, cand.result, cand.state),
        )
        cand_tok, cand_end, cand_result, cand_state = _gather(flat, index)
        source = index // f
        alive = jnp.isfinite(top)
        ends = alive & cand_end
        cand_hist = jnp.where(
            jnp.arange(steps_max)[None, None, :] == step,
            cand_tok[..., None],
            _gather(c["hist"], source),
        )
        rank = jnp.arange(width)[None, :]
        # Finished pool: completing candidates ranked among the first K, length-normalised.
        joins = ends & (rank < k) & ~c["frozen"][:, None]
        new_fin = jnp.where(joins, top / penalty[step], -jnp.inf)
        pool_score = jnp.concatenate([c["fin_score"], new_fin], axis=-1)
        pool = (
            jnp.concatenate([c["fin_result"], jnp.where(ends, cand_result, -1)], axis=-1),
            jnp.concatenate([c["fin_hist"], cand_hist], axis=1),
            jnp.concatenate([c["fin_len"], jnp.full_like(cand_tok, step + 1)], axis=-1),
        )
        fin_score, pick = jax.lax.top_k(pool_score, k)
        fin_result, fin_hist, fin_len = _gather(pool, pick)
        kept = jnp.isfinite(fin_score)
        # Running beams: the first K candidates that do not end.
        cont = alive & ~ends
        _, sel = jax.lax.top_k(jnp.where(cont, -rank, -width - rank), k)
        keep = jnp.take_along_axis(cont, sel, axis=-1)
        score = jnp.where(keep, jnp.take_along_axis(top, sel, axis=-1), -jnp.inf)
        token, state, hist = _gather((cand_tok, cand_state, cand_hist), sel)
        token = jnp.where(keep, token, 0)
        rows = (jnp.arange(batch)[:, None] * k + jnp.take_along_axis(source, sel, axis=-1)).reshape(
            -1
        )
        last, cache = model.decode(token.reshape(-1).astype(jnp.int32), c["cache"].take(rows))
        new = {
            "steps": c["steps"] + ~c["frozen"],
            "step": step + 1,
            "cache": cache,
            "last": last,
            "state": state,
            "score": score,
            "hist": hist,
            "fin_score": fin_score,
            "fin_result": jnp.where(kept, fin_result, -1).astype(jnp.int32),
            "fin_hist": jnp.where(kept[..., None], fin_hist, -1),
            "fin_len": jnp.where(kept, fin_len, 0),
            "frozen": c["frozen"],
        }
        new["frozen"] = c["frozen"] | settled(new)
        return new

    out = jax.lax.while_loop(cond, body, carry)
    tokens = jnp.where(
        jnp.arange(steps_max)[None, None, :] < out["fin_len"][..., None], out["fin_hist"], -1
    )
    return BeamOutput(tokens, out["fin_len"], out["fin_score"], out["fin_result"], out["steps"])


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
    if not 1 <= num_return <= num_beams:
        raise ValueError(f"need 1 <= num_return <= num_beams, got {num_return=}, {num_beams=}")
    constraint = TrieConstraint(
        trie, max_fanout=max_fanout, max_depth=max_depth, scoring=scoring,
        length_penalty=length_penalty,
    )  # fmt: skip
    out = beam_search(
        model, prompt_ids, prompt_mask, constraint, num_beams=num_beams,
        length_penalty=length_penalty, early_stop=early_stop,
    )  # fmt: skip
    entries = out.results[:, :num_return]
    items = jnp.where(entries[..., None] >= 0, entry_items[jnp.maximum(entries, 0)], -1)
    return BeamResult(entries, out.scores[:, :num_return], items, out.steps)


class Generation(NamedTuple):
    """Unconstrained hypotheses, best first: ``tokens`` int32 ``[B, R, max_new_tokens]`` (EOS
    included, -1 after), ``lengths`` int32 ``[B, R]``, ``scores`` float32 ``[B, R]``, ``eos``
    bool ``[B, R]`` (False: stopped at ``max_new_tokens`` without EOS), ``steps`` int32 ``[B]``."""

    tokens: jax.Array
    lengths: jax.Array
    scores: jax.Array
    eos: jax.Array
    steps: jax.Array


def unconstrained_beam_search(
    model: Any,
    prompt_ids: jax.Array,
    prompt_mask: jax.Array,
    *,
    eos_id: int,
    max_new_tokens: int = 64,
    num_beams: int = 4,
    num_return: int = 1,
    length_penalty: float = 1.0,
    early_stop: bool = True,
) -> Generation:
    """Free-text beam search, HF ``generate(num_beams=K, max_new_tokens=...)`` semantics with its
    defaults (``length_penalty=1``, ``early_stopping=False``); call it under ``jax.jit``.

    SOFT / BIGRec defaults: 4 beams, the top-1 returned, 64 new tokens.
    """
    if not 1 <= num_return <= num_beams:
        raise ValueError(f"need 1 <= num_return <= num_beams, got {num_return=}, {num_beams=}")
    constraint = Unconstrained(eos_id=eos_id, max_new_tokens=max_new_tokens, width=2 * num_beams)
    out = beam_search(
        model, prompt_ids, prompt_mask, constraint, num_beams=num_beams,
        length_penalty=length_penalty, early_stop=early_stop,
    )  # fmt: skip
    r = slice(0, num_return)
    return Generation(
        out.tokens[:, r], out.lengths[:, r], out.scores[:, r], out.results[:, r] == 1, out.steps
    )


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
