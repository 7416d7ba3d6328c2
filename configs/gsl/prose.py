"""PROSE (authors' defaults) without and with UnGSL on a Planetoid graph; arg = <dataset>[-cpu].

Run:  jaxrec run gsl/prose                 (Cora from <shared data>/graph/planetoid, full protocol)
      jaxrec run gsl/prose:cora-cpu        (the host's reduced CPU budget; see docs/RESULTS.md)
      jaxrec run gsl/prose:citeseer --set data.root=/path/to/planetoid
"""

import dataclasses

from jaxrec.graph.config import parse_arg, planetoid_experiment
from jaxrec.graph.hosts.prose import ProseConfig

# PROSE has no OpenGSL v0.0.6 config: every dataset (cora, citeseer, pubmed, any other
# Planetoid-format name) uses ProseConfig's defaults, the UnGSL authors' PROSEUnGSL/main.py
# argparse defaults (stage-free, 700 anchors, 6 heads, 500 epochs, patience 100). The UnGSL run
# adds the authors' jointly re-tuned Pubmed values (prose.ungsl_defaults).

# CPU budget: 200 epochs.
CPU = {"epochs": 200}


def get_config(arg: str | None = None):
    dataset, cpu = parse_arg(arg)
    host = ProseConfig()
    if cpu:
        host = dataclasses.replace(host, **CPU)
    return planetoid_experiment("prose", dataset, cpu, host)
