"""Instruction files: list and pre-check them (:func:`list_inputs`), and turn every record into one
validated row with a stable ``item_id`` (:func:`iter_rows`): ``status="ok"``, or ``"rejected"``
with a ``reason`` (rows in = rows out + rows rejected).

``data.path`` is a file, a folder (its ``.json``/``.jsonl(.gz)``/``.parquet`` files, in every
subfolder) or a glob, local or an fsspec URL. A path that exists is read as it is, even when its
name holds glob characters (``data[1].jsonl``); only a path that does not exist is a glob. Hidden
files and folders below the input root (a part of the path starting with ``.``:
``.ipynb_checkpoints/``, macOS ``._data.jsonl``) are left out and listed by :func:`skipped_inputs`.

Whole-file problems (a JSON or Parquet file that does not parse, a ``.gz`` file that is not gzip or
is cut off, a missing path) are found on the driver before a plan starts and raise
:class:`~sdrrl_ray.errors.UserError` naming the file. :func:`list_inputs` also counts each file's
records (:attr:`InputFile.records`, what :func:`iter_rows` yields for it before ``data.limit`` and
``skip_ids``); :func:`require_records` refuses an input with none (a caller that needs no instruction
records, a parallel-corpus-only run, skips it). How bytes become text (gzip, byte-order marks,
line endings) is :mod:`sdrrl_ray.ingest.decode`. The Ray Data read that streams the rows is
:mod:`sdrrl_ray.stages.read`.
"""
from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import posixpath
import zlib
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import pyarrow.parquet as pq

from sdrrl_ray import storage
from sdrrl_ray.config import DataConfig
from sdrrl_ray.errors import UserError
from sdrrl_ray.ingest import decode, records
from sdrrl_ray.ingest.records import RESERVED_ID_PREFIX

ID_FIELDS = ("id", "item_id", "example_id", "uid")
SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".jsonl.gz": "jsonl", ".json.gz": "json"}
LICENCE_HINTS = {"alpaca": "CC BY-NC 4.0 (Stanford Alpaca)", "dolly": "CC BY-SA 3.0 (databricks-dolly-15k)"}
GLOB_CHARS = "*?["


@dataclass(frozen=True)
class InputFile:
    path: str  # local path or URL
    kind: str  # jsonl | json | parquet
    sha256: str
    size: int
    name: str  # path relative to the input root (data.path's folder, or a glob's fixed leading folder)
    records: int  # records iter_rows yields for this file, before data.limit and skip_ids


def _suffix_kind(path: str) -> Optional[str]:
    lower = path.lower()
    for suffix in sorted(SUFFIX_FORMATS, key=len, reverse=True):
        if lower.endswith(suffix):
            return SUFFIX_FORMATS[suffix]
    return None


def _file_kind(path: str, fmt: str) -> str:
    if fmt == "parquet":
        return "parquet"
    kind = _suffix_kind(path)
    if fmt == "jsonl":
        return "jsonl"
    if kind is None:
        raise UserError(
            f"input {path}: cannot tell the format from the file name; "
            "use .json, .jsonl(.gz) or .parquet, or set data.format"
        )
    return kind


def _relative(path: str, root: str) -> str:
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def _hidden(name: str) -> bool:
    return any(part.startswith(".") for part in name.split("/"))


def _expand(cfg: DataConfig) -> tuple[Any, list[tuple[str, str]], list[str]]:
    """(filesystem, ``(path on it, name)`` of each file to read in order, URLs of the hidden files
    left out): the one listing behind :func:`list_inputs` and :func:`skipped_inputs`."""
    if not cfg.path:
        raise UserError("data.path is empty; set it in the config or with data.path=FILE")
    try:
        fs, root = storage.url_to_fs(cfg.path)
    except (ImportError, ValueError) as exc:
        raise UserError(f"data.path={cfg.path}: cannot open this URL ({exc})") from None
    if fs.exists(root):  # a literal name wins over a glob: "data[1].jsonl" is that file
        if not fs.isdir(root):
            return fs, [(root, posixpath.basename(root))], []
        found = [(p, _relative(p, root)) for p in sorted(fs.find(root)) if _suffix_kind(p)]
    elif any(ch in root for ch in GLOB_CHARS):
        parts = root.split("/")
        fixed = "/".join(itertools.takewhile(lambda part: not any(ch in part for ch in GLOB_CHARS), parts))
        try:
            matches = fs.glob(root, detail=True)
        except ValueError as exc:  # fsspec: "'**' can only be an entire path component"
            raise UserError(f"data.path={cfg.path} is not a valid glob ({exc})") from None
        found = [(p, _relative(p, fixed)) for p in sorted(matches) if matches[p].get("type") != "directory"]
    else:
        raise UserError(f"data.path={cfg.path} does not exist; check the path or URL")
    kept = [(p, name) for p, name in found if not _hidden(name)]
    hidden = [storage.full_url(fs, p) for p, name in found if _hidden(name)]
    if not kept:
        also = f" ({len(hidden)} hidden file(s) skipped, e.g. {hidden[0]})" if hidden else ""
        raise UserError(f"data.path={cfg.path} matches no .json, .jsonl or .parquet file{also}")
    return fs, kept, hidden


