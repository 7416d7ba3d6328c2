"""Run-folder logging: metrics.jsonl damage handling, TensorBoard mirror, atomic JSON modes,
pyplot-free curves, and progress reporting for terminals and log files."""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from etils import epath

from jaxrec.train.logging import MetricsLog, read_metrics, write_json_atomic
from jaxrec.train.progress import Progress

RECORDS = [
    {"step": 4, "split": "train", "epoch": 1, "loss": 0.9, "time_s": 0.5},
    {"step": 4, "split": "valid", "epoch": 1, "ndcg@20": 0.125},
    {"step": 8, "split": "train", "epoch": 2, "loss": 0.7, "time_s": 0.25},
    {"step": 8, "split": "valid", "epoch": 2, "ndcg@20": 0.25},
]


def _write_all(log: MetricsLog, records=RECORDS) -> None:
    for r in records:
        values = {k: v for k, v in r.items() if k not in ("step", "split", "epoch", "time_s")}
        fields = {k: r[k] for k in ("epoch", "time_s") if k in r}
        log.write(r["step"], r["split"], values, **fields)


def _lines(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# --------------------------------------------------------------------------------------------
# metrics.jsonl


def test_metrics_log_round_trips_through_epath(tmp_path):
    path = epath.Path(tmp_path) / "run" / "metrics.jsonl"
    _write_all(MetricsLog(path))
    assert MetricsLog(path).records == RECORDS
    assert read_metrics(path) == (RECORDS, True)


def test_torn_last_record_is_dropped_with_a_warning_and_the_log_stays_appendable(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_text(_lines(RECORDS[:3]) + json.dumps(RECORDS[3])[:17])  # killed mid-write
    with caplog.at_level(logging.WARNING, logger="jaxrec"):
        log = MetricsLog(path)
    assert log.records == RECORDS[:3]
    assert any(str(path) in m and "line 4" in m for m in caplog.messages), caplog.messages
    assert path.read_text() == _lines(RECORDS[:3])  # repaired before the next append
    _write_all(log, RECORDS[3:])
    assert MetricsLog(path).records == RECORDS


def test_complete_last_record_without_newline_is_kept_and_repaired(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(_lines(RECORDS[:2])[:-1])
    log = MetricsLog(path)
    assert log.records == RECORDS[:2] and path.read_text() == _lines(RECORDS[:2])


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (_lines(RECORDS[:1]) + "{not json\n" + _lines(RECORDS[1:]), 2),  # corrupt middle line
        (_lines(RECORDS[:2]) + '{"step": 9, "spl\n', 3),  # a bad last line with its newline
        (_lines(RECORDS[:1]) + '{"split": "train"}\n', 2),  # no step
        (_lines(RECORDS[:1]) + "[1, 2]\n" + _lines(RECORDS[1:]), 2),  # not a record
    ],
)
def test_other_damage_fails_naming_file_and_line(tmp_path, text, line):
    path = tmp_path / "metrics.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"{path}, line {line}:"):
        MetricsLog(path)
    assert path.read_text() == text  # a damaged log is never rewritten


def test_truncate_after_drops_later_records(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    _write_all(log)
    log.truncate_after(4)
    assert MetricsLog(path).records == RECORDS[:2]


def test_disabled_log_reads_but_never_writes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(_lines(RECORDS[:2])[:-3])
    log = MetricsLog(path, enabled=False)
    _write_all(log, RECORDS[2:])
    assert log.records == RECORDS[:1] + RECORDS[2:]
    assert path.read_text() == _lines(RECORDS[:2])[:-3]


# --------------------------------------------------------------------------------------------
# TensorBoard


def read_events(*paths: Path) -> list:
    """Every Event of the TFRecord event files ``paths`` (a folder: its event files in name
    order): records of ``uint64 length, uint32 crc, data, uint32 crc``."""
    from tensorboardX.proto import event_pb2

    if len(paths) == 1 and paths[0].is_dir():
        paths = sorted(paths[0].glob("events.out.tfevents.*"))
    events = []
    for path in paths:
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[pos + 12 : pos + 12 + length])
            events.append(event)
            pos += 12 + length + 4
    return events


def scalars(*paths: Path) -> list[tuple[str, int, float]]:
    return [
        (v.tag, e.step, v.simple_value)
        for e in read_events(*paths)
        if e.HasField("summary")
        for v in e.summary.value
    ]


def expected_scalars(records) -> list[tuple[str, int, float]]:
    """float32, as TensorBoard stores simple values."""
    return [
        (f"{r['split']}/{k}", r["step"], float(np.float32(v)))
        for r in records
        for k, v in r.items()
        if k not in ("step", "split")
    ]


def test_tensorboard_holds_the_same_scalars_as_metrics_jsonl(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl", tensorboard=True)
    log.truncate_after(0)
    _write_all(log)
    log.close()
    records = MetricsLog(tmp_path / "metrics.jsonl").records
    assert records == RECORDS
    assert scalars(tmp_path / "tb") == expected_scalars(records)
    assert len(scalars(tmp_path / "tb")) == 10  # train: epoch, loss, time_s; valid: epoch, ndcg


def test_tensorboard_resume_purges_the_truncated_steps(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path, tensorboard=True)
    _write_all(log)
    log.close()
    resumed = MetricsLog(path, tensorboard=True)
    resumed.truncate_after(4)
    _write_all(resumed, RECORDS[2:])
    resumed.close()
    files = sorted((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert len(files) == 2  # the second writer did not overwrite the first's file
    assert sorted(scalars(files[0])) == sorted(expected_scalars(RECORDS))
    assert [e.step for e in read_events(files[0]) if e.HasField("session_log")] == []
    # TensorBoard hides the first file's steps >= 5, which the second file writes again.
    assert [e.step for e in read_events(files[1]) if e.HasField("session_log")] == [5]
    assert sorted(scalars(files[1])) == sorted(expected_scalars(RECORDS[2:]))


def test_tensorboard_without_tensorboardx_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"tensorboardX.*jaxrec\[tensorboard\]"):
        MetricsLog(tmp_path / "metrics.jsonl", tensorboard=True)
    MetricsLog(tmp_path / "metrics.jsonl", enabled=False, tensorboard=True)  # writes nothing


# --------------------------------------------------------------------------------------------
# write_json_atomic, plot_curves


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_write_json_atomic_respects_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "a" / "results.json", {"b": [1, 2], "a": 0.5})
        write_json_atomic(str(tmp_path / "a" / "results.json"), {"c": 1})  # replaces
    finally:
        os.umask(old)
    path = tmp_path / "a" / "results.json"
    assert os.stat(path).st_mode & 0o777 == mode
    assert json.loads(path.read_text()) == {"c": 1}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left


def test_plot_curves_leaves_the_backend_alone_and_writes_the_png(tmp_path):
    """In a fresh process whose backend is "svg": plotting must not switch it or load pyplot."""
    # The module is loaded from its file alone: importing the jaxrec package would load JAX.
    script = (
        "import importlib.util, json, sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "spec = importlib.util.spec_from_file_location('logging_under_test', sys.argv[3])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "module.plot_curves(json.loads(sys.argv[1]), sys.argv[2], title='t')\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n"
    )
    png = tmp_path / "curves.png"
    source = Path(__file__).resolve().parents[1] / "jaxrec" / "train" / "logging.py"
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(RECORDS), str(png), str(source)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["svg", "False"]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR: 2 panels of 4.2 x 3.0 in at 90 dpi
    assert (width, height) == (756, 270)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


# --------------------------------------------------------------------------------------------
# Progress


class _Stdout:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _epochs(progress: Progress, steps: int = 6, epochs: int = 2) -> None:
    for epoch in range(1, epochs + 1):
        for i in range(steps):
            progress.step({"loss": np.float32(1.0 / (i + 1))})
        valid = {"ndcg@20": 0.5} if epoch == epochs else None
        progress.epoch_end(epoch, {"loss": 0.25}, valid, seconds=1.5)
    progress.close()


def test_progress_off_a_terminal_logs_one_line_per_epoch(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stdout", _Stdout(tty=False))
    with caplog.at_level(logging.INFO, logger="jaxrec"):
        progress = Progress(total=12, initial=0, epochs=2, desc="run", log_every_steps=4)
        assert progress._bar is None
        _epochs(progress)
    assert caplog.messages == [
        "run step 4/12 loss=0.2500",
        "run epoch 1/2 step 6/12 loss=0.2500 (1.5s)",
        "run step 8/12 loss=0.5000",
        "run step 12/12 loss=0.1667",
        "run epoch 2/2 step 12/12 loss=0.2500 valid/ndcg@20=0.5000 (1.5s)",
    ]


def test_progress_on_a_terminal_draws_a_bar_and_logs_nothing(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stdout", _Stdout(tty=True))
    with caplog.at_level(logging.INFO, logger="jaxrec"):
        progress = Progress(total=12, initial=0, epochs=2, desc="run", log_every_steps=0)
        bar = progress._bar
        assert bar is not None
        _epochs(progress)
    assert caplog.messages == [] and bar.n == 12


def test_progress_disabled_reports_nothing(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stdout", _Stdout(tty=True))
    with caplog.at_level(logging.INFO, logger="jaxrec"):
        progress = Progress(total=12, initial=0, epochs=2, desc="run", enabled=False)
        _epochs(progress)
    assert progress._bar is None and caplog.messages == []
