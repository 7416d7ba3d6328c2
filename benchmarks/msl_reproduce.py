"""Reproduce MSL's Book comparison at CPU/GPU scale (spec §7): LML, MSL (tau 1, fixed taus) and
MSL+ATS trained from scratch on Amazon Books with a small decoder, each tested with both CBS
scorings, over several seeds; mean ± std of test HR/NDCG@5/10 at the best-validation (NDCG@5)
checkpoint, the relative NDCG@10 gain over LML, and the paper's BIGRec Book numbers beside them.

Run:  python3 benchmarks/msl_reproduce.py --seeds 0,1,2
Quick check:  python3 benchmarks/msl_reproduce.py --seeds 0 --variants lml,msl_ats \\
          --max-train-rows 200 --max-test-rows 50 --epochs 1 --set optimizer.warmup_steps=1 \
          --out /tmp/msl_tiny.md
Each run's folder is runs/repro/msl-books/<variant>/seed<k> (re-running resumes an unfinished
run and reads a finished one's results.json back); the table
goes to --out (markdown) and its .json sibling. Config: configs/msl/amazon_books.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np

from jaxrec import config as config_lib
from jaxrec.llmrec import experiment
from jaxrec.train import write_json_atomic

# Paper Table 5/6 (BIGRec backbone, LLaMA3-8B, HF CBS), Book: NDCG@5, NDCG@10, HR@5, HR@10.
PAPER = {
    "lml": (0.0109, 0.0137, 0.0169, 0.0258),
    "msl_ats": (0.0125, 0.0172, 0.0214, 0.0356),
    "msl_tau1.5": (None, 0.0182, None, None),  # Table 6 "MSL + tuned tau"
    "msl": (None, 0.0151, None, None),  # Table 6 "MSL without tau"
}
METRICS = ("ndcg@5", "ndcg@10", "hr@5", "hr@10")
SCORINGS = ("softmax_then_mask", "mask_then_softmax")


def _books_config(variant: str):
    path = Path(__file__).resolve().parents[1] / "configs" / "msl" / "amazon_books.py"
    spec = importlib.util.spec_from_file_location("msl_books_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"{np.mean(values):.4f} ± {np.std(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", default="lml,msl,msl_tau1.5,msl_tau3,msl_tau4.5,msl_ats")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=0, help="override loop.epochs (0: config)")
    parser.add_argument("--max-train-rows", type=int, default=0)
    parser.add_argument("--max-test-rows", type=int, default=0, help="also caps validation")
    parser.add_argument("--budget", default="full", choices=["full", "cpu"], help="config budget")
    parser.add_argument("--set", action="append", default=[], help="config override for every run")
    parser.add_argument("--runs", default="runs/repro/msl-books")
    parser.add_argument("--out", default="runs/repro/msl-books/table.md")
    args = parser.parse_args()

    overrides = list(args.set)
    if args.epochs:
        overrides.append(f"loop.epochs={args.epochs}")
    if args.max_train_rows:
        overrides.append(f"data.max_train_rows={args.max_train_rows}")
    if args.max_test_rows:
        overrides.append(f"data.max_test_rows={args.max_test_rows}")
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    results: dict[str, list[dict]] = {}
    for variant in variants:
        for seed in seeds:
            suffix = "-cpu" if args.budget == "cpu" else ""
            cfg = config_lib.override(_books_config(variant + suffix), [*overrides, f"seed={seed}"])
            run_dir = Path(args.runs) / f"{variant}{suffix}" / f"seed{seed}"
            done = run_dir / "results.json"
            if done.is_file():  # a finished run is read back, not re-tested
                summary = json.loads(done.read_text())
            else:
                summary = experiment.run(cfg, run_dir, resume=True)
            results.setdefault(variant, []).append(summary)
            print(f"{variant} seed {seed}: {json.dumps(summary['test'])}", flush=True)

    lml_n10 = {
        s: np.mean([r["test"][f"{s}/ndcg@10"] for r in results["lml"]])
        for s in SCORINGS
        if "lml" in results
    }
    lines = [
        "| variant | CBS scoring | " + " | ".join(m.upper() for m in METRICS)
        + " | N@10 vs LML | paper N@10 (BIGRec, 8B) | s/epoch |",
        "|---" * (len(METRICS) + 5) + "|",
    ]  # fmt: skip
    table = {}
    for variant, runs in results.items():
        for scoring in SCORINGS:
            cells = {m: [r["test"][f"{scoring}/{m}"] for r in runs] for m in METRICS}
            gain = "-"
            if lml_n10.get(scoring):
                gain = f"{100 * (np.mean(cells['ndcg@10']) / lml_n10[scoring] - 1):+.1f}%"
            paper = PAPER.get(variant, (None, None))[1] if scoring == SCORINGS[0] else None
            seconds = np.mean([r["seconds_per_epoch"] for r in runs])
            lines.append(
                f"| {variant} | {scoring} | " + " | ".join(_fmt(cells[m]) for m in METRICS)
                + f" | {gain} | {paper if paper is not None else '-'} | {seconds:.1f} |"
            )  # fmt: skip
            table[f"{variant}/{scoring}"] = {m: v for m, v in cells.items()}
    pop = [r["test"]["popularity/ndcg@10"] for r in next(iter(results.values()))]
    table["popularity/ndcg@10"] = pop
    lines.append("")
    lines.append(
        f"budget {args.budget}; seeds {seeds}; overrides {overrides}; "
        f"popularity baseline N@10 {_fmt(pop)}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(out)
    write_json_atomic(out.with_suffix(".json"), {"budget": args.budget, "seeds": seeds,
                                                  "overrides": overrides,
                                                  "results": table, "paper": PAPER})  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
