"""Per-host epoch time with and without UnGSL (median of repeats) and the overhead ratio.

Run:  PYTHONPATH=. python3 benchmarks/gsl_speed.py [--hosts gcn grcn] [--data synthetic|cora]
          [--epochs 20] [--repeats 3] [--seeds 1]
Both variants run in this process on the same device; the UnGSL variant uses the host's default
UnGSL settings with random confidences in (0, 1) (the timing does not depend on their values).
Prints a markdown table (seconds per epoch for all seeds together, compile time excluded).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaxrec import data as data_lib  # noqa: E402
from jaxrec.graph import GraphData  # noqa: E402
from jaxrec.graph.hosts import HOSTS  # noqa: E402
from jaxrec.graph.trainer import UnGSLSetup, train_host  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", nargs="*", default=sorted(HOSTS))
    parser.add_argument("--data", default="synthetic", choices=["synthetic", "cora"])
    parser.add_argument("--root", default=str(ROOT.parent / "shared/data/graph/planetoid"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()

    if args.data == "cora":
        graph = data_lib.load_planetoid(args.root, "cora")
    else:
        graph = data_lib.synthetic_sbm_graph(num_nodes=1000, num_features=64)
    data = GraphData.from_dataset(graph)
    confidence = np.random.default_rng(0).random(data.num_nodes).astype(np.float32)
    dataset = "cora" if args.data == "cora" else "synthetic"
    print("| host | s/epoch without | s/epoch with UnGSL | overhead ratio |")
    print("|---|---|---|---|")
    for name in args.hosts:
        spec = HOSTS[name]
        host = spec.build(spec.config_cls(), data)  # the host's Cora settings
        setups = [None]
        d = spec.ungsl_defaults(dataset)
        if d is not None:
            setups.append(UnGSLSetup(confidence, d.beta, d.tau_init, d.lr))
        times = []
        for setup in setups:
            runs = [
                train_host(
                    host,
                    data,
                    seeds=range(args.seeds),
                    epochs=args.epochs,
                    ungsl=setup,
                    vectorize_seeds=spec.vmappable,
                ).seconds_per_epoch
                for _ in range(args.repeats)
            ]
            times.append(statistics.median(runs))
        with_u = f"{times[1]:.4f}" if len(times) > 1 else "–"
        ratio = f"{times[1] / times[0]:.3f}" if len(times) > 1 else "–"
        print(f"| {name} | {times[0]:.4f} | {with_u} | {ratio} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
