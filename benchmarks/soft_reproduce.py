"""Reproduce SOFT's comparison (spec §7) at CPU scale: SFT vs SOFT (alpha grid) vs SOFT-wo SA at
equal epochs, over several seeds, on the synthetic title world (``configs/soft/synthetic.py``)
or Amazon Books (``configs/soft/amazon_books.py``); mean ± std of test HR/NDCG@{1,5,10,20,50}
by grounding, the popularity baseline beside them, the first-epoch CE(y_hat)/CE(y) ratio and the
lambda curve.

Run:  python3 benchmarks/soft_reproduce.py --config synthetic --seeds 0,1,2 \\
          --variants soft,soft_wo_sa,sft,soft@10 --out docs/soft_synthetic.md
Per seed the base, SFT and self-distillation stages are shared by every variant: the first
variant's run folder trains them, the others get a copy (a stage with a ``results.json`` is
reused, module docstring of ``jaxrec.llmrec.soft_experiment``). Folders:
runs/repro/soft-<config>/<variant>/seed<k>; re-running resumes or reads finished results back.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np

from jaxrec.llmrec import soft_experiment
from jaxrec.train import write_json_atomic

METRICS = ("hr@1", "hr@5", "hr@10", "hr@20", "hr@50", "ndcg@1", "ndcg@5", "ndcg@10", "ndcg@20", "ndcg@50")  # fmt: skip
SHARED = ("base", "sft", "distill.npz")


def _config(name: str, variant: str, seed: int):
    path = Path(__file__).resolve().parents[1] / "configs" / "soft" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"soft_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = module.get_config(variant)
    return dataclasses.replace(cfg, seed=seed, name=f"{cfg.name}-seed{seed}")


def _run(name: str, variant: str, seed: int, root: Path, first: Path | None) -> dict:
    folder = root / variant / f"seed{seed}"
    if (folder / "results.json").exists():
        return json.loads((folder / "results.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    if first is not None:
        for part in SHARED:
            src, dst = first / part, folder / part
            if src.exists() and not dst.exists():
                (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return soft_experiment.run(_config(name, variant, seed), folder)


def _fmt(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}" if values else "-"


def table(results: dict[str, list[dict]]) -> str:
    shown = ("hr@1", "hr@10", "hr@50", "ndcg@1", "ndcg@10", "ndcg@50")
    lines = ["| variant | seeds | " + " | ".join(shown) + " | CE(y_hat)/CE(y) epoch 1 | lambda per epoch (seed 0) |",
             "|" + "---|" * (len(shown) + 4)]  # fmt: skip
    rows = [("popularity", [r["popularity"] for r in next(iter(results.values()))])]
    rows += [("SFT stage (early-stopped)", [r["sft_test"] for r in next(iter(results.values()))])]
    rows += [(v, [r["test"] for r in rs]) for v, rs in results.items()]
    for label, tests in rows:
        extra = ["", ""]
        if label in results:
            rs = results[label]
            ratios = [
                r["first_epoch_ce_hat_over_ce_y"] for r in rs if r["first_epoch_ce_hat_over_ce_y"]
            ]
            extra = [_fmt(ratios), " ".join(f"{c['lambda']:.2f}" for c in rs[0]["curriculum"])]
        cells = [_fmt([t[m] for t in tests]) for m in shown]
        lines.append(
            f"| {label} | {len(tests)} | " + " | ".join(cells) + f" | {extra[0]} | {extra[1]} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="synthetic")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default="soft,soft_wo_sa,sft")
    parser.add_argument("--out", default="runs/repro/soft.md")
    args = parser.parse_args()
    root = Path("runs/repro") / f"soft-{args.config}"
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    results: dict[str, list[dict]] = {v: [] for v in variants}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        first = None
        for variant in variants:
            results[variant].append(_run(args.config, variant, seed, root, first))
            first = first or root / variant / f"seed{seed}"
            done = {v: rs for v, rs in results.items() if rs}
            out.write_text(table(done) + "\n")
            write_json_atomic(out.with_suffix(".json"), done)
    print(out.read_text())


if __name__ == "__main__":
    main()
