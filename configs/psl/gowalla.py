"""PSL paper protocol on gowalla (IR-Benchmark split); arg = <mf|lightgcn>-<bpr|sl|psl_tanh|psl_atan|psl_relu|psl_softplus>.

Run:  jaxrec run psl/gowalla:mf-psl_relu
      jaxrec run psl/gowalla:lightgcn-sl --set data.path=/path/to/proc.zip
"""

from jaxrec.cf.presets import paper_config


def get_config(arg: str | None = None):
    return paper_config("gowalla", arg)
