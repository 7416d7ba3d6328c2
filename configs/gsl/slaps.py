"""SLAPS (OpenGSL v0.0.6 config) without and with UnGSL on a Planetoid graph; arg = <dataset>[-cpu].

Run:  jaxrec run gsl/slaps                 (Cora from <shared data>/graph/planetoid, full protocol)
      jaxrec run gsl/slaps:cora-cpu        (the host's reduced CPU budget; see docs/RESULTS.md)
      jaxrec run gsl/slaps:citeseer --set data.root=/path/to/planetoid
"""

import dataclasses

from jaxrec.graph.config import parse_arg, planetoid_experiment
from jaxrec.graph.hosts.slaps import SLAPSConfig

# OpenGSL v0.0.6 slaps_<dataset>.yaml; the fields every dataset shares are SLAPSConfig's defaults
# (relu kNN, classifier hidden 32, lr 1e-2 / lr_dae 1e-3, 2000 epochs with a 399-step DAE-only
# warm-up, lambda 10, r 10, nr 5, raw features).
DATASETS = {
    "cora": SLAPSConfig(k=20, hidden_adj=512),
    "citeseer": SLAPSConfig(k=30, hidden_adj=1024),
}
# pubmed (no OpenGSL SLAPS Pubmed config here) and any other Planetoid-format name: the Cora row.

# CPU budget (2 shared cores): 200 epochs instead of 2000, keeping the warm-up share (the first
# 200 // 5 - 1 = 39 steps DAE-only). Not OpenGSL's protocol; results are labelled "cpu budget".
# Measured on Cora (2 cores shared with other jobs, load ~8): ~6.5 s per epoch (6.9 with UnGSL);
# the identity-initialised 1,433-wide generator and the dense E E^T dominate.
CPU = {"epochs": 200}


def get_config(arg: str | None = None):
    dataset, cpu = parse_arg(arg)
    host = DATASETS.get(dataset, DATASETS["cora"])
    if cpu:
        host = dataclasses.replace(host, **CPU)
    return planetoid_experiment("slaps", dataset, cpu, host)
