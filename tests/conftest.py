"""Shared fixtures and the test tiers.

- Real public data (Alpaca, Dolly, MUSE, Tatoeba, MKQA/BELEBELE samples) is read from one place,
  ``SDRRL_TEST_DATA`` (default ``../shared/data`` beside the repository). Tests whose point is that
  data carry the ``realdata`` marker; where the folder is missing they are deselected, and the run
  says so on its last lines. ``.ci/run`` checks that the folder exists, so CI always runs them.
- ``tests/unit`` starts no Ray and builds no demo model (``tests/unit/conftest.py`` enforces it);
  ``tests/integration`` uses real local Ray and the real tiny demo models; ``tests/gpu`` needs a GPU
  and is not collected by ``make test``.

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
TEST_DATA = os.path.abspath(os.environ.get("SDRRL_TEST_DATA") or os.path.join(os.path.dirname(ROOT), "shared", "data"))
DEMO_CONFIG = os.path.join(ROOT, "jobs", "configs", "demo.yaml")
DEMO_DATA = os.path.join(ROOT, "sdrrl_ray", "demo", "data")
DEMO_INSTRUCTIONS = os.path.join(DEMO_DATA, "instructions.jsonl")

for key, value in {
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DS_ACCELERATOR": "cpu",
    "TOKENIZERS_PARALLELISM": "false",
    "SDRRL_CACHE": os.path.join(ROOT, ".cache", "sdrrl"),
}.items():
    os.environ.setdefault(key, value)


def real_data_path(*parts: str) -> str:
    """A path inside the real-data folder (only tests marked ``realdata`` may call this)."""
    return os.path.join(TEST_DATA, *parts)


def pytest_collection_modifyitems(config, items):
    if os.path.isdir(TEST_DATA):
        return
    real = [item for item in items if item.get_closest_marker("realdata")]
    if real:
        config.hook.pytest_deselected(items=real)
        items[:] = [item for item in items if not item.get_closest_marker("realdata")]
    config._sdrrl_realdata_deselected = len(real)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = getattr(config, "_sdrrl_realdata_deselected", 0)
    if n:
        terminalreporter.write_line(
            f"{n} real-data tests not run: set SDRRL_TEST_DATA (no folder at {TEST_DATA})", yellow=True)


@pytest.fixture(scope="session")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    """A random-init Llama with the demo's tokenizer (trained in a second with ``tokenizers``): the
    demo LM's architecture, untrained. For tests that need a real tokenizer and model, not the demo
    model's outputs."""
    import torch

    from sdrrl_ray.demo.build import tokenizer_texts
    from sdrrl_ray.demo.hparams import Hyperparameters
    from sdrrl_ray.demo.tokenizer import train_tokenizer
    from sdrrl_ray.demo.train import make_model

    hp = Hyperparameters()
    folder = tmp_path_factory.mktemp("tiny_lm")
    torch.manual_seed(0)
    tokenizer = train_tokenizer(tokenizer_texts(), hp.vocab_size)
    make_model(tokenizer, hp).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def demo_model() -> str:
    from sdrrl_ray.assets import resolve_model

    return resolve_model("demo")


def write_jsonl(path, rows) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
            fh.write("\n")
    return str(path)


def saved_answer_parts(out) -> int:
    """Generated-answer parts (one per generated batch) saved under OUT/generations/<key>/."""
    root = os.path.join(out, "generations")
    keys = os.listdir(root) if os.path.isdir(root) else []
    return sum(len([f for f in os.listdir(os.path.join(root, k)) if f.startswith("part-")]) for k in keys)


def sdrrl_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sdrrl_ray", *args]


def kill_after_first_commit(args: list[str], out, timeout_s: float) -> bool:
    """Start ``sdrrl`` with ``args`` in its own process group and SIGKILL the whole group (driver and
    its local Ray) as soon as the sink has committed one part to ``out``. Returns whether the run
    was still going when it was killed (False: it finished first)."""
    proc = subprocess.Popen(sdrrl_cmd(*args), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from sdrrl_ray.layout.paths import COMMITS

    commits = os.path.join(out, COMMITS)
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
