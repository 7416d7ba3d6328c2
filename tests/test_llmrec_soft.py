"""SOFT: the mixed objective against a numpy reference, finite for empty / EOS-only targets, its
ablations, and the distance curriculum's closed forms (SOFT spec §2.2 worked examples)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from jaxrec import train
from jaxrec.llmrec import soft_experiment
from jaxrec.llmrec.config import DataConfig, ModelConfig
from jaxrec.llmrec.encoder import TextEncoder
from jaxrec.llmrec.grounding import build_item_table
from jaxrec.llmrec.soft_config import GenerationConfig, SOFTExperiment
from jaxrec.llmrec.soft_data import PairBatches, pairs_from_tokens
from jaxrec.llmrec.soft_objective import make_soft_loss_fn
from jaxrec.models import llm
from jaxrec.train import MeshConfig
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


def test_pairs_put_responses_behind_their_prompts_with_eos():
    prompt = np.array([[0, 0, 5, 6], [7, 8, 9, 4]], np.int32)
    pairs = pairs_from_tokens(prompt, prompt > 0, [[11, 12, EOS], []], eos_id=EOS, pad_id=0)
    np.testing.assert_array_equal(pairs["ids"], [[0, 0, 5, 6, 11, 12, 1], [0, 0, 7, 8, 9, 4, 1]])
    np.testing.assert_array_equal(pairs["targets"], [[11, 12, 1], [-1, -1, 1]])  # EOS-only
    np.testing.assert_array_equal(pairs["mask"], pairs["ids"] > 0)
    with pytest.raises(ValueError, match="responses for"):
        pairs_from_tokens(prompt, prompt > 0, [[3]], eos_id=EOS, pad_id=0)


def test_d0_of_a_fresh_lora_equals_the_base_and_bad_probe_count_is_named():
    cfg = SOFTExperiment(
        num_probes=8,
        data=DataConfig(synthetic_users=40, num_valid=8, max_test_rows=8, bpe_vocab_size=256),
        model=ModelConfig(dim=32, mlp_dim=48, lora_rank=4),
        generation=GenerationConfig(max_new_tokens=8, batch_size=8),
    )
    setup = soft_experiment.build(cfg)
    setup.encoder = TextEncoder(setup.base_graphdef, setup.base_params, setup.base_rest,
                                setup.tokenizer)  # fmt: skip
    titles = setup.world.titles
    setup.table = build_item_table(
        titles, setup.encoder.encode([titles[i] for i in sorted(titles)])
    )
    d_base = setup.distance(setup.base_graphdef, setup.base_params, setup.base_rest)
    g, state, _ = soft_experiment._with_lora(setup, setup.base_params, optax.sgd(0.1), {}, 3)
    assert d_base > 0
    assert setup.distance(g, state.params, state.model_state) == pytest.approx(d_base, rel=1e-5)
    with pytest.raises(ValueError, match="num_probes=500 exceeds"):
        soft_experiment.build(dataclasses.replace(cfg, num_probes=500))


@pytest.mark.slow
def test_soft_step_on_eight_devices_equals_one():
    base = SOFTExperiment(
        num_probes=8, batch_size=16,
        data=DataConfig(synthetic_users=40, num_valid=8, max_test_rows=8, bpe_vocab_size=256),
        model=ModelConfig(dim=32, mlp_dim=48, lora_rank=4),
    )  # fmt: skip
    results = []
    for devices, mesh in ((jax.devices()[:1], MeshConfig(data=1)),
                          (jax.devices()[:8], MeshConfig(data=4, fsdp=2))):  # fmt: skip
        setup = soft_experiment.build(dataclasses.replace(base, mesh=mesh), devices=devices)
        enc = setup.encoded["train"]
        rng = np.random.default_rng(0)
        hat = pairs_from_tokens(enc["prompt_ids"], enc["prompt_mask"],
                                [rng.integers(2, 200, rng.integers(0, 4)).tolist() for _ in enc["row"]],
                                eos_id=setup.tokenizer.eos_id, pad_id=setup.tokenizer.pad_id)  # fmt: skip
        y = {"ids": enc["input_ids"], "mask": enc["attention_mask"], "targets": enc["targets"]}
        batches = PairBatches({"y": y, "hat": hat}, base.batch_size, 0)
        extra = {"curriculum": distance_curriculum(1.0).init(2.0) | {"value": jnp.float32(0.4)}}
        with train.mesh_context(setup.mesh, mesh.rules):
            tx = optax.adam(1e-2)
            g, state, trainable = soft_experiment._with_lora(setup, setup.base_params, tx, extra, 1)
            step = train.make_train_step(g, tx, make_soft_loss_fn("soft"), trainable=trainable)
            step = train.compile_train_step(step, setup.mesh, state, batches.batch(0, 0), {})
            losses = []
            for k in range(2):
                state, m = step(state, train.place_batch(setup.mesh, batches.batch(0, k)),
                                jax.random.key(0), {})  # fmt: skip
                losses.append(float(m["loss"]))
        results.append((jax.device_get(state.params), losses))
    (p1, l1), (p8, l8) = results
    np.testing.assert_allclose(l1, l8, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6), p1, p8)


class _Killed(RuntimeError):
    pass


@pytest.mark.slow
def test_kill_and_resume_mid_soft_gives_the_same_params_and_lambda_history(tmp_path):
    cfg = SOFTExperiment(
        num_probes=8, batch_size=16,
        data=DataConfig(synthetic_users=40, num_valid=8, max_test_rows=8, bpe_vocab_size=256),
        model=ModelConfig(dim=32, mlp_dim=48, lora_rank=4), mesh=MeshConfig(data=1),
    )  # fmt: skip
    setup = soft_experiment.build(cfg, devices=jax.devices()[:1])
    enc = setup.encoded["train"]
    y = {"ids": enc["input_ids"], "mask": enc["attention_mask"], "targets": enc["targets"]}
    sched = distance_curriculum(10.0)
    loop = train.LoopConfig(epochs=3, checkpoint_every_steps=1, progress=False)

    def refresh(s):  # a cheap deterministic stand-in for the generation distance
        d = 2.0 / (1.0 + 0.02 * float(optax.tree.norm(s.params)))
        _, cur = sched.update(s.extra["curriculum"], d)
        return s.replace(extra={**s.extra, "curriculum": cur})

    def fit(folder, kill_at=None):
        batches = PairBatches({"y": y, "hat": y}, cfg.batch_size, 0)
        tx = optax.adam(1e-2)
        extra = {"curriculum": sched.init(2.0)}
        with train.mesh_context(setup.mesh, cfg.mesh.rules):
            g, state, trainable = soft_experiment._with_lora(setup, setup.base_params, tx, extra, 1)
            step = train.make_train_step(g, tx, make_soft_loss_fn("soft"), trainable=trainable)
            step = train.compile_train_step(step, setup.mesh, state, batches.batch(0, 0), {})

            def kill(s):
                if kill_at is not None and int(s.step) == kill_at:
                    raise _Killed

            result = train.fit(
                run_dir=folder, cfg=loop, mesh=setup.mesh, state=state, train_step=step,
                batches=batches, context={}, seed=0, callbacks=(kill,), refresh=refresh,
            )  # fmt: skip
        lams = [r["lambda"] for r in result.history if r["split"] == "train"]
        return jax.device_get(result.state.params), lams, result.state.extra["curriculum"]

    p_ref, lam_ref, cur_ref = fit(tmp_path / "ref")
    steps = PairBatches({"y": y}, cfg.batch_size, 0).steps_per_epoch
    with pytest.raises(_Killed):
        fit(tmp_path / "run", kill_at=steps + 1)  # mid epoch 2, after one refresh
    p, lams, cur = fit(tmp_path / "run")
    assert lam_ref[0] == 1.0 and lam_ref[1] < 1.0 and lams == pytest.approx(lam_ref, rel=1e-6)
    assert float(cur["value"]) == pytest.approx(float(cur_ref["value"]), rel=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), p_ref, p)
