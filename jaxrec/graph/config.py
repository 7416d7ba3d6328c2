"""Configuration of a GSL + UnGSL experiment (``method="gsl"``): frozen dataclasses, every field
overridable from the command line with type checking (``--set hosts.grcn.k=50``).

Each host type has its own section under ``hosts`` (its config dataclass, whose defaults are the
host's Cora settings); ``host`` names the one that runs. ``configs/gsl/<host>.py`` holds each
host's values for the other datasets and its CPU budget and builds the experiment with
:func:`parse_arg` and :func:`planetoid_experiment`. Fields left ``None`` take the host config's
value (run protocol, feature normalisation) or the host's UnGSL defaults. Host-side UnGSL details
— the edge test (``> 0`` or ``> AdjThreshold``) and the dense or edge-list form — belong to each
host, since each host applies the hook where the authors patched it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxrec.data import shared_root
from jaxrec.graph.hosts import HOSTS, gcn, grcn, idgl, nodeformer, prose, slaps, sublime

__all__ = [
    "GSLExperiment",
    "GraphDataConfig",
    "HostConfigs",
    "UnGSLConfig",
    "parse_arg",
    "planetoid_experiment",
    "planetoid_root",
]


@dataclasses.dataclass(frozen=True)
class GraphDataConfig:
    """Attributes:
    source: "planetoid" (``root/ind.<name>.*``) or "synthetic" (stochastic block model).
    name: Planetoid dataset name (cora, citeseer, pubmed).
    root: folder of the Planetoid files.
    normalize_features: row-normalise features; None = the host config's value.
    synthetic_*: size of the synthetic graph (see :func:`jaxrec.data.synthetic_sbm_graph`).
    """

    source: str = "synthetic"
    name: str = "cora"
    root: str = ""
    normalize_features: bool | None = None
    synthetic_nodes: int = 300
    synthetic_classes: int = 3
    synthetic_features: int = 32
    synthetic_seed: int = 0

    def __post_init__(self) -> None:
        if self.source not in ("planetoid", "synthetic"):
            raise ValueError(f"data.source must be planetoid or synthetic, got {self.source=}")
        if self.source == "planetoid" and not self.root:
            raise ValueError("data.root (folder of ind.<name>.* files) is required for planetoid")

    @property
    def dataset(self) -> str:
        """Name used for UnGSL defaults and caches."""
        return self.name if self.source == "planetoid" else "synthetic"


@dataclasses.dataclass(frozen=True)
class UnGSLConfig:
    """Attributes:
    enabled: run stage 1 and the UnGSL variant (else only the host).
    beta, tau_init, lr: plug-in hyperparameters; None = the host's defaults for the dataset.
    stage1_seeds: seeds 0..stage1_seeds-1 of the plain host give the confidences (the
      authors use 3).
    use_retuned_host: apply the authors' re-tuned host settings to the UnGSL run (default,
      faithful to their best-params files); false keeps the host config of the baseline.
    """

    enabled: bool = True
    beta: float | None = None
    tau_init: float | None = None
    lr: float | None = None
    stage1_seeds: int = 3
    use_retuned_host: bool = True

    def __post_init__(self) -> None:
        if self.stage1_seeds < 1:
            raise ValueError(f"ungsl.stage1_seeds must be >= 1, got {self.stage1_seeds=}")


@dataclasses.dataclass(frozen=True)
class HostConfigs:
    """One section per registered host type (defaults: each host's Cora settings)."""

    gcn: gcn.GCNHostConfig = dataclasses.field(default_factory=gcn.GCNHostConfig)
    grcn: grcn.GRCNConfig = dataclasses.field(default_factory=grcn.GRCNConfig)
    idgl: idgl.IDGLConfig = dataclasses.field(default_factory=idgl.IDGLConfig)
    slaps: slaps.SLAPSConfig = dataclasses.field(default_factory=slaps.SLAPSConfig)
    sublime: sublime.SublimeConfig = dataclasses.field(default_factory=sublime.SublimeConfig)
    prose: prose.ProseConfig = dataclasses.field(default_factory=prose.ProseConfig)
    nodeformer: nodeformer.NodeFormerConfig = dataclasses.field(
        default_factory=nodeformer.NodeFormerConfig
    )


@dataclasses.dataclass(frozen=True)
class GSLExperiment:
    """One host on one graph, without and with UnGSL, over ``seeds`` seeds (0..seeds-1).

    ``epochs``/``eval_every``/``patience``/``vectorize_seeds`` override the host config's run
    protocol when not None (``vectorize_seeds`` None = the registry's ``vmappable``).
    """

    method: str = "gsl"
    name: str = "gsl-synthetic-grcn"
    host: str = "grcn"
    data: GraphDataConfig = dataclasses.field(default_factory=GraphDataConfig)
    hosts: HostConfigs = dataclasses.field(default_factory=HostConfigs)
    ungsl: UnGSLConfig = dataclasses.field(default_factory=UnGSLConfig)
    seeds: int = 10
    epochs: int | None = None
    eval_every: int | None = None
    patience: int | None = None
    vectorize_seeds: bool | None = None

    def __post_init__(self) -> None:
        if self.host not in HOSTS:
            raise ValueError(f"unknown host {self.host!r}; registered: {sorted(HOSTS)}")
        if not hasattr(self.hosts, self.host):
            raise ValueError(f"hosts has no config section for {self.host!r}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds=}")

    @property
    def host_config(self):
        return getattr(self.hosts, self.host)


def planetoid_root() -> str:
    """The shared Planetoid folder: ``jaxrec.data.shared_root() / "graph" / "planetoid"``."""
    return str(shared_root() / "graph" / "planetoid")


def parse_arg(arg: str | None) -> tuple[str, bool]:
    """``(dataset, cpu)`` from a ``gsl/<host>`` config argument ``<dataset>[-cpu]`` (default
    "cora"); ``-cpu`` selects the host's reduced CPU budget."""
    dataset, _, budget = (arg or "cora").partition("-")
    if budget not in ("", "cpu"):
        raise ValueError(f"config arg must be <dataset>[-cpu], got {arg!r}")
    return dataset, budget == "cpu"


def planetoid_experiment(host: str, dataset: str, cpu: bool, host_config: Any) -> GSLExperiment:
    """``host`` with ``host_config`` on the Planetoid graph ``dataset`` from
    :func:`planetoid_root`, 10 seeds; the run is named ``gsl-<dataset>-<host>[-cpu]``."""
    return GSLExperiment(
        name=f"gsl-{dataset}-{host}" + ("-cpu" if cpu else ""),
        host=host,
        data=GraphDataConfig(source="planetoid", name=dataset, root=planetoid_root()),
        hosts=HostConfigs(**{host: host_config}),
        seeds=10,
    )
