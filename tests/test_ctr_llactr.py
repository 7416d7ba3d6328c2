"""LLaCTR pieces against independent numpy transcriptions: FRE's KL, FIE with A = I, b = 0, the
field-embedding file check, the plateau hook, the config variants."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxrec import train
from jaxrec.ctr import (
    CTRModelConfig,
    LLaCTRHead,
    ctr_config,
    fie_logit,
    fre_kl,
    load_field_embeddings,
)
from jaxrec.data.loaders import DataFormatError

RNG = np.random.default_rng(0)
B, F, D, DL = 5, 4, 6, 9
EMB = RNG.normal(size=(B, F, D)).astype(np.float32)
H = RNG.normal(size=(F, DL)).astype(np.float32)


def np_softmax(z):
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def test_fre_kl_matches_numpy_and_detach_switch():
    g = RNG.normal(size=(F, D)).astype(np.float32)
    expect = np.zeros(B)
    for b in range(B):
        for k in range(F):
            p, q = np_softmax(g[k].astype(np.float64)), np_softmax(EMB[b, k].astype(np.float64))
            expect[b] += np.sum(p * (np.log(p) - np.log(q)))
    np.testing.assert_allclose(jax.jit(fre_kl)(EMB, g), expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fre_kl(jnp.asarray(g)[None], g), np.zeros(1), atol=1e-6)
    # the target gets a gradient by default (authors' code) and none when detached
    for detach, nonzero in ((False, True), (True, False)):
        grad = jax.grad(lambda t, d=detach: fre_kl(EMB, t, detach_target=d).sum())(g)
        assert bool(np.any(np.abs(grad) > 1e-6)) == nonzero


def test_fie_with_identity_map_is_the_cosine_weighted_pair_sum():
    head = LLaCTRHead(F, DL, D, rngs=nnx.Rngs(0))
    p = F * (F - 1) // 2
    head.pair_map[...] = jnp.eye(p)
    head.pair_bias[...] = jnp.zeros(p)
    s = jax.jit(lambda h: head.pair_weights(h))(H)
    unit = H / np.linalg.norm(H, axis=-1, keepdims=True)
    expect, total = np.zeros(B), 0.0
    for k in range(F):
        for m in range(k + 1, F):
            cos = float(unit[k] @ unit[m])
            expect += cos * np.sum(EMB[:, k] * EMB[:, m], -1)
            total += cos
    np.testing.assert_allclose(fie_logit(EMB, s), expect, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        fie_logit(EMB, s, input_independent=True), np.full(B, total), rtol=1e-5
    )
    assert head.project(H).shape == (F, D)


def test_field_embedding_rows_must_match_the_fields(tmp_path):
    fields = ("user", "item", "price")
    np.save(tmp_path / "ok.npy", np.ones((3, 7), np.float32))
    np.save(tmp_path / "bad.npy", np.ones((4, 7), np.float32))
    assert load_field_embeddings(tmp_path / "ok.npy", fields).shape == (3, 7)
    with pytest.raises(DataFormatError, match=r"bad.npy.*\(4, 7\).*3 fields.*expected \[3, d\]"):
        load_field_embeddings(tmp_path / "bad.npy", fields)
    with pytest.raises(DataFormatError, match="not found"):
        load_field_embeddings(tmp_path / "none.npy", fields)


def test_plateau_hook_scales_the_updates_and_floors():
    opt = optax.chain(optax.sgd(1.0), train.scale_by_plateau())
    params = {"w": jnp.ones(3)}
    state = train.TrainState(jnp.zeros((), jnp.int32), params, {}, opt.init(params), {})
    hook = train.reduce_lr_on_plateau(factor=0.1, min_scale=0.005)
    assert train.lr_scale(hook(state, {}, True)) == 1.0
    state = hook(hook(state, {}, False), {}, False)
    assert train.lr_scale(state) == pytest.approx(0.01)
    assert train.lr_scale(hook(state, {}, False)) == pytest.approx(0.005)
    updates, _ = opt.update({"w": jnp.ones(3)}, state.opt_state, params)
    np.testing.assert_allclose(updates["w"], -0.01 * np.ones(3), rtol=1e-6)


def test_config_variants():
    cfg = ctr_config(CTRModelConfig(name="fm"), "gift_cards-fie")
    assert cfg.llactr.lambda_loss == 0 and cfg.llactr.lambda_llm > 0
    assert cfg.data.train == "valid.h5" and cfg.data.holdout_fraction == 0.1
    assert cfg.llactr.field_embeddings.endswith("field_embeddings_epoch1.npy")
    assert not ctr_config(CTRModelConfig(name="fm"), None).llactr.enabled
    with pytest.raises(ValueError, match="variant must be"):
        ctr_config(CTRModelConfig(name="fm"), "criteo")
    with pytest.raises(ValueError, match="LLaCTR variants are defined for"):
        ctr_config(CTRModelConfig(name="dcnv2"), "synthetic-llactr")
