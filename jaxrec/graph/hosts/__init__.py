"""Registry of GSL hosts: ``HOSTS[name] -> HostSpec``.

Every host module provides the same three things:

- a frozen config dataclass whose defaults are the host's Cora settings (OpenGSL v0.0.6 where it
  has a config; the per-dataset values and CPU budgets are in ``configs/gsl/<host>.py``);
- ``build(config, data) -> host`` (a :class:`jaxrec.graph.GSLHost`);
- ``ungsl_defaults(dataset) -> UnGSLDefaults | None``: the UnGSL plug-in's hyperparameters for
  that host and dataset (``None`` where UnGSL does not apply: the plain GCN learns no graph).

Re-tuned host settings: the authors' best-params files re-tune some host hyperparameters jointly
with UnGSL (GRCN Cora: lr 0.0625, lr_graph 1.6e-3). ``UnGSLDefaults.retuned_host`` holds them as
(config field, value) pairs; the experiment applies them to the UnGSL run only when
``ungsl.use_retuned_host`` is true. Default: true, faithful to the authors' best-params file,
which is what produced the logged UnGSL numbers (set it false to isolate the plug-in's effect).

SUBLIME and NodeFormer hold dense [n, n] tensors per seed (FGP parameters + Adam moments + the
anchor graph; all-pair attention with UnGSL), so their seeds run in a loop, not a vmap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType
from typing import Any

from jaxrec.graph.hosts import gcn, grcn, idgl, nodeformer, prose, slaps, sublime
from jaxrec.graph.hosts._common import UnGSLDefaults

__all__ = ["HOSTS", "HostSpec", "UnGSLDefaults", "get_host"]


@dataclasses.dataclass(frozen=True)
class HostSpec:
    """Attributes:
    build: ``(config, data) -> GSLHost``.
    config_cls: the host's frozen config dataclass (defaults: its Cora settings).
    ungsl_defaults: ``dataset name -> UnGSLDefaults``, or None when UnGSL does not apply.
    vmappable: whether seeds can be batched with ``jax.vmap`` within memory (else the trainer
      loops over seeds).
    """

    build: Callable[[Any, Any], Any]
    config_cls: type
    ungsl_defaults: Callable[[str], UnGSLDefaults | None]
    vmappable: bool = True


def _spec(module: ModuleType, config_cls: type, *, vmappable: bool = True) -> HostSpec:
    return HostSpec(module.build, config_cls, module.ungsl_defaults, vmappable)


HOSTS: dict[str, HostSpec] = {
    "gcn": _spec(gcn, gcn.GCNHostConfig),
    "grcn": _spec(grcn, grcn.GRCNConfig),
    "idgl": _spec(idgl, idgl.IDGLConfig),
    "slaps": _spec(slaps, slaps.SLAPSConfig),
    "sublime": _spec(sublime, sublime.SublimeConfig, vmappable=False),
    "prose": _spec(prose, prose.ProseConfig),
    "nodeformer": _spec(nodeformer, nodeformer.NodeFormerConfig, vmappable=False),
}


def get_host(name: str) -> HostSpec:
    """The registered host ``name``; unknown names raise with the list of known ones."""
    if name not in HOSTS:
        raise ValueError(f"unknown GSL host {name!r}; registered: {sorted(HOSTS)}")
    return HOSTS[name]
