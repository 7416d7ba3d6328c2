"""LLaCTR on Amazon Gift Cards: six backbones, base vs +FRE vs +FIE vs +both, and the field
embeddings' source (the authors' SSFT epochs 1-3, the base Llama-3-8B, random), over seeds.

Protocol (spec §7; the Gift Cards train split is not shipped): train on ``valid.h5`` with its last
10% held out for early stopping, test on ``test.h5``; every other setting is the config file's
(``configs/ctr/<model>.py``: Adam 1e-3, batch 4096, embedding 32, patience 2, LR x0.1 on plateau),
lambda_loss = lambda_llm = 0.1 (no per-backbone grid search). Phase 1, per seed and backbone:
base; +FRE, +FIE, +both with the epoch-1 embeddings; for FinalMLP / WuKong also +both with the
authors' input-independent FIE trick. Phase 2: +both with the epoch-2, epoch-3, base and random
embeddings.

Each finished run appends one JSON line to ``OUT/results.jsonl``; a rerun skips those (so the
script resumes). ``--summary`` prints the markdown tables from that file.

Run:  JAXREC_SHARED_DATA=../shared/data PYTHONPATH=. \\
        python benchmarks/llactr_gift_cards.py --seeds 3 --out runs/bench_llactr
      python benchmarks/llactr_gift_cards.py --out runs/bench_llactr --summary
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

MODELS = ("fm", "deepfm", "fwfm", "fmfm", "finalmlp", "wukong")
EMBEDDINGS = ("epoch1", "epoch2", "epoch3", "base", "random")
# (variant label, lambda_loss, lambda_llm, embeddings, fie_input_independent)
CORE = [
    ("base", 0.0, 0.0, "", False),
    ("+FRE", 0.1, 0.0, "epoch1", False),
    ("+FIE", 0.0, 0.1, "epoch1", False),
    ("+both", 0.1, 0.1, "epoch1", False),
]
SOURCES = [("+both", 0.1, 0.1, e, False) for e in EMBEDDINGS[1:]]
TRICK = ("+both trick", 0.1, 0.1, "epoch1", True)  # FinalMLP / WuKong only
REPO_LOG = {  # authors' ctr/result.txt (full train split): base AUC, +LLaCTR AUC
    "fm": (0.6621, 0.6673),
    "deepfm": (0.6713, 0.6797),
    "fwfm": (0.6691, 0.6718),
    "fmfm": (0.6747, 0.6761),
    "finalmlp": (0.6720, 0.6818),
    "wukong": (0.6728, 0.6800),
}


def _runs(models, seeds):
    """Phase 1, seed by seed: the core grid (+ the trick); phase 2: the embedding sources."""
    for seed in seeds:
        for model in models:
            for entry in CORE + ([TRICK] if model in ("finalmlp", "wukong") else []):
                yield model, seed, entry
    for seed in seeds:
        for model in models:
            for entry in SOURCES:
                yield model, seed, entry


def _key(model: str, seed: int, entry: tuple) -> str:
    label, _, _, emb, _ = entry
    return f"{model}|{label}|{emb}|{seed}"


def run_grid(out: Path, models, seeds) -> None:
    import jax

    jax.config.update("jax_compilation_cache_dir", str(out / "jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    from jaxrec import cli
    from jaxrec.ctr.experiment import run
    from jaxrec.data import shared_root

    root = shared_root() / "ctr" / "amazon_gift_cards"
    results = out / "results.jsonl"
    done = set()
    if results.exists():
        done = {json.loads(line)["key"] for line in results.open()}
    for model, seed, entry in _runs(models, seeds):
        key = _key(model, seed, entry)
        if key in done:
            continue
        label, lam_loss, lam_llm, emb, trick = entry
        cfg = cli.load_config(f"ctr/{model}:gift_cards" + ("-llactr" if emb else ""))
        llactr = dataclasses.replace(
            cfg.llactr,
            lambda_loss=lam_loss,
            lambda_llm=lam_llm,
            fie_input_independent=trick,
            field_embeddings=(
                "random" if emb == "random" else str(root / f"field_embeddings_{emb}.npy")
            )
            if emb
            else "",
        )
        loop = dataclasses.replace(cfg.loop, progress=False)
        cfg = dataclasses.replace(cfg, seed=seed, llactr=llactr, loop=loop, name="bench")
        run_dir = out / "run"
        shutil.rmtree(run_dir, ignore_errors=True)
        start = time.perf_counter()
        summary = run(cfg, run_dir, resume=False)
        record = {
            "key": key, "model": model, "variant": label, "embeddings": emb, "seed": seed,
            "test_auc": summary["test"]["auc"], "test_logloss": summary["test"]["logloss"],
            "valid_auc": summary["best_valid"]["auc"], "best_step": summary["best_step"],
            "seconds_per_epoch": summary["seconds_per_epoch"],
            "wall_s": time.perf_counter() - start,
        }  # fmt: skip
        with results.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def summary(out: Path) -> str:
    """Markdown: test AUC / LogLoss mean ± std per backbone and variant, and the repo's log."""
    records = [json.loads(line) for line in (out / "results.jsonl").open()]
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        cells.setdefault((r["model"], f"{r['variant']} ({r['embeddings'] or '-'})"), []).append(r)
    columns = ["base (-)", "+FRE (epoch1)", "+FIE (epoch1)", "+both (epoch1)"]
    emb_cols = [f"+both ({e})" for e in EMBEDDINGS]

    def fmt(rs: list[dict], key: str) -> str:
        v = np.array([r[key] for r in rs])
        return f"{v.mean():.4f} ± {v.std():.4f}" if len(v) > 1 else f"{v.mean():.4f}"

    lines = []
    for title, cols, key in (
        ("Test AUC", columns, "test_auc"),
        ("Test LogLoss", columns, "test_logloss"),
        ("Test AUC of +both by field-embedding source", emb_cols, "test_auc"),
    ):
        lines += [f"**{title}** (mean ± std over seeds; n = seeds per cell)", ""]
        lines += ["| model | n | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
        for model in MODELS:
            got = [cells.get((model, c), []) for c in cols]
            if not any(got):
                continue
            n = min(len(g) for g in got if g)
            row = [fmt(g, key) if g else "-" for g in got]
            lines.append(f"| {model} | {n} | " + " | ".join(row) + " |")
        lines.append("")
    lines += ["**FinalMLP / WuKong with the repo's input-independent FIE** (+both, epoch1)", ""]
    lines += ["| model | n | test AUC | test LogLoss |", "|---|---|---|---|"]
    for model in ("finalmlp", "wukong"):
        got = cells.get((model, "+both trick (epoch1)"), [])
        if got:
            lines.append(
                f"| {model} | {len(got)} | {fmt(got, 'test_auc')} | {fmt(got, 'test_logloss')} |"
            )
    lines += ["", "**Training time per epoch (s, median) and the repo's log**", ""]
    lines += [
        "| model | base s/epoch | +both s/epoch | overhead | repo base AUC | repo +LLaCTR AUC |"
    ]
    lines += ["|---|---|---|---|---|---|"]
    for model in MODELS:
        base = cells.get((model, "base (-)"), [])
        both = cells.get((model, "+both (epoch1)"), [])
        if base and both:
            b = float(np.median([r["seconds_per_epoch"] for r in base]))
            t = float(np.median([r["seconds_per_epoch"] for r in both]))
            repo = REPO_LOG[model]
            lines.append(
                f"| {model} | {b:.2f} | {t:.2f} | {100 * (t / b - 1):+.0f}% | {repo[0]} | {repo[1]} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench_llactr")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 2024, 2025, ...")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--summary", action="store_true", help="print the tables and exit")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.summary:
        run_grid(out, args.models.split(","), [2024 + s for s in range(args.seeds)])
    print(summary(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
