"""AutoInt+ (Song et al. 2019): 2 attention layers (16 wide, 2 heads) + MLP [400, 400, 400]; arg = <synthetic|movielens|gift_cards>[-fre|-fie|-llactr].

FuxiCTR protocol (Adam 1e-3, batch 4096, embedding 32, early stopping on validation AUC with
patience 2, LR x0.1 on plateau); Gift Cards trains on valid.h5 (last 10% held out), tests on
test.h5.
Run:  jaxrec run ctr/autoint:synthetic
      jaxrec run ctr/autoint:movielens --set loss.embedding_regularizer=1e-5
"""

from jaxrec.ctr.config import CTRExperiment, CTRModelConfig, ctr_config


def get_config(arg: str | None = None) -> CTRExperiment:
    return ctr_config(
        CTRModelConfig(
            name="autoint",
            hidden=(400, 400, 400),
            attention_layers=2,
            attention_dim=16,
            num_heads=2,
        ),
        arg,
    )
