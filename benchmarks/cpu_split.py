"""CPU seconds used by a process tree (a benchmark's child and, for a local Ray instance, its GCS, raylet and
workers), sampled every ``interval`` s while the child runs: the busiest process's (the engine's) and the rest's
(used by ``bench_vllm_compare.py``)."""

from __future__ import annotations

import subprocess
import threading

import psutil


def run_sampled(cmd: list[str], interval: float = 0.5, **popen) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``cmd`` to the end (as ``subprocess.run(..., capture_output=True, text=True)``) while sampling the CPU
    of it and its descendants. Returns the completed process and ``{"cpu_s_engine", "cpu_s_rest"}``: CPU seconds
    of the busiest process in the tree and of all the others together. A process's last sample can be up to
    ``interval`` old when it ends, so the figures are lower bounds, alike at every prompt count."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    seen: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while True:
            try:
                root = psutil.Process(proc.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            for p in tree:
                try:
                    t = p.cpu_times()
                    seen[p.pid] = t.user + t.system
                except psutil.Error:
                    pass
            if stop.wait(interval):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    stop.set()
    thread.join()
    top = max(seen.values(), default=0.0)
    split = {"cpu_s_engine": round(top, 2), "cpu_s_rest": round(sum(seen.values()) - top, 2)}
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), split
