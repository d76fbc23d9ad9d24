"""Progress on long runs: on stderr, and only when stderr is a terminal (DESIGN §7)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

Progress = Callable[[str, int, int], None]


def silent(stage: str, done: int, total: int) -> None:
    """The progress callback of quiet runs, tests and pipes."""


@contextmanager
def progress_for(quiet: bool) -> Iterator[Progress]:
    if quiet or not sys.stderr.isatty():
        yield silent
        return
    state = {"last": 0.0, "stage": None}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - state["last"] < 0.1 and stage == state["stage"]:
            return
        state["last"], state["stage"] = now, stage
        width = 30
        filled = width * done // total if total else width
        sys.stderr.write(f"\r{stage:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    try:
        yield report
    finally:
        sys.stderr.flush()
