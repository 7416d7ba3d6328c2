"""Embedded default: MF + PSL-tanh on a planted-factor synthetic world (about a minute on CPU).

Run:  jaxrec run psl/synthetic          (same as plain `jaxrec run`)
      jaxrec run psl/synthetic --set loss.name=softmax
"""

from jaxrec.cf.config import default_config


def get_config(arg: str | None = None):
    del arg
    return default_config()
