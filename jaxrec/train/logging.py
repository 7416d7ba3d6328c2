"""Run-folder outputs: metrics as JSON lines (optionally mirrored to TensorBoard), atomic JSON
files, and a PNG of training curves.

Paths go through :class:`etils.epath.Path`, so a run folder may be local or on an object store
(``gs://...``). Local files are written to a temporary file in the same folder and renamed over
the target (a reader never sees half a file); object-store writes replace the whole object.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from etils import epath

__all__ = ["MetricsLog", "plot_curves", "read_metrics", "write_bytes_atomic", "write_json_atomic"]

logger = logging.getLogger("jaxrec")

PathLike = str | os.PathLike


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _is_local(path: epath.Path) -> bool:
    return "://" not in os.fspath(path)


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` all at once: locally through a temporary file in the same
    folder renamed over ``path``, with mode ``0o666 & ~umask`` (what ``open`` would give, not
    ``mkstemp``'s 0600); on an object store as one object."""
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _is_local(path):
        path.write_bytes(data)
        return
    fd, tmp = tempfile.mkstemp(dir=os.fspath(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the rename must not outlive the data in a crash
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, os.fspath(path))
    except BaseException:
        epath.Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: PathLike, data: Any) -> None:
    """Writes ``data`` as indented, key-sorted JSON with :func:`write_bytes_atomic`."""
    text = json.dumps(data, indent=2, sort_keys=True, default=float) + "\n"
    write_bytes_atomic(path, text.encode())


def read_metrics(path: PathLike) -> tuple[list[dict[str, Any]], bool]:
    """Parses a ``metrics.jsonl``: returns ``(records, clean)``.

    A final line without its newline that is not valid JSON is a record torn by a kill mid-write
    (a record's newline is its last byte): it is dropped with a warning. ``clean`` is False when
    the file needs rewriting before appending (a torn record, or a last record without its
    newline). Any other damage (a bad line with its newline, a line that is not a record with an
    int ``step`` and a ``split``) raises ``ValueError`` naming the file and line.
    """
    path = epath.Path(path)
    text = path.read_text()
    lines = text.split("\n")
    clean = text == "" or text.endswith("\n")
    if lines and lines[-1] == "":
        lines.pop()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines) and not text.endswith("\n"):
                logger.warning(
                    "%s: dropping a torn last record on line %d (%s)", path, number, err.msg
                )
                clean = False
                break
            raise ValueError(f"{path}, line {number}: not valid JSON ({err.msg})") from err
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("step"), int)
            or ("split" not in record)
        ):
            raise ValueError(
                f"{path}, line {number}: not a record with an int 'step' and a 'split'"
            )
        records.append(record)
    return records, clean


class MetricsLog:
    """Append-only ``metrics.jsonl``: one record per line, each with ``step`` and ``split``.

    On resume, :meth:`truncate_after` drops records newer than the restored step so the log
    reads as if the run had never been interrupted.

    Args:
      path: the ``metrics.jsonl`` file.
      enabled: write (only the lead process writes; the others just read).
      tensorboard: also write every record's numbers as TensorBoard scalars ``<split>/<name>`` at
        the record's step to ``path.parent / "tb"`` (needs the ``tensorboard`` extra,
        ``tensorboardX``). A truncation purges the event files' later steps too (TensorBoard's
        ``purge_step``).
    """

    def __init__(self, path: PathLike, *, enabled: bool = True, tensorboard: bool = False):
        self.path = epath.Path(path)
        self.enabled = enabled
        self.records: list[dict[str, Any]] = []
        self._writer: Any = None
        self._purge_step: int | None = None
        self._tensorboard = tensorboard and enabled
        if self._tensorboard:
            _tensorboardx()  # fail now, not at the first epoch's end
        if self.path.exists():
            self.records, clean = read_metrics(self.path)
            if not clean and enabled:
                self._rewrite()

    def _rewrite(self) -> None:
        write_bytes_atomic(self.path, "".join(json.dumps(r) + "\n" for r in self.records).encode())

    def truncate_after(self, step: int) -> None:
        self.records = [r for r in self.records if r["step"] <= step]
        self._purge_step = step + 1
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.enabled:
            self._rewrite()

    def write(self, step: int, split: str, values: Mapping[str, float], **fields: Any) -> None:
        record = {"step": int(step), "split": split, **fields}
        record.update({k: float(v) for k, v in values.items()})
        self.records.append(record)
        if not self.enabled:
            return
        if _is_local(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        else:  # object stores cannot append
            self._rewrite()
        if self._tensorboard:
            if self._writer is None:
                self._writer = _ScalarWriter(self.path.parent / "tb", self._purge_step)
            self._writer.write(record)

    def close(self) -> None:
        """Closes the TensorBoard writer (the JSON lines need no closing)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _tensorboardx() -> Any:
    try:
        import tensorboardX
    except ImportError as err:
        raise ImportError(
            "TensorBoard logging (loop.tensorboard=true) needs tensorboardX: "
            "pip install 'jaxrec[tensorboard]'"
        ) from err
    return tensorboardX


class _ScalarWriter:
    """One TensorBoard event file of scalars, written with tensorboardX's ``FileWriter`` (whose
    ``SummaryWriter.add_scalar`` would rename tags such as ``valid/ndcg@20``).

    ``purge_step``: a ``SessionLog.START`` event at that step makes TensorBoard hide the earlier
    files' events at steps ``>= purge_step`` (what a resume truncated from metrics.jsonl).
    """

    def __init__(self, logdir: epath.Path, purge_step: int | None):
        tensorboardx = _tensorboardx()
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        # A unique suffix: tensorboardX names files by the second and would overwrite the file
        # of a writer opened in the same second (a quick resume).
        self._writer = tensorboardx.FileWriter(
            os.fspath(logdir), filename_suffix=f".{time.time_ns()}"
        )
        if purge_step is not None:
            start = SessionLog(status=SessionLog.START)
            self._writer.add_event(Event(step=purge_step, session_log=start))

    def write(self, record: Mapping[str, Any]) -> None:
        """The record's numbers (all fields but ``step``, ``split``) as ``<split>/<name>``."""
        from tensorboardX.proto.summary_pb2 import Summary

        values = [
            Summary.Value(tag=f"{record['split']}/{name}", simple_value=float(value))
            for name, value in record.items()
            if name not in ("step", "split") and isinstance(value, (int, float))
        ]
        self._writer.add_summary(Summary(value=values), record["step"])
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def plot_curves(records: list[Mapping[str, Any]], path: PathLike, *, title: str = "") -> None:
    """One panel per metric name: train metrics and validation metrics against the step.

    Draws on a bare :class:`matplotlib.figure.Figure` (Agg rendering, no pyplot), so the calling
    process's matplotlib backend and figure registry are left alone.
    """
    from matplotlib.figure import Figure

    skip = {"step", "split", "epoch", "time_s"}
    series: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for r in records:
        for name, value in r.items():
            if name in skip or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            xs, ys = series.setdefault(name, {}).setdefault(r["split"], ([], []))
            xs.append(r["step"])
            ys.append(value)
    if not series:
        return
    names = sorted(series)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        for split, (xs, ys) in sorted(series[name].items()):
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=split)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    write_bytes_atomic(path, buffer.getvalue())
