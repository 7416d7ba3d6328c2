"""A SOFT run end to end (SOFT spec §2.1): titles -> tokenizer -> prompts -> [base LM
pre-training, from-scratch decoders only] -> SFT (early stopping on validation HR@10 with
grounding) -> self-distilled y_hat (4-beam top-1 for every training prompt) -> SOFT (or an
ablation) from a fresh LoRA with the distance curriculum -> test by grounding -> ``results.json``.

Each stage has its own folder under the run folder (``base/``, ``sft/``, ``distill.npz``,
``soft/``), trained with :func:`jaxrec.train.fit_experiment`; a finished stage is reused and an
interrupted one resumes from its checkpoint, so a killed run continues at the stage it was in.
The curriculum's state ``{"value", "d0", "last_d", "updates"}`` is ``TrainState.extra
["curriculum"]``, refreshed by the loop's ``refresh`` hook and checkpointed; every epoch's
``lambda`` and ``curriculum_d`` are in ``soft/metrics.jsonl`` and ``soft/curves.png``.

``run(cfg, run_dir)`` is what ``jaxrec run`` calls for ``method="soft"`` configs.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec import train
from jaxrec.llmrec.beam import unconstrained_beam_search
from jaxrec.llmrec.encoder import TextEncoder
from jaxrec.llmrec.experiment import load_world, make_tokenizer, make_trie
from jaxrec.llmrec.grounding import ItemTable, build_item_table, grounded_top_k, grounding_metrics
from jaxrec.llmrec.prompts import encode_windows
from jaxrec.llmrec.soft_config import SOFTExperiment
from jaxrec.llmrec.soft_data import PairBatches, left_padded, lm_pairs, pairs_from_tokens
from jaxrec.llmrec.soft_objective import make_soft_loss_fn
from jaxrec.llmrec.trie import title_entry
from jaxrec.train.schedules import distance_curriculum

__all__ = ["SOFTSetup", "build", "run"]

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _search_fn(graphdef, eos_id: int, max_new_tokens: int, num_beams: int, num_return: int):
    @jax.jit
    def fn(params, model_state, ids, mask):
        model = nnx.merge(graphdef, params, model_state)
        return unconstrained_beam_search(
            model, ids, mask, eos_id=eos_id, max_new_tokens=max_new_tokens,
            num_beams=num_beams, num_return=num_return,
        )  # fmt: skip

    return fn


@dataclasses.dataclass
class SOFTSetup:
    """Data, tokenizer, base model, encoder and item table of a run (built under the mesh)."""

    cfg: SOFTExperiment
    world: Any
    tokenizer: Any
    encoded: dict[str, dict[str, np.ndarray]]
    mesh: jax.sharding.Mesh
    base_graphdef: Any
    base_params: Any
    base_rest: Any
    encoder: TextEncoder | None = None
    table: ItemTable | None = None
    probes: np.ndarray | None = None

    def generate(self, graphdef, params, model_state, split: str, rows=None, num_return=1):
        """Token lists ``[n][num_return]`` (EOS dropped) and ``never_eos`` count for the prompts
        of ``split`` (``rows``: a subset)."""
        g = self.cfg.generation
        fn = _search_fn(graphdef, self.tokenizer.eos_id, g.max_new_tokens, g.num_beams, num_return)
        enc = self.encoded[split]
        ids, mask = enc["prompt_ids"], enc["prompt_mask"]
        if rows is not None:
            ids, mask = ids[rows], mask[rows]
        n, size = ids.shape[0], g.batch_size
        outs, never = [], 0
        for start in range(0, n, size):  # fixed batch shape: the tail is padded with row 0
            idx = np.arange(start, start + size) % n
            out = jax.device_get(fn(params, model_state, ids[idx], mask[idx]))
            keep = min(size, n - start)
            tokens, lengths, eos = out.tokens[:keep], out.lengths[:keep], out.eos[:keep]
            never += int((~eos[:, 0]).sum())
            for i in range(keep):
                outs.append(
                    [
                        tokens[i, r, : lengths[i, r] - int(eos[i, r])].tolist()
                        for r in range(num_return)
                    ]
                )
        return outs, never

    def texts(self, token_rows) -> list[str]:
        """Generated token rows as text, surrounding quotes and spaces stripped (BIGRec)."""
        return [self.tokenizer.decode(t).strip().strip('"').strip() for t in token_rows]

    def ground(self, graphdef, params, model_state, split: str) -> dict[str, float]:
        """HR/NDCG@{1,5,10,20,50} of the top-1 generation grounded in the catalogue."""
        gens, never = self.generate(graphdef, params, model_state, split)
        queries = self.encoder.encode(self.texts([g[0] for g in gens]))
        targets = getattr(self.world, split).targets[self.encoded[split]["row"]]
        out = grounding_metrics(queries, self.table, targets)
        return {**out, "never_eos": float(never)}

    def distance(self, graphdef, params, model_state) -> float:
        """``d`` = mean L2 (base embeddings) between the top-1 generation and the true item on
        the probe prompts."""
        gens, _ = self.generate(graphdef, params, model_state, "train", rows=self.probes)
        queries = self.encoder.encode(self.texts([g[0] for g in gens]))
        rows = self.table.rows_of(
            self.world.train.targets[self.encoded["train"]["row"][self.probes]]
        )
        diff = queries - self.table.embeddings[rows]
        return float(np.mean(np.sqrt((diff.astype(np.float64) ** 2).sum(-1))))


def _base(cfg: SOFTExperiment, tokenizer, seq_len: int):
    """``(graphdef, params, rest)`` of the base decoder: a local HF checkpoint, or a fresh
    from-scratch decoder (pre-trained by the ``base`` stage)."""
    from jaxrec.models import llm

    m = cfg.model
    if m.pretrained:
        model, _ = llm.load_pretrained(m.pretrained, dtype=m.dtype)
    else:
        model = llm.Decoder(
            llm.LLMConfig(
                vocab_size=tokenizer.vocab_size, hidden_size=m.dim, intermediate_size=m.mlp_dim,
                num_layers=m.num_layers, num_heads=m.num_heads, num_kv_heads=m.num_kv_heads,
                max_position_embeddings=seq_len, tie_embeddings=True, dtype=m.dtype,
            ),
            rngs=nnx.Rngs(cfg.seed),
        )  # fmt: skip
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(rest)


def _sampled(world, cfg: SOFTExperiment):
    """SOFT's random samples of the training and test windows (``sample_*``, ``sample_seed``)."""
    rng = np.random.default_rng(cfg.sample_seed)
    changes = {}
    for split, n in (("train", cfg.sample_train), ("test", cfg.sample_test)):
        windows = getattr(world, split)
        if n and n < len(windows):
            changes[split] = windows.subset(np.sort(rng.choice(len(windows), n, replace=False)))
    return dataclasses.replace(world, **changes)


