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
import uuid
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from sdrrl_ray import storage

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


class GenerationCache:
    """Read all saved answers of one key; append new ones as Parquet parts."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.root = storage.url_to_fs(self.url)
        self.entries: dict[str, dict] = {}
        if self.fs.exists(self.root):
            for part in sorted(self.fs.glob(f"{self.root}/part-*.parquet")):
                with self.fs.open(part, "rb") as fh:
                    for row in pq.read_table(fh, schema=CACHE_SCHEMA).to_pylist():
                        self.entries[row["item_id"]] = row

    def get(self, item_id: str, question: str) -> Optional[dict]:
        row = self.entries.get(item_id)
        if row is not None and row["question_sha"] == question_sha(question):
            return row
        return None

    def put(self, rows: list[dict]) -> None:
        if not rows:
            return
        self.fs.makedirs(self.root, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}.parquet"
        tmp, final = f"{self.root}/.{name}.tmp", f"{self.root}/{name}"
        with self.fs.open(tmp, "wb") as fh:
            pq.write_table(pa.Table.from_pylist(rows, schema=CACHE_SCHEMA), fh)
        self.fs.mv(tmp, final)
        for row in rows:
            self.entries[row["item_id"]] = row


def write_key_file(url: str, description: dict) -> None:
    fs, root = storage.url_to_fs(url)
    fs.makedirs(root, exist_ok=True)
    with fs.open(f"{root}/key.json", "w") as fh:
        json.dump(description, fh, indent=2, sort_keys=True)
