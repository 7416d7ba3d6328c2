"""PSL side by side with the authors' IR-Benchmark: training step and full-ranking evaluation.

Same data (an IR-Benchmark ``proc.zip``, no validation split), same model (MF, d = 64, cosine
scores), same loss (PSL-tanh), N negatives, batch and metrics. IR-Benchmark
(github.com/Tiny-Snow/IR-Benchmark, PyTorch, GPL) is run from a local checkout of its ``src``
folder, never copied: its C++ uniform sampler is compiled by ``torch.utils.cpp_extension`` on
first use (needs g++ and ninja); ``nni`` is stubbed because only its tuner imports it.

1. Training: median step time over ``--steps`` batches, each side's own sampler included (theirs:
   DataLoader collate + C++ sampler + ``PSLOptimizer.step``; ours: the jitted step), times the
   steps of one epoch.
2. Evaluation: IR-Benchmark's ``eval_metrics`` and ``jaxrec.metrics.evaluate_full_ranking`` on the
   *same* embeddings (jaxrec's after the timed steps, copied into their ``MFModel``), Recall and
   NDCG@20 compared; plus the roofline of the evaluation: the U x I x d matmul at the measured f32
   matmul peak plus one read of the U x I score matrix at the measured memory bandwidth.

Run:  PYTHONPATH=. python3 benchmarks/psl_vs_irbenchmark.py --ir-src <IR-Benchmark>/src \
          --dataset amazon2014-health --out docs/bench_psl_irbenchmark_health.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from psl_reproduce import PSL_CONFIGS  # noqa: E402
from psl_speed import timed_steps  # noqa: E402

from jaxrec import config as config_lib  # noqa: E402
from jaxrec import data as data_lib  # noqa: E402
from jaxrec.cf import experiment  # noqa: E402
from jaxrec.cli import load_config  # noqa: E402
from jaxrec.metrics import evaluate_full_ranking  # noqa: E402


def _import_irbenchmark(src: Path):
    """IR-Benchmark's modules from ``src`` (``nni`` stubbed: only its tuner uses it)."""
    sys.modules.setdefault("nni", types.ModuleType("nni"))
    sys.path.insert(0, str(src))
    importlib.import_module("itemrec.utils")  # first, as its CLI does: its imports are circular
    import itemrec.dataset as ir_dataset
    import itemrec.metrics as ir_metrics
    import itemrec.model as ir_model
    import itemrec.optimizer as ir_optimizer

    return ir_dataset, ir_model, ir_optimizer, ir_metrics


def ir_train_step_time(ir, data_dir: Path, src: Path, args, loss) -> tuple[float, object]:
    """Median seconds of IR-Benchmark's own step (batch collate + C++ sampler + Adam step), with
    jaxrec's loss settings in its terms: ``d / tau`` with ``tau = 1 / score_scale``, and
    ``tau_star`` = our temperature."""
    import torch

    ir_dataset, ir_model, ir_optimizer, _ = ir
    dataset = ir_dataset.IRDataset(str(data_dir), no_valid=True)
    model = ir_model.MFModel(dataset.user_size, dataset.item_size, 64)
    opt = ir_optimizer.PSLOptimizer(
        model,
        lr=0.01,
        neg_num=args.negatives,
        tau=1.0 / loss.score_scale,
        tau_star=loss.temperature,
        activation=loss.activation,
    )
    loader = ir_dataset.IRDataLoader(
        dataset, batch_size=args.batch, shuffle=True, neg_num=args.negatives
    )
    cwd = os.getcwd()
    os.chdir(src)  # its sampler's C++ source path is relative to src
    try:
        loader.update_sampler(model, opt, 0)
    finally:
        os.chdir(cwd)
    torch.manual_seed(0)
    times, batches = [], iter(loader)
    model.train()
    for i in range(args.steps + 2):
        start = time.perf_counter()
        opt.step(next(batches), 0)
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times), (dataset, model)


def matmul_peak_flops(n: int = 2048, repeats: int = 5) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    jax.block_until_ready(f(a))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(a))
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times)


