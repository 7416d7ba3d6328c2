"""Registry of GSL hosts: ``HOSTS[name] -> HostSpec``.

A host module provides a frozen config dataclass, ``preset(dataset) -> config`` (OpenGSL v0.0.6
values for "cora", "citeseer" and, where published, "pubmed") and ``build(config, data) -> host``
(a :class:`jaxrec.graph.GSLHost`). ``ungsl_defaults(dataset)`` gives the UnGSL plug-in's
hyperparameters for that host and dataset (spec §2.4; ``None`` where UnGSL does not apply).

Re-tuned host settings: the authors' best-params files re-tune some host hyperparameters jointly
with UnGSL (GRCN Cora: lr 0.0625, lr_graph 1.6e-3). ``UnGSLDefaults.retuned_host`` holds them as
(config field, value) pairs; the experiment applies them to the UnGSL run only when
``ungsl.use_retuned_host`` is true. Default: true, faithful to the authors' best-params file,
which is what produced the logged UnGSL numbers (set it false to isolate the plug-in's effect).

Registration points: gsl2 adds "idgl" and "slaps", gsl3 adds "sublime", "prose" and
"nodeformer" below, each as ``HOSTS["<name>"] = HostSpec(...)`` importing its own module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from jaxrec.graph.hosts import gcn

__all__ = ["HOSTS", "HostSpec", "UnGSLDefaults", "get_host"]


@dataclasses.dataclass(frozen=True)
class UnGSLDefaults:
    """UnGSL hyperparameters for one host and dataset.

    Attributes:
      beta: down-weighting factor of uncertain sources.
      tau_init: initial threshold.
      lr: Adam learning rate of tau (``ungsl_lr``).
      edge_threshold: an entry of the learned graph counts as an edge when above this.
      form: "dense" or "sparse" (the host's patched form, spec §2.3; informational).
      retuned_host: (host config field, value) pairs re-tuned with UnGSL by the authors.
    """

    beta: float = 0.5
    tau_init: float = 0.7
    lr: float = 1e-3
    edge_threshold: float = 0.0
    form: str = "dense"
    retuned_host: tuple[tuple[str, Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class HostSpec:
    """Attributes:
    build: ``(config, data) -> GSLHost``.
    config_cls: the host's frozen config dataclass.
    preset: ``dataset name -> config``.
    ungsl_defaults: ``dataset name -> UnGSLDefaults``, or None when the host learns no graph.
    vmappable: whether seeds can be batched with ``jax.vmap`` within memory (else the trainer
      loops over seeds).
    """

    build: Callable[[Any, Any], Any]
    config_cls: type
    preset: Callable[[str], Any]
    ungsl_defaults: Callable[[str], UnGSLDefaults] | None = None
    vmappable: bool = True


HOSTS: dict[str, HostSpec] = {
    "gcn": HostSpec(build=gcn.build, config_cls=gcn.GCNHostConfig, preset=gcn.preset),
}


def get_host(name: str) -> HostSpec:
    """The registered host ``name``; unknown names raise with the list of known ones."""
    if name not in HOSTS:
        raise ValueError(f"unknown GSL host {name!r}; registered: {sorted(HOSTS)}")
    return HOSTS[name]


def _register_gsl3() -> None:
    """SUBLIME, PROSE and NodeFormer (gsl3). SUBLIME and NodeFormer hold dense [n, n] tensors per
    seed (FGP parameters + Adam moments + the anchor graph; all-pair attention with UnGSL), so
    their seeds run in a loop rather than a vmap."""
    from jaxrec.graph.hosts import nodeformer, prose, sublime

    def defaults(module):
        return lambda dataset: UnGSLDefaults(**module.ungsl_defaults(dataset))

    HOSTS["sublime"] = HostSpec(build=sublime.build, config_cls=sublime.SublimeConfig,
                                preset=sublime.preset, ungsl_defaults=defaults(sublime),
                                vmappable=False)  # fmt: skip
    HOSTS["prose"] = HostSpec(build=prose.build, config_cls=prose.ProseConfig,
                              preset=prose.preset, ungsl_defaults=defaults(prose))  # fmt: skip
    HOSTS["nodeformer"] = HostSpec(build=nodeformer.build, config_cls=nodeformer.NodeFormerConfig,
                                   preset=nodeformer.preset, ungsl_defaults=defaults(nodeformer),
                                   vmappable=False)  # fmt: skip


_register_gsl3()
