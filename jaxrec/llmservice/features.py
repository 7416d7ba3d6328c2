"""Per-example confidence features of a generation, and SQuAD-style answer scores (spec §2.2).

With ``a = (a_1..a_L)`` the answer tokens (``token_mask``; EOS included, see
:mod:`jaxrec.models.llm.generate`), ``l_t = log P(a_t | prompt, a_<t)`` from the full f32 softmax
and ``x = (x_1..x_T)`` the prompt:

- ``NLL = -(1/L) sum_t l_t`` (``nll_reduce="mean"``, the default reading of the paper's prose) or
  ``-sum_t l_t`` (``"sum"``);
- ``PPL = exp(-(1/(T-1)) sum_{j>=2} log P(x_j | x_<j))``, the exponentiated mean log-loss of the
  input (never a product of probabilities: long prompts would underflow);
- ``GAP = (1/L) sum_t (p_t^(1) - p_t^(2))``; ``MaxEnt = max_t H_t``.

Answer scores follow the SQuAD v1.1 evaluation: lower-case, drop punctuation and the articles
a/an/the, collapse whitespace; token F1 and exact match, each the maximum over the gold answers.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxrec.models.llm.generate import Generation

__all__ = [
    "FEATURES",
    "answer_nll",
    "exact_match",
    "generation_features",
    "input_ppl",
    "max_entropy",
    "mean_gap",
    "normalize_answer",
    "token_f1",
]

FEATURES = ("nll", "ppl", "gap", "maxent")


def _masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    m = mask.astype(jnp.float32)
    return jnp.sum(jnp.where(mask, x, 0.0), axis=-1) / jnp.maximum(jnp.sum(m, axis=-1), 1.0)


def answer_nll(logprobs: jax.Array, mask: jax.Array, reduce: str = "mean") -> jax.Array:
    """``[B, N] -> [B]`` negative log-likelihood of the answer tokens (``mean`` or ``sum``)."""
    if reduce == "mean":
        return -_masked_mean(logprobs, mask)
    if reduce == "sum":
        return -jnp.sum(jnp.where(mask, logprobs, 0.0), axis=-1)
    raise ValueError(f"nll_reduce must be 'mean' or 'sum', got {reduce!r}")


def input_ppl(logprobs: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B, T-1] -> [B]`` perplexity ``exp(mean log-loss)`` of the prompt tokens."""
    return jnp.exp(-_masked_mean(logprobs, mask))


def mean_gap(top2: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B, N, 2] -> [B]`` mean over answer positions of ``p_top1 - p_top2``."""
    return _masked_mean(top2[..., 0] - top2[..., 1], mask)


def max_entropy(entropy: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B, N] -> [B]`` the largest next-token entropy over the answer positions."""
    return jnp.max(jnp.where(mask, entropy, -jnp.inf), axis=-1)


def generation_features(gen: Generation, nll_reduce: str = "mean") -> dict[str, jax.Array]:
    """All four features (``FEATURES``) of a batch of generations, each ``[B]`` f32."""
    return {
        "nll": answer_nll(gen.token_logprobs, gen.token_mask, nll_reduce),
        "ppl": input_ppl(gen.prompt_logprobs, gen.prompt_mask),
        "gap": mean_gap(gen.top2, gen.token_mask),
        "maxent": max_entropy(gen.entropy, gen.token_mask),
    }


# ------------------------------------------------------------------------- answer scores

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower, strip punctuation and articles, collapse whitespace."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def _check_golds(golds: Sequence[str]) -> None:
    if isinstance(golds, str) or len(golds) == 0:
        raise ValueError(f"gold answers must be a non-empty list of strings, got {golds!r}")


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Max over ``golds`` of the token-level F1 after :func:`normalize_answer`, in [0, 1]."""
    _check_golds(golds)
    pred = normalize_answer(prediction).split()
    return max(_f1(pred, normalize_answer(g).split()) for g in golds)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0."""
    _check_golds(golds)
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))
