"""``jaxrec eval``: re-evaluating a finished CF run from its folder reproduces its results, and
the run folder's TensorBoard events and progress lines come from the same records."""

from __future__ import annotations

import json
import logging

import pytest
from test_train_logging import expected_scalars, scalars

from jaxrec import cli
from jaxrec import config as config_lib
from jaxrec.cf import default_config, experiment
from jaxrec.eval_run import evaluate_run, load_run_config

TINY = [
    "data.synthetic_users=96",
    "data.synthetic_items=120",
    "data.synthetic_per_user=12",
    "model.dim=8",
    "batch_size=64",
    "loss.num_negatives=16",
    "loop.epochs=3",
    "loop.eval_every=2",
    "loop.progress=true",
    "loop.log_every_steps=0",
    "loop.tensorboard=true",
]


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _snapshot(folder) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


@pytest.fixture(scope="module")
def cf_run(tmp_path_factory):
    """A finished tiny CF run (stdout is pytest's capture, not a terminal) and its log lines."""
    run_dir = tmp_path_factory.mktemp("cf") / "tiny"
    cfg = config_lib.override(default_config(), TINY)
    logger, handler = logging.getLogger("jaxrec"), _Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        summary = experiment.run(cfg, run_dir, resume=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return cfg, run_dir, summary, handler.lines


def test_config_json_round_trips_to_the_run_config(cf_run):
    cfg, run_dir, _, _ = cf_run
    assert load_run_config(run_dir) == cfg


def test_eval_best_test_reproduces_results_json(cf_run):
    _, run_dir, summary, _ = cf_run
    before = _snapshot(run_dir)
    result = evaluate_run(run_dir, checkpoint="best", split="test")
    saved = json.loads((run_dir / "results.json").read_text())
    assert result.metrics == saved["test"] == summary["test"]  # bit for bit
    assert result.step == saved["best_step"]
    assert _snapshot(run_dir) == before  # nothing written into the run folder


def test_eval_latest_valid_matches_the_last_validation(cf_run):
    _, run_dir, summary, _ = cf_run
    result = evaluate_run(run_dir, checkpoint="latest", split="valid")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if r["split"] == "valid"][-1]
    assert result.step == summary["final_step"] == last["step"]
    assert result.metrics == {k: v for k, v in last.items() if k not in ("step", "split", "epoch")}


def test_cli_eval_prints_the_table(cf_run, capsys):
    _, run_dir, summary, _ = cf_run
    assert cli.main(["eval", str(run_dir), "--checkpoint", "best", "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert f"test metrics of the best checkpoint (step {summary['best_step']})" in out
    for name, value in summary["test"].items():
        assert f"{name}" in out and f"{value:.4f}" in out


def test_cli_eval_errors_name_the_problem(cf_run, tmp_path, capsys):
    _, run_dir, _, _ = cf_run
    cases = {
        tmp_path / "absent": "does not exist",
        tmp_path: "config.json not found",
    }
    gsl = tmp_path / "gsl"
    gsl.mkdir()
    (gsl / "config.json").write_text(json.dumps({"method": "gsl", "name": "cora"}))
    cases[gsl] = "'gsl' runs keep no Orbax checkpoints"
    no_ckpt = tmp_path / "no_ckpt"
    no_ckpt.mkdir()
    (no_ckpt / "config.json").write_text((run_dir / "config.json").read_text())
    cases[no_ckpt] = "no_ckpt/ckpt/best does not exist"
    for folder, message in cases.items():
        assert cli.main(["eval", str(folder)]) == 2
        err = capsys.readouterr().err
        assert message in err and str(folder) in err, err
    assert not (no_ckpt / "ckpt").exists()


def test_run_tensorboard_events_hold_the_metrics_jsonl_scalars(cf_run):
    _, run_dir, _, _ = cf_run
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert scalars(run_dir / "tb") == expected_scalars(records)


def test_run_off_a_terminal_logs_one_line_per_epoch(cf_run):
    lines = cf_run[3]
    assert [line.split(" step ")[0] for line in lines] == [f"tiny epoch {e}/3" for e in (1, 2, 3)]
    validated = ["valid/ndcg@20=" in line for line in lines]
    assert validated == [False, True, True]  # eval_every=2, and after the last epoch
