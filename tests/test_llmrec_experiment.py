"""MSL data loaders, the end-to-end experiment on the synthetic world, 1- vs 8-device step
equality, and CBS on the real decoder (jaxrec.models.llm)."""

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec import data as data_lib
from jaxrec import train
from jaxrec.data import DataFormatError
from jaxrec.llmrec import experiment
from jaxrec.llmrec.config import (
    CBSConfig,
    DataConfig,
    LossConfig,
    ModelConfig,
    MSLExperiment,
    ats_preset,
)
from jaxrec.models import llm
from jaxrec.train import DEFAULT_RULES, LoopConfig, MeshConfig, OptimizerConfig

# --------------------------------------------------------------------------------------------
# Loaders


def test_loader_on_the_shipped_amazon_books(shared_data):
    root = shared_data / "llmrec" / "amazon_books"
    titles = data_lib.load_item_titles(root / "id2name4Rec.json")
    assert len(titles) == 6344 and len(set(titles.values())) == 6335
    assert "&amp;" in titles[3]  # raw titles: HTML entities kept
    train = data_lib.load_llmrec_csv(root / "train_10000.csv", titles)
    full = data_lib.load_llmrec_csv(root / "train.csv", titles)
    test = data_lib.load_llmrec_csv(root / "test_5000.csv", titles)
    assert (len(train), len(full), len(test)) == (10000, 35060, 4383)
    assert train.lengths.mean() == pytest.approx(9.82, abs=0.005)
    assert train.items[0, : train.lengths[0]].tolist() == [
        int(x) for x in (root / "train_10000.csv").read_text().splitlines()[1].split('"')[1][1:-1].split(",")
    ]  # fmt: skip
    valid = data_lib.chronological_holdout(full, train, 500)
    assert len(valid) == 500 and np.all(np.diff(valid.timestamps) >= 0)
    used = {(u, tuple(r[:n]), t) for u, r, n, t in
            zip(train.user_ids, train.items.tolist(), train.lengths, train.timestamps)}  # fmt: skip
    assert not any((u, tuple(r[:n]), t) in used for u, r, n, t in
                   zip(valid.user_ids, valid.items.tolist(), valid.lengths, valid.timestamps))  # fmt: skip
    # every free window later than the holdout's earliest is in the holdout
    free_later = sum((u, tuple(r[:n]), t) not in used and t > valid.timestamps.min() for u, r, n, t in
                     zip(full.user_ids, full.items.tolist(), full.lengths, full.timestamps))  # fmt: skip
    assert free_later <= 500


@pytest.mark.parametrize(
    "text, match",
    [
        ('user,items,timestamp\n1,"[1, 2]",5\n', ":1: header"),
        ('user_id,item_ids,timestamp\n1,"[1, 2]",5\n1,"[1; 2]",5\n', ":3: item_ids"),
        ('user_id,item_ids,timestamp\n1,"[1, 99]",5\n', r":2: item ids \[99\] have no title"),
        ('user_id,item_ids,timestamp\n1,"[1]",5\n', ":2: 1 item ids"),
        ('user_id,item_ids,timestamp\n1,"[1, 2]"\n', ":2: 2 fields"),
        ('user_id,item_ids,timestamp\nx,"[1, 2]",5\n', ":2: user_id"),
    ],
)
def test_loader_errors_name_file_and_line(tmp_path, text, match):
    path = tmp_path / "train.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=match):
        data_lib.load_llmrec_csv(path, {1: "a", 2: "b"})


def test_title_file_errors(tmp_path):
    path = tmp_path / "id2name4Rec.json"
    path.write_text('{"1": "a", "x": "b"}')
    with pytest.raises(DataFormatError, match="'x' is not"):
        data_lib.load_item_titles(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataFormatError, match="JSON object"):
        data_lib.load_item_titles(path)
    with pytest.raises(FileNotFoundError):
        data_lib.load_item_titles(tmp_path / "missing.json")


