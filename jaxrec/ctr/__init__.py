"""CTR prediction runs (``jaxrec run ctr/<model>:<dataset>``) and LLaCTR's field-level LLM
knowledge (FRE + FIE, :mod:`jaxrec.ctr.llactr`)."""

from jaxrec.ctr.config import (
    BACKBONES,
    CTRDataConfig,
    CTRExperiment,
    CTRLossConfig,
    CTRModelConfig,
    LLaCTRConfig,
    ctr_config,
)
from jaxrec.ctr.llactr import (
    LLaCTRHead,
    cosine_pairs,
    fie_logit,
    fre_kl,
    load_field_embeddings,
    random_field_embeddings,
)

__all__ = [
    "BACKBONES",
    "CTRDataConfig",
    "CTRExperiment",
    "CTRLossConfig",
    "CTRModelConfig",
    "LLaCTRConfig",
    "LLaCTRHead",
    "cosine_pairs",
    "ctr_config",
    "fie_logit",
    "fre_kl",
    "load_field_embeddings",
    "random_field_embeddings",
]
