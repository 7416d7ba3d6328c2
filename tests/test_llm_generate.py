"""Greedy generation: chosen-token log-probs, top-2 and entropies equal a teacher-forced forward
pass on the generated tokens (numpy from the same logits); EOS masking; prompt log-probs."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from jaxrec.models import llm
from jaxrec.models.llm.generate import greedy_generate

CFG = llm.LLMConfig(
    vocab_size=48, hidden_size=32, intermediate_size=48, num_layers=2, num_heads=4, num_kv_heads=2
)
MASK = np.array([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]], bool)
N = 5
_forward = jax.jit(lambda m, ids, mask: m(ids, mask))


def _setup(seed: int = 0):
    model = llm.Decoder(CFG, rngs=nnx.Rngs(seed))
    ids = np.random.default_rng(seed).integers(1, CFG.vocab_size, MASK.shape).astype(np.int32)
    return model, ids


def _np_log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_generation_logprobs_equal_teacher_forced_forward():
    model, ids = _setup()
    out = greedy_generate(model, ids, MASK, max_new_tokens=N, eos_id=CFG.vocab_size + 1)
    assert out.tokens.shape == (3, N) and bool(np.all(out.token_mask))  # EOS never emitted
    full_ids = np.concatenate([ids, np.asarray(out.tokens)], axis=1)
    full_mask = np.concatenate([MASK, np.ones((3, N), bool)], axis=1)
    logits = np.asarray(_forward(model, full_ids, full_mask))
    t = MASK.shape[1]
    logp = _np_log_softmax(logits[:, t - 1 : t + N - 1])  # predicts the N generated tokens
    np.testing.assert_array_equal(np.asarray(out.tokens), logp.argmax(-1))
    chosen = np.take_along_axis(logp, np.asarray(out.tokens)[..., None], -1)[..., 0]
    np.testing.assert_allclose(np.asarray(out.token_logprobs), chosen, atol=2e-5)
    p = np.exp(logp)
    np.testing.assert_allclose(np.asarray(out.top2), -np.sort(-p, -1)[..., :2], atol=2e-5)
    np.testing.assert_allclose(np.asarray(out.entropy), -(p * logp).sum(-1), atol=5e-5)
    # prompt log-likelihood from the same forward
    lp = _np_log_softmax(logits[:, : t - 1])
    want = np.take_along_axis(lp, ids[:, 1:, None], -1)[..., 0]
    pm = np.asarray(out.prompt_mask)
    np.testing.assert_array_equal(pm, MASK[:, :-1] & MASK[:, 1:])
    np.testing.assert_allclose(np.asarray(out.prompt_logprobs)[pm], want[pm], atol=2e-5)


def test_eos_ends_a_row_and_is_scored():
    model, ids = _setup()
    free = greedy_generate(model, ids, MASK, max_new_tokens=N, eos_id=CFG.vocab_size + 1)
    eos = int(free.tokens[0, 1])  # row 0 emits this id at step 1
    out = greedy_generate(model, ids, MASK, max_new_tokens=N, eos_id=eos, pad_id=0)
    tok, m = np.asarray(out.tokens), np.asarray(out.token_mask)
    for b in range(3):  # first EOS included, everything after masked and padded
        hits = np.flatnonzero(np.asarray(free.tokens[b]) == eos)
        stop = hits[0] + 1 if hits.size else N
        assert m[b].tolist() == [True] * stop + [False] * (N - stop)
        np.testing.assert_array_equal(tok[b, :stop], np.asarray(free.tokens[b, :stop]))
        assert (tok[b, stop:] == 0).all()
        assert bool(out.finished[b]) == bool(hits.size)
    assert bool(out.finished[0])
    np.testing.assert_allclose(
        np.asarray(out.token_logprobs)[m], np.asarray(free.token_logprobs)[m], atol=1e-6
    )


def test_rejects_zero_new_tokens():
    model, ids = _setup()
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy_generate(model, ids, MASK, max_new_tokens=0, eos_id=1)
