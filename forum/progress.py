"""Progress and summaries of long commands (backups, restores, imports).

In a terminal a command shows a progress bar with counts and time left (rich); otherwise (cron,
logs, tests) it writes plain lines, one per step and one every few seconds while a step runs. Each
command ends with a summary table: what was done, what was skipped and why, what failed.
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported by the commands that draw (4 MB and 0.1 s the server does without)
    from rich.progress import Progress
    from rich.table import Table

PLAIN_EVERY_SECONDS = 5.0


@dataclass
class Report:
    """Counts of one command's outcome, per kind of thing (users, topics, posts, tables, files)."""

    title: str
    done: Counter[str] = field(default_factory=Counter)
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, reason)
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)
    done_label: str = "imported"

    def add(self, kind: str, count: int = 1) -> None:
        self.done[kind] += count

    def skip(self, kind: str, reason: str) -> None:
        self.skipped[(kind, reason)] += 1

    def fail(self, kind: str, reason: str) -> None:
        self.failed[(kind, reason)] += 1

    @property
    def ok(self) -> bool:
        return not self.failed

    def table(self) -> Table:
        from rich.table import Table

        table = Table(title=self.title)
        table.add_column("what")
        table.add_column("outcome")
        table.add_column("count", justify="right")
        for kind, count in sorted(self.done.items()):
            table.add_row(kind, self.done_label, str(count))
        for (kind, reason), count in sorted(self.skipped.items()):
            table.add_row(kind, f"skipped: {reason}", str(count))
        for (kind, reason), count in sorted(self.failed.items()):
            table.add_row(kind, f"failed: {reason}", str(count))
        if not (self.done or self.skipped or self.failed):
            table.add_row("-", "nothing to do", "0")
        return table

    def print(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console

        out = stream or sys.stdout
        console = Console(file=out, width=110, force_terminal=False, no_color=not out.isatty())
        console.print(self.table())


class Step:
    """One step of a command, advanced as its items are handled."""

    def __init__(self, name: str, total: int | None, bar: Progress | None, task_id, out: IO[str]):
        self.name, self.total, self._bar, self._task, self._out = name, total, bar, task_id, out
        self.count = 0
        self._started = self._last_line = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.count += count
        if self._bar is not None:
            self._bar.update(self._task, advance=count)
            return
        now = time.monotonic()
        if now - self._last_line >= PLAIN_EVERY_SECONDS:
            self._last_line = now
            self._line("…")

    def _line(self, suffix: str) -> None:
        total = f"/{self.total}" if self.total is not None else ""
        elapsed = time.monotonic() - self._started
        print(f"{self.name}: {self.count}{total} {suffix} ({elapsed:.1f} s)", file=self._out, flush=True)

    def finish(self) -> None:
        if self._bar is None:
            self._line("done")


class Tracker:
    """Steps shown as bars in a terminal, as plain lines elsewhere."""

    def __init__(self, out: IO[str] | None = None, *, terminal: bool | None = None):
        self.out = out or sys.stderr
        self.terminal = self.out.isatty() if terminal is None else terminal
        self._bar: Progress | None = None

    @contextmanager
    def running(self) -> Iterator[Tracker]:
        if not self.terminal:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(file=self.out)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=console) as bar:
            self._bar = bar
            try:
                yield self
            finally:
                self._bar = None

    @contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[Step]:
        task_id = self._bar.add_task(name, total=total) if self._bar is not None else None
        step = Step(name, total, self._bar, task_id, self.out)
        try:
            yield step
        finally:
            step.finish()


def progress(out: IO[str] | None = None, *, terminal: bool | None = None) -> Tracker:
    return Tracker(out, terminal=terminal)
