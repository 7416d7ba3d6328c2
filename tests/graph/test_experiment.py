"""GSL experiment end to end on the synthetic config: stages, results.json, resume, CLI/config."""

import json

import pytest

from jaxrec import cli
from jaxrec import config as config_lib
from jaxrec.graph import experiment
from jaxrec.graph.hosts.grcn import GRCNConfig


@pytest.fixture(scope="module")
def cfg():
    base = cli.load_config("gsl/synthetic")
    return config_lib.override(
        base, ["seeds=2", "epochs=10", "ungsl.stage1_seeds=2", "hosts.grcn.k=10"]
    )


def test_run_writes_results_and_resumes_from_cached_stages(cfg, tmp_path, monkeypatch):
    summary = experiment.run(cfg, tmp_path)
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["with_ungsl"]["test"]["mean"] == pytest.approx(
        summary["with_ungsl"]["test"]["mean"]
    )
    for variant in ("without_ungsl", "with_ungsl"):
        assert len(stored[variant]["test_per_seed"]) == 2
        assert stored[variant]["test"]["mean"] > 60  # 3 classes: chance 33%
    diff = stored["paired_difference"]["per_seed"]
    per = [
        w - b
        for w, b in zip(
            stored["with_ungsl"]["test_per_seed"], stored["without_ungsl"]["test_per_seed"]
        )
    ]
    assert diff == pytest.approx(per, abs=1e-4)
    assert stored["ungsl_settings"]["beta"] == pytest.approx(0.40364199178973365)  # GRCN defaults
    assert 0 < stored["stage1"]["entropy"]["max"] <= 1.0987  # <= ln 3
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert (
        config_lib.from_dict(type(cfg), json.loads((tmp_path / "config.json").read_text())) == cfg
    )
    _check_metrics_agree_with_results(tmp_path, stored, eval_epochs=[2, 4, 6, 8, 10])
    metrics = (tmp_path / "metrics.jsonl").read_text()
    stages = sorted(p.name.split("-")[0] for p in (tmp_path / "stages").iterdir())
    assert stages == ["baseline", "stage1", "ungsl"]

    def fail(*args, **kwargs):
        raise AssertionError("a cached stage was recomputed")

    monkeypatch.setattr(experiment, "train_host", fail)
    again = experiment.run(cfg, tmp_path)
    assert again["paired_difference"] == summary["paired_difference"]
    assert (tmp_path / "metrics.jsonl").read_text() == metrics  # rewritten, not appended
    # a changed UnGSL setting re-runs only the UnGSL stage
    changed = config_lib.override(cfg, ["ungsl.beta=0.9"])
    with pytest.raises(AssertionError, match="recomputed"):
        experiment.run(changed, tmp_path)


def _check_metrics_agree_with_results(run_dir, stored, eval_epochs):
    """metrics.jsonl: train/valid records per variant, seed and evaluation, then the final test
    records, which carry results.json's per-seed test accuracies and best epochs."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    variants = ("without_ungsl", "with_ungsl")
    final = records[-2 * len(stored["seeds"]) :]
    assert all(r["split"] == "test" for r in final)
    assert not any(r["split"] == "test" for r in records[: -len(final)])
    for variant in variants:
        tests = [r for r in final if r["variant"] == variant]
        assert [r["seed"] for r in tests] == stored["seeds"]
        assert [100 * r["accuracy"] for r in tests] == pytest.approx(
            stored[variant]["test_per_seed"], abs=1e-4
        )
        assert [r["step"] for r in tests] == stored[variant]["best_epoch"]
        for seed in stored["seeds"]:
            valid = [
                r for r in records
                if r["split"] == "valid" and r["variant"] == variant and r["seed"] == seed
            ]  # fmt: skip
            assert [r["step"] for r in valid] == eval_epochs
            best = max(valid, key=lambda r: (r["accuracy"], -r["step"]))  # first maximum
            assert best["step"] == stored[variant]["best_epoch"][seed]
    train = [r for r in records if r["split"] == "train" and r["variant"] == "with_ungsl"]
    assert all(0.0 <= r["dead_threshold_fraction"] <= 1.0 for r in train)


def test_configs_and_overrides_are_type_checked(cfg):
    names = dict(cli.list_configs())
    assert {"gsl/grcn", "gsl/gcn", "gsl/synthetic"} <= set(names)
    cora = cli.load_config("gsl/grcn:citeseer")
    assert cora.hosts.grcn.k == 200 and cora.data.name == "citeseer"
    with pytest.raises(ValueError, match="k"):
        config_lib.override(cfg, ["hosts.grcn.k=many"])
    with pytest.raises(ValueError, match="unknown config key"):
        config_lib.override(cfg, ["hosts.grcn.kk=3"])
    with pytest.raises(ValueError, match="unknown host"):
        config_lib.override(cfg, ["host=nope"])
    with pytest.raises(ValueError, match="config arg"):
        cli.load_config("gsl/grcn:cora-gpu")
    other = cli.load_config("gsl/grcn:mygraph")  # another Planetoid-format name: Cora's settings
    assert other.data.name == "mygraph" and other.hosts.grcn == GRCNConfig()
    cpu = cli.load_config("gsl/slaps:cora-cpu")
    assert (
        cpu.name.endswith("-cpu")
        and cpu.hosts.slaps.epochs < cli.load_config("gsl/slaps").hosts.slaps.epochs
    )


def test_every_registered_host_has_a_config_section_and_run_protocol():
    from jaxrec.graph.experiment import _protocol
    from jaxrec.graph.hosts import HOSTS

    for host in HOSTS:
        cfg = cli.load_config(f"gsl/synthetic:{host}")
        protocol = _protocol(cfg, cfg.host_config)
        assert protocol["epochs"] >= 1 and protocol["eval_every"] >= 1 and protocol["patience"] >= 0
