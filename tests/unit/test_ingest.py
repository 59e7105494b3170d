"""Ingest without Ray: every input record becomes exactly one row, ok or rejected with a reason."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sdrrl_ray.config import DataConfig
from sdrrl_ray.errors import UserError
from sdrrl_ray.ingest.files import (
    content_id,
    iter_rows,
    list_inputs,
    records_read,
    require_records,
    skipped_inputs,
)
from sdrrl_ray.ingest.records import RESERVED_ID_PREFIX
from tests.conftest import real_data_path, write_jsonl


def rows_of(path, **kw):
    cfg = DataConfig(path=str(path), **kw)
    return list(iter_rows(list_inputs(cfg), cfg))


@pytest.mark.realdata
def test_alpaca_json_real_sample():
    ALPACA = real_data_path("alpaca", "alpaca_en_demo.json")
    rows = rows_of(ALPACA)
    assert len(rows) == 999
    ok = [r for r in rows if r["status"] == "ok"]
    data = json.load(open(ALPACA))
    distinct = {(d["instruction"], d["input"], d["output"]) for d in data}
    assert len(ok) == len(distinct)  # exact duplicates in the sample become duplicate_id rejects
    assert {r["reason"] for r in rows if r["status"] != "ok"} == {"duplicate_id"}
    first = json.load(open(ALPACA))[0]
    assert ok[0]["question"].startswith(first["instruction"].strip())
    assert ok[0]["gold_answer"] == first["output"].strip()
    assert len({r["item_id"] for r in rows}) == len(rows)
    assert [r["record"] for r in rows] == list(range(999))


def test_item_ids_are_stable_content_hashes_or_the_id_field(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl",
                    [{"instruction": "Q1", "output": "A1"}, {"id": 7, "instruction": "Q2", "output": "A2"}])
    a, b = rows_of(p), rows_of(p)
    assert [r["item_id"] for r in a] == [r["item_id"] for r in b]
    assert a[0]["item_id"] == content_id("Q1", "A1") and a[1]["item_id"] == "7"


def test_alpaca_input_field_joins_the_question(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Translate.", "input": "Hello", "output": "Bonjour"}])
    assert rows_of(p)[0]["question"] == "Translate.\n\nHello"


def test_dolly_sharegpt_messages_layouts(tmp_path):
    p = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"instruction": "Who?", "context": "Ctx", "response": "Me", "category": "qa"},
            {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "Hi?"},
                               {"from": "gpt", "value": "Hello."}, {"from": "human", "value": "more"}]},
            {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
        ],
    )
    rows = rows_of(p)
    assert [(r["question"], r["gold_answer"]) for r in rows] == [
        ("Who?\n\nCtx", "Me"), ("Hi?", "Hello."), ("2+2?", "4")]


@pytest.mark.realdata
def test_real_dolly_sample():

    rows = rows_of(real_data_path("eval", "dolly", "databricks-dolly-15k.head10.jsonl"))
    assert len(rows) == 10 and all(r["status"] == "ok" for r in rows)


def test_parquet_and_gzip_and_folder(tmp_path):
    pq.write_table(pa.Table.from_pylist([{"instruction": "P", "output": "Q"}, {"instruction": None, "output": "x"}]),
                   tmp_path / "a.parquet")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"instruction": "G", "output": "H"}) + "\n")
    rows = rows_of(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "rejected", "ok"]
    assert rows[1]["reason"] == "missing_field"


def test_every_bad_row_is_rejected_with_a_reason(tmp_path):
    bad_utf8 = b'{"instruction": "caf\xe9", "output": "x"}'
    lines = [
        json.dumps({"instruction": "good", "output": "fine"}),
        "{not json",
        json.dumps({"instruction": "no output"}),
        json.dumps({"instruction": "   ", "output": "empty question"}),
        json.dumps({"instruction": 5, "output": "wrong type"}),
        json.dumps({"instruction": "x" * 50, "output": "too long"}),
        json.dumps({"instruction": "good", "output": "fine"}),  # duplicate content -> duplicate id
        json.dumps({"instruction": "lone \ud800 surrogate", "output": "x"}),
        json.dumps([1, 2]),
        json.dumps({"foo": "bar"}),
        json.dumps({"id": "A", "instruction": "q", "output": "a"}),
        json.dumps({"id": "A", "instruction": "q2", "output": "a2"}),
    ]
    path = tmp_path / "hostile.jsonl"
    with open(path, "wb") as fh:
        for line in lines[:2]:
            fh.write(line.encode() + b"\n")
        fh.write(bad_utf8 + b"\n")
        for line in lines[2:]:
            fh.write(line.encode("utf-8", "surrogatepass") + b"\n")
    rows = rows_of(path, max_chars=40)
    reasons = [(r["line"], r["reason"]) for r in rows if r["status"] == "rejected"]
    assert reasons == [
        (2, "invalid_json"),
        (3, "bad_utf8"),
        (4, "missing_field"),
        (5, "empty_field"),
        (6, "wrong_type"),
        (7, "too_long"),
        (8, "duplicate_id"),
        (9, "bad_utf8"),
        (10, "wrong_type"),
        (11, "unknown_layout"),
        (13, "duplicate_id"),
    ]
    assert len(rows) == 13  # one row per record: rows in = ok + rejected
    assert all(r["detail"].startswith("hostile.jsonl:") for r in rows if r["status"] == "rejected")
    assert len({r["item_id"] for r in rows}) == 13
    assert rows[11]["item_id"] == "A" and rows[11]["status"] == "ok"


def test_limit_and_skip_ids(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", [{"instruction": f"Q{i}", "output": "A"} for i in range(10)])
    cfg = DataConfig(path=p, limit=4)
    rows = list(iter_rows(list_inputs(cfg), cfg))
    assert len(rows) == 4
    skip = frozenset(r["item_id"] for r in rows[:2])
    again = list(iter_rows(list_inputs(cfg), cfg, skip))
    assert [r["record"] for r in again] == [2, 3]


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("broken.json", "[{\"instruction\": \"a\", ", "not valid JSON"),
        ("obj.json", "{\"instruction\": \"a\"}", "JSON array"),
        ("broken.parquet", "PAR1 not really", "not a readable Parquet"),
        ("data.csv", "a,b", "cannot tell the format"),
    ],
)
def test_whole_file_problems_fail_fast_naming_the_file(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(UserError, match=match) as exc:
        list_inputs(DataConfig(path=str(tmp_path / name)))
    assert name in str(exc.value)


def test_missing_path(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        list_inputs(DataConfig(path=str(tmp_path / "nope.jsonl")))


def test_fsspec_url(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Q", "output": "A"}])
    rows = rows_of(f"file://{p}")
    assert rows[0]["status"] == "ok"


def test_input_names_are_relative_to_the_input_root(tmp_path):
    for sub in ("train", "test"):
        (tmp_path / sub).mkdir()
        write_jsonl(tmp_path / sub / "data.jsonl", [{"instruction": "Q", "output": "A"}, "{broken"])
    files = list_inputs(DataConfig(path=str(tmp_path)))
    assert [f.name for f in files] == ["test/data.jsonl", "train/data.jsonl"]
    assert [f.records for f in files] == [2, 2]
    assert [f.name for f in list_inputs(DataConfig(path=str(tmp_path / "train" / "data.jsonl")))] == ["data.jsonl"]
    globbed = list_inputs(DataConfig(path=str(tmp_path / "t*" / "*.jsonl")))
    assert [f.name for f in globbed] == ["test/data.jsonl", "train/data.jsonl"]


def test_same_base_name_in_two_folders_gives_distinct_reject_ids(tmp_path):
    for sub in ("train", "test"):
        (tmp_path / sub).mkdir()
        write_jsonl(tmp_path / sub / "data.jsonl", ["{broken"])
    rows = rows_of(tmp_path)
    assert [r["item_id"] for r in rows] == ["record#test/data.jsonl:1", "record#train/data.jsonl:1"]
    assert [r["detail"].split(": ")[0] for r in rows] == ["test/data.jsonl:1", "train/data.jsonl:1"]


def test_records_counted_per_file_match_the_rows_and_the_limit(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Q1", "output": "A"}, "", "   ", "{bad", {"x": 1}])
    (tmp_path / "b.json").write_text(json.dumps([{"instruction": "Q2", "output": "A"}] * 3))
    pq.write_table(pa.Table.from_pylist([{"instruction": "P", "output": "Q"}] * 4), tmp_path / "c.parquet")
    files = list_inputs(DataConfig(path=str(tmp_path)))
    assert [f.records for f in files] == [3, 3, 4]
    assert records_read(files, None) == 10 == len(list(iter_rows(files, DataConfig(path=str(tmp_path)))))
    assert records_read(files, 4) == 4 == len(list(iter_rows(files, DataConfig(path=str(tmp_path), limit=4))))
    assert records_read(files, 50) == 10


def test_reserved_par_ids_are_rejected_and_not_reused(tmp_path):
    assert RESERVED_ID_PREFIX == "par:"
    p = write_jsonl(tmp_path / "a.jsonl", [
        {"id": "par:ja:0", "instruction": "Q", "output": "A"},
        {"id": " par:ja:1 ", "instruction": 5, "output": "A"},  # ids are stripped; reserved_id comes first
        {"id": "party", "instruction": "Q", "output": "A"},
    ])
    rows = rows_of(p)
    assert [(r["status"], r.get("reason")) for r in rows] == [
        ("rejected", "reserved_id"), ("rejected", "reserved_id"), ("ok", None)]
    assert [r["item_id"] for r in rows] == ["record#a.jsonl:1", "record#a.jsonl:2", "party"]
    assert "rename" in rows[0]["detail"] and "par:" in rows[0]["detail"]
    assert not any(r["item_id"].startswith(RESERVED_ID_PREFIX) for r in rows)


def test_an_existing_name_with_glob_characters_is_read_literally(tmp_path):
    literal = write_jsonl(tmp_path / "data[1].jsonl", [{"instruction": "literal", "output": "A"}])
    write_jsonl(tmp_path / "data1.jsonl", [{"instruction": "glob match", "output": "A"}])
    files = list_inputs(DataConfig(path=literal))
    assert [f.name for f in files] == ["data[1].jsonl"]
    assert [r["question"] for r in iter_rows(files, DataConfig(path=literal))] == ["literal"]
    globbed = list_inputs(DataConfig(path=str(tmp_path / "data[0-9].jsonl")))  # no such file: a glob
    assert [f.name for f in globbed] == ["data1.jsonl"]
    with pytest.raises(UserError, match="not a valid glob"):
        list_inputs(DataConfig(path=str(tmp_path / "data**.jsonl")))


def test_hidden_files_and_folders_are_skipped_and_listed(tmp_path):
    write_jsonl(tmp_path / "data.jsonl", [{"instruction": "Q", "output": "A"}])
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write_jsonl(tmp_path / ".ipynb_checkpoints" / "data-checkpoint.jsonl", [{"instruction": "old", "output": "A"}])
    (tmp_path / "._data.jsonl").write_bytes(b"\x00\x05\x16\x07 Mac OS X resource fork")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    for path in (str(tmp_path), str(tmp_path / "*")):
        cfg = DataConfig(path=path)
        assert [f.name for f in list_inputs(cfg)] == ["data.jsonl"]
        assert [r["question"] for r in iter_rows(list_inputs(cfg), cfg)] == ["Q"]
    assert skipped_inputs(DataConfig(path=str(tmp_path))) == [
        str(tmp_path / "._data.jsonl"), str(tmp_path / ".ipynb_checkpoints" / "data-checkpoint.jsonl")]
    assert skipped_inputs(DataConfig(path=str(tmp_path / "*"))) == [
        str(tmp_path / ".DS_Store"), str(tmp_path / "._data.jsonl")]
    assert skipped_inputs(DataConfig(path=str(tmp_path / "data.jsonl"))) == []


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n\t\n", b"\xef\xbb\xbf\n", b"[]"])
def test_an_input_without_records_is_refused_by_require_records(tmp_path, content):
    path = tmp_path / ("empty.json" if content == b"[]" else "empty.jsonl")
    path.write_bytes(content)
    files = list_inputs(DataConfig(path=str(path)))  # listing alone does not refuse it (parallel-only runs)
    assert records_read(files) == 0
    with pytest.raises(UserError, match="no records in") as exc:
        require_records(files)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    require_records(list_inputs(DataConfig(path=write_jsonl(tmp_path / "one.jsonl", [{"instruction": "Q"}]))))
