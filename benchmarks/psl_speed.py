"""PSL training and evaluation speed: jaxrec vs a straightforward PyTorch step, same data.

Measures, in one process on the same CPU:
  1. median train-step time and interactions/s of jaxrec's jitted MF + PSL step (sampler
     included) vs ``torch_reference.torch_train_throughput`` (torch==2.13.0 CPU);
  2. how jaxrec's step time grows with N negatives and the batch size;
  3. full-ranking evaluation: jaxrec's batched evaluator vs a per-user numpy loop.

Run:  pip install torch==2.13.0 && python3 benchmarks/psl_speed.py --out docs/bench_psl_speed.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from psl_reproduce import PSL_CONFIGS  # noqa: E402

from jaxrec import config as config_lib  # noqa: E402
from jaxrec import data as data_lib  # noqa: E402
from jaxrec import train  # noqa: E402
from jaxrec.cf import experiment  # noqa: E402
from jaxrec.cli import load_config  # noqa: E402


def jax_step_time(dataset, cfg, steps: int) -> float:
    """Median seconds of one compiled train step (after two warm-up steps)."""
    return timed_steps(experiment.build(cfg, dataset), steps)[0]


def timed_steps(setup, steps: int) -> tuple[float, object]:
    """``(median seconds of one compiled train step after two warm-up steps, final state)``."""
    key = jax.random.key(0)
    state = setup.state
    with train.mesh_context(setup.mesh, setup.cfg.mesh.rules):
        batches = [
            train.place_batch(setup.mesh, setup.batches.batch(0, i % setup.batches.steps_per_epoch))
            for i in range(steps + 2)
        ]
        times = []
        for i, batch in enumerate(batches):
            start = time.perf_counter()
            state, metrics = setup.train_step(state, batch, key, setup.context)
            jax.block_until_ready(metrics["loss"])
            if i >= 2:
                times.append(time.perf_counter() - start)
    return statistics.median(times), state


def per_user_loop_eval(user_emb, item_emb, users, exclude, test, k: int = 20) -> dict[str, float]:
    """The obvious evaluator: one user at a time, numpy scores, argpartition, metrics."""
    recall, ndcg = [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for u in users:
        scores = item_emb @ user_emb[u]
        scores[exclude[1][exclude[0][u] : exclude[0][u + 1]]] = -np.inf
        top = np.argpartition(-scores, k)[:k]
        top = top[np.argsort(-scores[top])]
        truth = test[1][test[0][u] : test[0][u + 1]]
        hits = np.isin(top, truth)
        recall.append(hits.sum() / len(truth))
        ndcg.append((hits * discounts).sum() / discounts[: min(k, len(truth))].sum())
    return {"recall@20": float(np.mean(recall)), "ndcg@20": float(np.mean(ndcg))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="amazon2014-electronic")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--negatives", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--grid", default="64,256,1000")
    parser.add_argument("--batch-grid", default="256,1024,4096")
    parser.add_argument("--out", default="docs/bench_psl_speed.json")
    args = parser.parse_args()

    base = load_config(f"{PSL_CONFIGS[args.dataset]}:mf-psl_tanh")
    base = config_lib.override(
        base, ["mesh.data=1", f"batch_size={args.batch}", f"loss.num_negatives={args.negatives}"]
    )
    dataset = experiment.load_dataset(base)
    results: dict = {
        "dataset": args.dataset,
        "cpu": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "devices": str(jax.devices()[0]),
        "steps": args.steps,
    }

    jax_s = jax_step_time(dataset, base, args.steps)
    results["jax_step_s"] = jax_s
    results["jax_interactions_per_s"] = args.batch / jax_s
    print(
        f"jaxrec step {jax_s * 1e3:.1f} ms  ({args.batch / jax_s:,.0f} interactions/s)", flush=True
    )

    try:
        import torch  # noqa: F401
        from torch_reference import torch_train_throughput

        t = torch_train_throughput(
            dataset.train.users,
            dataset.train.items,
            dataset.num_users,
            dataset.num_items,
            loss="psl_tanh",
            batch_size=args.batch,
            num_negatives=args.negatives,
            tau=0.1,
            steps=args.steps,
            lr=0.01,
        )
        results["torch"] = t
        results["speedup_vs_torch"] = t["median_step_s"] / jax_s
        print(
            f"torch  step {t['median_step_s'] * 1e3:.1f} ms; jaxrec speed-up x{t['median_step_s'] / jax_s:.2f}",
            flush=True,
        )
    except ImportError:
        print("torch not installed: pip install torch==2.13.0 for the comparison", flush=True)

    results["negatives_grid"] = {}
    for n in [int(x) for x in args.grid.split(",")]:
        cfg = config_lib.override(base, [f"loss.num_negatives={n}"])
        results["negatives_grid"][n] = jax_step_time(dataset, cfg, args.steps)
        print(f"N={n:5d}: {results['negatives_grid'][n] * 1e3:.1f} ms/step", flush=True)
    results["batch_grid"] = {}
    for b in [int(x) for x in args.batch_grid.split(",")]:
        cfg = config_lib.override(base, [f"batch_size={b}"])
        results["batch_grid"][b] = jax_step_time(dataset, cfg, args.steps)
        print(f"B={b:5d}: {results['batch_grid'][b] * 1e3:.1f} ms/step", flush=True)

    # Evaluation: batched jit vs per-user loop on the same (trained-for-0-steps) embeddings.
    setup = experiment.build(base, dataset)
    with train.mesh_context(setup.mesh, base.mesh.rules):
        setup.evaluate_test(setup.state)  # compile
        start = time.perf_counter()
        batched = setup.evaluate_test(setup.state)
        results["eval_batched_s"] = time.perf_counter() - start
    params = jax.device_get(setup.state.params)  # MF: the raw tables, cosine-normalised here
    user_emb, item_emb = (
        t / np.linalg.norm(t, axis=1, keepdims=True)
        for t in (params["user_embedding"], params["item_embedding"])
    )
    exclude = data_lib.csr(dataset.train, dataset.num_users)
    test = data_lib.csr(dataset.test, dataset.num_users)
    users = np.flatnonzero(np.diff(test[0]) > 0)
    start = time.perf_counter()
    loop = per_user_loop_eval(user_emb, item_emb, users, exclude, test)
    results["eval_loop_s"] = time.perf_counter() - start
    results["eval_speedup"] = results["eval_loop_s"] / results["eval_batched_s"]
    results["eval_agree"] = {k: (batched[k], loop[k]) for k in loop}
    print(
        f"eval: batched {results['eval_batched_s']:.2f} s, per-user loop {results['eval_loop_s']:.2f} s "
        f"(x{results['eval_speedup']:.1f}); metrics {results['eval_agree']}",
        flush=True,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
