"""Training progress for a terminal or a log file.

On a terminal (``sys.stdout.isatty()``) a tqdm bar counts steps and shows the latest loss.
Elsewhere (a pod's or a batch job's log) a bar would be one carriage-return line of megabytes,
so progress goes through the ``logging`` module (logger ``"jaxrec"``) instead: one line per
epoch with its train means and validation metrics, plus a step line every ``log_every_steps``
steps inside long epochs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["Progress", "ensure_log_handler"]

logger = logging.getLogger("jaxrec")


def _format(values: Mapping[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


def _interactive() -> bool:
    """A terminal, or a Jupyter kernel (where tqdm.auto draws a widget)."""
    return sys.stdout.isatty() or "ipykernel" in sys.modules


def ensure_log_handler() -> None:
    """Lets the ``"jaxrec"`` logger's INFO lines reach stdout when the program configured no
    logging at all (no handler on it or the root logger); otherwise leaves logging alone."""
    if logger.hasHandlers():
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


class Progress:
    """Progress of one run's training.

    Args:
      total: the run's total number of steps (``epochs * steps_per_epoch``).
      initial: the step the run starts (resumes) from.
      epochs: the run's number of epochs (for the epoch lines).
      desc: a label (the run folder's name).
      enabled: report at all (the loop passes ``cfg.progress`` and "lead process").
      log_every_steps: refresh the bar's loss (terminal) or log a step line (log file) every
        this many steps; 0 disables both.
      terminal: draw a tqdm bar; default ``sys.stdout.isatty()`` (or a Jupyter kernel). Else the
        lines go to the ``"jaxrec"`` logger (given a stdout handler if none is configured).
    """

    def __init__(
        self,
        *,
        total: int,
        initial: int,
        epochs: int,
        desc: str,
        enabled: bool = True,
        log_every_steps: int = 50,
        terminal: bool | None = None,
    ):
        self.total, self.epochs, self.desc = total, epochs, desc
        self.enabled = enabled
        self.log_every_steps = max(int(log_every_steps), 0)
        self.step_count = initial
        self._bar = None
        if not enabled:
            return
        if terminal if terminal is not None else _interactive():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True)
        else:
            ensure_log_handler()

    def _due(self) -> bool:
        return self.log_every_steps > 0 and self.step_count % self.log_every_steps == 0

    def step(self, metrics: Mapping[str, Any]) -> None:
        """One training step done; ``metrics`` (device scalars) are read only when shown."""
        self.step_count += 1
        if self._bar is not None:
            self._bar.update(1)
        if not self.enabled or not self._due() or "loss" not in metrics:
            return
        loss = float(metrics["loss"])
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4f}")
        else:
            logger.info("%s step %d/%d loss=%.4f", self.desc, self.step_count, self.total, loss)

    def epoch_end(
        self,
        epoch: int,
        train: Mapping[str, float],
        valid: Mapping[str, float] | None = None,
        *,
        seconds: float | None = None,
    ) -> None:
        """Epoch ``epoch`` (1-based) done with train means ``train`` and, if it validated,
        metrics ``valid``: the bar shows them, or one log line reports them."""
        if not self.enabled:
            return
        shown = {**train, **{f"valid/{k}": v for k, v in (valid or {}).items()}}
        if self._bar is not None:
            self._bar.update(self.step_count - self._bar.n)
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in shown.items() if k != "epoch"})
            return
        timing = "" if seconds is None else f" ({seconds:.1f}s)"
        logger.info(
            "%s epoch %d/%d step %d/%d %s%s",
            self.desc,
            epoch,
            self.epochs,
            self.step_count,
            self.total,
            _format(shown),
            timing,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self.step_count - self._bar.n)
            self._bar.close()
            self._bar = None
