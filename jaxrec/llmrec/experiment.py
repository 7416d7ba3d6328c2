"""An MSL run end to end: titles -> tokenizer + trie -> prompts -> sharded training (LML / MSL /
MSL+ATS) -> CBS validation every epoch (select by NDCG@5) -> test of the best checkpoint with
both CBS scorings -> ``results.json``.

``run(cfg, run_dir)`` is what ``jaxrec run`` calls for ``method="msl"`` configs.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec import data as data_lib
from jaxrec import train
from jaxrec.data.batches import IndexBatches
from jaxrec.llmrec.beam import constrained_beam_search, exact_match_metrics
from jaxrec.llmrec.config import MSLExperiment
from jaxrec.llmrec.objective import initial_extra, make_loss_fn, update_extra
from jaxrec.llmrec.prompts import WORDING, encode_windows, prompt_text
from jaxrec.llmrec.tokenizer import TextTokenizer, load_tokenizer, train_bpe_tokenizer
from jaxrec.llmrec.trie import TitleTrie, build_trie, entries_from_titles

__all__ = ["MSLSetup", "RowBatches", "build", "evaluators", "load_world", "run"]

_TRAIN_KEYS = ("input_ids", "attention_mask", "targets", "nodes")


def load_world(cfg: MSLExperiment) -> data_lib.TitleWorld:
    """The configured titles and train/valid/test windows (row caps applied)."""
    d = cfg.data
    if d.source == "synthetic":
        world = data_lib.synthetic_title_world(
            num_genres=d.synthetic_genres,
            items_per_genre=d.synthetic_items_per_genre,
            num_users=d.synthetic_users,
            num_valid=min(d.num_valid, d.synthetic_users // 4),
            num_test=d.synthetic_users // 2,
            seed=cfg.seed,
        )
    else:
        root = Path(d.path)
        titles = data_lib.load_item_titles(root / "id2name4Rec.json")
        train_rows = data_lib.load_llmrec_csv(root / "train_10000.csv", titles)
        all_rows = data_lib.load_llmrec_csv(root / "train.csv", titles)
        world = data_lib.TitleWorld(
            d.dataset,
            titles,
            train_rows,
            data_lib.chronological_holdout(all_rows, train_rows, d.num_valid),
            data_lib.load_llmrec_csv(root / "test_5000.csv", titles),
        )
    if d.max_train_rows:
        world = dataclasses.replace(world, train=world.train.subset(slice(0, d.max_train_rows)))
    if d.max_test_rows:
        world = dataclasses.replace(
            world,
            test=world.test.subset(slice(0, d.max_test_rows)),
            valid=world.valid.subset(slice(0, d.max_test_rows)),
        )
    return world


def make_tokenizer(cfg: MSLExperiment, titles: dict[int, str]) -> TextTokenizer:
    """A BPE trained on the titles and the prompt wording, or a local HF tokenizer folder."""
    if cfg.data.tokenizer != "bpe":
        return load_tokenizer(cfg.data.tokenizer)
    corpus = list(titles.values()) + [
        prompt_text(["x"], dataset=cfg.data.dataset, style=cfg.data.prompt_style),
        *WORDING[cfg.data.dataset],
    ]
    return train_bpe_tokenizer(corpus, cfg.data.bpe_vocab_size)


def make_trie(tokenizer: TextTokenizer, titles: dict[int, str]) -> TitleTrie:
    entries, ids, texts = entries_from_titles(tokenizer.encode_batch, titles, tokenizer.eos_id)
    return build_trie(entries, ids, texts, tokenizer.vocab_size)


def _model_fn(cfg: MSLExperiment, vocab_size: int, max_len: int):
    """The from-scratch decoder's factory (``jaxrec.models.llm``)."""
    from jaxrec.models import llm

    m = cfg.model
    llm_cfg = llm.LLMConfig(
        vocab_size=vocab_size,
        hidden_size=m.dim,
        intermediate_size=m.mlp_dim,
        num_layers=m.num_layers,
        num_heads=m.num_heads,
        num_kv_heads=m.num_kv_heads,
        max_position_embeddings=max_len,
        tie_embeddings=True,
        dtype=m.dtype,
    )
    return lambda rngs: llm.Decoder(llm_cfg, rngs=rngs)


def _pretrained_state(cfg: MSLExperiment, tx, extra):
    """A local HF checkpoint, loaded outside jit (sharded by its annotations under the mesh
    context), with LoRA adapters attached when ``lora_rank > 0`` (then only they train)."""
    from jaxrec.models import llm

    m = cfg.model
    model, _ = llm.load_pretrained(m.pretrained, dtype=m.dtype)
    trainable = nnx.Param
    if m.lora_rank:
        lora = llm.LoRAConfig(rank=m.lora_rank, alpha=m.lora_alpha, targets=m.lora_targets)
        model = llm.add_lora(model, lora, rngs=nnx.Rngs(cfg.seed))
        trainable = nnx.LoRAParam
    graphdef, state = train.train_state_from_model(model, tx, trainable=trainable, extra=extra)
    return graphdef, state, trainable


