"""Graph structure learning: GSL hosts (GRCN, IDGL, SLAPS, SUBLIME, PROSE, NodeFormer), their
shared full-batch trainer, and the UnGSL plug-in (:mod:`jaxrec.graph.ungsl`)."""

from jaxrec.graph import ungsl
from jaxrec.graph.data import GraphData
from jaxrec.graph.host import GSLHost, HostVars
from jaxrec.graph.ungsl import EdgeReweight

__all__ = ["EdgeReweight", "GSLHost", "GraphData", "HostVars", "ungsl"]
