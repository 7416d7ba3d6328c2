"""PSL paper protocol on amazon2014-electronic (IR-Benchmark split); arg = <mf|lightgcn>-<bpr|sl|psl_tanh|psl_atan|psl_relu|psl_softplus>.

The protocol (d = 64, batch 1024, N = 1000 negatives, Adam, 200 epochs, validation every 5
epochs on a 10% per-user split, selection by NDCG@20) is CFExperiment's defaults; this file sets
the data and its row of the paper's Table B.2.

Run:  jaxrec run psl/electronic:mf-psl_relu
      jaxrec run psl/electronic:lightgcn-sl --set data.path=/path/to/proc.zip
"""

from jaxrec.cf.config import CFExperiment, DataConfig, ModelConfig, parse_variant, table_b2
from jaxrec.data import shared_root

DATASET = "amazon2014-electronic"
# Table B.2 (IID, tuned on MF):
SL = (0.01, 0.1)  # SL and PSL: (learning rate, tau)
BPR = (1e-3, 1e-5)  # BPR: (learning rate, weight decay)


def get_config(arg: str | None = None) -> CFExperiment:
    backbone, loss_name = parse_variant(arg)
    loss, optimizer = table_b2(loss_name, sl=SL, bpr=BPR)
    return CFExperiment(
        name=f"{DATASET}-{backbone}-{loss_name}",
        data=DataConfig(
            source="ir_benchmark", path=str(shared_root() / "cf" / DATASET / "proc.zip")
        ),
        model=ModelConfig(backbone=backbone),
        loss=loss,
        optimizer=optimizer,
    )
