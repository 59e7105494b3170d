"""Ingest, property-based (hypothesis): whatever the bytes of an input file, :func:`list_inputs` either
refuses the whole file with a one-line :class:`UserError` or :func:`iter_rows` yields exactly the
``records`` it counted, each row ok or rejected with a reason, item_ids unique and outside the
reserved ``par:`` namespace, every string valid UTF-8 (so Arrow can store it). The same records
written with a BOM, in UTF-16, gzipped, or with CRLF or CR line endings give the same rows."""

import codecs
import gzip
import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdrrl_ray.config import DataConfig
from sdrrl_ray.errors import UserError
from sdrrl_ray.ingest.files import iter_rows, list_inputs, records_read
from sdrrl_ray.ingest.records import RESERVED_ID_PREFIX

SETTINGS = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KEYS = st.sampled_from(["id", "item_id", "instruction", "input", "output", "context", "response",
                        "conversations", "messages", "role", "content", "from", "value"]) | st.text(max_size=4)
STRINGS = st.text(max_size=12) | st.sampled_from(
    ["", " ", "A", "7", "par:x", "user", "assistant", "human", "gpt", "lone \ud800", "\udcff", "record#data.jsonl:1"])
LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | STRINGS
JSON = st.recursive(LEAVES, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=5),
                    max_leaves=12)
RECORD = JSON | st.fixed_dictionaries({"instruction": STRINGS, "output": STRINGS},
                                      optional={"id": STRINGS | st.integers(), "input": STRINGS})
RECORDS = st.lists(RECORD, max_size=8)

PIECES = st.sampled_from([b"\n", b"\r", b"\r\n", b" ", b"\x00", b"\xff", b"\xe9", b"\xed\xa0\x80", b"{", b"}", b"[",
                          b'"id": "A"', b'{"instruction": "q", "output": "a"}', b'{"id": "par:1"}',
                          codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b"\x1f\x8b"])
BYTES = st.binary(max_size=300) | st.lists(PIECES | st.binary(max_size=4), max_size=40).map(b"".join)

ENCODE = {  # how a file's text becomes its bytes; lone surrogates pass through as invalid bytes
    "utf-8": lambda text: text.encode("utf-8", "surrogatepass"),
    "utf-8-bom": lambda text: codecs.BOM_UTF8 + text.encode("utf-8", "surrogatepass"),
    "utf-16-le": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le", "surrogatepass"),
    "utf-16-be": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be", "surrogatepass"),
    "gzip": lambda text: gzip.compress(text.encode("utf-8", "surrogatepass")),
    "gzip-utf-16": lambda text: gzip.compress(codecs.BOM_UTF16_LE + text.encode("utf-16-le", "surrogatepass")),
}


def write(folder: str, sub: str, name: str, data: bytes) -> str:
    os.makedirs(os.path.join(folder, sub), exist_ok=True)
    path = os.path.join(folder, sub, name)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def checked_rows(path: str, limit=None):
    """The rows of one input file after checking the invariants; None when the whole file is refused."""
    cfg = DataConfig(path=path)
    try:
        files = list_inputs(cfg)
    except UserError as exc:
        assert "\n" not in str(exc) and os.path.basename(path) in str(exc)
        return None
    rows = list(iter_rows(files, cfg))
    ok = [r for r in rows if r["status"] == "ok"]
    rejected = [r for r in rows if r["status"] == "rejected"]
    assert len(rows) == sum(f.records for f in files) == records_read(files) == len(ok) + len(rejected)
    assert all(r["reason"] and r["detail"] for r in rejected)
    ids = [r["item_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert not any(i.startswith(RESERVED_ID_PREFIX) for i in ids)
    assert [r["record"] for r in rows] == list(range(len(rows)))
    for row in rows:
        for value in row.values():
            if isinstance(value, str):
                value.encode("utf-8")
    if limit is not None:
        limited = DataConfig(path=path, limit=limit)
        assert len(list(iter_rows(files, limited))) == records_read(files, limit) == min(limit, len(rows))
    return rows


def comparable(rows):
    return [(r["line"], r["status"], r.get("reason"), r["item_id"], r["question"], r["gold_answer"]) for r in rows]


@SETTINGS
@given(data=BYTES, limit=st.none() | st.integers(1, 5))
def test_random_bytes_as_jsonl_never_crash(data, limit):
    with tempfile.TemporaryDirectory() as folder:
        rows = checked_rows(write(folder, "in", "data.jsonl", data), limit)
    if rows is None:  # only a file that looks like gzip and is not can be refused as a whole
        assert data.startswith(b"\x1f\x8b")


@SETTINGS
@given(records=RECORDS, encoding=st.sampled_from(sorted(ENCODE)), newline=st.sampled_from(["\n", "\r\n", "\r"]),
       ascii_only=st.booleans(), limit=st.none() | st.integers(1, 5))
def test_random_records_as_jsonl_lines(records, encoding, newline, ascii_only, limit):
    lines = [json.dumps(r, ensure_ascii=ascii_only) for r in records]
    with tempfile.TemporaryDirectory() as folder:
        plain = checked_rows(write(folder, "plain", "data.jsonl", ENCODE["utf-8"]("".join(x + "\n" for x in lines))))
        other = checked_rows(
            write(folder, "other", "data.jsonl", ENCODE[encoding]("".join(x + newline for x in lines))), limit)
    assert plain is not None and other is not None
    assert len(plain) == len(records)
    assert comparable(other) == comparable(plain)


@SETTINGS
@given(records=RECORDS, encoding=st.sampled_from(sorted(ENCODE)), ascii_only=st.booleans())
def test_random_records_as_a_json_array(records, encoding, ascii_only):
    text = json.dumps(records, ensure_ascii=ascii_only, indent=1 if ascii_only else None)
    with tempfile.TemporaryDirectory() as folder:
        plain = checked_rows(write(folder, "plain", "data.json", ENCODE["utf-8"](text)))
        other = checked_rows(write(folder, "other", "data.json", ENCODE[encoding](text)))
    assert (plain is None) == (other is None)
    if plain is None:  # a raw lone surrogate makes the whole file undecodable
        assert not ascii_only
    else:
        assert len(plain) == len(records) and comparable(other) == comparable(plain)
