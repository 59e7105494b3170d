"""Write kept rows and rejects in one streaming pass, with per-item commit for resume.

``SplitParquetSink`` receives the plan's blocks, splits each write task's rows on ``status`` and
writes ``OUT/<kept>/part-<id>.parquet`` and ``OUT/rejects/part-<id>.parquet``; a marker
``OUT/.commits/<id>`` written last commits both. A run killed mid-write leaves parts without a
marker; :func:`prepare_output` deletes them before the next run, so an item is either wholly
written (kept rows and reject rows) or not at all, and :func:`completed_items` is what a rerun skips.
"""

from __future__ import annotations

import uuid
from typing import Iterable

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ray.data.datasource import Datasink

COMMITS = ".commits"
REJECTS = "rejects"


def _fs(url: str):
    return fsspec.core.url_to_fs(url.rstrip("/"))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if pa.types.is_floating(col.type) and not pa.types.is_floating(field.type):
                col = pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)  # NaN from numpy means null
            cols.append(col.cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(cols, schema=schema)


class SplitParquetSink(Datasink):
    def __init__(self, out_dir: str, kept_dir: str, kept_schema: pa.Schema, reject_schema: pa.Schema, min_rows: int = 256):
        self.out_dir = out_dir.rstrip("/")
        self.kept_dir = kept_dir
        self.kept_schema = kept_schema
        self.reject_schema = reject_schema
        self._min_rows = min_rows

    @property
    def min_rows_per_write(self) -> int:
        return self._min_rows

    def get_name(self) -> str:
        return "WriteTransferSet"

    def write(self, blocks: Iterable, ctx) -> dict:
        tables = [b if isinstance(b, pa.Table) else pa.Table.from_pandas(b) for b in blocks]
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return {"kept": 0, "rejected": 0}
        table = pa.concat_tables(tables, promote_options="permissive")
        is_ok = pc.equal(table.column("status"), "ok")
        kept = _conform(table.filter(is_ok), self.kept_schema)
        rejected = _conform(table.filter(pc.invert(is_ok)), self.reject_schema)
        fs, root = _fs(self.out_dir)
        part = uuid.uuid4().hex
        for sub, t in ((self.kept_dir, kept), (REJECTS, rejected)):
            if t.num_rows:
                fs.makedirs(f"{root}/{sub}", exist_ok=True)
                with fs.open(f"{root}/{sub}/part-{part}.parquet", "wb") as fh:
                    pq.write_table(t, fh)
        fs.makedirs(f"{root}/{COMMITS}", exist_ok=True)
        with fs.open(f"{root}/{COMMITS}/{part}", "w") as fh:
            fh.write(f"{kept.num_rows} {rejected.num_rows}\n")
        return {"kept": kept.num_rows, "rejected": rejected.num_rows}


def _parts(fs, root: str, sub: str) -> list[str]:
    return sorted(fs.glob(f"{root}/{sub}/part-*.parquet")) if fs.exists(f"{root}/{sub}") else []


def _part_id(path: str) -> str:
    return path.rsplit("/", 1)[-1][len("part-"):-len(".parquet")]


def prepare_output(out_dir: str, kept_dir: str) -> int:
    """Delete parts that a killed run left without a commit marker; return how many were removed."""
    fs, root = _fs(out_dir)
    fs.makedirs(root, exist_ok=True)
    committed = {p.rsplit("/", 1)[-1] for p in fs.glob(f"{root}/{COMMITS}/*")} if fs.exists(f"{root}/{COMMITS}") else set()
    removed = 0
    for sub in (kept_dir, REJECTS):
        for path in _parts(fs, root, sub):
            if _part_id(path) not in committed:
                fs.rm(path)
                removed += 1
    return removed


def read_output(out_dir: str, sub: str, columns: list[str] | None = None) -> pa.Table | None:
    """All committed parts of ``OUT/<sub>`` as one table (None when there are none)."""
    fs, root = _fs(out_dir)
    tables = []
    for path in _parts(fs, root, sub):
        with fs.open(path, "rb") as fh:
            tables.append(pq.read_table(fh, columns=columns))
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def completed_items(out_dir: str, kept_dir: str) -> frozenset:
    """item_ids already written (kept or rejected) by earlier runs into ``out_dir``."""
    done: set = set()
    for sub in (kept_dir, REJECTS):
        table = read_output(out_dir, sub, ["item_id"])
        if table is not None:
            done.update(table.column("item_id").to_pylist())
    return frozenset(done)
