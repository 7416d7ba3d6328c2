"""CTR model zoo over one concatenated field-embedding table (:mod:`.embedding`): LR / FM / FwFM / FmFM
(:mod:`.fm`), DeepFM (:mod:`.deepfm`), DCNv2 (:mod:`.dcnv2`), AutoInt+ (:mod:`.autoint`),
FinalMLP (:mod:`.finalmlp`), WuKong (:mod:`.wukong`). Every model maps ids ``x`` int [B, K]
(+ sequence ids) to ``(logit [B], field embeddings [B, F, D])``."""

from jaxrec.models.ctr.autoint import AutoIntPlus, FieldSelfAttention
from jaxrec.models.ctr.dcnv2 import DCNv2
from jaxrec.models.ctr.deepfm import MLP, DeepFM
from jaxrec.models.ctr.embedding import FieldEmbedding, l2_embedding, sequence_inputs
from jaxrec.models.ctr.finalmlp import FinalMLP
from jaxrec.models.ctr.fm import (
    FM,
    LR,
    FmFM,
    FwFM,
    fm_interaction,
    pair_indices,
    weighted_pair_sum,
)
from jaxrec.models.ctr.wukong import WuKong, WukongLayer

__all__ = [
    "WuKong",
    "WukongLayer",
    "FinalMLP",
    "AutoIntPlus",
    "FieldSelfAttention",
    "DCNv2",
    "FM",
    "LR",
    "MLP",
    "DeepFM",
    "FieldEmbedding",
    "FmFM",
    "FwFM",
    "fm_interaction",
    "l2_embedding",
    "pair_indices",
    "sequence_inputs",
    "weighted_pair_sum",
]
