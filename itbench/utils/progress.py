"""Progress of a long step as one line: `step n of N, loss, elapsed, time left`. On a terminal the
line is rewritten in place (stderr); in a log (not a terminal) it is printed at every tenth of the
work when `lines` is set, else only the finished line is left to the caller."""

from __future__ import annotations

import math
import sys
import time


def clock(seconds: float) -> str:
    """12s, 3m 05s, 1h 02m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


class Steps:
    """A callable for training loops (`progress(step, total, loss)`) that reports `label`'s steps."""

    def __init__(self, label: str, lines: bool = False, stream=None, tty: bool | None = None):
        self.label, self.lines = label, lines
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.start, self.first = None, 0

    def text(self, step: int, total: int, loss: float) -> str:
        elapsed = time.perf_counter() - self.start
        done = step - self.first  # steps timed since the first report
        left = elapsed / done * (total - step) if done > 0 else math.nan
        loss_text = f", loss {loss:.3f}" if math.isfinite(loss) else ""
        tail = f", {clock(left)} left" if step < total and math.isfinite(left) else ""
        return f"{self.label}: step {step} of {total}{loss_text}, {clock(elapsed)}{tail}"

    def __call__(self, step: int, total: int, loss: float) -> None:
        if self.start is None:
            self.start, self.first = time.perf_counter(), step
        if self.tty:
            end = "\n" if step >= total else ""
            print(f"\r\033[K{self.text(step, total, loss)}", end=end, file=self.stream, flush=True)
        elif self.lines and (step == total or step % max(1, math.ceil(total / 10)) == 0):
            print(self.text(step, total, loss), file=self.stream, flush=True)


class Phase:
    """One line for a phase of n items: on a terminal rewritten in place as each item ends
    (`label: i of n, elapsed (detail)`); in a log nothing until `done`, which logs the summary line."""

    def __init__(self, label: str, total: int, log=print, stream=None, tty: bool | None = None):
        self.label, self.total, self.log = label, total, log
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.start, self.count = time.perf_counter(), 0

    def step(self, detail: str = "") -> None:
        self.count += 1
        if self.tty:
            elapsed = clock(time.perf_counter() - self.start)
            tail = f" ({detail})" if detail else ""
            print(f"\r\033[K{self.label}: {self.count} of {self.total}, {elapsed}{tail}", end="", file=self.stream,
                  flush=True)

    def done(self, summary: str = "") -> None:
        if self.tty:
            print("\r\033[K", end="", file=self.stream, flush=True)
        tail = f" ({summary})" if summary else ""
        self.log(f"{self.label}: {self.count} of {self.total} in {clock(time.perf_counter() - self.start)}{tail}")


def silence_third_party() -> None:
    """Third-party progress bars off (transformers' weight loading and shard writing, the hub's and
    datasets' bars): for the processes of a quiet command. Their warnings still show."""
    import os

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
