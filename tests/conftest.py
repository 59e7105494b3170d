"""Shared fixtures: one local Ray instance per test session, the project's demo model, temp inputs.

Every test that starts Ray runs under a hard timeout (pytest-timeout; default in pyproject).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
ALPACA = os.path.join(SHARED_DATA, "alpaca", "alpaca_en_demo.json")

for key, value in {
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DS_ACCELERATOR": "cpu",
    "TOKENIZERS_PARALLELISM": "false",
    "SDRRL_CACHE": os.path.join(ROOT, ".cache", "sdrrl"),
}.items():
    os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def demo_model() -> str:
    from sdrrl_ray.demo.build import demo_model_path

    return demo_model_path()


def write_jsonl(path, rows) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
            fh.write("\n")
    return str(path)


def sdrrl_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sdrrl_ray.cli", *args]


def kill_after_first_commit(args: list[str], out, timeout_s: float) -> bool:
    """Start ``sdrrl`` with ``args`` in its own process group and SIGKILL the whole group (driver and
    its local Ray) as soon as the sink has committed one part to ``out``. Returns whether the run
    was still going when it was killed (False: it finished first)."""
    proc = subprocess.Popen(sdrrl_cmd(*args), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    commits = os.path.join(out, ".commits")
    deadline = time.time() + timeout_s
    while time.time() < deadline and proc.poll() is None:
        if os.path.isdir(commits) and os.listdir(commits):
            break
        time.sleep(0.05)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return alive