def list_inputs(cfg: DataConfig) -> list[InputFile]:
    """Expand ``data.path`` (a file, folder or glob; local or fsspec URL); hash, pre-check and count
    the records of each file."""
    fs, found, _ = _expand(cfg)
    out = []
    for p, name in found:
        url = storage.full_url(fs, p)
        kind = _file_kind(url, cfg.format)
        digest, size, count = _scan(fs, p, url, kind)
        out.append(InputFile(url, kind, digest, size, name, count))
    return out


def skipped_inputs(cfg: DataConfig) -> list[str]:
    """The hidden files below ``data.path`` left out of :func:`list_inputs` (URLs, in order): in a
    folder, those with a data suffix; of a glob, every file it matched."""
    return _expand(cfg)[2]


def records_read(files: list[InputFile], limit: Optional[int] = None) -> int:
    """How many records :func:`iter_rows` yields for ``files`` before ``skip_ids``."""
    total = sum(f.records for f in files)
    return total if limit is None else min(total, limit)


def require_records(files: list[InputFile]) -> None:
    """Raise :class:`UserError` when ``files`` hold no record at all (empty or blank files, ``[]``)."""
    if sum(f.records for f in files) == 0:
        names = ", ".join(f.path for f in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        raise UserError(f"no records in {names}: empty, only blank lines, or an empty JSON array; check data.path")


def _scan(fs: Any, path: str, url: str, kind: str) -> tuple[str, int, int]:
    """(sha256, size, records) of one file, read once; a whole-file problem raises UserError."""
    h = hashlib.sha256()
    if kind == "parquet":
        with fs.open(path, "rb") as fh:
            raw = decode.Reader(fh, h)
            raw.drain()
        try:
            with fs.open(path, "rb") as fh:
                count = pq.ParquetFile(fh).metadata.num_rows
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise UserError(f"input {url} is not a readable Parquet file ({exc})") from None
        return h.hexdigest(), raw.taken, count
    with fs.open(path, "rb") as fh:
        raw, content = decode.open_stream(fh, h)
        if content is raw and url.lower().endswith(".gz") and raw.peek(1):
            raise UserError(f"input {url} is not gzip (it does not start with the gzip bytes 1f 8b); "
                            "drop the .gz from its name if it is plain text, or re-compress it")
        try:
            if kind == "jsonl":
                count = sum(1 for _ in decode.jsonl_records(content))
            else:
                data = decode.load_json(content)
                if not isinstance(data, list):
                    raise UserError(f"input {url} must hold a JSON array of records, found {type(data).__name__}")
                count = len(data)
        except EOFError:
            raise UserError(f"input {url} is cut off mid-stream (gzip ended early); "
                            "re-download or re-compress it") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise UserError(f"input {url} is not valid gzip ({exc}); re-download or re-compress it") from None
        except ValueError as exc:  # only load_json raises it
            raise UserError(f"input {url} is not valid JSON ({exc}); fix the file or convert it to JSONL") from None
        raw.drain()
    return h.hexdigest(), raw.taken, count


def guess_licence(files: list[InputFile], configured: str) -> str:
    if configured != "auto":
        return configured
    names = " ".join(os.path.basename(f.path).lower() for f in files)
    found = [lic for key, lic in LICENCE_HINTS.items() if key in names]
    if any(os.path.join("sdrrl_ray", "demo", "data") in f.path for f in files):
        found.append("Apache-2.0 (demo data written for sdrrl-ray)")
    return "; ".join(found) if found else "unknown (set data.license)"


def content_id(question: str, answer: str) -> str:
    return hashlib.blake2b(f"{question}\x00{answer}".encode("utf-8"), digest_size=8).hexdigest()


def _iter_raw(f: InputFile) -> Iterator[tuple[int, Any, Optional[records.RecordError]]]:
    """(line, parsed record or None, error) for every record of one file, in file order."""
    fs, path = storage.url_to_fs(f.path)
    if f.kind == "json":
        with fs.open(path, "rb") as fh:
            data = decode.load_json(decode.open_stream(fh)[1])
        for i, rec in enumerate(data, start=1):
            yield i, rec, None
    elif f.kind == "jsonl":
        with fs.open(path, "rb") as fh:
            for i, text, problem in decode.jsonl_records(decode.open_stream(fh)[1]):
                if problem is not None:
                    yield i, None, records.RecordError("bad_utf8", f"line {i} {problem}")
                    continue
                try:
                    rec, err = decode.parse_line(text), None
                except json.JSONDecodeError as exc:
                    rec, err = None, records.RecordError("invalid_json", f"line {i}: {exc.msg} at column {exc.colno}")
                except ValueError as exc:  # nested too deeply, an integer of thousands of digits
                    rec, err = None, records.RecordError("invalid_json", f"line {i}: {exc}")
                yield i, rec, err
    else:
        with fs.open(path, "rb") as fh:
            line = 0
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=1024):
                for rec in batch.to_pylist():
                    line += 1
                    yield line, {k: v for k, v in rec.items() if v is not None}, None


