"""The command line's progress line: shown on a terminal for a scan that runs past half a second.

A long scan would otherwise show nothing for seconds. The line goes to stderr only, is
rewritten in place at most ten times a second, and is cleared when the scan ends, so what the
scan prints after it (problem lines) starts on a clean line. Written by hand rather than with a
progress-bar library: the core library has no runtime dependencies, and one line of text needs
none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from .scan import ScanProgress

__all__ = ["ProgressLine"]

_CLEAR = "\r\x1b[K"  # back to the start of the line, erase to its end


class ProgressLine:
    """A :data:`~modelscan.scan.ProgressCallback` that draws one line on *stream*."""

    def __init__(
        self,
        stream: TextIO,
        *,
        delay: float = 0.5,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.delay = delay
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.last = float("-inf")
        self.shown = False

    def __call__(self, p: ScanProgress) -> None:
        now = self.clock()
        if now - self.start < self.delay or now - self.last < self.interval:
            return
        self.last = now
        models = f"{p.models} model{'' if p.models == 1 else 's'}"
        problems = f"{p.problems} problem{'' if p.problems == 1 else 's'}"
        if p.walking:
            text = f"modelscan: walking: {p.candidates} folders with models so far, {models}, {problems}"
        else:
            text = f"modelscan: reading: {p.to_read - p.read} folders left, {models} found, {problems}"
        self.stream.write(_CLEAR + text)
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Clear the line, if it was ever drawn."""
        if self.shown:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self.shown = False
