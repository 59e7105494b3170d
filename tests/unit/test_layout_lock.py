"""One run per OUT (sdrrl_ray.layout.lock) and the writability probe; the object-store lock is
tested against the S3-compatible server in tests/integration/test_s3.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from sdrrl_ray.errors import UserError
from sdrrl_ray.layout.lock import OutLock, check_writable
from sdrrl_ray.layout.paths import LOCK


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_run_is_refused_naming_the_first(tmp_path):
    with OutLock(str(tmp_path)):
        with pytest.raises(UserError) as err:
            OutLock(str(tmp_path)).acquire()
        msg = str(err.value)
        assert "in use by another run" in msg and socket.gethostname() in msg and "pid" in msg
        assert "\n" not in msg
    assert not (tmp_path / LOCK).exists()  # released
    with OutLock(str(tmp_path)):  # and free again
        pass


def test_a_lock_of_a_dead_pid_on_this_host_is_taken_over(tmp_path, caplog):
    (tmp_path / LOCK).write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "run_id": "old",
                                             "started": time.time(), "refreshed": time.time()}))
    with OutLock(str(tmp_path)) as lock:
        assert json.loads((tmp_path / LOCK).read_text())["run_id"] == lock.run_id
    assert "taking over the lock" in caplog.text and "is gone" in caplog.text


def test_a_lock_not_refreshed_for_too_long_is_taken_over(tmp_path, caplog):
    (tmp_path / LOCK).write_text(json.dumps({"pid": 1, "host": "another-machine", "run_id": "old",
                                             "started": 0, "refreshed": time.time() - 3600}))
    with OutLock(str(tmp_path), stale_after_s=600):
        pass
    assert "last refreshed" in caplog.text


def test_a_live_lock_elsewhere_is_respected(tmp_path):
    (tmp_path / LOCK).write_text(json.dumps({"pid": 1, "host": "another-machine", "run_id": "old",
                                             "started": 0, "refreshed": time.time()}))
    with pytest.raises(UserError, match="another-machine"):
        OutLock(str(tmp_path)).acquire()


def test_the_lock_is_refreshed_while_the_run_lives(tmp_path):
    with OutLock(str(tmp_path), refresh_s=0.05):
        first = json.loads((tmp_path / LOCK).read_text())["refreshed"]
        time.sleep(0.3)
        assert json.loads((tmp_path / LOCK).read_text())["refreshed"] > first


def test_out_dir_that_is_a_file_is_one_clear_error(tmp_path):
    target = tmp_path / "out"
    target.write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_writable(str(target))
    with pytest.raises(UserError, match="not writable"):
        check_writable(str(target / "sub"))  # a folder under a file


def test_a_writable_out_dir_is_created_and_left_clean(tmp_path):
    check_writable(str(tmp_path / "new" / "out"))
    assert list((tmp_path / "new" / "out").iterdir()) == []
