"""Batched greedy generation with per-token confidence signals and the prompt's log-likelihood.

One jit-compiled call (static shapes: ``[B, T]`` left-padded prompts, ``N`` new tokens) runs
``prefill`` then ``N`` greedy ``decode`` steps with the KV cache (``lax.scan``). At every step t,
from the full-vocabulary ``log p_t = log_softmax(logits_t)`` in float32 (never a truncated top-k):

- ``token_logprobs[t] = log p_t(a_t)``, ``a_t = argmax_v log p_t(v)`` (the chosen token);
- ``top2[t] = (p_t^(1), p_t^(2))``, the two largest probabilities (for GAP);
- ``entropy[t] = -sum_v p_t(v) log p_t(v)`` (for MaxEnt).

EOS: a row's answer is its tokens up to and including the first ``eos_id``; ``token_mask`` marks
them (so every row has at least one scored token). After EOS a row keeps decoding ``pad_id``
(static shapes), masked out. ``prompt_logprobs[b, j] = log p(x_{j+1} | x_{<=j})`` for the real
prompt tokens after the first (``prompt_mask``), from the prefill logits.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Generation", "greedy_generate", "step_statistics"]


class Generation(NamedTuple):
    """Output of :func:`greedy_generate` (``B`` rows, ``N`` new tokens, ``T`` prompt tokens).

    Attributes:
      tokens: ``[B, N]`` int32 generated ids (``pad_id`` after EOS).
      token_mask: ``[B, N]`` bool, the answer tokens (up to and including the first EOS).
      token_logprobs: ``[B, N]`` f32 chosen-token log-probabilities.
      top2: ``[B, N, 2]`` f32 the two largest next-token probabilities.
      entropy: ``[B, N]`` f32 next-token entropy (nats).
      finished: ``[B]`` bool, the row emitted EOS within ``N`` tokens.
      prompt_logprobs: ``[B, T - 1]`` f32 ``log p(x_{j+1} | x_{<=j})``.
      prompt_mask: ``[B, T - 1]`` bool, both ``x_j`` and ``x_{j+1}`` are real tokens.
    """

    tokens: jax.Array
    token_mask: jax.Array
    token_logprobs: jax.Array
    top2: jax.Array
    entropy: jax.Array
    finished: jax.Array
    prompt_logprobs: jax.Array
    prompt_mask: jax.Array


def step_statistics(logits: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Greedy choice and confidence of ``logits [..., V]``.

    Returns:
      ``(token [...] int32, log p(token) [...], top2 probs [..., 2], entropy [...])``, f32.
    """
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    token = jnp.argmax(logp, axis=-1).astype(jnp.int32)
    chosen = jnp.take_along_axis(logp, token[..., None], axis=-1)[..., 0]
    top2 = jnp.exp(jax.lax.top_k(logp, 2)[0])
    p = jnp.exp(logp)
    entropy = -jnp.sum(jnp.where(p > 0, p * logp, 0.0), axis=-1)
    return token, chosen, top2, entropy


@functools.partial(jax.jit, static_argnames=("max_new_tokens", "eos_id", "pad_id"))
def greedy_generate(
    model,
    input_ids: jax.Array,
    attention_mask: jax.Array,
    *,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int = 0,
) -> Generation:
    """Greedy decoding of left-padded prompts with the KV cache (see the module docstring).

    Args:
      model: a :class:`jaxrec.models.llm.Decoder` (or anything with its
        ``init_cache`` / ``prefill`` / ``decode`` interface).
      input_ids: ``[B, T]`` int prompt ids, left-padded.
      attention_mask: ``[B, T]`` bool / 0-1, real prompt tokens (at least one per row).
      max_new_tokens: ``N >= 1`` decoding steps.
      eos_id: the end-of-sequence id; pad_id: the id fed after EOS.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    b, t = input_ids.shape
    mask = jnp.asarray(attention_mask).astype(bool)
    cache = model.init_cache(b, t + max_new_tokens)
    logits, cache = model.prefill(input_ids, mask, cache)

    logp = jax.nn.log_softmax(logits[:, :-1].astype(jnp.float32), axis=-1)
    prompt_logprobs = jnp.take_along_axis(logp, input_ids[:, 1:, None], axis=-1)[..., 0]
    prompt_mask = mask[:, :-1] & mask[:, 1:]

    def step(carry, _):
        last, cache, done = carry
        token, chosen, top2, entropy = step_statistics(last)
        live = ~done
        token = jnp.where(live, token, pad_id)
        next_logits, cache = model.decode(token, cache)
        done = done | (token == eos_id)
        return (next_logits, cache, done), (token, live, chosen, top2, entropy)

    init = (logits[:, -1], cache, jnp.zeros((b,), bool))
    (_, _, done), (tokens, live, chosen, top2, entropy) = jax.lax.scan(
        step, init, None, length=max_new_tokens
    )
    return Generation(
        tokens=tokens.T,
        token_mask=live.T,
        token_logprobs=chosen.T,
        top2=jnp.swapaxes(top2, 0, 1),
        entropy=entropy.T,
        finished=done,
        prompt_logprobs=prompt_logprobs,
        prompt_mask=prompt_mask,
    )