class RowBatches:
    """Shuffled fixed-shape batches of encoded rows (a :class:`jaxrec.train.BatchSource`).

    :class:`jaxrec.data.batches.IndexBatches` gives the order, the process slice and the
    resumable position; a padded row (row 0, ``mask`` False) has ``targets = -1`` (not
    supervised).
    """

    def __init__(self, arrays: dict[str, np.ndarray], batch_size: int, seed: int):
        self._arrays = {k: arrays[k] for k in _TRAIN_KEYS}
        self._order = IndexBatches(
            arrays["input_ids"].shape[0],
            batch_size,
            seed,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )
        self.steps_per_epoch = self._order.steps_per_epoch

    def _gather(self, part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: v[part["index"]] for k, v in self._arrays.items()}
        out["targets"] = np.where(part["mask"][:, None], out["targets"], -1)
        return out

    def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
        return self._gather(self._order.batch(epoch, step))

    def epoch(self):
        for part in self._order.epoch():
            yield self._gather(part)

    def get_state(self):
        return self._order.get_state()

    def set_state(self, state):
        self._order.set_state(state)


@dataclasses.dataclass
class MSLSetup:
    """Everything a run (or a benchmark) needs, built under the mesh."""

    cfg: MSLExperiment
    world: data_lib.TitleWorld
    tokenizer: TextTokenizer
    trie: TitleTrie
    encoded: dict[str, dict[str, np.ndarray]]
    mesh: jax.sharding.Mesh
    graphdef: Any
    state: train.TrainState
    train_step: Any
    batches: RowBatches
    context: dict[str, Any]
    entry_items: jax.Array

    def decode(self, state: train.TrainState, split: str, scoring: str) -> np.ndarray:
        """CBS entries ``[n, num_return]`` for every prompt of ``split``."""
        return _decode(self, state, split, scoring)

    def evaluate(self, state: train.TrainState, split: str, scoring: str) -> dict[str, float]:
        entries = self.decode(state, split, scoring)
        return exact_match_metrics(entries, self.encoded[split]["target_entry"])


@functools.lru_cache(maxsize=8)
def _beam_fn(graphdef, max_fanout, max_depth, num_beams, num_return, scoring, length_penalty):
    @jax.jit
    def fn(params, model_state, trie_arrays, entry_items, ids, mask):
        model = nnx.merge(graphdef, params, model_state)
        return constrained_beam_search(
            model, trie_arrays, entry_items, ids, mask,
            max_fanout=max_fanout, max_depth=max_depth, num_beams=num_beams,
            num_return=num_return, scoring=scoring, length_penalty=length_penalty,
        ).entries  # fmt: skip

    return fn


def _decode(setup: MSLSetup, state: train.TrainState, split: str, scoring: str) -> np.ndarray:
    cbs, trie = setup.cfg.cbs, setup.trie
    fn = _beam_fn(
        setup.graphdef, trie.max_fanout, trie.max_depth, cbs.num_beams, cbs.num_return,
        scoring, cbs.length_penalty,
    )  # fmt: skip
    ids, mask = setup.encoded[split]["prompt_ids"], setup.encoded[split]["prompt_mask"]
    n, size = ids.shape[0], cbs.batch_size
    out = []
    for start in range(0, n, size):  # fixed batch shape: the tail is padded with row 0
        rows = np.arange(start, start + size) % n
        entries = fn(
            state.params, state.model_state, setup.context["trie"], setup.entry_items,
            ids[rows], mask[rows],
        )  # fmt: skip
        out.append(np.asarray(entries)[: min(size, n - start)])
    return np.concatenate(out)


def popularity_metrics(setup: MSLSetup, split: str) -> dict[str, float]:
    """Baseline: every prompt gets the entries most frequent as training targets."""
    counts = np.bincount(
        setup.encoded["train"]["target_entry"], minlength=len(setup.trie.entry_titles)
    )
    top = np.argsort(-counts, kind="stable")[: setup.cfg.cbs.num_return]
    target = setup.encoded[split]["target_entry"]
    return exact_match_metrics(np.broadcast_to(top, (target.size, top.size)), target)


