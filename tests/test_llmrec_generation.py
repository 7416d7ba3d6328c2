"""Unconstrained beam search (the core of ``jaxrec.llmrec.beam`` without a trie) against
transformers' ``generate(num_beams=4, max_new_tokens=64)`` on the committed tiny checkpoints.

The random tiny models rarely emit their EOS, so each fixture is also run with a token the
beams produce mid-way declared as EOS: that exercises finished-pool ranking, the early-stop
heuristic and padding after EOS, on top of the max-length stop.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxrec.llmrec.beam import unconstrained_beam_search
from jaxrec.models import llm

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llm"
HAS_TORCH = importlib.util.find_spec("torch") is not None
MAX_NEW, PAD = 64, 0


def _hf_generate(hf, ids, mask, eos):
    import torch

    with torch.no_grad():
        out = hf.generate(
            torch.tensor(ids), attention_mask=torch.tensor(mask), num_beams=4,
            max_new_tokens=MAX_NEW, do_sample=False, eos_token_id=eos, pad_token_id=PAD,
        )  # fmt: skip
    return out[:, ids.shape[1] :].numpy()


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (the transformers reference)")
@pytest.mark.parametrize("name", ["tiny_llama", "tiny_qwen2"])
def test_unconstrained_top1_equals_transformers_beam_search(name):
    from transformers import AutoModelForCausalLM

    folder = FIXTURES / name
    ids, mask = np.load(folder / "input_ids.npy"), np.load(folder / "attention_mask.npy")
    assert not mask.all(), "the fixture must include a left-padded row"
    model, _ = llm.load_pretrained(folder)
    hf = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    native_eos = int(hf.config.eos_token_id)
    mid_eos = int(_hf_generate(hf, ids, mask, native_eos)[0, 5])
    search = jax.jit(
        unconstrained_beam_search, static_argnames=("eos_id", "max_new_tokens", "num_beams")
    )
    stopped_early = hit_eos = 0
    for eos in (native_eos, mid_eos):
        ref = _hf_generate(hf, ids, mask, eos)
        got = search(model, ids, mask, eos_id=eos, max_new_tokens=MAX_NEW, num_beams=4)
        lengths = np.asarray(got.lengths[:, 0])
        tokens = np.asarray(got.tokens[:, 0])
        fill = PAD or eos  # transformers fills finished rows with eos when pad_token_id == 0
        mine = np.where(np.arange(MAX_NEW)[None] < lengths[:, None], tokens, fill)
        np.testing.assert_array_equal(mine[:, : ref.shape[1]], ref, err_msg=f"{name} eos={eos}")
        assert (mine[:, ref.shape[1] :] == fill).all()
        ends_eos = np.asarray(got.eos[:, 0])
        np.testing.assert_array_equal(ends_eos, tokens[np.arange(len(ids)), lengths - 1] == eos)
        assert np.all(ends_eos | (lengths == MAX_NEW)), "no EOS means the max-length stop"
        assert np.isfinite(np.asarray(got.scores[:, 0])).all()
        stopped_early += int((np.asarray(got.steps) < MAX_NEW).sum())
        hit_eos += int(ends_eos.sum())
    assert hit_eos > 0, "the declared mid-way EOS must end some hypothesis"
    print(f"{name}: {hit_eos} top-1 hypotheses ended with EOS, {stopped_early} rows stopped early")
