"""GRCN (OpenGSL v0.0.6 config) without and with UnGSL on a Planetoid graph; arg = <dataset>[-cpu].

Run:  jaxrec run gsl/grcn                       (Cora from <shared data>/graph/planetoid)
      jaxrec run gsl/grcn:cora-cpu              (half the epochs; see docs/RESULTS.md)
      jaxrec run gsl/grcn:citeseer --set data.root=/path/to/planetoid
Result: expected on Cora (10 seeds): ~84.6 without, ~85.8 with UnGSL (OpenGSL README; authors' log).
"""

import dataclasses

from jaxrec.graph.config import parse_arg, planetoid_experiment
from jaxrec.graph.hosts.grcn import GRCNConfig

# OpenGSL v0.0.6 grcn_<dataset>.yaml; the fields every dataset shares are GRCNConfig's defaults
# (hidden 32, dropout 0.5, weight decay 5e-3, lr_graph 1e-3, raw features).
DATASETS = {
    "cora": GRCNConfig(k=100, normalize_embeddings=True, lr=5e-3, epochs=300),
    "citeseer": GRCNConfig(k=200, normalize_embeddings=False, lr=5e-2, epochs=200),
}
# pubmed (OpenGSL's config uses a dense-GCN graph encoder, not implemented) and any other
# Planetoid-format name: the Cora row.

# CPU budget: half the epochs. One epoch is a dense n x n similarity, its top-k and an evaluation,
# ~1 s per seed on 2 idle CPU cores for Cora.


def get_config(arg: str | None = None):
    dataset, cpu = parse_arg(arg)
    host = DATASETS.get(dataset, DATASETS["cora"])
    if cpu:
        host = dataclasses.replace(host, epochs=host.epochs // 2)
    return planetoid_experiment("grcn", dataset, cpu, host)
