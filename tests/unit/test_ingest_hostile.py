"""Ingest of files as they come from elsewhere: byte-order marks, UTF-16, gzip under any name, old Mac
line endings, damaged gzip, hostile nesting. Each record is still exactly one row."""

import codecs
import gzip
import json

import pytest

from sdrrl_ray.config import DataConfig
from sdrrl_ray.errors import UserError
from sdrrl_ray.ingest.files import iter_rows, list_inputs

RECORDS = [{"instruction": "Q1 café", "output": "A1"}, {"id": "x2", "instruction": "Q2", "output": "A2 日本"}]
EXPECTED = [("Q1 café", "A1"), ("Q2", "A2 日本")]


def rows_of(path, **kw):
    cfg = DataConfig(path=str(path), **kw)
    files = list_inputs(cfg)
    rows = list(iter_rows(files, cfg))
    assert sum(f.records for f in files) == len(rows)
    return rows


def jsonl_text(records, newline="\n"):
    return "".join(json.dumps(r, ensure_ascii=False) + newline for r in records)


def pairs(rows):
    return [(r["question"], r["gold_answer"]) for r in rows]


ENCODINGS = {
    "utf-8-bom": lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    "utf-16-le-bom": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be-bom": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "gzip-under-plain-name": lambda text: gzip.compress(text.encode("utf-8")),
    "gzip-of-utf-16": lambda text: gzip.compress(codecs.BOM_UTF16_LE + text.encode("utf-16-le")),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_jsonl_decoded_by_its_bytes_not_its_name(tmp_path, encoding):
    path = tmp_path / "data.jsonl"
    path.write_bytes(ENCODINGS[encoding](jsonl_text(RECORDS, "\r\n")))
    rows = rows_of(path)
    assert [r["status"] for r in rows] == ["ok", "ok"]  # the first record is not invalid_json
    assert pairs(rows) == EXPECTED and [r["line"] for r in rows] == [1, 2]


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_json_array_decoded_by_its_bytes_not_its_name(tmp_path, encoding):
    path = tmp_path / "data.json"
    path.write_bytes(ENCODINGS[encoding](json.dumps(RECORDS, ensure_ascii=False, indent=1)))
    rows = rows_of(path)
    assert pairs(rows) == EXPECTED and [r["line"] for r in rows] == [1, 2]


def test_utf_16_bad_line_is_one_reject(tmp_path):
    text = jsonl_text(RECORDS[:1]) + '{"instruction": "lone \ud800", "output": "x"}\n' + jsonl_text(RECORDS[1:])
    path = tmp_path / "data.jsonl"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le", "surrogatepass") + b"\x00")  # + an odd byte
    rows = rows_of(path)
    assert [(r["line"], r["status"], r.get("reason")) for r in rows] == [
        (1, "ok", None), (2, "rejected", "bad_utf8"), (3, "ok", None), (4, "rejected", "bad_utf8")]
    assert "UTF-16" in rows[1]["detail"] and "UTF-16" in rows[3]["detail"]
    assert rows[0]["question"] == "Q1 café"


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_cr_only_and_other_line_endings_split_records(tmp_path, newline):
    path = tmp_path / "mac.jsonl"
    lines = [json.dumps(RECORDS[0]), "", "{broken", json.dumps(RECORDS[1])]
    path.write_bytes(newline.join(lines).encode("utf-8"))
    rows = rows_of(path)
    assert [(r["line"], r["status"]) for r in rows] == [(1, "ok"), (3, "rejected"), (4, "ok")]
    assert rows[1]["reason"] == "invalid_json" and rows[1]["item_id"] == "record#mac.jsonl:3"


def test_mixed_line_endings_and_a_cr_at_a_chunk_boundary(tmp_path):
    from sdrrl_ray.ingest import decode

    first = json.dumps({"instruction": "Q" * (decode.CHUNK - 20), "output": "A"})
    path = tmp_path / "mixed.jsonl"  # one CRLF split across the first read: one line ending, not two
    path.write_bytes(first.encode() + b"\r\n" + json.dumps(RECORDS[1]).encode() + b"\r" + b"\n\n")
    rows = rows_of(path, max_chars=decode.CHUNK)
    assert [(r["line"], r["status"]) for r in rows] == [(1, "ok"), (2, "ok")]


def test_gz_named_file_that_is_not_gzip_fails_naming_it(tmp_path):
    path = tmp_path / "data.jsonl.gz"
    path.write_text(jsonl_text(RECORDS))
    with pytest.raises(UserError, match=r"data\.jsonl\.gz is not gzip") as exc:
        list_inputs(DataConfig(path=str(path)))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("name", ["data.jsonl.gz", "data.json.gz", "data.jsonl"])
def test_gzip_cut_off_mid_stream_fails_naming_it(tmp_path, name):
    body = (jsonl_text(RECORDS * 200) if "jsonl" in name else json.dumps(RECORDS * 200)).encode()
    whole = gzip.compress(body)
    path = tmp_path / name
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UserError, match="is cut off mid-stream") as exc:
        list_inputs(DataConfig(path=str(path)))
    assert name in str(exc.value) and "re-download or re-compress" in str(exc.value) and "\n" not in str(exc.value)


