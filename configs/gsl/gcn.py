"""Plain GCN baseline (OpenGSL config) on a Planetoid graph; arg = <dataset>[-cpu].

Run:  jaxrec run gsl/gcn                       (Cora from <shared data>/graph/planetoid)
      jaxrec run gsl/gcn:citeseer --set data.root=/path/to/planetoid
Result: expected on Cora (10 seeds): ~81.95 (OpenGSL README); UnGSL does not apply (no learned graph).
"""

from jaxrec.graph.config import parse_arg, planetoid_experiment
from jaxrec.graph.hosts.gcn import GCNHostConfig

# OpenGSL v0.0.6 gcn_<dataset>.yaml is the same for cora, citeseer and pubmed: GCNHostConfig's
# defaults (hidden 64, dropout 0.5, lr 1e-2, weight decay 5e-4, 200 epochs, row-normalised
# features). Any other Planetoid-format name gets them too.
# CPU budget: none needed (a GCN epoch is cheap), "-cpu" runs the full protocol.


def get_config(arg: str | None = None):
    dataset, cpu = parse_arg(arg)
    return planetoid_experiment("gcn", dataset, cpu, GCNHostConfig())
