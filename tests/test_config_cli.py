"""Config overrides, config files, run names, the command line and the package metadata."""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from jaxrec import cli
from jaxrec import config as config_lib
from jaxrec.cf.config import CFExperiment, default_config

ROOT = Path(__file__).resolve().parents[1]


def test_override_parses_by_field_type():
    cfg = config_lib.override(
        default_config(),
        [
            "optimizer.lr=0.5",
            "loss.name=softmax",
            "loop.epochs=3",
            "eval.ks=(10, 20)",
            "loss.include_positive=true",
            "mesh.fsdp=2",
        ],
    )
    assert cfg.optimizer.lr == 0.5 and cfg.loss.name == "softmax" and cfg.loop.epochs == 3
    assert cfg.eval.ks == (10, 20) and cfg.loss.include_positive is True and cfg.mesh.fsdp == 2
    assert default_config().optimizer.lr != 0.5  # the original is untouched (frozen)


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("optimizer.learning_rate=1", "unknown config key 'optimizer.learning_rate'"),
        ("loop.epochs=three", "is not an int"),
        ("loss.include_positive=maybe", "not a boolean"),
        ("loss.name=hinge", "loss.name must be one of"),
        ("lr", "must look like key.sub=value"),
        ("optimizer.lr.x=1", "not a config section"),
        ("loop.epochs=1.5", r"loop.epochs=1.5 is not an int \(it has a fractional part\)"),
        ("loop.epochs=True", "loop.epochs=True is not an int"),
        ("eval.ks=(20,'a')", r"eval.ks\[1\]='a' is not an int"),
        ("eval.ks=(20, 0.5)", r"eval.ks\[1\]=0.5 is not an int"),
        ("seed=-1", "seed=-1 must be >= 0"),
        ("data.split_seed=-3", "data.split_seed=-3 must be >= 0"),
        ("loss.temperature=-1", "^loss.temperature: need temperature > 0"),
    ],
)
def test_override_rejects_bad_keys_and_values(assignment, message):
    with pytest.raises(ValueError, match=message):
        config_lib.override(default_config(), [assignment])


def test_override_accepts_integral_floats_and_scalars_for_tuples():
    cfg = config_lib.override(default_config(), ["loop.epochs=1e3", "eval.ks=20", "optimizer.lr=1"])
    assert (cfg.loop.epochs, cfg.eval.ks, cfg.optimizer.lr) == (1000, (20,), 1.0)
    assert type(cfg.loop.epochs) is int and type(cfg.optimizer.lr) is float


def test_post_init_error_names_every_key_of_its_section():
    # the MSL loss check spans loss.name and loss.ats.enabled: both keys of the section are named
    cfg = cli.load_config("msl/synthetic:msl_ats")
    with pytest.raises(ValueError, match=r"^loss.name: loss.ats.enabled needs loss.name='msl'"):
        config_lib.override(cfg, ["loss.name=lml"])
    with pytest.raises(ValueError, match=r"^loss.ats.tau0, loss.name: "):
        config_lib.override(cfg, ["loss.name=lml", "loss.ats.tau0=2"])


def test_config_round_trips_through_dict():
    cfg = config_lib.override(default_config(), ["eval.ks=(5, 20)"])
    assert config_lib.from_dict(CFExperiment, config_lib.to_dict(cfg)) == cfg


def test_every_listed_config_loads_without_touching_sys_path():
    names = dict(cli.list_configs())
    assert {"psl/synthetic", "psl/electronic", "psl/gowalla", "psl/health"} <= set(names)
    assert {"msl/synthetic", "msl/amazon_books", "msl/hf_lora"} <= set(names)
    for name in names:
        path_before = list(sys.path)
        assert dataclasses.is_dataclass(cli.load_config(name))
        assert sys.path == path_before, name
    for path in (ROOT / "configs").rglob("*.py"):
        assert "sys.path" not in path.read_text(), path


# PSL paper, Table B.2 (IID): SL/PSL (lr, tau) and BPR (lr, weight decay); health = Electronic's.
TABLE_B2 = {
    "electronic": ((0.01, 0.1), (1e-3, 1e-5)),
    "gowalla": ((0.1, 0.05), (1e-3, 1e-6)),
    "health": ((0.01, 0.1), (1e-3, 1e-5)),
}


@pytest.mark.parametrize("dataset", sorted(TABLE_B2))
@pytest.mark.parametrize("variant", ["mf-sl", "lightgcn-psl_relu", "mf-bpr", "lightgcn-psl_atan"])
def test_psl_configs_hold_the_paper_protocol(dataset, variant):
    (sl_lr, tau), (bpr_lr, wd) = TABLE_B2[dataset]
    cfg = cli.load_config(f"psl/{dataset}:{variant}")
    backbone, loss = variant.split("-")
    assert cfg.model.backbone == backbone and cfg.name.endswith(variant)
    assert (cfg.model.dim, cfg.batch_size, cfg.optimizer.name) == (64, 1024, "adam")
    assert (cfg.loop.epochs, cfg.loop.eval_every, cfg.loop.select_metric) == (200, 5, "ndcg@20")
    assert cfg.data.source == "ir_benchmark" and cfg.data.valid_fraction == 0.1
    if loss == "bpr":
        assert (cfg.loss.name, cfg.loss.num_negatives) == ("bpr", 1)
        assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (bpr_lr, wd)
    else:
        assert cfg.loss.name == ("softmax" if loss == "sl" else "psl")
        assert (cfg.loss.num_negatives, cfg.loss.temperature) == (1000, tau)
        assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (sl_lr, 0.0)
        if loss != "sl":
            assert cfg.loss.activation == loss.removeprefix("psl_")