def build(cfg: MSLExperiment, devices: list[jax.Device] | None = None) -> MSLSetup:
    """Loads data, builds tokenizer/trie/prompts, initialises the sharded state and compiles the
    step on a mesh over ``devices`` (default: all)."""
    world = load_world(cfg)
    tokenizer = make_tokenizer(cfg, world.titles)
    trie = make_trie(tokenizer, world.titles)
    d = cfg.data
    encode = functools.partial(
        encode_windows, titles=world.titles, tokenizer=tokenizer, trie=trie, dataset=d.dataset,
        style=d.prompt_style, max_prompt_len=d.max_prompt_len, max_history=d.max_history,
        history_title_words=d.history_title_words, drop_mismatched=d.drop_mismatched,
    )  # fmt: skip
    encoded = {
        split: encode(getattr(world, split), source=f"{world.name}/{split}")
        for split in ("train", "valid", "test")
    }
    mesh = train.make_mesh(cfg.mesh, devices)
    batches = RowBatches(encoded["train"], cfg.batch_size, cfg.seed)
    total_steps = cfg.loop.epochs * batches.steps_per_epoch
    tx = train.make_optimizer(cfg.optimizer, total_steps)
    seq_len = encoded["train"]["input_ids"].shape[1]
    _, branch_fanout = trie.first_branch
    with train.mesh_context(mesh, cfg.mesh.rules):
        if cfg.model.pretrained:
            graphdef, state, trainable = _pretrained_state(cfg, tx, initial_extra(cfg.loss))
        else:
            trainable = nnx.Param
            graphdef, state = train.init_train_state(
                _model_fn(cfg, tokenizer.vocab_size, seq_len + trie.max_depth + 1),
                tx,
                seed=cfg.seed,
                extra=initial_extra(cfg.loss),
            )
        put = functools.partial(jax.device_put, device=train.replicated(mesh))
        context = {"trie": jax.tree.map(put, trie.arrays())}
        entry_items = put(jnp.asarray(trie.entry_items))
        step = train.make_train_step(
            graphdef,
            tx,
            make_loss_fn(cfg.loss, trie.max_fanout, branch_fanout),
            update_extra=update_extra,
            schedule=train.make_schedule(cfg.optimizer, total_steps),
            trainable=trainable,
        )
        compiled = train.compile_train_step(step, mesh, state, batches.batch(0, 0), context)
    return MSLSetup(
        cfg, world, tokenizer, trie, encoded, mesh, graphdef, state, compiled, batches, context,
        entry_items,
    )  # fmt: skip


def evaluators(setup: MSLSetup) -> dict[str, Any]:
    """``{"valid", "test"}`` -> ``evaluate(state) -> metrics`` as :func:`run` uses them: CBS
    with ``cfg.cbs.scoring`` on valid; every scoring in ``cfg.test_scorings`` (keys
    ``<scoring>/<metric>``) plus the popularity baseline on test. ``jaxrec eval`` uses them too."""
    cfg = setup.cfg

    def evaluate(state):
        return setup.evaluate(state, "valid", cfg.cbs.scoring)

    def test(state):
        out = {}
        for scoring in cfg.test_scorings:
            for name, value in setup.evaluate(state, "test", scoring).items():
                out[f"{scoring}/{name}"] = value
        for name, value in popularity_metrics(setup, "test").items():
            out[f"popularity/{name}"] = value
        return out

    return {"valid": evaluate, "test": test}


def run(cfg: MSLExperiment, run_dir: str | Path, *, resume: bool = True) -> dict[str, Any]:
    """Trains, validates with CBS (``cfg.cbs.scoring``) each epoch, selects by
    ``cfg.loop.select_metric``, tests the best checkpoint with every scoring in
    ``cfg.test_scorings`` (plus a popularity baseline) and writes ``results.json``."""
    setup = build(cfg)
    split_evaluators = evaluators(setup)

    trie = setup.trie

    def describe(result: train.FitResult) -> dict[str, Any]:
        ats = cfg.loss.ats.enabled
        return {
            "loss": cfg.loss.name,
            "ats": ats,
            "valid_scoring": cfg.cbs.scoring,
            "length_penalty": cfg.cbs.length_penalty,
            "dataset": {
                "source": cfg.data.source,
                "path": cfg.data.path,
                "items": len(setup.world.titles),
                "distinct_titles": len(trie.entry_titles),
                "train": int(setup.encoded["train"]["row"].size),
                "valid": int(setup.encoded["valid"]["row"].size),
                "test": int(setup.encoded["test"]["row"].size),
            },
            "trie": {
                "nodes": trie.num_nodes,
                "max_fanout": trie.max_fanout,
                "max_depth": trie.max_depth,
                "first_branch": list(trie.first_branch),
                "vocab_size": setup.tokenizer.vocab_size,
            },
            "final_tau": float(result.state.extra["ats"]["tau"]) if ats else None,
        }

    return train.fit_experiment(
        cfg,
        setup,
        run_dir,
        evaluate=split_evaluators["valid"],
        test=split_evaluators["test"],
        describe=describe,
        resume=resume,
    )
