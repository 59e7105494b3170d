"""The training worker's row store (local files read back row by row) and the run's tokenization counts."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from sdrrl_ray.train.plan import row_keys
from sdrrl_ray.train.rowstore import RowStore
from sdrrl_ray.train.run_index import tokenize_counts


def tokenized(n: int, start: int = 0) -> pa.Table:
    ids = [f"r{i}" for i in range(start, start + n)]
    inputs = [list(range(i, i + 1 + i % 5)) for i in range(start, start + n)]
    labels = [[-100] + x[1:] for x in inputs]
    return pa.table({"id": ids, "input_ids": inputs, "labels": labels, "other": [0] * n})


def test_rows_come_back_exactly_in_any_order_and_only_the_wanted_ones(tmp_path):
    tables = [tokenized(7), tokenized(9, start=7).slice(2), tokenized(5, start=16)]  # a sliced batch too
    every = pa.concat_tables(tables)
    wanted_ids = [i for i in every["id"].to_pylist() if int(i[1:]) % 3]
    store = RowStore.build(iter(tables), row_keys(wanted_ids), folder=str(tmp_path / "s"), keep_ids=True)
    assert len(store) == len(wanted_ids)
    expected = {r["id"]: r for r in every.to_pylist()}
    for i in reversed(wanted_ids):
        ids, labels = store.get(row_keys([i])[0])
        assert ids.dtype == np.int64 and ids.tolist() == expected[i]["input_ids"]
        assert labels.tolist() == expected[i]["labels"]
        assert store.row_id(row_keys([i])[0]) == i
    with pytest.raises(KeyError):
        store.get(row_keys(["r0"])[0])  # read but not wanted
    assert os.path.isdir(tmp_path / "s")
    store.close()
    assert not os.path.exists(tmp_path / "s")


def test_a_planned_row_missing_from_the_set_is_an_error_and_leaves_no_files(tmp_path):
    with pytest.raises(RuntimeError, match="1 planned rows are not in the tokenized set"):
        RowStore.build([tokenized(4)], row_keys(["r1", "r9"]), folder=str(tmp_path / "s"))
    assert not os.path.exists(tmp_path / "s")
    with pytest.raises(RuntimeError, match="occurs twice"):
        RowStore.build([tokenized(4), tokenized(2)], row_keys(["r1"]))


def test_memory_is_a_few_numbers_per_row():
    store = RowStore.build([tokenized(1000)], row_keys([f"r{i}" for i in range(1000)]))
    in_memory = store.keys.nbytes + store.offsets.nbytes + store.lengths.nbytes
    assert in_memory == 24 * 1000 and store.get(row_keys(["r999"])[0])[0].tolist() == list(range(999, 1004))
    folder = store.folder
    del store
    assert not os.path.exists(folder)  # collected: the files go with it


def test_tokenize_counts_from_the_metadata_columns():
    table = pa.table({"status": ["ok", "trimmed", "rejected", "rejected", "ok"],
                      "reason": [None, None, "prompt_too_long", "prompt_too_long", None],
                      "n_tokens": [10, 20, 0, 0, 5], "n_answer": [3, 4, 0, 0, 1]})
    assert tokenize_counts(table) == dict(rows=5, ok=2, trimmed=1, rejected=2,
                                          reject_reasons={"prompt_too_long": 2}, tokens=35, answer_tokens=8)


def test_parquet_batches_read_every_file_in_small_pieces_into_the_store(tmp_path):
    import pyarrow.parquet as pq

    from sdrrl_ray.train.rowstore import parquet_batches

    pq.write_table(tokenized(30), tmp_path / "b.parquet", row_group_size=7)
    pq.write_table(tokenized(12, start=30), tmp_path / "a.parquet")
    (tmp_path / "_COMPLETE").write_text("42\n")
    pieces = list(parquet_batches(str(tmp_path), rows=8))
    assert all(p.num_rows <= 8 for p in pieces) and sum(p.num_rows for p in pieces) == 42
    assert pieces[0].column_names == ["id", "input_ids", "labels"]  # only the columns the store needs
    assert pieces[0]["id"][0].as_py() == "r30"  # files in name order
    store = RowStore.build(parquet_batches(str(tmp_path)), row_keys([f"r{i}" for i in range(42)]))
    assert store.get(row_keys(["r33"])[0])[0].tolist() == [33, 34, 35, 36]
    store.close()


def test_a_named_folder_is_reused_by_the_next_attempt(tmp_path):
    from sdrrl_ray.train.rowstore import store_folder

    folder = store_folder("run-x", "/out/a/train_cache/t", 1)
    assert "sdrrl-rows/run-x-" in folder and folder.endswith("-rank1")
    other_out = store_folder("run-x", "/out/b/train_cache/t", 1)
    assert folder == store_folder("run-x", "/out/a/train_cache/t", 1) != other_out
    left = tmp_path / "s"
    left.mkdir()
    (left / "input_ids").write_bytes(b"\0" * 64)  # a killed attempt's files
    (left / "stale").write_text("x")
    store = RowStore.build([tokenized(3)], row_keys(["r2"]), folder=str(left))
    assert sorted(os.listdir(left)) == ["input_ids", "labels"]
    assert store.get(row_keys(["r2"])[0])[0].tolist() == [2, 3, 4]
    store.close()
