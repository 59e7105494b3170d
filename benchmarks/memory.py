"""Peak memory of a local Ray instance while a plan runs: the driver and every descendant process
(GCS, raylet, workers) sampled from ``/proc/<pid>/smaps_rollup``, plus the bytes in use in Ray's
object store (used by ``bench_cpu_stages.py``)."""

from __future__ import annotations

import threading
import time

import psutil


def _smaps_rollup(pid: int) -> dict | None:
    """Rss / Pss split of one process (Linux >= 4.14), in bytes; None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            fields = dict(line.split()[:2] for line in fh if line.endswith("kB\n"))
    except OSError:
        return None
    return {k[:-1]: int(v) * 1024 for k, v in fields.items()
            if k in ("Rss:", "Pss:", "Pss_Anon:", "Pss_File:", "Pss_Shmem:")}


def _object_store_used():
    """A callable giving the bytes in use in this Ray instance's object store, or None if unavailable."""
    try:
        from ray._private.internal_api import get_memory_info_reply
        from ray._private.state import state

        get_memory_info_reply(state)
        return lambda: get_memory_info_reply(state, timeout_seconds=5).store_stats.object_store_bytes_used
    except Exception:
        return None


class PeakMemory:
    """Peaks, sampled every ``interval`` s, of memory used by this process and its descendants (the
    local Ray instance: GCS, raylet, workers).

    ``peak_mb``: sum over processes of Pss_Anon + Pss_File (private pages, and shared library pages
    divided among the processes that map them) plus the bytes in use in the object store, whose
    shared-memory pages are left out of the per-process sums so they are counted once.
    ``peak_rss_mb``: sum of RSS, which counts shared pages once per process mapping them."""

    def __init__(self, interval: float = 0.2):
        self.interval, self._stop = interval, threading.Event()
        self.peak = {"peak_mb": 0.0, "object_store_mb_at_peak": 0.0, "processes_at_peak": 0, "peak_rss_mb": 0.0,
                     "peak_pss_mb": 0.0, "peak_object_store_mb": 0.0}
        self._store = _object_store_used()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        rss = pss = private = 0
        procs = [me, *me.children(recursive=True)]
        for proc in procs:
            r = _smaps_rollup(proc.pid)
            if r is None:  # no smaps_rollup (not Linux, or the process just ended): RSS for both
                try:
                    r = {"Rss": proc.memory_info().rss}
                except psutil.Error:
                    continue
                r["Pss"] = r["Pss_Anon"] = r["Rss"]
            rss += r["Rss"]
            pss += r["Pss"]
            private += r.get("Pss_Anon", 0) + r.get("Pss_File", 0)
        store = 0
        if self._store is not None:
            try:
                store = self._store()
            except Exception:
                pass
        mb = 2**20
        p = self.peak
        if (private + store) / mb > p["peak_mb"]:
            p["peak_mb"], p["object_store_mb_at_peak"], p["processes_at_peak"] = (
                (private + store) / mb, store / mb, len(procs))
        p["peak_rss_mb"] = max(p["peak_rss_mb"], rss / mb)
        p["peak_pss_mb"] = max(p["peak_pss_mb"], pss / mb)
        p["peak_object_store_mb"] = max(p["peak_object_store_mb"], store / mb)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        self._sample()
