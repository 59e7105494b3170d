"""One run at a time per ``OUT``: the lock ``OUT/.lock`` and the probe that ``OUT`` is writable.

The lock is a small JSON record (pid, host, run id, start and refresh times) created only where
none exists: ``O_EXCL`` on a local disk, a conditional write (``If-None-Match: *``) on object
stores. A thread refreshes it while the run lives. A second run into the same ``OUT`` is refused
with one line naming the first. A lock is stale, and is taken over with a warning, when its pid is
dead on this host or it was not refreshed for ``stale_after_s`` seconds (a run on another machine
that died).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Optional

from sdrrl_ray import storage
from sdrrl_ray.errors import UserError
from sdrrl_ray.layout.paths import LOCK, PROBE

log = logging.getLogger("sdrrl_ray")
REFRESH_S = 30.0
STALE_AFTER_S = float(os.environ.get("SDRRL_LOCK_STALE_AFTER_S", 600))

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR)


def check_writable(out: str) -> None:
    """Create ``OUT`` and write, read and remove a small file in it; a clear error when it cannot."""
    if not storage.is_remote_url(out) and os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"out_dir={out} is a file, not a folder; choose another out_dir")
    probe = storage.join(out, PROBE)
    try:
        fs, root = storage.url_to_fs(out)
        fs.makedirs(root, exist_ok=True)
        storage.write_bytes(probe, b"probe\n")
        storage.remove(probe)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise UserError(f"out_dir={out}: no space left on the device; free space, or choose another out_dir")
        if exc.errno in NOT_WRITABLE or isinstance(exc, (PermissionError, NotADirectoryError, FileExistsError)):
            raise UserError(f"out_dir={out} is not writable ({exc.strerror or exc}); "
                            "choose another out_dir or fix its permissions") from None
        raise UserError(f"out_dir={out} cannot be written ({exc}); choose another out_dir") from None


def lock_owner(out: str) -> Optional[str]:
    """The run id holding ``OUT/.lock`` (None when there is no readable lock)."""
    try:
        data = storage.read_json(storage.join(out, LOCK))
    except (OSError, ValueError):
        return None
    return data.get("run_id") if isinstance(data, dict) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutLock:
    """``with OutLock(out): ...`` holds ``OUT/.lock`` for the duration of a run."""

    def __init__(self, out: str, *, refresh_s: float = REFRESH_S, stale_after_s: float = STALE_AFTER_S):
        self.url = storage.join(out, LOCK)
        self.out = out
        self.refresh_s = refresh_s
        self.stale_after_s = stale_after_s
        self.run_id = uuid.uuid4().hex[:12]
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.started = time.time()

    def _record(self) -> bytes:
        return (json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run_id": self.run_id,
                            "started": self.started, "refreshed": time.time()}) + "\n").encode()

    def _holder(self) -> Optional[dict]:
        try:
            data = storage.read_json(self.url)
        except (OSError, ValueError):
            return {}  # unreadable: a lock cut off while written, treated as stale below
        return data if isinstance(data, dict) or data is None else {}

    def _stale(self, holder: dict) -> Optional[str]:
        if not holder:
            return "its lock file is unreadable"
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
                and not _pid_alive(holder["pid"]):
            return f"pid {holder['pid']} on this host is gone"
        age = time.time() - float(holder.get("refreshed") or 0)
        if age > self.stale_after_s:
            return f"its lock was last refreshed {age:.0f}s ago"
        return None

    def acquire(self) -> None:
        for _ in range(3):
            if storage.create_exclusive(self.url, self._record()):
                self._thread = threading.Thread(target=self._refresh, name="sdrrl-out-lock", daemon=True)
                self._thread.start()
                return
            holder = self._holder()
            if holder is None:
                continue  # released between our try and our read
            why = self._stale(holder)
            if why is None:
                raise UserError(
                    f"{self.out} is in use by another run (pid {holder.get('pid')} on {holder.get('host')}, "
                    f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder.get('started') or 0))}); "
                    "wait for it to finish or use another out_dir"
                )
            log.warning("taking over the lock of %s: the run that held it stopped (%s)", self.out, why)
            storage.remove(self.url)
        raise UserError(f"could not take the lock {self.url} (another run keeps taking it); try again")

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                storage.write_bytes(self.url, self._record())
            except OSError as exc:  # a full disk must not kill the run here; the run's own writes report it
                log.debug("could not refresh %s: %s", self.url, exc)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        holder = self._holder()
        if holder and holder.get("run_id") == self.run_id:
            storage.remove(self.url)

    def __enter__(self) -> "OutLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
