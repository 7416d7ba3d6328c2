"""Text embeddings from a frozen decoder (BIGRec / SOFT ``encode.py``; SOFT spec §2.1 step 0):
``e(t)`` = the last layer's state (after the final norm) at the last token of ``t``, the text fed
alone (a title unquoted), left-padded, batched and jitted.

The encoder is always the *base* model (SOFT pitfall 8): :func:`base_params` gives it from a
LoRA run's trainable state by zeroing every adapter matrix (``A`` and ``B``), so it is the base
forward pass whatever the adapters' initialisation.

Tokenisation: no special tokens, except the tokenizer's BOS in front when it has one (a Hugging
Face Llama/Qwen tokenizer called as BIGRec calls it); an empty text (a generation that was only
EOS) is encoded as that BOS, or as the single EOS token for tokenizers without BOS, so it still
gets a defined, finite embedding. Texts are padded to a multiple of ``bucket`` tokens (one
compilation per bucket), never truncated.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec.llmrec.tokenizer import TextTokenizer

__all__ = ["TextEncoder", "base_params"]


def base_params(params: Any, lora: bool) -> Any:
    """The base model's trainable part: zeros for every LoRA matrix (``lora``), else ``params``
    themselves (a full fine-tune's starting weights are its base)."""
    return jax.tree.map(jnp.zeros_like, params) if lora else params


@functools.lru_cache(maxsize=8)
def _last_state_fn(graphdef: nnx.GraphDef):
    @jax.jit
    def fn(params, model_state, ids, mask):
        model = nnx.merge(graphdef, params, model_state)
        return model.hidden_states(ids, mask)[:, -1]

    return fn


class TextEncoder:
    """``encode(texts) -> float32 [n, D]`` with a fixed decoder (see the module docstring).

    Args:
      graphdef, params, model_state: the decoder, split as ``jaxrec.train`` splits it (pass
        :func:`base_params` for the base of a LoRA model).
      tokenizer: the run's tokenizer.
      batch_size: texts per jitted call (the tail batch is padded).
      bucket: padded lengths are multiples of this.
    """

    def __init__(
        self,
        graphdef: nnx.GraphDef,
        params: Any,
        model_state: Any,
        tokenizer: TextTokenizer,
        *,
        batch_size: int = 64,
        bucket: int = 16,
    ):
        if batch_size < 1 or bucket < 1:
            raise ValueError(f"need batch_size >= 1 and bucket >= 1, got {batch_size=}, {bucket=}")
        self._fn = _last_state_fn(graphdef)
        self.params, self.model_state, self.tokenizer = params, model_state, tokenizer
        self.batch_size, self.bucket = batch_size, bucket
        bos = getattr(tokenizer.backend, "bos_token_id", None)
        self._prefix = [] if bos is None else [int(bos)]
        self._empty = self._prefix or [tokenizer.eos_id]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids fed to the model for each text (module docstring)."""
        return [self._prefix + t if t else self._empty for t in self.tokenizer.encode_batch(texts)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[len(texts), D]``; the order of ``texts`` is kept."""
        return self.encode_tokens(self.tokenize(list(texts)))

    def encode_tokens(self, tokens: Sequence[Sequence[int]]) -> np.ndarray:
        """Like :meth:`encode` for already tokenised, non-empty texts."""
        if not tokens:
            raise ValueError("encode needs at least one text")
        lengths = np.array([len(t) for t in tokens])
        if (lengths == 0).any():
            raise ValueError(f"empty token sequences at rows {np.flatnonzero(lengths == 0)[:10]}")
        width = int(-(-lengths.max() // self.bucket) * self.bucket)
        n, size = len(tokens), self.batch_size
        ids = np.full((n, width), self.tokenizer.pad_id, np.int32)
        mask = np.zeros((n, width), bool)
        for i, t in enumerate(tokens):
            ids[i, width - len(t) :] = t
            mask[i, width - len(t) :] = True
        out = []
        for start in range(0, n, size):  # fixed batch shape: the tail is padded with row 0
            rows = np.arange(start, start + size) % n
            states = self._fn(self.params, self.model_state, ids[rows], mask[rows])
            out.append(np.asarray(states)[: min(size, n - start)])
        return np.concatenate(out).astype(np.float32)