def build(cfg: SOFTExperiment, devices: list[jax.Device] | None = None) -> SOFTSetup:
    """Loads data, tokenizer, prompts and the (untrained or loaded) base on a mesh."""
    world = _sampled(load_world(cfg), cfg)
    if cfg.num_probes > len(world.train):
        raise ValueError(
            f"num_probes={cfg.num_probes} exceeds the {len(world.train)} training windows"
        )
    tokenizer = make_tokenizer(cfg, world.titles)
    trie = make_trie(tokenizer, world.titles)
    d = cfg.data
    encoded = {
        split: encode_windows(
            getattr(world, split),
            world.titles,
            tokenizer,
            trie,
            dataset=d.dataset,
            style=d.prompt_style,
            max_prompt_len=d.max_prompt_len,
            max_history=d.max_history,
            history_title_words=d.history_title_words,
            drop_mismatched=d.drop_mismatched,
            source=f"{world.name}/{split}",
        )  # fmt: skip
        for split in ("train", "valid", "test")
    }
    mesh = train.make_mesh(cfg.mesh, devices)
    seq_len = d.max_prompt_len + max(trie.max_depth, cfg.generation.max_new_tokens) + 1
    with train.mesh_context(mesh, cfg.mesh.rules):
        graphdef, params, rest = _base(cfg, tokenizer, seq_len)
    probes = np.random.default_rng(42).choice(
        encoded["train"]["row"].size, cfg.num_probes, replace=False
    )
    return SOFTSetup(cfg, world, tokenizer, encoded, mesh, graphdef, params, rest, probes=probes)


