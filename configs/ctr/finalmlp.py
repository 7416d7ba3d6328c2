"""FinalMLP (Mao et al. 2023): streams [400, 400, 400] and [800], gates [800], 1 fusion head; arg = <synthetic|movielens|gift_cards>[-fre|-fie|-llactr].

FuxiCTR protocol (Adam 1e-3, batch 4096, embedding 32, early stopping on validation AUC with
patience 2, LR x0.1 on plateau); Gift Cards trains on valid.h5 (last 10% held out), tests on
test.h5.
LLaCTR's FIE takes the paper's input-dependent form; the authors' repo numbers used
``--set llactr.fie_input_independent=true``.

Run:  jaxrec run ctr/finalmlp:synthetic
      jaxrec run ctr/finalmlp:movielens --set loss.embedding_regularizer=1e-5
      jaxrec run ctr/finalmlp:gift_cards-llactr    (+FRE +FIE; also -fre, -fie)
"""

from jaxrec.ctr.config import CTRExperiment, CTRModelConfig, ctr_config


def get_config(arg: str | None = None) -> CTRExperiment:
    return ctr_config(
        CTRModelConfig(
            name="finalmlp", hidden=(400, 400, 400), hidden2=(800,), gate_hidden=(800,), num_heads=1
        ),
        arg,
    )
