"""Shared builder of the gsl/<host> configs (not a config itself: the name starts with "_")."""

import dataclasses

from jaxrec.graph.config import GraphDataConfig, GSLExperiment, host_configs

DEFAULT_ROOT = "../shared/data/graph/planetoid"
DATASETS = ("cora", "citeseer", "pubmed")


def planetoid_config(host: str, arg: str | None) -> GSLExperiment:
    """``host`` on a Planetoid dataset (arg: cora (default), citeseer or pubmed), 10 seeds."""
    dataset = arg or "cora"
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {DATASETS}")
    return GSLExperiment(
        name=f"gsl-{dataset}-{host}",
        host=host,
        data=GraphDataConfig(source="planetoid", name=dataset, root=DEFAULT_ROOT),
        hosts=host_configs(dataset),
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
