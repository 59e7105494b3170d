"""Isolation for tests that start their own Ray: one PID + mount (+ network) namespace per Ray
instance (``unshare``), so ``ray stop`` and AutoscalingCluster touch only the test's processes and
a timeout takes the whole namespace down."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_DEDUP_LOGS": "0",
    "SDRRL_CACHE": os.environ.get("SDRRL_CACHE") or os.path.join(ROOT, ".cache", "sdrrl"),
}



def can_isolate() -> bool:
    """Whether ``unshare`` can create PID + mount + network namespaces here (root, or user namespaces)."""
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        return False
    try:
        return subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "--mount", "--net", "true"], capture_output=True, timeout=20
        ).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def isolation() -> None:
    """Fails (never skips) where namespaces cannot be made: these tests must not run without them."""
    if not can_isolate():
        pytest.fail("needs `unshare` (PID/mount/net namespaces, as root): without it `ray stop` and "
                    "AutoscalingCluster would stop every Ray instance on this machine; run the tests as root")


def isolated(cmd: list[str], ray_tmp: str, *, net: bool) -> list[str]:
    """``cmd`` run in new PID + mount (+ net) namespaces, with ``ray_tmp`` mounted as its ``/tmp/ray``.

    bash stays PID 1 of the namespace (it reaps orphaned Ray processes); ``--kill-child`` takes the
    whole namespace down when the ``unshare`` process dies.
    """
    os.makedirs(ray_tmp, exist_ok=True)
    os.makedirs("/tmp/ray", exist_ok=True)
    setup = f"mount --bind {ray_tmp} /tmp/ray" + (" && ip link set lo up" if net else "")
    flags = ["--pid", "--fork", "--kill-child", "--mount-proc", "--mount"] + (["--net"] if net else [])
    return ["unshare", *flags, "--", "bash", "-c", f'{setup} && "$@"; rc=$?; exit $rc', "bash", *cmd]


def die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the test process dies (then --kill-child ends the namespace)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine_ip() -> str:
    """This machine's non-loopback address (to check that nothing listens on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return socket.gethostbyname(socket.gethostname())
