"""GRCN (OpenGSL v0.0.6 config) without and with UnGSL on a Planetoid graph; arg = cora|citeseer|pubmed.

Run:  jaxrec run gsl/grcn                       (Cora from ../shared/data/graph/planetoid)
      jaxrec run gsl/grcn:citeseer --set data.root=/path/to/planetoid
Result: expected on Cora (10 seeds): ~84.6 without, ~85.8 with UnGSL (OpenGSL README; authors' log).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _gsl_common import planetoid_config


def get_config(arg: str | None = None):
    return planetoid_config("grcn", arg)