def _with_lora(setup: SOFTSetup, base_params, tx, extra, seed: int):
    """``(graphdef, state, trainable)``: a fresh LoRA on the base (rank 0: full fine-tune)."""
    from jaxrec.models import llm

    m = setup.cfg.model
    # copies: the train step donates its state, the base must survive for the encoder
    base_params, rest = jax.tree.map(jnp.copy, (base_params, setup.base_rest))
    model = nnx.merge(setup.base_graphdef, base_params, rest)
    trainable = nnx.Param
    if m.lora_rank:
        lora = llm.LoRAConfig(rank=m.lora_rank, alpha=m.lora_alpha, targets=m.lora_targets)
        model = llm.add_lora(model, lora, rngs=nnx.Rngs(seed))
        trainable = nnx.LoRAParam
    extra = jax.device_put(extra, train.replicated(setup.mesh))  # on every device of the mesh
    graphdef, state = train.train_state_from_model(model, tx, trainable=trainable, extra=extra)
    return graphdef, state, trainable


@dataclasses.dataclass
class _Stage:
    """A stage's experiment for :func:`jaxrec.train.fit_experiment`."""

    mesh: Any
    state: Any
    train_step: Any
    batches: Any
    context: Any


def _fit_stage(setup, folder: Path, cfg_stage, graphdef, state, trainable, batches, *,
               variant, evaluate=None, test=None, refresh=None, refresh_every=0):  # fmt: skip
    """Trains one stage (or reuses it when its ``results.json`` exists) and returns
    ``(best state, summary)``: the best by validation when ``evaluate`` is given, else the last."""
    tx = _tx(cfg_stage, batches)
    rng = jax.random.key_data(jax.random.key(cfg_stage.seed))
    results = folder / "results.json"
    with train.mesh_context(setup.mesh, setup.cfg.mesh.rules):
        if not results.exists():
            step = train.make_train_step(
                graphdef, tx, make_soft_loss_fn(variant), trainable=trainable
            )
            compiled = train.compile_train_step(step, setup.mesh, state, batches.batch(0, 0), {})
            train.fit_experiment(
                cfg_stage, _Stage(setup.mesh, state, compiled, batches, {}), folder,
                evaluate=evaluate, test=test, describe=lambda r: {"variant": variant},
                refresh=refresh, refresh_every_steps=refresh_every,
            )  # fmt: skip
        summary = json.loads(results.read_text())
        with train.Checkpointer(folder, metric=cfg_stage.loop.select_metric) as ckpt:
            restored = (ckpt.restore_best(state, rng) if evaluate else None) or ckpt.restore_latest(
                state, rng
            )
    return restored.state, summary


def _tx(cfg_stage: SOFTExperiment, batches: PairBatches):
    return train.make_optimizer(
        cfg_stage.optimizer, cfg_stage.loop.epochs * batches.steps_per_epoch
    )


def _stage_cfg(cfg: SOFTExperiment, name: str, **changes):
    return dataclasses.replace(cfg, name=f"{cfg.name}-{name}", **changes)