def test_synthetic_world_plants_genre_preference():
    world = data_lib.synthetic_title_world(seed=1)
    genre = {i: t.split(" ")[0] for i, t in world.titles.items()}
    same = [
        genre[int(t)] == max(set(g := [genre[i] for i in h]), key=g.count)
        for h, t in zip(world.train.histories(), world.train.targets)
    ]
    assert np.mean(same) > 0.7  # chance is 1/6
    assert len(set(world.titles.values())) == len(world.titles) - 1  # one duplicated title
    assert world.train.timestamps.max() <= world.valid.timestamps.min()
    assert world.valid.timestamps.max() <= world.test.timestamps.min()


# --------------------------------------------------------------------------------------------
# Experiment

RULES = DEFAULT_RULES


def _tiny(loss: LossConfig, **changes) -> MSLExperiment:
    return MSLExperiment(
        name="tiny",
        batch_size=32,
        data=DataConfig(synthetic_users=240, synthetic_genres=4, num_valid=60),
        model=ModelConfig(num_layers=1, dim=32, num_heads=2, num_kv_heads=1, mlp_dim=64),
        loss=loss,
        cbs=CBSConfig(num_beams=5, num_return=5, batch_size=64),
        optimizer=OptimizerConfig(name="adamw", lr=5e-3, schedule="linear", warmup_steps=5),
        loop=LoopConfig(epochs=3, select_metric="ndcg@5", progress=False),
        mesh=MeshConfig(data=1, rules=RULES),
        **changes,
    )


def test_end_to_end_msl_ats_beats_popularity(tmp_path):
    cfg = _tiny(LossConfig(name="msl", temperature=1.5, ats=ats_preset("code")))
    summary = experiment.run(
        dataclasses.replace(cfg, mesh=MeshConfig(data=-1, rules=RULES)), tmp_path / "run",
        resume=False,
    )  # fmt: skip
    test = summary["test"]
    for scoring in ("softmax_then_mask", "mask_then_softmax"):
        for k in (1, 5):
            assert 0.0 <= test[f"{scoring}/ndcg@{k}"] <= test[f"{scoring}/hr@{k}"] <= 1.0
        assert test[f"{scoring}/ndcg@5"] > test["popularity/ndcg@5"] + 0.05
    assert 1.5 <= summary["final_tau"] <= 5.0  # ATS stays inside the clamp
    assert summary["best_valid"]["ndcg@5"] > 0
    assert (tmp_path / "run" / "results.json").is_file()


def test_train_step_one_device_equals_eight(tmp_path):
    cfg = _tiny(LossConfig(name="msl", temperature=1.5, ats=ats_preset("code")))
    results = []
    for devices, mesh in ((jax.devices()[:1], MeshConfig(data=1, rules=RULES)),
                          (jax.devices()[:8], MeshConfig(data=4, fsdp=2, rules=RULES))):  # fmt: skip
        setup = experiment.build(dataclasses.replace(cfg, mesh=mesh), devices=devices)
        state = setup.state

        with train.mesh_context(setup.mesh, mesh.rules):
            metrics = []
            for step in range(2):
                batch = train.place_batch(setup.mesh, setup.batches.batch(0, step))
                state, m = setup.train_step(state, batch, jax.random.key(0), setup.context)
                metrics.append(jax.device_get(m))
        results.append((jax.device_get(state.params), metrics, float(state.extra["ats"]["tau"])))
    (p1, m1, t1), (p8, m8, t8) = results
    for a, b in zip(m1, m8):
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
        np.testing.assert_allclose(a["ats_tau"], b["ats_tau"], rtol=1e-5)
    assert t1 == pytest.approx(t8, rel=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6), p1, p8)


