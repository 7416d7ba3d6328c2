"""SOFT: the mixed objective against a numpy reference, finite for empty / EOS-only targets, its
ablations, and the distance curriculum's closed forms (SOFT spec §2.2 worked examples)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxrec.llmrec.soft_objective import make_soft_loss_fn
from jaxrec.models import llm
from jaxrec.train.schedules import distance_curriculum

CFG = llm.LLMConfig(
    vocab_size=40, hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2, num_kv_heads=1
)
EOS = 1


def _batch(rng, hat_targets=None):
    b, s, r = 3, 9, 4
    ids = rng.integers(2, CFG.vocab_size, (b, s)).astype(np.int32)
    mask = np.ones((b, s), bool)
    mask[1, :3] = False
    y_t = ids[:, -r:].copy()
    y_t[0, :2] = -1  # a shorter response
    if hat_targets is None:
        hat_targets = ids[:, -r:].copy()
        hat_targets[2, :3] = -1
    hat_ids = ids.copy()
    hat_ids[:, -r:] = np.where(hat_targets >= 0, hat_targets, ids[:, -r:])
    return {
        "y_ids": ids, "y_mask": mask, "y_targets": y_t,
        "hat_ids": hat_ids, "hat_mask": mask, "hat_targets": hat_targets.astype(np.int32),
    }  # fmt: skip


def _ce_numpy(model, ids, mask, targets):
    logits = np.asarray(model(jnp.asarray(ids), jnp.asarray(mask)), np.float64)
    r = targets.shape[1]
    logits = logits[:, -r - 1 : -1]
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = [-logp[i, t, targets[i, t]] for i, t in zip(*np.nonzero(targets >= 0))]
    return float(np.mean(nll)) if nll else 0.0


@pytest.mark.parametrize("variant,lam", [("soft", 0.3), ("soft_wo_sa", 1.0), ("sft", 0.0)])
def test_loss_is_the_lambda_mix_of_two_masked_means(variant, lam):
    model = llm.Decoder(CFG, rngs=nnx.Rngs(0))
    batch = _batch(np.random.default_rng(0))
    extra = {"curriculum": distance_curriculum(1.0).init(2.0) | {"value": jnp.float32(0.3)}}
    loss, aux = make_soft_loss_fn(variant)(model, batch, key=None, context=None, extra=extra)
    ce_y = _ce_numpy(model, batch["y_ids"], batch["y_mask"], batch["y_targets"])
    ce_hat = _ce_numpy(model, batch["hat_ids"], batch["hat_mask"], batch["hat_targets"])
    assert float(aux["lambda"]) == pytest.approx(lam)
    assert float(loss) == pytest.approx((1 - lam) * ce_y + lam * ce_hat, rel=1e-5)
    assert ("ce_y" in aux) == (variant != "soft_wo_sa") and ("ce_hat" in aux) == (variant != "sft")


@pytest.mark.parametrize("kind", ["empty", "eos_only"])
def test_empty_and_eos_only_targets_give_finite_loss_and_gradients(kind):
    hat = np.full((3, 4), -1, np.int32)
    if kind == "eos_only":
        hat[:, -1] = EOS
    batch = _batch(np.random.default_rng(1), hat_targets=hat)
    graphdef, params, rest = nnx.split(llm.Decoder(CFG, rngs=nnx.Rngs(0)), nnx.Param, ...)
    loss_fn = make_soft_loss_fn("soft")
    extra = {"curriculum": distance_curriculum(1.0).init(1.0)}  # lambda = 1: hat only

    def f(p):
        return loss_fn(nnx.merge(graphdef, p, rest), batch, key=None, context=None, extra=extra)[0]

    loss, grads = jax.value_and_grad(f)(params)
    assert np.isfinite(float(loss))
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
    assert (float(loss) == 0.0) == (kind == "empty")
    with pytest.raises(ValueError, match="unknown SOFT variant"):
        make_soft_loss_fn("bigrec")


def test_curriculum_worked_examples_epoch_one_and_cap():
    for alpha, r, want in [(100, 0.99, math.exp(-1)), (10, 0.9, math.exp(-1)), (1, 0.5, math.exp(-0.5))]:  # fmt: skip
        sched = distance_curriculum(alpha)
        state = sched.init(2.0)
        assert float(state["value"]) == 1.0  # epoch 1 always trains on y_hat only
        lam, state = sched.update(state, 2.0 * r)
        assert float(lam) == pytest.approx(want, rel=1e-5)
        assert float(state["value"]) == float(lam) and int(state["updates"]) == 1
    sched = distance_curriculum(0.1)
    lams = [float(sched.update(sched.init(1.0), d)[0]) for d in (0.0, 0.3, 1.0)]
    assert min(lams) >= math.exp(-0.1) - 1e-6
    lam, state = sched.update(sched.init(1.0), 5.0)  # d above d_0: capped at 1
    assert float(lam) == 1.0
    lam, _ = sched.update(state | {"value": jnp.float32(0.4)}, jnp.nan)  # kept, never NaN
    assert float(lam) == pytest.approx(0.4)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="alpha must be > 0"):
            distance_curriculum(bad)
