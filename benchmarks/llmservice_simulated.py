"""Table 1 in small on the simulated world (spec §7 layer 1): MAE +- SD per service and total of
Sample8/16/32/64, AvgTrain, ATC, 3-NN, MLP, RF and XGBoost beside the paper's totals; the
NLL / PPL / NLL+PPL ablation (paper Table 3); RF's MAE against the number of unlabelled examples
(plot); service and context selection (achieved F1 vs random vs oracle).

Run:  python3 benchmarks/llmservice_simulated.py --contexts 6 --n-iter 2 --cv 2 --sample-study 50,200,400
(knobs: --contexts, --examples, --n-iter, --cv, --sample-study; the defaults follow
configs/llmservice/simulated.py). Writes the markdown table to --out, the raw results to its
.json sibling and the sample-size plot to its .png sibling.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from jaxrec.llmservice import experiment
from jaxrec.llmservice.config import LLMServiceExperiment
from jaxrec.llmservice.evaluate import PAPER_TOTALS, EstimationConfig
from jaxrec.llmservice.simulate import SimConfig, simulate
from jaxrec.train import write_json_atomic

ORDER = (
    "sample8",
    "sample16",
    "sample32",
    "sample64",
    "avgtrain",
    "atc",
    "knn3",
    "mlp",
    "rf",
    "xgb",
)


def _cell(v) -> str:
    return f"{v[0]:.2f} ± {v[1]:.2f}"


def markdown(res: dict, cfg: LLMServiceExperiment, seconds: float) -> str:
    t1 = res["table1"]
    services = [k for k in next(iter(t1.values())) if k != "total"]
    lines = [
        f"World: {cfg.sim.num_tasks} tasks x {cfg.sim.num_services} services x "
        f"{cfg.sim.num_contexts} contexts, {cfg.sim.num_examples} unlabelled examples per setting; "
        f"profiles {cfg.estimation.features}, d = {cfg.estimation.d}; 5 task folds; RF/XGB "
        f"randomized search n_iter = {cfg.estimation.n_iter}, cv = {cfg.estimation.cv}; "
        f"seed {cfg.seed}; {seconds:.0f} s.",
        "",
        "| method | " + " | ".join(services) + " | **total** | paper total |",
        "|---" * (len(services) + 3) + "|",
    ]
    for m in ORDER:
        if m in t1:
            cells = " | ".join(_cell(t1[m][s]) for s in services)
            lines.append(f"| {m} | {cells} | **{_cell(t1[m]['total'])}** | {PAPER_TOTALS[m]:.2f} |")
    if "ablation" in res:
        ab = res["ablation"]
        models = list(next(iter(ab.values())))
        lines += ["", "Ablation (total MAE):", "", "| features | " + " | ".join(models) + " |",
                  "|---" * (len(models) + 1) + "|"]  # fmt: skip
        for feats, row in ab.items():
            lines.append(f"| {feats} | " + " | ".join(_cell(row[m]) for m in models) + " |")
    st = res["sample_study"]
    lines += ["", f"Unlabelled examples per setting vs total MAE ({st['method']}):", "",
              "| n | " + " | ".join(st["mae_by_n"]) + " |", "|---" * (len(st["mae_by_n"]) + 1) + "|",
              "| MAE | " + " | ".join(_cell(v) for v in st["mae_by_n"].values()) + " |"]  # fmt: skip
    sel = res["selection"]
    lines += ["", f"Selection by {sel['method']} estimates (mean true F1 over held-out tasks):", "",
              "| choice | achieved | random | oracle | regret | random regret | gain vs random |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for k in ("service+context", "context"):
        lines.append(
            f"| {k} | {sel[k + '/achieved']:.2f} | {sel[k + '/random']:.2f} | {sel[k + '/oracle']:.2f} | "
            f"{sel[k + '/regret']:.2f} | {sel[k + '/random_regret']:.2f} | {sel[k + '/gain_vs_random_pct']:.1f}% |"
        )
    c = res["correlations"]
    lines += [
        "",
        "Measured Pearson correlations (task-averaged), rows/cols " + ", ".join(c["names"]) + ":",
        "",
    ]
    lines += ["| | " + " | ".join(c["names"]) + " |", "|---" * (len(c["names"]) + 1) + "|"]
    for n, row in zip(c["names"], c["matrix"]):
        lines.append(f"| {n} | " + " | ".join(f"{v:+.2f}" for v in row) + " |")
    lines += ["", f"Selected by the difference score: {c['selected_difference']}; by CFS merit: "
              f"{c['selected_cfs']}; used (published): {c['used']}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = res["sample_study"]["mae_by_n"]
    n = [int(k) for k in st]
    mean = [v[0] for v in st.values()]
    sd = [v[1] for v in st.values()]
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.errorbar(n, mean, yerr=sd, marker="o", capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("unlabelled examples per setting")
    ax.set_ylabel("total MAE (F1 points)")
    ax.set_title(f"{res['sample_study']['method']} on the simulation")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contexts", type=int, default=50)
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--n-iter", type=int, default=20)
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--sample-study", default="50,100,200,400")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/llmservice_simulated.md")
    args = ap.parse_args()
    cfg = LLMServiceExperiment(
        name="bench",
        sim=dataclasses.replace(
            SimConfig(), num_contexts=args.contexts, num_examples=args.examples
        ),
        estimation=EstimationConfig(n_iter=args.n_iter, cv=args.cv, n_jobs=args.n_jobs),
        ablation_models=("knn3", "mlp", "rf"),
        sample_study=tuple(int(v) for v in args.sample_study.split(",")),
        seed=args.seed,
    )
    start = time.perf_counter()
    res = experiment.run_study(cfg, simulate(cfg.sim, cfg.seed))
    seconds = time.perf_counter() - start
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(res, cfg, seconds))
    write_json_atomic(out.with_suffix(".json"), res | {"seconds": seconds})
    plot(res, out.with_suffix(".png"))
    print(out.read_text())


if __name__ == "__main__":
    main()