def run(cfg: SOFTExperiment, run_dir: str | Path, *, resume: bool = True) -> dict[str, Any]:
    """Runs the stages (module docstring) in ``run_dir`` and writes ``results.json``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    setup = build(cfg)
    tok, enc = setup.tokenizer, setup.encoded
    train_y = {"ids": enc["train"]["input_ids"], "mask": enc["train"]["attention_mask"],
               "targets": enc["train"]["targets"]}  # fmt: skip
    stages: dict[str, Any] = {}
    base_params = setup.base_params
    if cfg.base_epochs:  # plain-LM pre-training of a from-scratch base on titles + sequences
        titles = [
            tok.encode_batch([title_entry(t)])[0] + [tok.eos_id]
            for t in setup.world.titles.values()
        ]
        width = train_y["ids"].shape[1]
        ids = np.concatenate([train_y["ids"], left_padded(titles, width, tok.pad_id)])
        masks = np.concatenate([train_y["mask"], left_padded(titles, width, -1) >= 0])
        lm = lm_pairs(ids, masks)
        base_cfg = _stage_cfg(
            cfg, "base", optimizer=dataclasses.replace(cfg.optimizer, lr=cfg.base_lr),
            loop=train.LoopConfig(epochs=cfg.base_epochs, progress=cfg.loop.progress),
        )  # fmt: skip
        batches = PairBatches({"y": lm}, cfg.batch_size, cfg.seed)
        tx = _tx(base_cfg, batches)
        with train.mesh_context(setup.mesh, cfg.mesh.rules):
            copies = jax.tree.map(jnp.copy, (base_params, setup.base_rest))
            model = nnx.merge(setup.base_graphdef, *copies)
            g, state = train.train_state_from_model(model, tx)
        state, stages["base"] = _fit_stage(
            setup, run_dir / "base", base_cfg, g, state, nnx.Param, batches, variant="sft"
        )
        base_params = state.params
    setup.base_params = base_params
    setup.encoder = TextEncoder(setup.base_graphdef, base_params, setup.base_rest, tok)
    ids = np.array(sorted(setup.world.titles))
    setup.table = build_item_table(
        setup.world.titles, setup.encoder.encode([setup.world.titles[int(i)] for i in ids])
    )

    def evaluator(graphdef, split):
        return lambda s: setup.ground(graphdef, s.params, s.model_state, split)

    # SFT on (x, y) from a fresh LoRA
    sft_cfg = _stage_cfg(cfg, "sft", loop=cfg.sft_loop)
    batches = PairBatches({"y": train_y}, cfg.batch_size, cfg.seed)
    with train.mesh_context(setup.mesh, cfg.mesh.rules):
        g_sft, state, trainable = _with_lora(
            setup, base_params, _tx(sft_cfg, batches), {}, cfg.seed
        )
    sft_state, stages["sft"] = _fit_stage(
        setup, run_dir / "sft", sft_cfg, g_sft, state, trainable, batches, variant="sft",
        evaluate=evaluator(g_sft, "valid"), test=evaluator(g_sft, "test"),
    )  # fmt: skip

    # self-distilled y_hat for every training prompt
    hat = _distill(setup, run_dir / "distill.npz", g_sft, sft_state)
    stages["distill"] = {"never_eos": int(hat.pop("never_eos")), "sd_target": cfg.sd_target}

    # SOFT (or an ablation) from a fresh LoRA on the base (or the SFT model)
    sched = distance_curriculum(cfg.alpha)
    d0 = setup.distance(setup.base_graphdef, base_params, setup.base_rest)  # base, no LoRA
    extra = {"curriculum": sched.init(d0)}
    soft_cfg = _stage_cfg(cfg, cfg.variant)
    batches = PairBatches({"y": train_y, "hat": hat}, cfg.batch_size, cfg.seed)
    with train.mesh_context(setup.mesh, cfg.mesh.rules):
        g_soft, state, trainable = _with_lora(
            setup, base_params, _tx(soft_cfg, batches), extra, cfg.seed + 1
        )
        if cfg.init_from == "sft":
            state = state.replace(params=sft_state.params)

    def refresh(s):
        d = setup.distance(g_soft, s.params, s.model_state)
        _, cur = sched.update(s.extra["curriculum"], d)
        cur = jax.device_put(cur, train.replicated(setup.mesh))
        log.info("curriculum: d=%.4f d0=%.4f lambda=%.4f", d, d0, float(cur["value"]))
        return s.replace(extra={**s.extra, "curriculum": cur})

    _, stages["soft"] = _fit_stage(
        setup, run_dir / "soft", soft_cfg, g_soft, state, trainable, batches,
        variant=cfg.variant, evaluate=evaluator(g_soft, "valid"), test=evaluator(g_soft, "test"),
        refresh=refresh if cfg.variant == "soft" else None, refresh_every=cfg.lambda_every_steps,
    )  # fmt: skip
    history = [
        json.loads(line) for line in (run_dir / "soft" / "metrics.jsonl").read_text().splitlines()
    ]
    curve = [{"epoch": r["epoch"], "lambda": r.get("lambda"), "d": r.get("curriculum_d")}
             for r in history if r["split"] == "train"]  # fmt: skip
    counts = np.bincount(setup.world.train.targets, minlength=max(setup.world.titles) + 1)
    pop = np.argsort(-counts[setup.table.item_ids], kind="stable")
    pop = pop[setup.table.valid[pop]][:50]
    summary = {
        "name": cfg.name, "variant": cfg.variant, "alpha": cfg.alpha, "d0": d0,
        "curriculum": curve, "test": stages["soft"]["test"], "sft_test": stages["sft"]["test"],
        "best_valid": stages["soft"]["best_valid"],
        "seconds_per_epoch": stages["soft"]["seconds_per_epoch"],
        "sft_seconds_per_epoch": stages["sft"]["seconds_per_epoch"],
        "first_epoch_ce_hat_over_ce_y": _first_epoch_ratio(history),
        "popularity": _fixed_rank_metrics(setup, pop), "stages": stages,
    }  # fmt: skip
    train.write_json_atomic(run_dir / "results.json", summary)
    return summary


def _first_epoch_ratio(history: list[dict[str, Any]]) -> float | None:
    """The first SOFT epoch's mean CE on y_hat over its mean CE on y (both logged when the
    variant trains on both)."""
    first = next((r for r in history if r["split"] == "train"), {})
    if "ce_hat" not in first or "ce_y" not in first:
        return None
    return first["ce_hat"] / first["ce_y"]


def _fixed_rank_metrics(setup: SOFTSetup, rows: np.ndarray) -> dict[str, float]:
    """HR/NDCG of one fixed ranking (the popularity baseline) on test."""
    from jaxrec.metrics import ranking_metrics

    target = setup.table.rows_of(setup.world.test.targets[setup.encoded["test"]["row"]])
    top = np.broadcast_to(rows, (target.size, rows.size))
    per_row = ranking_metrics(
        top, target[:, None], np.ones(target.size, np.int32), ks=(1, 5, 10, 20, 50)
    )
    names = {f"{m}@{k}": f"{short}@{k}" for m, short in (("hit_rate", "hr"), ("ndcg", "ndcg"))
             for k in (1, 5, 10, 20, 50)}  # fmt: skip
    return {names[k]: float(np.mean(v)) for k, v in per_row.items() if k in names}


def _distill(setup: SOFTSetup, path: Path, graphdef, state) -> dict[str, np.ndarray]:
    """The y_hat pair set (cached in ``path``): ``sd_target`` picks the top-1 beam text
    (default), the beam nearest to y, or the top-1's grounded title."""
    if path.exists():
        with np.load(path) as f:
            return dict(f)
    cfg, tok = setup.cfg, setup.tokenizer
    k = cfg.generation.num_beams if cfg.sd_target == "nearest_beam" else 1
    gens, never = setup.generate(graphdef, state.params, state.model_state, "train", num_return=k)
    if cfg.sd_target == "top1":
        responses = [g[0] for g in gens]
    elif cfg.sd_target == "nearest_beam":
        emb = setup.encoder.encode(setup.texts([t for g in gens for t in g])).reshape(
            len(gens), k, -1
        )
        rows = setup.table.rows_of(setup.world.train.targets[setup.encoded["train"]["row"]])
        dist = np.linalg.norm(emb - setup.table.embeddings[rows][:, None], axis=-1)
        responses = [g[j] for g, j in zip(gens, dist.argmin(1))]
    else:  # grounded
        top = grounded_top_k(
            setup.encoder.encode(setup.texts([g[0] for g in gens])), setup.table, k=1
        )
        responses = tok.encode_batch([title_entry(setup.table.titles[r]) for r in top[:, 0]])
    enc = setup.encoded["train"]
    out = pairs_from_tokens(
        enc["prompt_ids"], enc["prompt_mask"], responses, tok.eos_id, tok.pad_id
    )
    if never:
        log.warning("%d of %d top-1 generations hit max_new_tokens without EOS; EOS appended",
                    never, len(gens))  # fmt: skip
    out["never_eos"] = np.asarray(never)
    np.savez(path, **out)
    return out