def _record_id(rec: Any, id_field: str) -> Optional[str]:
    if not isinstance(rec, dict):
        return None
    keys = ID_FIELDS if id_field == "auto" else (id_field,)
    for key in keys:
        value = rec.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _check_id(item_id: str) -> None:
    if not _utf8_ok(item_id):
        raise records.RecordError("bad_utf8", "the id holds text that is not valid UTF-8")
    if item_id.startswith(RESERVED_ID_PREFIX):
        raise records.RecordError(
            "reserved_id",
            f"id {item_id!r} starts with {RESERVED_ID_PREFIX!r}, which names generated parallel-corpus rows; "
            "rename it in the input",
        )


def iter_rows(
    files: list[InputFile],
    cfg: DataConfig,
    skip_ids: frozenset = frozenset(),
) -> Iterator[dict]:
    """Every input record as one row (see :data:`sdrrl_ray.schema.INGEST_SCHEMA`); rows whose item
    is in ``skip_ids`` are omitted (already complete in the output).

    A rejected row's ``item_id`` is ``{id or 'record'}#{file name}:{line}`` (the file's
    :attr:`InputFile.name`, so files of the same base name in two folders never collide); an input
    id in the reserved ``par:`` namespace is rejected (``reserved_id``) and never reused."""
    seen: set[str] = set()  # every item_id yielded so far, ok or rejected
    record = 0
    for f in files:
        for line, rec, err in _iter_raw(f):
            if cfg.limit is not None and record >= cfg.limit:
                return
            row = {"record": record, "source_file": f.path, "line": line, "status": "ok"}
            record += 1
            question = answer = None
            base = _record_id(rec, cfg.id_field)
            try:
                if err is not None:
                    raise err
                if base is not None:
                    _check_id(base)
                question, answer = records.extract(rec, cfg.format)
                for field_name, text in (("question", question), ("answer", answer)):
                    if not _utf8_ok(text):
                        raise records.RecordError("bad_utf8", f"{field_name} holds text that is not valid UTF-8")
                    if len(text) > cfg.max_chars:
                        raise records.RecordError(
                            "too_long", f"{field_name} has {len(text)} characters (data.max_chars={cfg.max_chars})"
                        )
                item_id = base or content_id(question, answer)
                if item_id in seen:
                    raise records.RecordError("duplicate_id", f"item_id {item_id} already seen earlier in the input")
            except records.RecordError as exc:
                safe = base is not None and _utf8_ok(base) and not base.startswith(RESERVED_ID_PREFIX)
                item_id = f"{base if safe else 'record'}#{f.name}:{line}"
                if item_id in seen:  # only an input id made to look like a reject's
                    item_id = f"record#{f.name}:{line}#{row['record']}"
                detail = f"{f.name}:{line}: {exc.detail}"
                row.update(status="rejected", stage="ingest", reason=exc.reason, detail=detail)
                question = question if isinstance(question, str) and _utf8_ok(question) else None
                answer = answer if isinstance(answer, str) and _utf8_ok(answer) else None
            seen.add(item_id)
            if item_id in skip_ids:
                continue
            row.update(item_id=item_id, question=question, gold_answer=answer)
            yield row


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
