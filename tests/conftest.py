"""Shared fixtures: one local Ray instance per test session, the project's demo model, temp inputs.

Every test that starts Ray runs under a hard timeout (pytest-timeout; default in pyproject).
"""

from __future__ import annotations

import json
import os
import sys

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
