"""Embedded GSL default: GRCN (k=20) without and with UnGSL on a 300-node synthetic SBM graph.

Run:  jaxrec run gsl/synthetic                 (about a minute on a 2-core CPU)
      jaxrec run gsl/synthetic:gcn             (any registered host name as the argument)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _gsl_common import synthetic_config


def get_config(arg: str | None = None):
    return synthetic_config(arg or "grcn")