def test_cbs_on_real_decoder_matches_brute_force():
    """Exhaustive mask-then-softmax CBS on a random tiny decoder ranks titles by their
    teacher-forced valid log-probability computed with the decoder's full forward pass."""
    from flax import nnx

    from jaxrec.llmrec import trie as trie_lib
    from jaxrec.llmrec.beam import constrained_beam_search

    vocab, eos = 16, 15
    rng = np.random.default_rng(0)
    entries = sorted({tuple(rng.integers(0, eos, size=rng.integers(1, 4)).tolist()) + (eos,)
                      for _ in range(12)})  # fmt: skip
    trie = trie_lib.build_trie(entries, list(range(len(entries))), [""] * len(entries), vocab)
    cfg = llm.LLMConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_layers=2,
                        num_heads=4, num_kv_heads=2, init_std=0.5)  # fmt: skip
    model = llm.Decoder(cfg, rngs=nnx.Rngs(0))
    prompt = np.array([[0, 0, 3, 7, 1], [2, 5, 9, 4, 8]], np.int32)
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    n = len(entries)
    out = jax.jit(lambda ids, m: constrained_beam_search(
        model, trie.arrays(), jnp.asarray(trie.entry_items), ids, m, max_fanout=trie.max_fanout,
        max_depth=trie.max_depth, num_beams=n, num_return=n, scoring="mask_then_softmax",
        length_penalty=0.0))(prompt, mask)  # fmt: skip
    kids: dict[tuple, list] = {}
    for e in entries:
        for i in range(len(e)):
            kids.setdefault(tuple(e[:i]), set()).add(e[i])
    for b in range(2):
        ref = []
        for e in entries:
            ids = np.concatenate([prompt[b], e])[None]
            m = np.concatenate([mask[b], np.ones(len(e), bool)])[None]
            logits = np.asarray(model(jnp.asarray(ids), jnp.asarray(m)))[0, prompt.shape[1] - 1 :]
            total = 0.0
            for i, tok in enumerate(e):
                allowed = logits[i, sorted(kids[tuple(e[:i])])].astype(np.float64)
                total += (
                    logits[i, tok] - np.log(np.exp(allowed - allowed.max()).sum()) - allowed.max()
                )
            ref.append(total)
        ref = np.array(ref)
        np.testing.assert_array_equal(np.asarray(out.entries[b]), np.argsort(-ref, kind="stable"))
        np.testing.assert_allclose(
            np.asarray(out.scores[b]), np.sort(ref)[::-1], rtol=1e-4, atol=1e-4
        )


def test_pretrained_checkpoint_with_lora_trains_only_the_adapters():
    """The paper-scale path (configs/msl/hf_lora.py) on the tiny Llama fixture: the checkpoint is
    loaded outside jit, LoRA attached, and a train step changes the adapters only."""
    folder = str(Path(__file__).parent / "fixtures" / "llm" / "tiny_llama")
    cfg = _tiny(LossConfig(name="msl", temperature=1.5, ats=ats_preset("code")))
    cfg = dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, tokenizer=folder, drop_mismatched=True),
        model=ModelConfig(pretrained=folder, lora_rank=2, lora_alpha=4.0),
    )
    setup = experiment.build(cfg, devices=jax.devices()[:1])
    assert jax.tree.leaves(setup.state.params) and all(
        "lora" in "/".join(map(str, path))
        for path, _ in jax.tree.leaves_with_path(setup.state.params)
    )
    before = jax.device_get((setup.state.params, setup.state.model_state))
    with train.mesh_context(setup.mesh, cfg.mesh.rules):
        state = setup.state
        for step in range(2):  # the warm-up's first step has learning rate 0
            batch = train.place_batch(setup.mesh, setup.batches.batch(0, step))
            state, metrics = setup.train_step(state, batch, jax.random.key(0), setup.context)
    after = jax.device_get((state.params, state.model_state))
    assert np.isfinite(float(metrics["loss"]))
    jax.tree.map(np.testing.assert_array_equal, before[1], after[1])  # frozen base
    changed = jax.tree.map(lambda a, b: not np.array_equal(a, b), before[0], after[0])
    assert any(jax.tree.leaves(changed))
