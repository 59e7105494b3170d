"""On a terminal, the driver draws the training progress as one line updated in place.

Rank 0 writes a ``step`` record per optimizer step to ``OUT/train_log.jsonl`` (flushed per record). When the
console is a terminal and that file is on the driver's own disk (a local OUT on a one-node Ray), the driver
follows it and redraws ``train ja 123/533 loss 2.10 3.1k tok/s ETA 0:45`` in place, leaving the last state
as one line per run; the workers then print no progress lines (Ray relays a worker's lines one by one, it cannot
redraw them). Otherwise (output to a file, a multi-node cluster, OUT on object storage) rank 0 prints about ten
lines per run as before (:mod:`sdrrl_ray.train.progress`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Optional

from sdrrl_ray.train.progress import progress_line


def can_follow(log_url: str) -> bool:
    """The console is a terminal (as for Ray Data's bars), the log is a local file and Ray has one node."""
    from sdrrl_ray.runtime import progress_bars

    if not progress_bars() or ("://" in log_url and not log_url.startswith("file://")):
        return False
    import ray

    return ray.is_initialized() and sum(1 for n in ray.nodes() if n.get("Alive")) == 1


class Follower:
    """Follows ``log_url``'s step records of run ``run`` from the file's current end; ``close`` ends the line."""

    def __init__(self, log_url: str, run: str, target: str, total_steps: int, stream=None, poll_s: float = 0.5):
        self.path = log_url[len("file://"):] if log_url.startswith("file://") else log_url
        self.run, self.target, self.total = run, target, int(total_steps)
        self.stream = stream or sys.stderr
        self.poll_s = poll_s
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        self.tokens, self.seconds, self.steps = 0, 0.0, 0
        self.line: Optional[str] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sdrrl-train-progress", daemon=True)

    def __enter__(self) -> "Follower":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.poll()
        if self.line is not None:
            self.stream.write("\n")
            self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def poll(self) -> None:
        """Read the records written since the last poll and redraw the line if a step was among them."""
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        end = chunk.rfind("\n") + 1  # a record still being written waits for the next poll
        self.offset += len(chunk[:end].encode("utf-8"))
        drawn = False
        for raw in chunk[:end].splitlines():
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if rec.get("run") != self.run or rec.get("event") != "step":
                continue
            self.tokens += int(rec.get("tokens") or 0)
            self.seconds += float(rec.get("seconds") or 0.0)
            self.steps += 1
            self.line = progress_line(self.target, int(rec["step"]), self.total, float(rec["loss"]),
                                      self.tokens / self.seconds if self.seconds else None,
                                      self.seconds / self.steps)
            drawn = True
        if drawn:
            self.stream.write("\r" + self.line + "\x1b[K")  # clear what a longer earlier line left
            self.stream.flush()
