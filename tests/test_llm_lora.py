"""LoRA: zero-initialised adapters leave the model unchanged, training moves only the adapters,
merging reproduces the adapted logits, dropout acts only with a key, adapters shard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxrec import train
from jaxrec.models import llm

CFG = llm.LLMConfig(
    vocab_size=48, hidden_size=32, intermediate_size=48, num_layers=2, num_heads=4, num_kv_heads=2
)
MASK = np.array([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]], bool)
IDS = jnp.asarray(np.random.default_rng(0).integers(0, CFG.vocab_size, MASK.shape), jnp.int32)
LORA = llm.LoRAConfig(rank=4, alpha=8.0, dropout=0.1, targets=("q_proj", "v_proj", "down_proj"))


def _adapted(rngs: nnx.Rngs, lora: llm.LoRAConfig = LORA) -> llm.Decoder:
    return llm.add_lora(llm.Decoder(CFG, rngs=rngs), lora, rngs=rngs)


def test_zero_initialised_adapter_equals_base_and_defaults_match_the_paper():
    base = llm.Decoder(CFG, rngs=nnx.Rngs(0))
    want = base(IDS, MASK)
    llm.add_lora(base, llm.LoRAConfig(), rngs=nnx.Rngs(1))
    np.testing.assert_array_equal(base(IDS, MASK), want)
    lora_state = nnx.state(base, nnx.LoRAParam)
    assert set(lora_state["layers"]["self_attn"]) == {"q_proj", "v_proj"}  # default targets
    assert lora_state["layers"]["self_attn"]["q_proj"]["lora_a"][...].shape == (2, 32, 8)
    assert llm.LoRAConfig().scale == 2.0 and llm.LoRAConfig().dropout == 0.05
    with pytest.raises(ValueError, match="already has LoRA"):
        llm.add_lora(base, llm.LoRAConfig(), rngs=nnx.Rngs(1))
    with pytest.raises(ValueError, match="targets"):
        llm.LoRAConfig(targets=("qproj",))


def _nll(model, ids, mask, dropout_key=None):
    logits = model(ids, mask, dropout_key=dropout_key)[:, :-1]
    target = ids[:, 1:]
    nll = jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(logits, target[..., None], -1)[..., 0]
    weight = mask[:, 1:] & mask[:, :-1]
    return jnp.sum(jnp.where(weight, nll, 0)) / jnp.sum(weight)


def test_training_moves_only_adapters_and_merge_reproduces_the_adapted_model():
    def loss_fn(model, batch, *, key, context, extra):
        del context, extra
        return _nll(model, batch["ids"], batch["mask"], dropout_key=key), {}

    tx = optax.adam(1e-2)
    graphdef, state0 = train.init_train_state(_adapted, tx, seed=0, trainable=nnx.LoRAParam)
    step = jax.jit(train.make_train_step(graphdef, tx, loss_fn, trainable=nnx.LoRAParam))
    batch = {"ids": IDS, "mask": jnp.asarray(MASK)}
    state = state0
    losses = []
    for _ in range(4):
        state, metrics = step(state, batch, jax.random.key(1), None)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < losses[0]
    jax.tree.map(np.testing.assert_array_equal, state.model_state, state0.model_state)
    assert not np.allclose(
        state.params["layers"]["self_attn"]["q_proj"]["lora_b"],
        state0.params["layers"]["self_attn"]["q_proj"]["lora_b"],
    )

    adapted = nnx.merge(graphdef, state.params, state.model_state)
    base = nnx.merge(graphdef, state0.params, state0.model_state)
    merged = llm.merge_lora(adapted)
    assert not llm.has_lora(merged) and llm.has_lora(adapted)
    assert not jax.tree.leaves(nnx.state(merged, nnx.LoRAParam))
    want = adapted(IDS, MASK)
    np.testing.assert_allclose(merged(IDS, MASK), want, atol=1e-5)
    assert np.abs(np.asarray(base(IDS, MASK) - want)).max() > 1e-3  # training changed the output


def test_dropout_only_with_a_key():
    model = _adapted(nnx.Rngs(0))
    b = model.layers.self_attn.q_proj.lora_b
    b[...] = jax.random.normal(jax.random.key(3), b[...].shape)  # make the adapter matter
    det = model(IDS, MASK)
    np.testing.assert_array_equal(model(IDS, MASK), det)
    k1, k2 = jax.random.key(1), jax.random.key(2)
    drop1 = model(IDS, MASK, dropout_key=k1)
    assert not np.allclose(drop1, det, atol=1e-4)
    np.testing.assert_array_equal(model(IDS, MASK, dropout_key=k1), drop1)
    assert not np.allclose(model(IDS, MASK, dropout_key=k2), drop1, atol=1e-4)
    no_dropout = _adapted(nnx.Rngs(0), llm.LoRAConfig(rank=4, dropout=0.0))
    no_dropout.layers.self_attn.q_proj.lora_b[...] = b[...]
    np.testing.assert_allclose(no_dropout(IDS, MASK, dropout_key=k1), no_dropout(IDS, MASK))


def test_adapters_are_sharded_like_their_kernels():
    mesh = train.make_mesh(train.MeshConfig(data=2, fsdp=2, tensor=2))
    with train.mesh_context(mesh, train.DEFAULT_RULES):
        model = _adapted(nnx.Rngs(0))
    q = model.layers.self_attn.q_proj
    assert q.lora_a[...].sharding.spec == jax.P(None, None, None)  # (layers, embed, rank)
    assert q.lora_b[...].sharding.spec == jax.P(None, None, "tensor")  # (layers, rank, heads)
    down = model.layers.mlp.down_proj
    assert down.lora_a[...].sharding.spec == jax.P(None, "tensor", None)  # (layers, mlp, rank)
