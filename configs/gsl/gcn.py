"""Plain GCN baseline (OpenGSL config) on a Planetoid graph; arg = cora|citeseer|pubmed.

Run:  jaxrec run gsl/gcn                       (Cora from ../shared/data/graph/planetoid)
      jaxrec run gsl/gcn:citeseer --set data.root=/path/to/planetoid
Result: expected on Cora (10 seeds): ~81.95 (OpenGSL README); UnGSL does not apply (no learned graph).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _gsl_common import planetoid_config


def get_config(arg: str | None = None):
    return planetoid_config("gcn", arg)
