"""The commit protocol of Parquet parts under ``OUT``, and the one reader of committed parts.

A writer puts ``OUT/<sub>/part-<id>.parquet`` for each folder it writes (kept rows, rejects), then
the marker ``OUT/.commits/<id>`` last: the marker commits every part of that id together. A run
killed mid-write leaves parts without a marker; :func:`remove_uncommitted` deletes them before the
next run. Readers (resume, manifest counts, training, evaluation's contamination check, the planner)
see committed parts only; a folder of parts with no ``.commits`` beside it (parts written by
another tool, a generation cache) is read whole.
"""

from __future__ import annotations

import uuid
from typing import Iterator, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from sdrrl_ray import storage
from sdrrl_ray.layout.paths import COMMITS, REJECTS, TRANSFER_SET


def _part_id(path: str) -> str:
    return path.rsplit("/", 1)[-1][len("part-"):-len(".parquet")]


def _all_parts(fs, root: str, sub: str) -> list[str]:
    folder = f"{root}/{sub}" if sub else root
    return sorted(fs.glob(f"{folder}/part-*.parquet")) if fs.exists(folder) else []


def _committed_ids(fs, root: str) -> Optional[set]:
    commits = f"{root}/{COMMITS}"
    if not fs.exists(commits):
        return None
    return {p.rsplit("/", 1)[-1] for p in fs.glob(f"{commits}/*")}


def committed_files(out: str, sub: str = TRANSFER_SET) -> list[str]:
    """URLs of the committed parts of ``OUT/<sub>`` (every part when ``OUT`` has no commit markers)."""
    fs, root = storage.url_to_fs(out)
    parts = _all_parts(fs, root, sub)
    ids = _committed_ids(fs, root)
    if ids is not None:
        parts = [p for p in parts if _part_id(p) in ids]
    return [storage.full_url(fs, p) for p in parts]


def read_parts(out: str, sub: str = TRANSFER_SET, columns: Optional[list[str]] = None) -> Optional[pa.Table]:
    """All committed parts of ``OUT/<sub>`` as one table (None when there are none)."""
    tables = []
    for url in committed_files(out, sub):
        fs, path = storage.url_to_fs(url)
        with fs.open(path, "rb") as fh:
            tables.append(pq.read_table(fh, columns=columns))
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def iter_batches(out: str, sub: str = TRANSFER_SET, columns: Optional[list[str]] = None,
                 batch_size: int = 2048) -> Iterator[pa.RecordBatch]:
    """Committed rows of ``OUT/<sub>`` in record batches, one part at a time (for large outputs);
    columns a part lacks are left out of its batches."""
    for url in committed_files(out, sub):
        fs, path = storage.url_to_fs(url)
        with fs.open(path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            cols = [c for c in columns if c in pf.schema_arrow.names] if columns else None
            yield from pf.iter_batches(columns=cols, batch_size=batch_size)


def write_committed(out: str, tables: dict[str, pa.Table]) -> str:
    """Write ``{sub: table}`` as parts of one new id, then its commit marker; returns the id."""
    fs, root = storage.url_to_fs(out)
    part = uuid.uuid4().hex
    counts = []
    for sub, table in tables.items():
        counts.append(str(table.num_rows))
        if table.num_rows:
            fs.makedirs(f"{root}/{sub}", exist_ok=True)
            with fs.open(f"{root}/{sub}/part-{part}.parquet", "wb") as fh:
                pq.write_table(table, fh)
    fs.makedirs(f"{root}/{COMMITS}", exist_ok=True)
    with fs.open(f"{root}/{COMMITS}/{part}", "w") as fh:
        fh.write(" ".join(counts) + "\n")
    return part


def remove_uncommitted(out: str, subs: tuple[str, ...] = (TRANSFER_SET, REJECTS)) -> int:
    """Delete parts that a killed run left without a commit marker; return how many were removed."""
    fs, root = storage.url_to_fs(out)
    fs.makedirs(root, exist_ok=True)
    committed = _committed_ids(fs, root) or set()
    removed = 0
    for sub in subs:
        for path in _all_parts(fs, root, sub):
            if _part_id(path) not in committed:
                fs.rm(path)
                removed += 1
    return removed


def completed_pairs(out: str) -> tuple[set, dict, frozenset]:
    """What earlier runs into ``OUT`` committed, for resume: (done (item_id, target) pairs, item ->
    done targets, items complete as a whole: rejected before the target fan-out)."""
    done: set = set()
    for sub in (TRANSFER_SET, REJECTS):
        table = read_parts(out, sub, ["item_id", "tgt_lang"])
        if table is not None:
            done.update(zip(table.column("item_id").to_pylist(), table.column("tgt_lang").to_pylist()))
    by_item: dict = {}
    whole: set = set()
    for item, tgt in done:
        if tgt is None:
            whole.add(item)
        else:
            by_item.setdefault(item, set()).add(tgt)
    return done, by_item, frozenset(whole)
