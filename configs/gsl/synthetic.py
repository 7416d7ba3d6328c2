"""Embedded GSL default: GRCN (k=20) without and with UnGSL on a 300-node synthetic SBM graph.

Run:  jaxrec run gsl/synthetic                 (about a minute on a 2-core CPU)
      jaxrec run gsl/synthetic:gcn             (any registered host name as the argument)
"""

from jaxrec.graph.config import GraphDataConfig, GSLExperiment, HostConfigs
from jaxrec.graph.hosts.grcn import GRCNConfig


def get_config(arg: str | None = None):
    host = arg or "grcn"
    return GSLExperiment(
        name=f"gsl-synthetic-{host}",
        host=host,
        data=GraphDataConfig(source="synthetic", synthetic_nodes=300),
        # every host at its Cora settings; GRCN keeps 20 neighbours per row (not 100) of 300 nodes
        hosts=HostConfigs(grcn=GRCNConfig(k=20)),
        seeds=3,
        epochs=60,
        eval_every=2,
    )
