"""WuKong (Zhang et al. 2024): 3 layers of 16 FMB + 16 LCB outputs, rank 8, MLP [400, 400]; arg = <synthetic|movielens|gift_cards>[-fre|-fie|-llactr].

FuxiCTR protocol (Adam 1e-3, batch 4096, embedding 32, early stopping on validation AUC with
patience 2, LR x0.1 on plateau); Gift Cards trains on valid.h5 (last 10% held out), tests on
test.h5.
LLaCTR's FIE takes the paper's input-dependent form; the authors' repo numbers used
``--set llactr.fie_input_independent=true``.

Run:  jaxrec run ctr/wukong:synthetic
      jaxrec run ctr/wukong:movielens --set loss.embedding_regularizer=1e-5
      jaxrec run ctr/wukong:gift_cards-llactr    (+FRE +FIE; also -fre, -fie)
"""

from jaxrec.ctr.config import CTRExperiment, CTRModelConfig, ctr_config


def get_config(arg: str | None = None) -> CTRExperiment:
    return ctr_config(
        CTRModelConfig(
            name="wukong",
            hidden=(400, 400),
            num_layers=3,
            n_fmb=16,
            n_lcb=16,
            rank=8,
            fmb_hidden=(200, 200),
        ),
        arg,
    )
