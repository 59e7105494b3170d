"""Saved sentence translations, keyed by the translation model and its decoding settings.

Translation is the second expensive step of the transfer set. The translate stage looks up every
distinct sentence here before calling the backend and saves what it translated (one Parquet part per
batch) under ``OUT/translations/<key>/`` (or ``translate.cache_dir``), where ``key`` hashes the
backend, the model(s) and the settings that change an output. Any later run with the same key (a
resumed run, another arm of ``sdrrl compare``, another seed) reuses them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Optional

import pyarrow as pa

from sdrrl_ray.part_cache import PartCache

FORMAT_VERSION = 1  # bump when the translate stage changes what a cached sentence means

SCHEMA = pa.schema([("key", pa.string()), ("translation", pa.string())])


def cache_key(*, backend: str, models, settings: dict) -> str:
    payload = json.dumps({"backend": backend, "models": models, "settings": settings, "format": FORMAT_VERSION},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def sentence_key(src: str, tgt: str, sentence: str) -> str:
    return hashlib.blake2b(f"{src}\t{tgt}\t{sentence}".encode("utf-8"), digest_size=12).hexdigest()


class TranslationCache(PartCache):
    """``get(src, tgt, sentence)`` -> saved translation or None; ``add(src, tgt, pairs)`` saves new ones."""

    def __init__(self, url: str):
        super().__init__(url, SCHEMA, "key")

    def get(self, src: str, tgt: str, sentence: str) -> Optional[str]:
        row = self.lookup(sentence_key(src, tgt, sentence))
        return None if row is None else row["translation"]

    def add(self, src: str, tgt: str, pairs: Iterable[tuple[str, str]]) -> None:
        self.put([{"key": sentence_key(src, tgt, s), "translation": t} for s, t in pairs])
