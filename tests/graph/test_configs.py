"""The gsl/<host> config files: dataset rows, CPU budgets, run names, data root, self-contained."""

import dataclasses
import re
from pathlib import Path

import pytest

from jaxrec import cli
from jaxrec.graph.config import parse_arg, planetoid_root
from jaxrec.graph.hosts import HOSTS, UnGSLDefaults

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "gsl"
# (field, Cora value, Citeseer value): rows of OpenGSL v0.0.6 <host>_<dataset>.yaml
CITESEER_DIFFERS = {
    "grcn": ("k", 100, 200),
    "idgl": ("num_heads", 4, 1),
    "slaps": ("hidden_adj", 512, 1024),
    "sublime": ("k", 30, 20),
    "nodeformer": ("weight_decay", 5e-4, 5e-3),
}


def test_config_files_import_only_from_jaxrec():
    files = sorted(CONFIGS.glob("*.py"))
    assert {f.stem for f in files} == {*HOSTS, "synthetic"}  # no shared helper file
    for f in files:
        text = f.read_text()
        assert "sys.path" not in text, f
        imports = re.findall(r"^(?:from|import) (\S+)", text, flags=re.MULTILINE)
        assert all(m.split(".")[0] in ("jaxrec", "dataclasses") for m in imports), (f, imports)


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_dataset_rows_cpu_budget_name_and_root(host):
    cora = cli.load_config(f"gsl/{host}")
    assert cli.load_config(f"gsl/{host}:cora") == cora
    assert cora.host_config == HOSTS[host].config_cls()  # the dataclass defaults are Cora's row
    assert cora.name == f"gsl-cora-{host}" and cora.seeds == 10
    assert cora.data.root == planetoid_root() and cora.data.source == "planetoid"
    assert planetoid_root().endswith("graph/planetoid")
    # another Planetoid-format name and pubmed (no row of their own here): the Cora row
    for name in ("pubmed", "mygraph"):
        other = cli.load_config(f"gsl/{host}:{name}")
        assert other.host_config == cora.host_config and other.data.name == name
    cpu = cli.load_config(f"gsl/{host}:cora-cpu")
    assert cpu.name == f"gsl-cora-{host}-cpu"
    changed = {
        f.name
        for f in dataclasses.fields(cora.host_config)
        if getattr(cpu.host_config, f.name) != getattr(cora.host_config, f.name)
    }
    assert (host == "gcn") == (not changed)  # GCN is cheap: its CPU budget is the full protocol
    assert changed <= {"epochs", "patience", "max_iter", "eval_every", "hidden_dim", "embed_dim",
                       "proj_dim"}  # fmt: skip
    if changed:
        assert cpu.host_config.epochs < cora.host_config.epochs
    if host in CITESEER_DIFFERS:
        field, at_cora, at_citeseer = CITESEER_DIFFERS[host]
        citeseer = cli.load_config(f"gsl/{host}:citeseer-cpu")
        assert getattr(cora.host_config, field) == at_cora
        assert getattr(citeseer.host_config, field) == at_citeseer
        assert (
            citeseer.host_config.epochs < cli.load_config(f"gsl/{host}:citeseer").host_config.epochs
        )


def test_parse_arg_and_ungsl_defaults_convention():
    assert parse_arg(None) == ("cora", False) and parse_arg("citeseer-cpu") == ("citeseer", True)
    with pytest.raises(ValueError, match="<dataset>\\[-cpu\\]"):
        parse_arg("cora-gpu")
    for name, spec in HOSTS.items():
        defaults = spec.ungsl_defaults("cora")
        assert (defaults is None) == (name == "gcn"), name  # GCN learns no graph
        assert defaults is None or isinstance(defaults, UnGSLDefaults)
