"""SLAPS (OpenGSL v0.0.6 config) without and with UnGSL on a Planetoid graph; arg = <dataset>[-cpu].

Run:  jaxrec run gsl/slaps                 (Cora from ../shared/data/graph/planetoid, full protocol)
      jaxrec run gsl/slaps:cora-cpu        (the host's reduced CPU budget; see docs/RESULTS.md)
      jaxrec run gsl/slaps:citeseer --set data.root=/path/to/planetoid
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _gsl_common import planetoid_config


def get_config(arg: str | None = None):
    return planetoid_config("slaps", arg)
