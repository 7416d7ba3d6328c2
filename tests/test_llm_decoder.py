"""Decoder: KV-cache decoding equals the full forward, scan == loop, remat under grad, rope
scaling, sliding window, bf16, input errors, and 1-device == 8-device forward + grad."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxrec.models import llm
from jaxrec.models.llm.layers import rope_inv_freq
from jaxrec.train import DEFAULT_RULES, MeshConfig, make_mesh, mesh_context

CFG = llm.LLMConfig(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    rope_scaling=llm.Llama3RopeScaling(
        factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=16
    ),
)
# Row 0 unpadded, rows 1-2 left-padded (row 2: a single real prompt token).
MASK = np.array(
    [[1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1, 1]], bool
)
PROMPT = 5  # prompt length; the remaining 4 tokens are decoded one at a time


def _ids(seed: int = 0, shape=MASK.shape, vocab: int = CFG.vocab_size) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).integers(0, vocab, shape), jnp.int32)


def _model(cfg: llm.LLMConfig = CFG, seed: int = 0) -> llm.Decoder:
    return llm.Decoder(cfg, rngs=nnx.Rngs(seed))


# jit-compiled entry points: eager NNX calls dispatch op by op and dominate test time
_forward = jax.jit(lambda m, ids, mask=None: m(ids, mask))
_prefill = jax.jit(lambda m, ids, mask, cache: m.prefill(ids, mask, cache))
_decode = jax.jit(lambda m, tokens, cache: m.decode(tokens, cache))


def _valid(x: jax.Array, mask: np.ndarray) -> np.ndarray:
    """Logits at real tokens only (padding outputs are meaningless)."""
    return np.asarray(x)[mask]


@pytest.mark.parametrize("scan_layers", [True, False])
def test_prefill_then_decode_equals_full_forward_under_jit(scan_layers):
    model = _model(dataclasses.replace(CFG, scan_layers=scan_layers))
    ids = _ids()
    full = _forward(model, ids, MASK)
    cache = model.init_cache(batch=3, max_len=12)
    logits, cache = _prefill(model, ids[:, :PROMPT], MASK[:, :PROMPT], cache)
    np.testing.assert_allclose(
        _valid(logits, MASK[:, :PROMPT]), _valid(full[:, :PROMPT], MASK[:, :PROMPT]), atol=1e-5
    )
    for t in range(PROMPT, MASK.shape[1]):
        step_logits, cache = _decode(model, ids[:, t], cache)
        np.testing.assert_allclose(step_logits, full[:, t], atol=1e-5)
    assert int(cache.index) == MASK.shape[1]
    np.testing.assert_array_equal(cache.positions, MASK.sum(1))
    np.testing.assert_array_equal(np.asarray(cache.valid)[:, : MASK.shape[1]], MASK)


def test_cache_take_reorders_rows():
    model = _model()
    ids = _ids()
    full = _forward(model, ids, MASK)
    cache = model.init_cache(batch=3, max_len=10)
    _, cache = _prefill(model, ids[:, :PROMPT], MASK[:, :PROMPT], cache)
    rows = jnp.array([2, 0, 0, 1])  # reorder and duplicate, as beam search does
    cache = cache.take(rows)
    logits, _ = _decode(model, ids[rows, PROMPT], cache)
    np.testing.assert_allclose(logits, full[rows, PROMPT], atol=1e-5)


def test_padding_does_not_change_real_token_logits():
    model = _model()
    ids = _ids()
    unpadded = _forward(model, ids[1:2, 2:])  # row 1 without its 2 padding slots
    padded = _forward(model, ids[1:2].at[:, :2].set(7), MASK[1:2])
    np.testing.assert_allclose(padded[:, 2:], unpadded, atol=1e-5)


def test_scan_and_loop_give_identical_logits():
    ids = _ids()
    scanned = _forward(_model(dataclasses.replace(CFG, scan_layers=True)), ids, MASK)
    looped = _forward(_model(dataclasses.replace(CFG, scan_layers=False)), ids, MASK)
    np.testing.assert_allclose(scanned, looped, atol=1e-6)


@pytest.mark.parametrize("scan_layers", [True, False])
def test_remat_gives_same_loss_and_grads(scan_layers):
    ids = _ids()

    def loss_and_grad(cfg):
        graphdef, params = nnx.split(_model(cfg), nnx.Param)

        def loss(p):
            logits = nnx.merge(graphdef, p)(ids, MASK)
            return jnp.mean(jax.nn.logsumexp(logits, -1) - logits[..., 0])

        return jax.jit(jax.value_and_grad(loss))(params)

    base = dataclasses.replace(CFG, scan_layers=scan_layers)
    plain = loss_and_grad(base)
    remat = loss_and_grad(dataclasses.replace(base, remat=True))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), plain, remat)


def test_llama3_rope_scaling_matches_closed_form():
    # theta=10000, Dh=8: frequencies 1, 0.1, 0.01, 0.001 -> wavelengths 2pi/f.
    s = llm.Llama3RopeScaling(
        factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64
    )
    got = rope_inv_freq(8, 10000.0, s)
    base = np.array([1.0, 0.1, 0.01, 0.001])
    wavelen = 2 * math.pi / base[1]  # 62.8: between 64/4 and 64/1 -> interpolated
    smooth = (64 / wavelen - 1.0) / (4.0 - 1.0)
    want = np.array([1.0, (1 - smooth) * 0.1 / 8 + smooth * 0.1, 0.01 / 8, 0.001 / 8])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(rope_inv_freq(8, 10000.0), base, rtol=1e-6)


def test_sliding_window_equals_truncated_context():
    # one layer, so the receptive field is exactly the window (L layers see L * (W - 1) + 1)
    cfg = dataclasses.replace(CFG, sliding_window=3, num_layers=1)
    model = _model(cfg)
    ids = _ids(shape=(1, 8))
    windowed = _forward(model, ids)
    # the last token sees only the last 3 tokens: the same as running those 3 tokens alone,
    # except for their rotary positions, which are relative and hence cancel in q.k.
    alone = _forward(model, ids[:, -3:])
    np.testing.assert_allclose(windowed[:, -1], alone[:, -1], atol=1e-5)
    full = _forward(_model(dataclasses.replace(cfg, sliding_window=None)), ids)
    assert not np.allclose(full[:, -1], windowed[:, -1], atol=1e-3)
    cache = model.init_cache(batch=1, max_len=8)
    _, cache = _prefill(model, ids[:, :5], jnp.ones((1, 5), bool), cache)
    for t in range(5, 8):
        step, cache = _decode(model, ids[:, t], cache)
        np.testing.assert_allclose(step, windowed[:, t], atol=1e-5)


def test_bf16_compute_is_close_to_f32():
    ids = _ids()
    f32 = _forward(_model(), ids, MASK)
    bf16 = _forward(_model(dataclasses.replace(CFG, dtype="bfloat16")), ids, MASK)
    assert bf16.dtype == jnp.float32  # logits are returned in f32
    assert np.all(np.isfinite(bf16))
    np.testing.assert_allclose(_valid(bf16, MASK), _valid(f32, MASK), atol=2e-2)
    bf16_params = _model(dataclasses.replace(CFG, param_dtype="bfloat16"))
    assert bf16_params.embed_tokens[...].dtype == jnp.bfloat16


def test_bad_inputs_raise_clear_errors():
    model = _model()
    with pytest.raises(ValueError, match="input_ids must lie in"):
        model(jnp.array([[1, 64]]), jnp.ones((1, 2), bool))
    with pytest.raises(ValueError, match="attention_mask shape"):
        model(jnp.array([[1, 2]]), jnp.ones((1, 3), bool))
    with pytest.raises(ValueError, match=r"integer array \[B, T\]"):
        model(jnp.ones((2,), jnp.int32))
    cache = model.init_cache(batch=1, max_len=4)
    _, cache = model.prefill(jnp.array([[1, 2, 3]]), None, cache)
    with pytest.raises(ValueError, match="cache overflow"):
        model.prefill(jnp.array([[1, 2]]), None, cache)
    with pytest.raises(ValueError, match="num_kv_heads"):
        dataclasses.replace(CFG, num_kv_heads=3)


RULES_FSDP = (("batch", ("data", "fsdp")), ("vocab", "tensor"), ("embed", "fsdp"),
              ("heads", "tensor"), ("kv_heads", "tensor"), ("mlp", "tensor"), ("layers", None))  # fmt: skip
MASK8 = np.concatenate([MASK, MASK, MASK[:2]])  # 8 rows: the batch splits over up to 8 devices


def _forward_and_grad(mesh_cfg: MeshConfig, rules, devices):
    mesh = make_mesh(mesh_cfg, devices)
    with mesh_context(mesh, rules):
        graphdef, params = nnx.split(_model(), nnx.Param)
        batch = jax.NamedSharding(mesh, jax.P(("data", "fsdp")))
        ids = jax.device_put(_ids(shape=MASK8.shape), batch)
        mask = jax.device_put(MASK8, batch)

        @jax.jit
        def loss_and_grad(p, ids, mask):
            def loss(p):
                logits = nnx.merge(graphdef, p)(ids, mask)
                nll = jax.nn.logsumexp(logits, -1) - logits[..., 1]
                return jnp.sum(jnp.where(mask, nll, 0)) / jnp.sum(mask)

            return jax.value_and_grad(loss)(p), nnx.merge(graphdef, p)(ids, mask)

        (loss, grads), logits = loss_and_grad(params, ids, mask)
        return loss, grads, logits, params


@pytest.mark.parametrize(
    "mesh_cfg, rules",
    [
        (MeshConfig(data=2, fsdp=2, tensor=2), DEFAULT_RULES),
        (MeshConfig(data=2, fsdp=4, tensor=1), RULES_FSDP),
    ],
    ids=["data-fsdp-tensor", "data-fsdp"],
)
def test_sharded_forward_and_grad_equal_one_device(mesh_cfg, rules):
    one = _forward_and_grad(MeshConfig(data=1), rules, jax.devices()[:1])
    many = _forward_and_grad(mesh_cfg, rules, jax.devices())
    np.testing.assert_allclose(one[0], many[0], rtol=1e-5)
    np.testing.assert_allclose(_valid(one[2], MASK8), _valid(many[2], MASK8), atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), one[1], many[1])
    q_kernel = many[3]["layers"]["self_attn"]["q_proj"]["kernel"][...]
    spec = dict(rules)
    assert q_kernel.sharding.spec == jax.P(None, spec["embed"], spec["heads"])
