"""Saved rows keyed by one column, as Parquet parts under a folder or URL (the low layer of the
generation and translation caches).

Each :meth:`PartCache.put` writes one part (``part-<uuid>.parquet``, written to a temporary name and
renamed), so concurrent actors append without coordination and a killed writer leaves no partial
part. A reader loads every part once, when it is built; later keys win.
"""

from __future__ import annotations

import json
import uuid
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from sdrrl_ray import storage


class PartCache:
    """``PartCache(url, schema, key)``: ``get(key_value)`` -> row dict or None; ``put(rows)``."""

    def __init__(self, url: str, schema: pa.Schema, key: str):
        self.url, self.schema, self.key = url.rstrip("/"), schema, key
        self.fs, self.root = storage.url_to_fs(self.url)
        self.entries: dict[str, dict] = {}
        if self.fs.exists(self.root):
            for part in sorted(self.fs.glob(f"{self.root}/part-*.parquet")):
                with self.fs.open(part, "rb") as fh:
                    for row in pq.read_table(fh, schema=schema).to_pylist():
                        self.entries[row[key]] = row

    def lookup(self, key_value: str) -> Optional[dict]:
        return self.entries.get(key_value)

    def put(self, rows: list[dict]) -> None:
        if not rows:
            return
        self.fs.makedirs(self.root, exist_ok=True)
        name = f"part-{uuid.uuid4().hex}.parquet"
        tmp, final = f"{self.root}/.{name}.tmp", f"{self.root}/{name}"
        with self.fs.open(tmp, "wb") as fh:
            pq.write_table(pa.Table.from_pylist(rows, schema=self.schema), fh)
        self.fs.mv(tmp, final)
        for row in rows:
            self.entries[row[self.key]] = row


def count_rows(url: str, nested: bool = False) -> int:
    """Rows saved under ``url`` (``nested``: in its key folders), 0 when nothing is there; from the Parquet footers."""
    fs, root = storage.url_to_fs(url.rstrip("/"))
    if not fs.exists(root):
        return 0
    total = 0
    for part in fs.glob(f"{root}/*/part-*.parquet" if nested else f"{root}/part-*.parquet"):
        with fs.open(part, "rb") as fh:
            total += pq.ParquetFile(fh).metadata.num_rows
    return total


def write_key_file(url: str, description: dict) -> None:
    """``url/key.json``: what the folder's key hashes, for a person looking at it."""
    fs, root = storage.url_to_fs(url)
    fs.makedirs(root, exist_ok=True)
    with fs.open(f"{root}/key.json", "w") as fh:
        json.dump(description, fh, indent=2, sort_keys=True)
