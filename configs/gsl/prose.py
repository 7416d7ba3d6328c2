"""PROSE (OpenGSL v0.0.6 config) without and with UnGSL on a Planetoid graph; arg = <dataset>[-cpu].

Run:  jaxrec run gsl/prose                 (Cora from ../shared/data/graph/planetoid, full protocol)
      jaxrec run gsl/prose:cora-cpu        (the host's reduced CPU budget; see docs/RESULTS.md)
      jaxrec run gsl/prose:citeseer --set data.root=/path/to/planetoid
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _gsl_common import planetoid_config


def get_config(arg: str | None = None):
    return planetoid_config("prose", arg)
