"""NodeFormer (OpenGSL v0.0.6 config) without and with UnGSL on a Planetoid graph; arg = <dataset>[-cpu].

Run:  jaxrec run gsl/nodeformer                 (Cora from <shared data>/graph/planetoid, full protocol)
      jaxrec run gsl/nodeformer:cora-cpu        (the host's reduced CPU budget; see docs/RESULTS.md)
      jaxrec run gsl/nodeformer:citeseer --set data.root=/path/to/planetoid
"""

import dataclasses

from jaxrec.graph.config import parse_arg, planetoid_experiment
from jaxrec.graph.hosts.nodeformer import NodeFormerConfig

# OpenGSL v0.0.6 nodeformer_<dataset>.yaml; the fields every dataset shares are NodeFormerConfig's
# defaults (2 layers, 4 heads, hidden 32, 30 random features, tau 0.25, lr 1e-2, 1000 epochs,
# row-normalised features).
DATASETS = {
    "cora": NodeFormerConfig(dropout=0.0, weight_decay=5e-4),
    "citeseer": NodeFormerConfig(dropout=0.5, weight_decay=5e-3),
}
# pubmed and any other Planetoid-format name: the Cora row.

# CPU budget: 200 epochs.
CPU = {"epochs": 200}


def get_config(arg: str | None = None):
    dataset, cpu = parse_arg(arg)
    host = DATASETS.get(dataset, DATASETS["cora"])
    if cpu:
        host = dataclasses.replace(host, **CPU)
    return planetoid_experiment("nodeformer", dataset, cpu, host)
