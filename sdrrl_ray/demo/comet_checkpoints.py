"""The demo's tiny COMET checkpoints (``demo:comet-da``, ``demo:cometkiwi``), built once per COMET
environment and cached.

The checkpoint must be written by unbabel-comet itself, which lives in a separate environment, so
:func:`comet_model_path` runs :mod:`sdrrl_ray.demo.comet_build` with that environment's python. The
folder is named by a hash of the builder, the kind and the tokenizer texts (the demo corpus and the MT
corpus), under the cache root (``$SDRRL_CACHE``), and holds what a released COMET model holds:
``hparams.yaml``, ``checkpoints/model.ckpt`` and the encoder folder ``hparams.yaml`` points at.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from typing import Optional

from sdrrl_ray.demo import assets
from sdrrl_ray.storage import cache_root, cached_folder, has_file

BUILDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "comet_build.py")
KINDS = {"demo:comet-da": "da", "demo:cometkiwi": "kiwi"}
COMPLETE = "hparams.yaml"  # written last by the builder


def texts() -> list[str]:
    """The files the encoder's tokenizer is trained on: the demo corpus and the MT corpus of each target."""
    return [assets.corpus_path(), *(assets.mt_path(lang) for lang in ("ja", "th"))]


def build_key(kind: str) -> str:
    h = hashlib.sha256(kind.encode() + b"\0")
    for path in [BUILDER, *texts()]:
        with open(path, "rb") as f:
            h.update(f.read() + b"\0")
    return h.hexdigest()[:16]


def comet_model_path(spec: str, python: str, cache_dir: Optional[str] = None, timeout_s: float = 600.0) -> str:
    """The checkpoint folder of ``spec`` (a key of :data:`KINDS`), built with ``python`` on first use."""
    kind = KINDS[spec]
    final = os.path.join(cache_root(cache_dir), f"comet-{kind}-{build_key(kind)}")

    def build(tmp: str) -> None:
        proc = subprocess.run([python, BUILDER, "--kind", kind, "--out", tmp, "--final", final, "--texts", *texts()],
                              capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"building the tiny COMET checkpoint {spec} with {python} failed:\n{tail}")

    return cached_folder(final, build, complete=has_file(COMPLETE))[0]
