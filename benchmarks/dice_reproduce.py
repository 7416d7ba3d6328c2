"""DICE on the digits world: the paper's table in small (spec §5, issue 14 §5).

Trains (or reuses, from ``--out``) the attribute classifier and the base model of
``configs/diffusion/digits.py``, then one sharpener per ``--seeds`` (``configs/dice/digits.py``),
and samples the held-out captions with CFG omega 5 (2N NFE), unguided omega 1 (N), embedding
scaling s = 1.2 (N) and DICE (N) at each ``--steps`` N of DPM-Solver++ (2M). Reports per method
the caption alignment (position, digit, size, exact), the Frechet distance on the classifier's
features, NFE, sharpener parameters and seconds per image (median of 3 runs on 32 prompts, same
process), and for DICE the share of the unguided -> CFG alignment gap it closes (mean of the three
attribute accuracies; seeds: mean and std) and its time relative to CFG.

Run:  JAXREC_SHARED_DATA=<shared>/data PYTHONPATH=. python3 benchmarks/dice_reproduce.py \\
          --out runs/dice-digits --seeds 0 1 2 --steps 20 10 --table docs/dice_digits.json
(``jaxrec run dice/digits`` trains the same stages in the same folders.) ``--grid PATH`` writes
one comparison grid (8 captions x the four methods at the first N).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import jax
import numpy as np

from jaxrec import cli
from jaxrec.vision.dice.base_experiment import (
    prepare,
    sample_methods,
    text_encoder,
    unet_split,
)
from jaxrec.vision.dice.experiment import dice_methods, gap_closed, mean_alignment, train_sharpener
from jaxrec.vision.dice.pipeline import save_grid
from jaxrec.vision.dice.sharpener import sharpener_param_count

PAPER_SD15 = {  # authors' assets/quantitative.jpg, SD1.5, 20 DPM-Solver++ steps, COCO-5k
    "cfg": {"nfe": 40, "fid": 22.04, "cs": 30.22},
    "unguided": {"nfe": 20, "fid": 32.80, "cs": 21.99},
    "scaling": {"nfe": 20, "fid": 32.54, "cs": 22.89},
    "dice": {"nfe": 20, "fid": 22.22, "cs": 28.54, "params": "2M"},
}
COLUMNS = ("position", "digit", "size", "exact", "fd", "nfe", "seconds_per_image")


def _row(name: str, m: dict, params: str) -> str:
    cells = [f"{m[k]:.3f}" for k in ("position", "digit", "size", "exact")]
    cells += [f"{m['fd']:.2f}", str(m["nfe"]), params, f"{m['seconds_per_image'] * 1e3:.1f}"]
    return f"| {name} | " + " | ".join(cells) + " |"


def _mean_std(values: list[float]) -> str:
    return (
        f"{np.mean(values):.2f} ± {np.std(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="dice/digits", help="e.g. dice/digits:tiny (smoke run)")
    ap.add_argument("--out", default="runs/dice-digits")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, nargs="+", default=[20, 10])
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--table", default=None, help="write the results JSON here")
    ap.add_argument("--grid", default=None, help="write a comparison grid PNG here")
    ap.add_argument("--train-only", action="store_true", help="train the sharpeners, no sampling")
    ap.add_argument("--reference", default=None,
                    help="a --table JSON of an earlier call: sample only the DICE seeds here and "
                         "take CFG / unguided / scaling from it (same prompts, noise, weights)")  # fmt: skip
    args = ap.parse_args()
    t_start = time.perf_counter()
    cfg = cli.load_config(args.config)
    out = Path(args.out)
    world, judge, base, state, summaries = prepare(cfg.base, out, resume=True)
    sharpeners, stage = {}, {}
    for seed in args.seeds:
        folder = out / ("sharpener" if seed == cfg.seed else f"sharpener-seed{seed}")
        scfg = dataclasses.replace(cfg, seed=seed)
        g, s_state, s_sum = train_sharpener(scfg, world, base, state, folder)
        sharpeners[f"dice-s{seed}"] = (g, s_state)
        stage[f"dice-s{seed}"] = s_sum["test"]
    if args.train_only:
        print(json.dumps(stage, indent=1))
        return
    ug, up = unet_split(base.graphdef, state)
    test = world["test"]
    n = min(args.prompts, len(test.ids))
    encode = text_encoder(base.graphdef, state)
    methods = dice_methods(cfg, sharpeners)
    reference = json.loads(Path(args.reference).read_text()) if args.reference else None
    if reference:
        methods = {k: v for k, v in methods.items() if k.startswith("dice")}
    params = sharpener_param_count(cfg.sharpener.embed_dim, cfg.sharpener.hidden)
    results: dict = {"steps": {}, "sharpener_params": params, "sharpener_valid": stage}
    lines = []
    for steps in args.steps:
        samples = sample_methods(cfg.base, ug, up, encode, methods, test.ids[:n], steps=steps)
        metrics = {k: {**judge.score(v["images"], test.digits[:n], test.sizes[:n]),
                       "nfe": v["nfe"], "seconds_per_image": v["seconds_per_image"]}
                   for k, v in samples.items()}  # fmt: skip
        if reference:
            ref = reference["steps"][str(steps)]["metrics"]
            metrics = {**{k: v for k, v in ref.items() if not k.startswith("dice")}, **metrics}
        dice_names = [k for k in metrics if k.startswith("dice")]
        closed = [gap_closed(metrics, k) for k in dice_names]
        closed_exact = [gap_closed(metrics, k, "exact") for k in dice_names]
        ratio = [metrics[k]["seconds_per_image"] / metrics["cfg"]["seconds_per_image"]
                 for k in dice_names]  # fmt: skip
        results["steps"][steps] = {"metrics": metrics, "gap_closed": closed,
                                   "gap_closed_exact": closed_exact, "time_vs_cfg": ratio,
                                   "mean_alignment": {k: mean_alignment(m)
                                                      for k, m in metrics.items()}}  # fmt: skip
        lines += [f"\n**N = {steps} DPM-Solver++ steps** ({n} held-out captions)\n",
                  "| method | position | digit | size | exact | FD | NFE | #param | ms/image |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for k, m in metrics.items():
            lines.append(_row(k, m, f"{params:,}" if k.startswith("dice") else "-"))
        lines.append(f"\nDICE closes {_mean_std(closed)} of the mean-attribute gap "
                     f"(exact match: {_mean_std(closed_exact)}), at {_mean_std(ratio)} x CFG's "
                     "time per image.")  # fmt: skip
        if args.grid and steps == args.steps[0] and not reference:
            names = ["cfg", "unguided", "scaling", dice_names[0]]
            imgs = np.concatenate([samples[k]["images"][:8] for k in names])
            titles = [f"{k}: {c}" for k in names for c in test.captions[:8]]
            save_grid(imgs, titles, args.grid, f"rows: {', '.join(names)} (N={steps})")
    results.update(
        paper_sd15=PAPER_SD15, real=judge.score(test.images[:n], test.digits[:n], test.sizes[:n]),
        classifier_test=summaries["classifier"]["test"], base_test=summaries["base"]["test"],
        device=f"{jax.devices()[0].device_kind} x{jax.device_count()}, {platform.processor()}",
        wall_seconds=time.perf_counter() - t_start,
    )  # fmt: skip
    print("\n".join(lines))
    print(f"\nreal canvases: {json.dumps(results['real'])}")
    if args.table:
        Path(args.table).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
