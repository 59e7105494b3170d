"""Saved source-language answers, keyed by item, model and decoding settings.

Generation is the expensive step, so its answers are written as they are produced (one Parquet
part per batch, atomically renamed) under ``OUT/generations/<key>/``, where ``key`` hashes the
model identity, the engine, the decoding settings, the seed and the prompt builder. Any later run
with the same key (another target language, a resumed run) reads them back instead of generating.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from typing import Optional

import pyarrow as pa

from sdrrl_ray.part_cache import PartCache

PROMPT_FORMAT_VERSION = 1  # bump when sdrrl_ray.prompts changes what the model sees

CACHE_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("question_sha", pa.string()),  # the answer is reused only for the same question text
        ("generated_answer", pa.string()),
        ("gen_prompt_tokens", pa.int64()),
        ("gen_output_tokens", pa.int64()),
        ("gen_finish_reason", pa.string()),
    ]
)


def model_fingerprint(model_path: str) -> dict:
    """What identifies a model folder: its config and the names and sizes of its weight files."""
    info: dict = {"path": model_path}
    if os.path.isdir(model_path):
        config = os.path.join(model_path, "config.json")
        if os.path.exists(config):
            with open(config, "rb") as fh:
                info["config_sha256"] = hashlib.sha256(fh.read()).hexdigest()
        weights = sorted(glob.glob(os.path.join(model_path, "*.safetensors"))
                         + glob.glob(os.path.join(model_path, "*.bin")))
        info["weights"] = [[os.path.basename(w), os.path.getsize(w)] for w in weights]
    return info


def cache_key(*, model: dict, engine: str, sampling: dict, seed: int, system_prompt: Optional[str]) -> str:
    payload = json.dumps(
        {
            "model": model,
            "engine": engine,
            "sampling": sampling,
            "seed": seed,
            "system_prompt": system_prompt,
            "prompt_format": PROMPT_FORMAT_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def question_sha(question: str) -> str:
    return hashlib.blake2b(question.encode("utf-8"), digest_size=8).hexdigest()


class GenerationCache(PartCache):
    """Read all saved answers of one key; append new ones as Parquet parts."""

    def __init__(self, url: str):
        super().__init__(url, CACHE_SCHEMA, "item_id")

    def get(self, item_id: str, question: str) -> Optional[dict]:
        row = self.lookup(item_id)
        if row is not None and row["question_sha"] == question_sha(question):
            return row
        return None