def test_corrupt_gzip_fails_naming_it(tmp_path):
    whole = bytearray(gzip.compress(jsonl_text(RECORDS * 50).encode()))
    whole[-8] ^= 0xFF  # the CRC
    path = tmp_path / "data.jsonl.gz"
    path.write_bytes(bytes(whole))
    with pytest.raises(UserError, match="data.jsonl.gz is not valid gzip"):
        list_inputs(DataConfig(path=str(path)))


def test_multi_member_gzip_and_the_hash_of_the_raw_bytes(tmp_path):
    import hashlib

    data = gzip.compress(jsonl_text(RECORDS[:1]).encode()) + gzip.compress(jsonl_text(RECORDS[1:]).encode())
    path = tmp_path / "data.jsonl.gz"
    path.write_bytes(data)
    (f,) = list_inputs(DataConfig(path=str(path)))
    assert (f.sha256, f.size, f.records) == (hashlib.sha256(data).hexdigest(), len(data), 2)
    assert pairs(rows_of(path)) == EXPECTED


def test_hostile_nesting_huge_numbers_and_odd_turns_are_rejects_not_crashes(tmp_path):
    path = tmp_path / "hostile.jsonl"
    lines = [
        "[" * 100_000 + "]" * 100_000,
        '{"instruction": "q", "output": ' + "9" * 5000 + "}",
        json.dumps({"messages": [{"role": ["user"], "content": "q"}, {"role": {}, "content": "a"}]}),
        json.dumps({"id": "caf\udce9", "instruction": "q", "output": "a"}),  # an id Arrow could not store
        json.dumps(RECORDS[0]),
    ]
    path.write_text("\n".join(lines) + "\n")
    rows = rows_of(path)
    assert [(r["line"], r.get("reason")) for r in rows] == [
        (1, "invalid_json"), (2, "invalid_json"), (3, "missing_field"), (4, "bad_utf8"), (5, None)]
    assert rows[3]["item_id"] == "record#hostile.jsonl:4"
    for row in rows:  # every string is valid UTF-8, so the read stage can make Arrow blocks of them
        for value in row.values():
            if isinstance(value, str):
                value.encode("utf-8")


def test_deeply_nested_json_file_is_a_whole_file_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserError, match="deep.json is not valid JSON"):
        list_inputs(DataConfig(path=str(path)))


def test_nul_bytes_and_invalid_utf8_stay_per_line_rejects(tmp_path):
    path = tmp_path / "nul.jsonl"
    path.write_bytes(b'{"instruction": "a\x00", "output": "b"}\n\x00\x00\n{"instruction": "caf\xe9", "output": "x"}\n'
                     + json.dumps(RECORDS[0]).encode())  # the last line has no newline
    rows = rows_of(path)
    assert [(r["line"], r.get("reason")) for r in rows] == [
        (1, "invalid_json"), (2, "invalid_json"), (3, "bad_utf8"), (4, None)]
    assert rows[2]["detail"] == "nul.jsonl:3: line 3 is not valid UTF-8 (invalid continuation byte)"
