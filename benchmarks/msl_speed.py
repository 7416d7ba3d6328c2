"""MSL speed (issue 3): constrained beam search and training-step efficiency on the CPU.

1. **Decoding.** jaxrec's jit-compiled, batched ``constrained_beam_search`` vs transformers'
   ``generate(num_beams=10, num_return_sequences=10, prefix_allowed_tokens_fn=...)`` in PyTorch
   (CPU) on the same random-init decoder (exported with ``jaxrec.models.llm.save_pretrained`` and
   loaded by transformers, so both run identical weights), the same Book prompts (left-padded) and
   the same trie. The HF side walks a Python dict trie over the same token sequences (spec §2.8:
   the generated suffix after the prompt is looked up; a complete title allows only EOS).
   Reported: prompts/s (median of timed repeats after a warm-up; jaxrec's compile time apart), the
   speed-up, and the top-1 agreement with ``scoring="softmax_then_mask"`` and
   ``length_penalty=1.0``, against HF's default stopping (``early_stopping=False``, a heuristic)
   and against ``early_stopping="never"`` (exact with ``max_new_tokens`` = the trie depth).
2. **Training.** tokens/s of the MSL train step (``jaxrec.llmrec`` objective through
   ``jaxrec.train.make_train_step``) and its model FLOP/s as a fraction of the measured peak of a
   large square float32 ``jnp.dot``. Model FLOPs per step (``N`` = non-embedding parameters,
   ``B x T`` tokens, ``L`` layers, width ``d``, vocabulary ``V``)::

       6 * N * B * T  +  6 * d * V * B * T  +  12 * L * T * d * B * T

   (matmul weights forward + backward, the LM head, attention scores and values with the full
   ``T x T`` square), cross-checked with XLA's ``compiled.cost_analysis()["flops"]``.

Run:  PYTHONPATH=. python3 benchmarks/msl_speed.py --out docs/bench_msl_speed.json
Small: PYTHONPATH=. python3 benchmarks/msl_speed.py --prompts 16 --batch-sizes 8 --repeats 3 \\
         --train-hidden 128 --train-layers 2 --train-seq 96 --train-batch 4 --out /tmp/b.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxrec import train
from jaxrec.data import shared_root
from jaxrec.llmrec import experiment
from jaxrec.llmrec.beam import constrained_beam_search
from jaxrec.llmrec.config import DataConfig, LossConfig, MSLExperiment
from jaxrec.llmrec.objective import make_loss_fn
from jaxrec.llmrec.prompts import encode_windows
from jaxrec.llmrec.trie import TitleTrie
from jaxrec.models import llm

BOOK = shared_root() / "llmrec" / "amazon_books"


# --------------------------------------------------------------------------- helpers


def timed(fn, repeats: int, warmup=None) -> tuple[float, list[float], Any]:
    """Median wall seconds of ``fn()`` over ``repeats`` calls after one warm-up call
    (``warmup()`` if given, else ``fn()``); also returns the last result."""
    (warmup or fn)()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out


def data_config(args, vocab: int, max_prompt_len: int, rows: int) -> DataConfig:
    """The Book files when present, else the synthetic title world (a few hundred titles)."""
    common = {
        "prompt_style": args.prompt_style,
        "max_prompt_len": max_prompt_len,
        "max_history": args.max_history,
        "bpe_vocab_size": vocab,
        "drop_mismatched": True,
        "max_train_rows": rows,
        "max_test_rows": rows,
    }
    if (Path(args.data) / "id2name4Rec.json").is_file():
        return DataConfig(source="llmrec_csv", path=str(args.data), dataset="book", **common)
    return DataConfig(
        source="synthetic", dataset="synthetic", synthetic_users=max(4 * rows, 200),
        synthetic_genres=10, synthetic_items_per_genre=40, **common,
    )  # fmt: skip


def dict_trie(trie: TitleTrie) -> dict[int, dict]:
    """The CSR trie as nested Python dicts ``{token: subtree}`` (what an HF user would write)."""
    subtrees: list[dict[int, dict]] = [{} for _ in range(trie.num_nodes)]
    for node in range(trie.num_nodes):
        for e in range(trie.offsets[node], trie.offsets[node + 1]):
            subtrees[node][int(trie.child_tokens[e])] = subtrees[int(trie.child_nodes[e])]
    return subtrees[0]


def prefix_allowed_tokens(root: dict[int, dict], prompt_len: int, eos_id: int):
    """HF ``prefix_allowed_tokens_fn``: walks the generated suffix (after the left-padded prompt
    of length ``prompt_len``) down the dict trie; a complete or off-trie prefix allows only EOS."""

    def fn(batch_id: int, input_ids) -> list[int]:
        node = root
        for tok in input_ids[prompt_len:].tolist():
            node = node.get(tok)
            if node is None:
                return [eos_id]
        return list(node) or [eos_id]

    return fn


def entry_of_tokens(trie: TitleTrie, tokens: np.ndarray, eos_id: int) -> int:
    """Trie entry reached by a generated token sequence up to EOS (-1 if off the trie)."""
    node = 0
    for tok in tokens.tolist():
        lo, hi = trie.offsets[node], trie.offsets[node + 1]
        pos = lo + np.searchsorted(trie.child_tokens[lo:hi], tok)
        if pos >= hi or trie.child_tokens[pos] != tok:
            return -1
        node = int(trie.child_nodes[pos])
        if tok == eos_id:
            break
    return int(trie.leaf_entry[node])


# --------------------------------------------------------------------------- decoding


def decoding_benchmark(args) -> dict[str, Any]:
    import torch
    import transformers

    cfg = MSLExperiment(data=data_config(args, args.vocab, args.max_prompt_len, args.prompts))
    world = experiment.load_world(cfg)
    tokenizer = experiment.make_tokenizer(cfg, world.titles)
    trie = experiment.make_trie(tokenizer, world.titles)
    enc = encode_windows(
        world.test, world.titles, tokenizer, trie, dataset=cfg.data.dataset,
        style=cfg.data.prompt_style, max_prompt_len=cfg.data.max_prompt_len,
        max_history=cfg.data.max_history, drop_mismatched=True, source="bench/test",
    )  # fmt: skip
    ids, mask = enc["prompt_ids"][: args.prompts], enc["prompt_mask"][: args.prompts]
    n, prompt_len = ids.shape
    llm_cfg = llm.LLMConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=args.hidden, intermediate_size=2 * args.hidden,
        num_layers=args.layers, num_heads=args.heads, num_kv_heads=args.kv_heads,
        max_position_embeddings=prompt_len + trie.max_depth + 1, init_std=args.init_std,
    )  # fmt: skip
    model = llm.Decoder(llm_cfg, rngs=nnx.Rngs(args.seed))
    graphdef, params = nnx.split(model)
    folder = Path(tempfile.mkdtemp(prefix="msl_speed_"))
    llm.save_pretrained(model, None, folder / "model")
    torch.manual_seed(0)
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        str(folder / "model"), dtype=torch.float32, local_files_only=True
    ).eval()
    torch_ids, torch_mask = torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask)
    with torch.inference_mode():
        hf_logits = hf(input_ids=torch_ids[:4], attention_mask=torch_mask[:4].long()).logits
    ours = np.asarray(
        jax.jit(lambda p, i, m: nnx.merge(graphdef, p)(i, m))(params, ids[:4], mask[:4])
    )
    logit_diff = float(np.abs(ours - hf_logits.numpy())[mask[:4]].max())

    trie_arrays, entry_items = trie.arrays(), jnp.asarray(trie.entry_items)
    k = args.beams
    eos, pad = tokenizer.eos_id, tokenizer.pad_id
    root = dict_trie(trie)
    allowed = prefix_allowed_tokens(root, prompt_len, eos)

    @functools.partial(jax.jit, static_argnames="scoring")
    def cbs(params, trie_arrays, entry_items, ids, mask, scoring="softmax_then_mask"):
        return constrained_beam_search(
            nnx.merge(graphdef, params), trie_arrays, entry_items, ids, mask,
            max_fanout=trie.max_fanout, max_depth=trie.max_depth, num_beams=k, num_return=k,
            scoring=scoring, length_penalty=1.0,
        )  # fmt: skip

    def jax_all(bs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ents, scores, steps = [], [], []
        for s in range(0, n, bs):
            out = cbs(params, trie_arrays, entry_items, ids[s : s + bs], mask[s : s + bs])
            ents.append(np.asarray(out.entries))
            scores.append(np.asarray(out.scores))
            steps.append(np.asarray(out.steps))
        return np.concatenate(ents), np.concatenate(scores), np.stack(steps)

    def hf_all(bs: int, rows: int, early_stopping: Any = False) -> tuple[np.ndarray, np.ndarray]:
        ents, scores = [], []
        with torch.inference_mode():
            for s in range(0, rows, bs):
                out = hf.generate(
                    input_ids=torch_ids[s : s + bs], attention_mask=torch_mask[s : s + bs].long(),
                    num_beams=k, num_return_sequences=k, prefix_allowed_tokens_fn=allowed,
                    max_new_tokens=trie.max_depth, do_sample=False, length_penalty=1.0,
                    early_stopping=early_stopping, eos_token_id=eos, pad_token_id=pad,
                    return_dict_in_generate=True, output_scores=True,
                )  # fmt: skip
                seqs = (
                    out.sequences[:, prompt_len:]
                    .numpy()
                    .reshape(-1, k, out.sequences.shape[1] - prompt_len)
                )
                ents.append([entry_of_tokens(trie, r[0], eos) for r in seqs])
                scores.append(out.sequences_scores.numpy().reshape(-1, k)[:, 0])
        return np.concatenate(ents), np.concatenate(scores)

    sizes = [b for b in args.batch_sizes if n % b == 0] or [n]
    results: dict[str, Any] = {"batch_sizes": {}}
    runs = {}
    for bs in sizes:
        start = time.perf_counter()
        lowered = cbs.lower(params, trie_arrays, entry_items, ids[:bs], mask[:bs])
        lowered.compile()
        compile_s = time.perf_counter() - start
        jax_s, jax_times, jax_out = timed(lambda bs=bs: jax_all(bs), args.repeats)
        hf_rows = min(n, max(bs, args.hf_prompts))
        hf_s, hf_times, hf_out = timed(
            lambda bs=bs, r=hf_rows: hf_all(bs, r),
            args.hf_repeats,
            warmup=lambda: hf_all(min(n, 2), min(n, 2)),
        )
        runs[bs] = (jax_out[:2], hf_out)
        row_steps = jax_out[2]  # [batches, bs] decode step at which each row was done
        results["batch_sizes"][str(bs)] = {
            "jax_compile_s": compile_s,
            "jax_prompts_per_s": n / jax_s,
            "jax_times_s": jax_times,
            "jax_loop_steps_per_batch": row_steps.max(axis=1).tolist(),
            "jax_row_steps_mean": float(row_steps.mean()),
            "hf_prompts": hf_rows,
            "hf_prompts_per_s": hf_rows / hf_s,
            "hf_times_s": hf_times,
            "speedup": (n / jax_s) / (hf_rows / hf_s),
        }
        print(f"  batch {bs}: jax {n / jax_s:.2f} prompts/s, hf {hf_rows / hf_s:.2f} prompts/s")

    # Correctness: top-1 titles, jaxrec vs HF with its default heuristic stop (the timed run at
    # the largest batch) and with the exact stop ("never", over --agree-prompts prompts).
    bs = max(sizes)
    (jax_ent, jax_score), default_out = runs[bs]
    rows_never = min(n, args.agree_prompts)
    agree = {}
    for name, (hf_ent, hf_score) in (
        ("hf_default", default_out),
        ("hf_never", hf_all(min(bs, rows_never), rows_never, "never")),
    ):
        rows = hf_ent.shape[0]
        same = hf_ent == jax_ent[:rows, 0]
        differ = np.flatnonzero(~same)
        agree[name] = {
            "prompts": int(rows),
            "top1_agreement": float(same.mean()),
            "max_abs_top1_score_diff_where_agree": float(
                np.abs(hf_score - jax_score[:rows, 0])[same].max() if same.any() else np.nan
            ),
            "disagreements": [
                {
                    "row": int(r),
                    "jax": [int(jax_ent[r, 0]), float(jax_score[r, 0])],
                    "hf": [int(hf_ent[r]), float(hf_score[r])],
                }
                for r in differ[:10]
            ],
        }
        print(f"  top-1 agreement vs {name}: {same.mean():.3f} over {rows} prompts")
    results.update(
        {
            "source": cfg.data.source,
            "titles": len(world.titles),
            "distinct_titles": len(trie.entry_titles),
            "trie": {
                "nodes": trie.num_nodes,
                "max_fanout": trie.max_fanout,
                "max_depth": trie.max_depth,
            },
            "prompts": int(n),
            "prompt_len": int(prompt_len),
            "prompt_style": cfg.data.prompt_style,
            "model": dataclasses.asdict(llm_cfg),
            "num_beams": k,
            "max_new_tokens": trie.max_depth,
            "hf_vs_jax_max_abs_logit_diff": logit_diff,
            "agreement": agree,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads(),
        }
    )
    return results


# --------------------------------------------------------------------------- training


@functools.lru_cache(maxsize=4)
def _square(size: int) -> tuple[jax.Array, jax.Array, Any]:
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    return a, b, jax.jit(jnp.dot)


def peak_dot(size: int, repeats: int = 3) -> float:
    """Peak matmul FLOP/s: the best of ``repeats`` jitted ``size x size`` float32 ``jnp.dot``
    (``2 * size**3`` FLOPs each) after a warm-up."""
    a, b, dot = _square(size)
    dot(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dot(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def xla_cost_flops(compiled) -> float:
    """``compiled.cost_analysis()["flops"]`` (NaN where the backend reports none)."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", float("nan"))) if cost else float("nan")


