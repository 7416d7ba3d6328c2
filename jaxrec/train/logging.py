"""Run-folder outputs: metrics as JSON lines, atomic JSON files, and a PNG of training curves."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "write_json_atomic", "plot_curves"]


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Writes JSON to a temporary file in the same folder, then renames it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True, default=float)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class MetricsLog:
    """Append-only ``metrics.jsonl``: one record per line, each with ``step`` and ``split``.

    On resume, :meth:`truncate_after` drops records newer than the restored step so the log
    reads as if the run had never been interrupted.
    """

    def __init__(self, path: str | Path, *, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self.records: list[dict[str, Any]] = []
        if self.path.exists():
            self.records = [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def truncate_after(self, step: int) -> None:
        self.records = [r for r in self.records if r["step"] <= step]
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.records))
            os.replace(tmp, self.path)

    def write(self, step: int, split: str, values: Mapping[str, float], **fields: Any) -> None:
        record = {"step": int(step), "split": split, **fields}
        record.update({k: float(v) for k, v in values.items()})
        self.records.append(record)
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def plot_curves(records: list[Mapping[str, Any]], path: str | Path, *, title: str = "") -> None:
    """One panel per metric name: train metrics and validation metrics against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
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
    path = Path(path)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
