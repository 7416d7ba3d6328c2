"""Config overrides, config files and the command line's error handling."""

from __future__ import annotations

import dataclasses

import pytest

from jaxrec import cli
from jaxrec import config as config_lib
from jaxrec.cf.config import CFExperiment, default_config


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
    ],
)
def test_override_rejects_bad_keys_and_values(assignment, message):
    with pytest.raises(ValueError, match=message):
        config_lib.override(default_config(), [assignment])


def test_config_round_trips_through_dict():
    cfg = config_lib.override(default_config(), ["eval.ks=(5, 20)"])
    assert config_lib.from_dict(CFExperiment, config_lib.to_dict(cfg)) == cfg


def test_every_listed_config_loads():
    names = dict(cli.list_configs())
    assert {"psl/synthetic", "psl/electronic", "psl/gowalla", "psl/health"} <= set(names)
    for name in names:
        assert dataclasses.is_dataclass(cli.load_config(name))
    cfg = cli.load_config("psl/electronic:lightgcn-psl_relu")
    assert (cfg.model.backbone, cfg.loss.name, cfg.loss.activation) == ("lightgcn", "psl", "relu")
    assert (cfg.optimizer.lr, cfg.loss.temperature, cfg.loss.num_negatives) == (0.01, 0.1, 1000)
    bpr = cli.load_config("psl/gowalla:mf-bpr")
    assert (bpr.loss.num_negatives, bpr.optimizer.weight_decay) == (1, 1e-6)


def test_cli_reports_bad_config_clearly(capsys):
    assert cli.main(["run", "psl/nonexistent"]) == 2
    assert "no config named 'psl/nonexistent'" in capsys.readouterr().err
    assert cli.main(["run", "psl/electronic:mf-hinge"]) == 2
    assert "variant 'mf-hinge'" in capsys.readouterr().err
    assert cli.main(["run", "--set", "loss.temperature=-1"]) == 2
    assert "temperature > 0" in capsys.readouterr().err
