"""The commit protocol of Parquet parts under ``OUT``, and the one reader of committed parts.

A writer puts ``OUT/<sub>/part-<id>.parquet`` for each folder it writes (kept rows, rejects), then
the marker ``OUT/.commits/<id>`` last: a JSON record of every part of that id (rows, bytes,
sha256) that commits them together. A run killed mid-write leaves parts without a marker; a part
damaged later no longer matches its marker. :mod:`.resume` checks both before a run goes on.
Readers (resume, manifest counts, training, evaluation's contamination check, the planner) see
committed parts only; a folder of parts with no ``.commits`` beside it (parts written by another
tool, a generation cache) is read whole.

A marker may name the ids it ``replaces`` (a part rewritten without some rows): readers that list
marker names see both only in the moment between the new marker and the removal of the old one,
and :func:`sdrrl_ray.layout.resume.prepare_resume` finishes such a removal after a kill.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Iterator, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from sdrrl_ray import storage
from sdrrl_ray.layout.lock import lock_owner
from sdrrl_ray.layout.paths import COMMITS, REJECTS, TRANSFER_SET

SUBS = (TRANSFER_SET, REJECTS)


def part_id(path: str) -> str:
    return path.rsplit("/", 1)[-1][len("part-"):-len(".parquet")]


def part_path(root: str, sub: str, pid: str) -> str:
    return f"{root}/{sub}/part-{pid}.parquet"


def all_parts(fs, root: str, sub: str) -> list[str]:
    folder = f"{root}/{sub}" if sub else root
    return sorted(fs.glob(f"{folder}/part-*.parquet")) if fs.exists(folder) else []


def marker_ids(fs, root: str) -> Optional[set]:
    """Ids of the commit markers in ``root`` (None when ``root`` has no commit folder)."""
    commits = f"{root}/{COMMITS}"
    if not fs.exists(commits):
        return None
    return {p.rsplit("/", 1)[-1] for p in fs.glob(f"{commits}/*") if not p.endswith(".tmp")}


def read_marker(fs, root: str, pid: str) -> Optional[dict]:
    """The record in a commit marker, or None when it is unreadable (cut off by a full disk or a kill)."""
    try:
        with fs.open(f"{root}/{COMMITS}/{pid}", "rb") as fh:
            data = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("parts"), dict) else None


def committed_files(out: str, sub: str = TRANSFER_SET) -> list[str]:
    """URLs of the committed parts of ``OUT/<sub>`` (every part when ``OUT`` has no commit markers)."""
    fs, root = storage.url_to_fs(out)
    parts = all_parts(fs, root, sub)
    ids = marker_ids(fs, root)
    if ids is not None:
        parts = [p for p in parts if part_id(p) in ids]
    return [storage.full_url(fs, p) for p in parts]


def read_parts(out: str, sub: str = TRANSFER_SET, columns: Optional[list[str]] = None) -> Optional[pa.Table]:
    """All committed parts of ``OUT/<sub>`` as one table (None when there are none); columns a part
    lacks are left out of its rows."""
    tables = []
    for url in committed_files(out, sub):
        fs, path = storage.url_to_fs(url)
        with fs.open(path, "rb") as fh:
            pf = pq.ParquetFile(fh)
            cols = [c for c in columns if c in pf.schema_arrow.names] if columns else None
            tables.append(pf.read(columns=cols))
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


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


class Superseded(RuntimeError):
    """The run that started this write no longer holds ``OUT/.lock`` (it was killed and another run
    took over): a worker that outlived its driver must not commit."""


def write_committed(out: str, tables: dict[str, pa.Table], replaces: tuple[str, ...] = (),
                    owner: Optional[str] = None) -> str:
    """Write ``{sub: table}`` as parts of one new id, then its commit marker; returns the id.

    A write that fails (a full disk) removes what it wrote of this id and raises: nothing partial
    is ever committed. With ``owner`` (the run id of the lock the run took), the marker is written
    only while that run still holds ``OUT/.lock``."""
    fs, root = storage.url_to_fs(out)
    pid = uuid.uuid4().hex
    record: dict = {"parts": {}, "replaces": list(replaces)}
    written = []
    try:
        for sub, table in tables.items():
            entry = {"rows": table.num_rows}
            if table.num_rows:
                data = _parquet_bytes(table)
                fs.makedirs(f"{root}/{sub}", exist_ok=True)
                written.append(part_path(root, sub, pid))
                with fs.open(written[-1], "wb") as fh:
                    fh.write(data)
                entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
            record["parts"][sub] = entry
        if owner is not None and lock_owner(out) != owner:
            raise Superseded(f"{out} is held by another run now; this write of a stopped run is dropped")
        fs.makedirs(f"{root}/{COMMITS}", exist_ok=True)
        storage.write_text(storage.full_url(fs, f"{root}/{COMMITS}/{pid}"), json.dumps(record) + "\n")
    except BaseException as exc:
        for path in written:
            try:
                fs.rm(path)
            except OSError:
                pass
        if isinstance(exc, OSError) and exc.errno is not None and not exc.filename:
            raise OSError(exc.errno, exc.strerror, out) from exc  # name the folder that was full
        raise
    return pid


def remove_commit(fs, root: str, pid: str) -> None:
    """Uncommit id ``pid``: its marker first, then its parts."""
    marker = f"{root}/{COMMITS}/{pid}"
    if fs.exists(marker):
        fs.rm(marker)
    for sub in SUBS:
        path = part_path(root, sub, pid)
        if fs.exists(path):
            fs.rm(path)
