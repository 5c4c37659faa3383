"""A progress bar for the CLI's long jobs: tqdm when it is installed (an extra), else one line per
finished task."""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, total, enabled, *, desc, unit, stream=None):
        self.bar = None
        self.enabled = enabled
        self.done, self.total = 0, total
        self.stream = stream  # None: standard output
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, unit=unit, leave=False)
            except ImportError:
                self.bar = None

    def step(self, label):
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label)
            self.bar.update(1)
        elif self.enabled:
            print(f"  [{self.done}/{self.total}] {label}", file=self.stream or sys.stdout,
                  flush=True)  # fmt: skip

    def close(self):
        if self.bar is not None:
            self.bar.close()
