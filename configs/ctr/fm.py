"""FM (Rendle 2010); arg = <synthetic|movielens|gift_cards>[-fre|-fie|-llactr].

FuxiCTR protocol (Adam 1e-3, batch 4096, embedding 32, early stopping on validation AUC with
patience 2, LR x0.1 on plateau); Gift Cards trains on valid.h5 (last 10% held out), tests on
test.h5.
Run:  jaxrec run ctr/fm:synthetic
      jaxrec run ctr/fm:movielens --set loss.embedding_regularizer=1e-5
      jaxrec run ctr/fm:gift_cards-llactr    (+FRE +FIE; also -fre, -fie)
"""

from jaxrec.ctr.config import CTRExperiment, CTRModelConfig, ctr_config


def get_config(arg: str | None = None) -> CTRExperiment:
    return ctr_config(CTRModelConfig(name="fm"), arg)
