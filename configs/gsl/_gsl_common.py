"""Shared builder of the gsl/<host> configs (not a config itself: the name starts with "_")."""

import dataclasses

from jaxrec.graph.config import GraphDataConfig, GSLExperiment, host_configs

DEFAULT_ROOT = "../shared/data/graph/planetoid"


def planetoid_config(host: str, arg: str | None) -> GSLExperiment:
    """``host`` on a Planetoid dataset, 10 seeds. arg: ``<dataset>[-cpu]``: cora (default),
    citeseer, pubmed or any other Planetoid-format name (with ``--set data.root=...``; hosts
    start from Cora's hyperparameters there); ``-cpu`` selects the hosts' reduced CPU budget."""
    dataset, _, budget = (arg or "cora").partition("-")
    if budget not in ("", "cpu"):
        raise ValueError(f"config arg must be <dataset>[-cpu], got {arg!r}")
    budget = budget or "full"
    return GSLExperiment(
        name=f"gsl-{dataset}-{host}" + ("-cpu" if budget == "cpu" else ""),
        host=host,
        data=GraphDataConfig(source="planetoid", name=dataset, root=DEFAULT_ROOT),
        hosts=host_configs(dataset, budget),
        seeds=10,
    )


def synthetic_config(host: str) -> GSLExperiment:
    """``host`` on the small synthetic SBM graph: 3 seeds, short training (seconds on a CPU)."""
    hosts = host_configs("synthetic")
    hosts = dataclasses.replace(hosts, grcn=dataclasses.replace(hosts.grcn, k=20))
    return GSLExperiment(
        name=f"gsl-synthetic-{host}",
        host=host,
        data=GraphDataConfig(source="synthetic", synthetic_nodes=300),
        hosts=hosts,
        seeds=3,
        epochs=60,
        eval_every=2,
    )