def test_config_data_paths_follow_the_shared_root(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXREC_SHARED_DATA", str(tmp_path))
    psl = cli.load_config("psl/gowalla:mf-sl")
    assert Path(psl.data.path) == tmp_path / "cf" / "gowalla" / "proc.zip"
    for name in ("msl/amazon_books:lml-cpu", "msl/hf_lora"):
        assert Path(cli.load_config(name).data.path) == tmp_path / "llmrec" / "amazon_books"


def test_configs_in_the_working_directory_override_the_shipped_ones(tmp_path, monkeypatch):
    own = tmp_path / "configs" / "psl"
    own.mkdir(parents=True)
    (own / "electronic.py").write_text(
        '"""My electronic."""\nfrom jaxrec.cf.config import default_config\n\n\n'
        "def get_config(arg=None):\n    return default_config()\n"
    )
    (own / "mine.py").write_text(
        '"""Mine."""\nimport dataclasses\n\n\n@dataclasses.dataclass(frozen=True)\n'
        "class Tiny:\n    epochs: int = 1\n\n\ndef get_config(arg=None):\n    return Tiny()\n"
    )
    monkeypatch.chdir(tmp_path)
    assert cli.config_dirs()[0] == tmp_path / "configs"
    names = dict(cli.list_configs())
    assert names["psl/electronic"] == "My electronic." and "psl/gowalla" in names
    assert cli.load_config("psl/electronic") == default_config()
    # a dataclass defined in a config file resolves its type hints (the module is registered)
    assert config_lib.override(cli.load_config("psl/mine"), ["epochs=3"]).epochs == 3


def test_cli_reports_bad_config_clearly(capsys):
    assert cli.main(["run", "psl/nonexistent"]) == 2
    assert "no config named 'psl/nonexistent'" in capsys.readouterr().err
    assert cli.main(["run", "psl/electronic:mf-hinge"]) == 2
    assert "variant 'mf-hinge'" in capsys.readouterr().err
    assert cli.main(["run", "--set", "loss.temperature=-1"]) == 2
    assert "temperature > 0" in capsys.readouterr().err


def test_run_name_reflects_the_overrides_and_the_data():
    base = cli.load_config("psl/electronic:mf-psl_tanh")
    assert cli.resolve_config("psl/electronic:mf-psl_tanh", []) == base
    # an override that changes nothing keeps the name; order and spelling do not matter
    assert cli.resolve_config("psl/electronic", ["loop.epochs=200"]).name == base.name
    a = cli.resolve_config("psl/electronic", ["loop.epochs=3", "loss.num_negatives=64"]).name
    b = cli.resolve_config("psl/electronic", ["loss.num_negatives=6.4e1", "loop.epochs=3.0"]).name
    c = cli.resolve_config("psl/electronic", ["loop.epochs=4", "loss.num_negatives=64"]).name
    assert a == b != c and re.fullmatch(re.escape(base.name) + "-[0-9a-f]{8}", a)
    moved = cli.resolve_config("psl/electronic", ["data.path=/data/cf/gowalla/proc.zip"])
    assert re.fullmatch(re.escape(base.name) + "@gowalla-[0-9a-f]{8}", moved.name)
    assert moved.data.path == "/data/cf/gowalla/proc.zip"
    named = cli.resolve_config("psl/electronic", ["name=mine", "data.path=/x/gowalla/p.zip"])
    assert named.name == "mine"


def _as_json(cfg) -> dict:
    return json.loads(json.dumps(config_lib.to_dict(cfg)))


def test_show_and_print_config_print_the_resolved_config(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sets = ["--set", "loop.epochs=3", "--set", "loss.name=softmax"]
    expected = _as_json(cli.resolve_config("psl/synthetic", sets[1::2]))
    assert expected["loop"]["epochs"] == 3 and expected["loss"]["name"] == "softmax"
    assert cli.main(["show", "psl/synthetic", *sets]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    assert cli.main(["run", "psl/synthetic", *sets, "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    assert not (tmp_path / "runs").exists()  # nothing trained
    assert cli.main(["show", "psl/synthetic", "--set", "loop.epochs=1.5"]) == 2
    assert "loop.epochs=1.5 is not an int" in capsys.readouterr().err


def test_run_help_shows_usage_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: jaxrec run") and "--print-config" in out and "examples:" in out


def test_python_dash_m_jaxrec_is_the_command_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-m", "jaxrec", "show", "psl/gowalla:mf-bpr"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out) == _as_json(cli.load_config("psl/gowalla:mf-bpr"))


def _declared_requirements() -> tuple[set[str], set[str]]:
    """Normalised names of pyproject's core dependencies and of all its extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs):
        return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}

    extras = set().union(*map(names, project["optional-dependencies"].values()))
    return names(project["dependencies"]), extras


def test_every_third_party_import_of_the_package_is_declared():
    core, extras = _declared_requirements()
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for path in (ROOT / "jaxrec").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "jaxrec":
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                if not dists & (core | extras):
                    undeclared.setdefault(top, []).append(str(path.relative_to(ROOT)))
    assert not undeclared, f"imports not declared in pyproject.toml: {undeclared}"
    assert "chex" not in core  # tests only
    assert {"ml-dtypes", "etils", "numpy", "scipy"} <= core and "tensorboardx" in extras