def memory_bandwidth(bytes_: int = 1 << 28, repeats: int = 5) -> float:
    x = jnp.ones((bytes_ // 4,), jnp.float32)
    f = jax.jit(jnp.sum)
    jax.block_until_ready(f(x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(x))
        times.append(time.perf_counter() - start)
    return bytes_ / min(times)


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ir-src", required=True, help="IR-Benchmark checkout's src folder")
    parser.add_argument("--dataset", default="amazon2014-health", choices=sorted(PSL_CONFIGS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--negatives", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--eval-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--out", default="docs/bench_psl_irbenchmark.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    src = Path(args.ir_src).resolve()
    ir = _import_irbenchmark(src)

    cfg = load_config(f"{PSL_CONFIGS[args.dataset]}:mf-psl_tanh")
    cfg = config_lib.override(
        cfg,
        ["mesh.data=1", f"batch_size={args.batch}", f"loss.num_negatives={args.negatives}",
         "data.valid_fraction=0"],
    )  # fmt: skip
    dataset = experiment.load_dataset(cfg)
    setup = experiment.build(cfg, dataset)
    steps_per_epoch = setup.batches.steps_per_epoch
    ours_step, state = timed_steps(setup, args.steps)

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(cfg.data.path) as z:
            z.extract("train.tsv", tmp)
            z.extract("test.tsv", tmp)
        theirs_step, (ir_data, ir_mf) = ir_train_step_time(ir, Path(tmp), src, args, cfg.loss)
    if (ir_data.user_size, ir_data.item_size) != (dataset.num_users, dataset.num_items):
        raise SystemExit(
            f"IR-Benchmark read {ir_data.user_size} users / {ir_data.item_size} items, "
            f"jaxrec {dataset.num_users} / {dataset.num_items}: not the same data"
        )
    print(f"train step: jaxrec {ours_step * 1e3:.1f} ms, IR-Benchmark {theirs_step * 1e3:.1f} ms "
          f"(x{theirs_step / ours_step:.2f})", flush=True)  # fmt: skip

    # Evaluation on the same embeddings.
    params = jax.device_get(state.params)
    user_emb, item_emb = (np.asarray(params[k]) for k in ("user_embedding", "item_embedding"))
    with torch.no_grad():
        ir_mf.user_emb.weight.copy_(torch.from_numpy(user_emb))
        ir_mf.item_emb.weight.copy_(torch.from_numpy(item_emb))
    u_n = jnp.asarray(user_emb / np.linalg.norm(user_emb, axis=1, keepdims=True))
    i_n = jnp.asarray(item_emb / np.linalg.norm(item_emb, axis=1, keepdims=True))
    score_fn = jax.jit(lambda users: u_n[users] @ i_n.T)
    exclude = data_lib.csr(dataset.train, dataset.num_users)
    test = data_lib.csr(dataset.test, dataset.num_users)
    users = np.flatnonzero(np.diff(test[0]) > 0)
    num_items = dataset.num_items

    def ours():
        return evaluate_full_ranking(score_fn, users, exclude, test, num_items, batch_size=1024)

    ours()  # compile
    ours_eval, ours_metrics = _median_time(ours, args.eval_repeats)
    ir_eval_fn = ir[3].eval_metrics
    theirs_eval, theirs_metrics = _median_time(
        lambda: ir_eval_fn(ir_mf, ir_data, 20, "test", 1024), args.eval_repeats
    )
    # IR-Benchmark averages over all users; jaxrec over users with test items.
    share = users.size / ir_data.user_size
    parity = {
        "recall@20": (ours_metrics["recall@20"] * share, theirs_metrics["Recall@20"]),
        "ndcg@20": (ours_metrics["ndcg@20"] * share, theirs_metrics["NDCG@20"]),
    }
    peak, bandwidth = matmul_peak_flops(), memory_bandwidth()
    n_users = users.size
    roofline = 2 * n_users * num_items * 64 / peak + 4 * n_users * num_items / bandwidth
    results = {
        "dataset": args.dataset,
        "users": int(dataset.num_users),
        "items": int(num_items),
        "test_users": int(n_users),
        "batch": args.batch,
        "negatives": args.negatives,
        "steps_per_epoch": steps_per_epoch,
        "torch_threads": args.threads,
        "load_average": os.getloadavg(),
        "train_step_s": {"jaxrec": ours_step, "irbenchmark": theirs_step},
        "train_epoch_s": {
            "jaxrec": ours_step * steps_per_epoch,
            "irbenchmark": theirs_step * steps_per_epoch,
        },  # fmt: skip
        "train_speedup": theirs_step / ours_step,
        "eval_s": {"jaxrec": ours_eval, "irbenchmark": theirs_eval},
        "eval_speedup": theirs_eval / ours_eval,
        "metrics_ours_vs_theirs": parity,
        "max_metric_difference": max(abs(a - b) for a, b in parity.values()),
        "matmul_peak_flops": peak,
        "memory_bandwidth_bytes_per_s": bandwidth,
        "eval_roofline_s": roofline,
        "eval_vs_roofline": ours_eval / roofline,
    }
    print(json.dumps(results, indent=2), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
