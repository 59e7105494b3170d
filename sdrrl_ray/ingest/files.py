"""Instruction files: list and pre-check them (:func:`list_inputs`), and turn every record into one
validated row with a stable ``item_id`` (:func:`iter_rows`): ``status="ok"``, or ``"rejected"``
with a ``reason`` (rows in = rows out + rows rejected).

Whole-file problems (a JSON or Parquet file that does not parse, a missing path) are found on the
driver before a plan starts and raise :class:`~sdrrl_ray.errors.UserError` naming the file. The Ray
Data read that streams these rows is :mod:`sdrrl_ray.stages.read`.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import pyarrow.parquet as pq

from sdrrl_ray import storage
from sdrrl_ray.config import DataConfig
from sdrrl_ray.errors import UserError
from sdrrl_ray.ingest import records

ID_FIELDS = ("id", "item_id", "example_id", "uid")
SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".jsonl.gz": "jsonl", ".json.gz": "json"}
LICENCE_HINTS = {"alpaca": "CC BY-NC 4.0 (Stanford Alpaca)", "dolly": "CC BY-SA 3.0 (databricks-dolly-15k)"}


@dataclass(frozen=True)
class InputFile:
    path: str
    kind: str  # jsonl | json | parquet
    sha256: str
    size: int


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


def list_inputs(cfg: DataConfig) -> list[InputFile]:
    """Expand ``data.path`` (a file, folder or glob; local or fsspec URL), hash and pre-check each file."""
    if not cfg.path:
        raise UserError("data.path is empty; set it in the config or with data.path=FILE")
    try:
        fs, root = storage.url_to_fs(cfg.path)
    except (ImportError, ValueError) as exc:
        raise UserError(f"data.path={cfg.path}: cannot open this URL ({exc})") from None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if any(ch in root for ch in "*?["):
        paths = sorted(fs.glob(root))
    elif fs.isdir(root):
        paths = sorted(p for p in fs.find(root) if _suffix_kind(p))
    elif fs.exists(root):
        paths = [root]
    else:
        raise UserError(f"data.path={cfg.path} does not exist; check the path or URL")
    if not paths:
        raise UserError(f"data.path={cfg.path} matches no .json, .jsonl or .parquet file")
    out = []
    for p in paths:
        url = p if protocol in ("file", "local") else f"{protocol}://{p}"
        kind = _file_kind(url, cfg.format)
        digest, size = _hash(fs, p)
        _precheck(fs, p, url, kind)
        out.append(InputFile(url, kind, digest, size))
    return out


def _hash(fs: Any, path: str) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with fs.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _precheck(fs: Any, path: str, url: str, kind: str) -> None:
    """Fail fast on a JSON or Parquet file that does not parse as a whole."""
    if kind == "json":
        try:
            data = json.loads(_read_bytes(fs, path).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
            raise UserError(f"input {url} is not valid JSON ({exc}); fix the file or convert it to JSONL") from None
        if not isinstance(data, list):
            raise UserError(f"input {url} must hold a JSON array of records, found {type(data).__name__}")
    elif kind == "parquet":
        try:
            with fs.open(path, "rb") as fh:
                pq.ParquetFile(fh).schema_arrow
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise UserError(f"input {url} is not a readable Parquet file ({exc})") from None


def _read_bytes(fs: Any, path: str) -> bytes:
    with fs.open(path, "rb") as fh:
        data = fh.read()
    return gzip.decompress(data) if path.endswith(".gz") else data


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
        for i, rec in enumerate(json.loads(_read_bytes(fs, path).decode("utf-8")), start=1):
            yield i, rec, None
    elif f.kind == "jsonl":
        with fs.open(path, "rb", compression="infer") as fh:
            for i, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield i, None, records.RecordError("bad_utf8", f"line {i} is not valid UTF-8 ({exc.reason})")
                    continue
                if not text.strip():
                    continue  # blank lines are not records
                try:
                    yield i, json.loads(text), None
                except json.JSONDecodeError as exc:
                    yield i, None, records.RecordError("invalid_json", f"line {i}: {exc.msg} at column {exc.colno}")
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


def iter_rows(
    files: list[InputFile],
    cfg: DataConfig,
    skip_ids: frozenset = frozenset(),
) -> Iterator[dict]:
    """Every input record as one row (see :data:`sdrrl_ray.schema.INGEST_SCHEMA`); rows whose item
    is in ``skip_ids`` are omitted (already complete in the output)."""
    seen: set[str] = set()
    record = 0
    for f in files:
        name = os.path.basename(f.path)
        for line, rec, err in _iter_raw(f):
            if cfg.limit is not None and record >= cfg.limit:
                return
            row = {"record": record, "source_file": f.path, "line": line, "status": "ok"}
            record += 1
            question = answer = None
            try:
                if err is not None:
                    raise err
                question, answer = records.extract(rec, cfg.format)
                for field_name, text in (("question", question), ("answer", answer)):
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError:
                        raise records.RecordError("bad_utf8", f"{field_name} holds text that is not valid UTF-8")
                    if len(text) > cfg.max_chars:
                        raise records.RecordError(
                            "too_long", f"{field_name} has {len(text)} characters (data.max_chars={cfg.max_chars})"
                        )
                item_id = _record_id(rec, cfg.id_field) or content_id(question, answer)
                if item_id in seen:
                    raise records.RecordError("duplicate_id", f"item_id {item_id} already seen earlier in the input")
                seen.add(item_id)
            except records.RecordError as exc:
                base = _record_id(rec, cfg.id_field) if rec is not None else None
                item_id = f"{base or 'record'}#{name}:{line}"
                row.update(status="rejected", stage="ingest", reason=exc.reason, detail=f"{name}:{line}: {exc.detail}")
                question = question if isinstance(question, str) and _utf8_ok(question) else None
                answer = answer if isinstance(answer, str) and _utf8_ok(answer) else None
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
