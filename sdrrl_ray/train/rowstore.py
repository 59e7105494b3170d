"""A training worker's rows on its local disk, read back one at a time: memory that does not grow with the data.

The worker streams the tokenized set's Parquet files once (:func:`parquet_batches`: record batches of a
few thousand rows, straight from ``OUT/train_cache``, local or object storage) and appends the rows of its
run to two files of int32 tokens (``input_ids``, ``labels``) in a temporary folder; in memory it keeps
24 bytes a row (key, offset, length), sorted by key. A row is read with ``os.pread`` when a micro-batch
needs it, in any order the plan asks for: the page cache, not the process, holds what was read. Disk:
8 bytes per token of the run's rows, per worker; the folder goes when the store is closed or the process
ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from typing import Iterable, Optional

import numpy as np

from sdrrl_ray.train.plan import row_keys

TOKEN = np.dtype(np.int32)
SLICE_ROWS = 4096


class RowStore:
    def __init__(self, folder: str, keys: np.ndarray, offsets: np.ndarray, lengths: np.ndarray,
                 ids: Optional[dict] = None):
        self.folder, self.keys, self.offsets, self.lengths, self._ids = folder, keys, offsets, lengths, ids
        self._fds = [os.open(os.path.join(folder, name), os.O_RDONLY) for name in ("input_ids", "labels")]
        self._finalizer = weakref.finalize(self, _remove, self._fds, folder)

    @classmethod
    def build(cls, batches: Iterable, wanted: np.ndarray, *, folder: Optional[str] = None,
              keep_ids: bool = False) -> "RowStore":
        """Keep the rows whose key is in ``wanted`` from ``batches`` (Arrow tables with ``id``, ``input_ids``,
        ``labels``). ``keep_ids``: also remember each row's id (tests log them). Every wanted key must be seen."""
        if folder:
            shutil.rmtree(folder, ignore_errors=True)  # a killed attempt's files
            os.makedirs(folder)  # the store's own folder: removed with it
        else:
            folder = tempfile.mkdtemp(prefix="sdrrl-rows-")
        try:
            return cls._build(batches, wanted, folder, keep_ids)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    @classmethod
    def _build(cls, batches: Iterable, wanted: np.ndarray, folder: str, keep_ids: bool) -> "RowStore":
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = np.unique(np.asarray(wanted, dtype=np.uint64))
        keys, offsets, lengths, ids = [], [], [], {} if keep_ids else None
        written = 0
        with open(os.path.join(folder, "input_ids"), "wb") as f_ids, \
                open(os.path.join(folder, "labels"), "wb") as f_lab:
            for tbl in (piece for whole in batches for piece in _slices(whole)):
                k = row_keys(tbl.column("id"))
                hit = _member(k, wanted)
                if not hit.any():
                    continue
                tbl = tbl.filter(pa.array(hit))
                k = k[hit]
                inp = _flat(tbl.column("input_ids"))
                lab = _flat(tbl.column("labels"))
                n = pc.list_value_length(tbl.column("input_ids")).to_numpy(zero_copy_only=False).astype(np.int64)
                if len(inp) != len(lab):
                    raise RuntimeError("[Internal] input_ids and labels differ in length in the tokenized set")
                f_ids.write(inp.astype(TOKEN, copy=False).tobytes())
                f_lab.write(lab.astype(TOKEN, copy=False).tobytes())
                keys.append(k)
                lengths.append(n)
                offsets.append(written + np.r_[0, np.cumsum(n)[:-1]])
                written += int(n.sum())
                if ids is not None:
                    ids.update(zip(k.tolist(), tbl.column("id").to_pylist()))
        keys_a = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        order = np.argsort(keys_a, kind="stable")
        keys_a = keys_a[order]
        if len(np.unique(keys_a)) != len(keys_a):
            raise RuntimeError("[Internal] a row id occurs twice in the tokenized set")
        missing = len(wanted) - len(keys_a)
        if missing:
            raise RuntimeError(f"[Internal] {missing} planned rows are not in the tokenized set")
        offsets_a = np.concatenate(offsets)[order] if offsets else np.zeros(0, np.int64)
        lengths_a = np.concatenate(lengths)[order] if lengths else np.zeros(0, np.int64)
        return cls(folder, keys_a, offsets_a, lengths_a, ids)

    def __len__(self) -> int:
        return len(self.keys)

    def get(self, key) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, labels) of the row, int64."""
        i = int(np.searchsorted(self.keys, np.uint64(key)))
        if i >= len(self.keys) or self.keys[i] != np.uint64(key):
            raise KeyError(f"row key {key} is not in this worker's rows")
        start, n = int(self.offsets[i]) * TOKEN.itemsize, int(self.lengths[i]) * TOKEN.itemsize
        return tuple(np.frombuffer(os.pread(fd, n, start), dtype=TOKEN).astype(np.int64) for fd in self._fds)

    def row_id(self, key) -> str:
        if self._ids is None:
            raise RuntimeError("[Internal] this RowStore was built without keep_ids")
        return self._ids[int(key)]

    def close(self) -> None:
        self._finalizer()


def store_folder(run: str, rows_url: str, rank: int) -> str:
    """The store's folder for one rank of one training run on one tokenized set (one ``OUT``: the OUT lock
    keeps a second run off it): the same on every attempt of that run."""
    import hashlib

    where = hashlib.sha256(rows_url.encode()).hexdigest()[:10]
    return os.path.join(tempfile.gettempdir(), "sdrrl-rows", f"{run}-{where}-rank{int(rank)}")


def parquet_batches(url: str, columns=("id", "input_ids", "labels"), rows: int = SLICE_ROWS):
    """The rows of every ``*.parquet`` file under ``url`` (sorted by name), ``rows`` at a time, as Arrow tables."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sdrrl_ray import storage

    fs, root = storage.url_to_fs(url)
    for path in sorted(p for p in fs.find(root) if p.endswith(".parquet")):
        with fs.open(path, "rb") as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=rows, columns=list(columns)):
                yield pa.Table.from_batches([batch])


def _slices(tbl, rows: int = None):
    """Zero-copy slices of at most ``rows`` rows: whatever size a batch comes in, the copies made while
    storing it stay small."""
    rows = rows or SLICE_ROWS
    for start in range(0, tbl.num_rows, rows):
        yield tbl.slice(start, rows)


def _member(keys: np.ndarray, sorted_wanted: np.ndarray) -> np.ndarray:
    if not len(sorted_wanted):
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_wanted, keys), len(sorted_wanted) - 1)
    return sorted_wanted[pos] == keys


def _flat(column) -> np.ndarray:
    """The values of a list column, in row order (slices and chunks respected)."""
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    return arr.flatten().to_numpy(zero_copy_only=False)


def _remove(fds: list, folder: str) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    shutil.rmtree(folder, ignore_errors=True)