def model_flops(llm_cfg: llm.LLMConfig, params: dict, batch: int, seq: int) -> dict[str, float]:
    """Analytical FLOPs of one train step (module docstring formula)."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    total = sum(int(np.prod(x.shape)) for _, x in leaves)
    embed = sum(
        int(np.prod(x.shape))
        for path, x in leaves
        if any(getattr(p, "key", None) in ("embed_tokens", "lm_head") for p in path)
    )
    d, v, layers = llm_cfg.hidden_size, llm_cfg.vocab_size, llm_cfg.num_layers
    tokens = batch * seq
    dense = 6 * (total - embed) * tokens
    head = 6 * d * v * tokens
    attention = 12 * layers * seq * d * tokens
    return {
        "non_embedding_params": total - embed,
        "tokens": tokens,
        "dense": dense,
        "lm_head": head,
        "attention": attention,
        "total": dense + head + attention,
    }


def training_benchmark(args, variant: dict[str, Any]) -> dict[str, Any]:
    """One MSL train step configuration (``variant``: LLMConfig overrides such as ``dtype``,
    ``scan_layers``, ``remat``): tokens/s, model FLOP/s, XLA's FLOP count, and the fraction of
    the peak matmul rate, measured alternately with the step (``peak_dot``) so that load from
    other processes affects both alike."""
    probe = MSLExperiment(data=data_config(args, args.train_vocab, 64, 4 * args.train_batch))
    world = experiment.load_world(probe)
    tokenizer = experiment.make_tokenizer(probe, world.titles)
    trie = experiment.make_trie(tokenizer, world.titles)
    prompt_budget = args.train_seq - trie.max_depth
    if prompt_budget < 8:
        raise ValueError(
            f"--train-seq {args.train_seq} leaves {prompt_budget} prompt tokens after the "
            f"deepest title ({trie.max_depth} tokens); increase it"
        )
    enc = encode_windows(
        world.train, world.titles, tokenizer, trie, dataset=probe.data.dataset,
        style=probe.data.prompt_style, max_prompt_len=prompt_budget,
        max_history=probe.data.max_history, drop_mismatched=True, source="bench/train",
    )  # fmt: skip
    rows = np.arange(args.train_batch) % enc["input_ids"].shape[0]
    llm_cfg = llm.LLMConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=args.train_hidden,
        intermediate_size=args.train_mlp or 4 * args.train_hidden, num_layers=args.train_layers,
        num_heads=args.train_heads, num_kv_heads=args.train_kv_heads,
        max_position_embeddings=args.train_seq, tie_embeddings=True, **variant,
    )  # fmt: skip
    tx = train.make_optimizer(train.OptimizerConfig(name="adamw", lr=1e-4), 1000)
    mesh = train.make_mesh(train.MeshConfig(data=1), jax.devices()[:1])
    _, branch_fanout = trie.first_branch
    key = jax.random.key(0)
    with train.mesh_context(mesh, train.DEFAULT_RULES):
        graphdef, state = train.init_train_state(
            lambda rngs: llm.Decoder(llm_cfg, rngs=rngs), tx, seed=args.seed
        )
        batch = train.place_batch(
            mesh, {k: enc[k][rows] for k in ("input_ids", "attention_mask", "targets", "nodes")}
        )
        context = {"trie": jax.device_put(trie.arrays(), train.replicated(mesh))}
        loss_fn = make_loss_fn(LossConfig(name="msl"), trie.max_fanout, branch_fanout)
        step = train.make_train_step(graphdef, tx, loss_fn)
        step = train.compile_train_step(step, mesh, state, batch, context)
        start = time.perf_counter()
        compiled = step.lower(state, batch, key, context).compile()
        compile_s = time.perf_counter() - start
        xla_flops = {"as_run": xla_cost_flops(compiled)}
        if llm_cfg.scan_layers:  # XLA counts a while-loop body once: cross-check unrolled
            unrolled = dataclasses.replace(llm_cfg, scan_layers=False)
            shape = nnx.eval_shape(lambda: llm.Decoder(unrolled, rngs=nnx.Rngs(0)))
            step_u = train.make_train_step(train.split_model(shape)[0], tx, loss_fn)
            step_u = train.compile_train_step(step_u, mesh, state, batch, context)
            xla_flops["unrolled"] = xla_cost_flops(
                step_u.lower(state, batch, key, context).compile()
            )
        flops = model_flops(llm_cfg, state.params, *batch["input_ids"].shape)
        state, metrics = compiled(state, batch, key, context)  # warm-up
        jax.block_until_ready(metrics["loss"])
        times, fractions = [], []
        for _ in range(args.train_steps):
            peak = peak_dot(args.peak_size)
            start = time.perf_counter()
            state, metrics = compiled(state, batch, key, context)
            jax.block_until_ready(metrics["loss"])
            times.append(time.perf_counter() - start)
            fractions.append(flops["total"] / times[-1] / peak)
    step_s = statistics.median(times)
    return {
        "variant": variant,
        "model": dataclasses.asdict(llm_cfg),
        "batch": int(batch["input_ids"].shape[0]),
        "seq": int(batch["input_ids"].shape[1]),
        "response_len": int(batch["targets"].shape[1]),
        "trie_max_fanout": trie.max_fanout,
        "compile_s": compile_s,
        "step_s": step_s,
        "step_times_s": times,
        "tokens_per_s": flops["tokens"] / step_s,
        "model_flops": flops,
        "model_flops_per_s": flops["total"] / step_s,
        "fraction_of_peak": statistics.median(fractions),
        "fractions_of_peak": fractions,
        "xla_flops": xla_flops,
        "final_loss": float(metrics["loss"]),
    }


# --------------------------------------------------------------------------- main


def parse_variants(text: str) -> list[dict[str, Any]]:
    """``"dtype=bfloat16,scan_layers=0;..."`` -> LLMConfig override dicts."""
    fields = {f.name: f.type for f in dataclasses.fields(llm.LLMConfig)}
    out = []
    for part in filter(None, text.split(";")):
        variant: dict[str, Any] = {}
        for item in part.split(","):
            name, _, value = item.partition("=")
            if name not in ("dtype", "param_dtype", "remat", "scan_layers"):
                raise ValueError(f"unknown variant field {name!r} in {part!r}")
            variant[name] = bool(int(value)) if "bool" in str(fields[name]) else value
        out.append(variant)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(BOOK), help="MSL/BIGRec folder (synthetic if absent)")
    p.add_argument("--out", default="docs/bench_msl_speed.json")
    p.add_argument("--skip-decode", action="store_true")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("decoding")
    g.add_argument("--prompts", type=int, default=64)
    g.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[8, 32])
    g.add_argument("--repeats", type=int, default=3)
    g.add_argument("--hf-prompts", type=int, default=16, help="prompts per timed HF repeat")
    g.add_argument("--hf-repeats", type=int, default=3)
    g.add_argument("--agree-prompts", type=int, default=32, help="HF early_stopping='never' run")
    g.add_argument("--beams", type=int, default=10)
    g.add_argument("--vocab", type=int, default=4096)
    g.add_argument("--prompt-style", default="compact", choices=("compact", "alpaca"))
    g.add_argument("--max-prompt-len", type=int, default=96)
    g.add_argument("--max-history", type=int, default=5)
    g.add_argument("--hidden", type=int, default=128)
    g.add_argument("--layers", type=int, default=2)
    g.add_argument("--heads", type=int, default=4)
    g.add_argument("--kv-heads", type=int, default=2)
    g.add_argument("--init-std", type=float, default=0.1, help="peaked logits: fewer near-ties")
    g = p.add_argument_group("training")
    g.add_argument("--train-hidden", type=int, default=512)
    g.add_argument("--train-layers", type=int, default=4)
    g.add_argument("--train-heads", type=int, default=8)
    g.add_argument("--train-kv-heads", type=int, default=4)
    g.add_argument("--train-mlp", type=int, default=0, help="0: 4 x hidden")
    g.add_argument("--train-seq", type=int, default=128)
    g.add_argument("--train-batch", type=int, default=16)
    g.add_argument("--train-vocab", type=int, default=8192)
    g.add_argument("--train-steps", type=int, default=5)
    g.add_argument(
        "--variants",
        default="dtype=float32;dtype=bfloat16",
        help="';'-separated LLMConfig overrides, e.g. 'dtype=float32;dtype=bfloat16,remat=1'",
    )
    g.add_argument("--peak-size", type=int, default=2048)
    args = p.parse_args()

    report: dict[str, Any] = {
        "loadavg_start": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "args": vars(args),
    }
    if not args.skip_decode:
        print("decoding ...")
        report["decoding"] = decoding_benchmark(args)
    if not args.skip_train:
        print("training ...")
        report["peak_matmul"] = {"size": args.peak_size, "flops_per_s": peak_dot(args.peak_size)}
        report["training"] = [training_benchmark(args, v) for v in parse_variants(args.variants)]
    report["loadavg_end"] = os.getloadavg()
    train.write_json_atomic(args.out, report)
    print_table(report)
    print(f"wrote {args.out}")


def print_table(report: dict[str, Any]) -> None:
    load = ", ".join(f"{x:.2f}" for x in report["loadavg_start"])
    print(f"\nload average at start: {load}; cpus: {report['cpu_count']}\n")
    dec = report.get("decoding")
    if dec:
        print("| batch | jaxrec CBS prompts/s | compile s | HF generate prompts/s | speed-up |")
        print("|---|---|---|---|---|")
        for bs, r in dec["batch_sizes"].items():
            print(
                f"| {bs} | {r['jax_prompts_per_s']:.2f} | {r['jax_compile_s']:.1f} | "
                f"{r['hf_prompts_per_s']:.2f} | {r['speedup']:.1f}x |"
            )
        for name, a in dec["agreement"].items():
            print(
                f"\ntop-1 agreement vs {name}: {a['top1_agreement']:.3f} ({a['prompts']} prompts)"
            )
    if "training" in report:
        peak = report["peak_matmul"]["flops_per_s"]
        print(f"\npeak f32 matmul (start): {peak / 1e9:.1f} GFLOP/s\n")
        print(
            "| variant | tokens/s | step s | model GFLOP/step | XLA GFLOP/step (unrolled) "
            "| GFLOP/s | of peak |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in report["training"]:
            xla = r["xla_flops"].get("unrolled", r["xla_flops"]["as_run"])
            print(
                f"| {r['variant']} | {r['tokens_per_s']:.0f} | {r['step_s']:.3f} | "
                f"{r['model_flops']['total'] / 1e9:.1f} | {xla / 1e9:.1f} | "
                f"{r['model_flops_per_s'] / 1e9:.1f} | {r['fraction_of_peak']:.2f} |"
            )


if __name__ == "__main__":
    main()
