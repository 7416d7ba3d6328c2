"""Item encoder (base model, last token, last layer) and BIGRec grounding against brute-force
numpy references; duplicated-title rows are never ranked."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxrec import train
from jaxrec.llmrec.encoder import TextEncoder, base_params
from jaxrec.llmrec.grounding import build_item_table, grounded_top_k, grounding_metrics
from jaxrec.llmrec.tokenizer import load_tokenizer, train_bpe_tokenizer
from jaxrec.models import llm

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "llm"
HAS_TORCH = importlib.util.find_spec("torch") is not None
CFG = llm.LLMConfig(
    vocab_size=300,
    hidden_size=32,
    intermediate_size=48,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    tie_embeddings=True,
)
TITLES = ["red apple pie", "blue sky", "green apple", "red sky at night", "blue", "pie"]


def _tokenizer():
    return train_bpe_tokenizer(TITLES * 3, vocab_size=CFG.vocab_size)


def test_hidden_states_feed_the_logits_and_encoding_ignores_padding_and_batching():
    model = llm.Decoder(CFG, rngs=nnx.Rngs(0))
    ids = jnp.asarray(np.random.default_rng(0).integers(2, 300, (2, 7)), jnp.int32)
    hidden = model.hidden_states(ids)
    np.testing.assert_allclose(
        np.asarray(model(ids)), np.einsum("btd,vd->btv", hidden, model.embed_tokens[...]),
        rtol=1e-5, atol=1e-5,
    )  # fmt: skip
    tok = _tokenizer()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params, rest = nnx.to_pure_dict(params), nnx.to_pure_dict(rest)
    enc = TextEncoder(graphdef, params, rest, tok, batch_size=4, bucket=8)
    got = enc.encode(TITLES)  # two batches, the tail padded; lengths padded to a bucket
    assert got.shape == (len(TITLES), CFG.hidden_size) and got.dtype == np.float32
    for i, t in enumerate(enc.tokenize(TITLES)):  # each text alone, unpadded
        want = model.hidden_states(jnp.asarray([t], jnp.int32))[0, -1]
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)
    assert enc.tokenize([""]) == [[tok.eos_id]]  # an EOS-only generation: defined, finite
    assert np.isfinite(enc.encode([""])).all()


def test_base_params_disable_lora_whatever_its_initialisation():
    model = llm.Decoder(CFG, rngs=nnx.Rngs(0))
    ids = jnp.asarray(np.random.default_rng(1).integers(2, 300, (3, 5)), jnp.int32)
    want = model.hidden_states(ids)
    llm.add_lora(model, llm.LoRAConfig(rank=4), rngs=nnx.Rngs(1))
    graphdef, state = train.train_state_from_model(model, optax.sgd(0.1), trainable=nnx.LoRAParam)
    noisy = jax.tree.map(lambda a: a + 0.3, state.params)  # B != 0: the adapter is active
    adapted = nnx.merge(graphdef, noisy, state.model_state).hidden_states(ids)
    assert not np.allclose(adapted, want, atol=1e-3)
    base = nnx.merge(graphdef, base_params(noisy, lora=True), state.model_state)
    np.testing.assert_allclose(base.hidden_states(ids), want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (the transformers reference)")
def test_encoder_equals_transformers_last_hidden_state():
    import torch
    from transformers import AutoModelForCausalLM

    folder = FIXTURES / "tiny_llama"
    model, _ = llm.load_pretrained(folder)
    tok = load_tokenizer(folder)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    enc = TextEncoder(graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(rest), tok, bucket=4)
    texts = ["a quiet book", "the game", "x"]
    got = enc.encode(texts)
    hf = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    for i, t in enumerate(enc.tokenize(texts)):
        with torch.no_grad():
            out = hf(torch.tensor([t]), output_hidden_states=True)
        np.testing.assert_allclose(got[i], out.hidden_states[-1][0, -1].numpy(), atol=2e-4)


def _brute_ranks(queries, emb, valid, target):
    ranks = []
    for q, t in zip(queries, target):
        d = np.sqrt(((emb.astype(np.float64) - q) ** 2).sum(-1))
        order = [i for i in np.argsort(d, kind="stable") if valid[i]]
        ranks.append(order.index(t))
    return np.array(ranks)


def test_grounding_equals_brute_force_and_never_ranks_duplicate_rows():
    rng = np.random.default_rng(3)
    n, dim = 60, 8
    titles = {int(i): f"title {i % 50}" for i in range(10, 10 + n)}  # ids 60..69 duplicate 10..19
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    emb[50:] = 0.0  # the authors' zero rows: they must not take part
    table = build_item_table(titles, emb)
    assert table.valid.sum() == 50 and not table.valid[50:].any()
    target_items = rng.choice(np.arange(10, 10 + n), 40)
    queries = (emb[table.rows_of(target_items)] + rng.normal(0, 1.0, (40, dim))).astype(np.float32)
    queries[:5] = 0.0  # nearest to the zero rows if they were ranked
    top = grounded_top_k(queries, table, k=50, batch_size=16)
    assert not np.isin(top, np.arange(50, 60)).any()
    target = table.rows_of(target_items)
    np.testing.assert_array_equal(target[target_items >= 60], target_items[target_items >= 60] - 60)
    ranks = _brute_ranks(queries, emb, table.valid, target)
    got = grounding_metrics(queries, table, target_items)
    for k in (1, 5, 10, 20, 50):
        assert got[f"hr@{k}"] == pytest.approx(np.mean(ranks < k))
        ndcg = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0).mean()
        assert got[f"ndcg@{k}"] == pytest.approx(ndcg, rel=1e-5)
    assert 0 < got["hr@10"] < 1


def test_grounding_bad_input_is_named():
    titles = {1: "a", 2: "b", 3: "c"}
    with pytest.raises(ValueError, match="one row per catalogue item"):
        build_item_table(titles, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="not finite"):
        build_item_table(titles, np.full((3, 4), np.nan))
    table = build_item_table(titles, np.eye(3, 4))
    with pytest.raises(KeyError, match="not in the catalogue"):
        table.rows_of(np.array([1, 7]))
    with pytest.raises(ValueError, match="expected"):
        grounded_top_k(np.zeros((2, 3)), table)
